#!/bin/bash
# The regressor's cross-validated choice at margin 1 (kiln-cvreg1), default settings, on the regression
# tables of 64 to 127 training rows, 5 splits.
cd /work/runs/rs4
UR=/work/runs/u/regression; S=/work/shared/data/regression
BR=/work/main/bench/results/unseen-2026-12-04/regression-baselines.json
for f in $S/servo.csv $S/cpus.csv $S/mpg.csv $UR/AER__WeakInstrument.csv $UR/MASS__coop.csv $UR/dslabs__death_prob.csv $UR/nlme__IGF.csv $UR/survival__mgus.csv $UR/tidyr__cms_patient_care.csv; do
  t=$(basename $f .csv); b=""; case $f in $UR/*) b="--baselines $BR";; esac
  [ -s $t.json ] || /work/runs/kiln-cvreg1 tabpfn eval --task regression --json $b $f > $t.json 2> $t.log
done
