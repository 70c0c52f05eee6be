#!/bin/bash
cd /work/runs/rs
UR=/work/runs/u/regression; S=/work/shared/data/regression
BR=/work/main/bench/results/unseen-2026-12-04/regression-baselines.json
for f in $S/servo.csv $S/cpus.csv $S/mpg.csv $UR/AER__WeakInstrument.csv $UR/MASS__coop.csv $UR/dslabs__death_prob.csv $UR/nlme__IGF.csv $UR/survival__mgus.csv $UR/tidyr__cms_patient_care.csv; do
  t=$(basename $f .csv); b=""; case $f in $UR/*) b="--baselines $BR";; esac
  for lc in 0 16 32; do
    [ -s f$lc-$t.json ] || /work/runs/kiln-forcelocal-reg tabpfn eval --task regression --json --local-context $lc $b $f > f$lc-$t.json 2> f$lc-$t.log
  done
done
