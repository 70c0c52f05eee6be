#!/bin/bash
# Per table (64 to 255 training rows), 5 splits: the cross-validated choice's losses (debug
# binary, margin 1 as built; the CHOICE lines carry z), and test AUC with local contexts of
# 16 and 32 rows forced.
cd /work/runs/cv2
S=/work/shared/data/tabular; UT=/work/runs/u/tabular
for f in $S/sonar.csv $S/glass.csv $S/iris.csv $S/wine.csv $S/ionosphere.csv $S/house_votes_84.csv $UT/MASS__Melanoma.csv $UT/carData__UN98.csv $UT/ggplot2__midwest.csv $UT/lattice__USRegionalMortality.csv $UT/mlmRev__Early.csv $UT/modeldata__bivariate_val.csv $UT/multcomp__cml.csv $UT/nlme__Soybean.csv $UT/survival__mgus.csv $UT/survival__retinopathy.csv $UT/tidyr__cms_patient_care.csv $UT/vcd__Rochdale.csv; do
  t=$(basename $f .csv)
  [ -s dbg-$t.json ] || /work/runs/kiln-cvdbg tabpfn eval --json --max-classes 10 $f > dbg-$t.json 2> dbg-$t.log
  for lc in 16 32; do
    [ -s f$lc-$t.json ] || /work/runs/kiln-forcelocal tabpfn eval --json --max-classes 10 --local-context $lc $f > f$lc-$t.json 2> /dev/null
  done
done
