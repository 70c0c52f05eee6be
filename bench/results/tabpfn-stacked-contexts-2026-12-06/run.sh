#!/bin/bash
# The 18 classification tables of 64 to 255 training rows (6 shared, 12 unseen corpus tasks
# made by bench/results/unseen-2026-12-04/mktasks.py), 5 splits, default settings, one eval
# per table: B the kiln binary, P the files' prefix, W the folder they go to.
#   shipped/:   B=kiln built at f8fd6d9 (stacking with the margin), P=stackedm
#   no-margin/: B=kiln built at 4a5a778 (stacking without it), P=stacked
#   brier/:     B=the build of brier/brier-build.diff, P=brier, KILN_CRIT=brier (11 tables)
cd "$W"
S=/work/shared/data/tabular; UT=/work/runs/u/tabular
for f in $S/glass.csv $S/sonar.csv $S/iris.csv $S/wine.csv $S/ionosphere.csv $S/house_votes_84.csv $UT/MASS__Melanoma.csv $UT/carData__UN98.csv $UT/ggplot2__midwest.csv $UT/lattice__USRegionalMortality.csv $UT/mlmRev__Early.csv $UT/modeldata__bivariate_val.csv $UT/multcomp__cml.csv $UT/nlme__Soybean.csv $UT/survival__mgus.csv $UT/survival__retinopathy.csv $UT/tidyr__cms_patient_care.csv $UT/vcd__Rochdale.csv; do
  t=$(basename $f .csv)
  bl=""; [ "${f#$UT}" != "$f" ] && bl="--baselines /work/main/bench/results/unseen-2026-12-04/tabular-baselines.json"
  [ -s $P-$t.json ] || $B tabpfn eval --json --max-classes 10 $bl $f > $P-$t.json 2> $P-$t.log
  echo "$t $(date +%T)"
done
