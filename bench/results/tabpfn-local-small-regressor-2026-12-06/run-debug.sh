#!/bin/bash
# Debug build: the regressor's cross-validated choice (margin 0), each choice printed with z.
cd /work/runs/rs3
UR=/work/runs/u/regression; S=/work/shared/data/regression
for f in $UR/nlme__IGF.csv $S/servo.csv $S/cpus.csv $S/mpg.csv $UR/MASS__coop.csv $UR/dslabs__death_prob.csv $UR/tidyr__cms_patient_care.csv $UR/AER__WeakInstrument.csv $UR/survival__mgus.csv; do
  t=$(basename $f .csv)
  [ -s dbg-$t.json ] || /work/runs/kiln-cvregdbg tabpfn eval --task regression --json $f > dbg-$t.json 2> dbg-$t.log
done
