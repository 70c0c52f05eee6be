#!/bin/bash
# The regression tables of 64 to 127 training rows, 5 splits, default settings, with the
# averaged candidates in the regressor's cross-validated choice (margin 1).
cd /work/runs/avgreg
UR=/work/runs/u/regression; S=/work/shared/data/regression
BR=/work/main/bench/results/unseen-2026-12-04/regression-baselines.json
for f in $S/servo.csv $S/cpus.csv $S/mpg.csv $UR/AER__WeakInstrument.csv $UR/MASS__coop.csv $UR/dslabs__death_prob.csv $UR/nlme__IGF.csv $UR/survival__mgus.csv $UR/tidyr__cms_patient_care.csv; do
  t=$(basename $f .csv); b=""; case $f in $UR/*) b="--baselines $BR";; esac
  [ -s avg-$t.json ] || /work/runs/kiln-avgreg tabpfn eval --task regression --json $b $f > avg-$t.json 2> avg-$t.log
  echo "$t $(date +%T)"
done
