#!/bin/bash
# The tasks whose candidate context sizes the distinct-rows rule changes, 5 splits each:
# new binary (kiln-distinct) on all; the old binary (kiln-5443158) on breast_cancer_wisconsin
# (its stored results predate later changes). Resumable.
cd /work/runs/dr
UT=/work/runs/u/tabular; UR=/work/runs/u/regression; S=/work/shared/data
BT=/work/main/bench/results/unseen-2026-12-04/tabular-baselines.json
BR=/work/main/bench/results/unseen-2026-12-04/regression-baselines.json
run() { # bin tag task-args... ; writes $tag.json
  local bin=$1 tag=$2; shift 2
  [ -s $tag.json ] && return
  s=$(date +%s.%N)
  /work/runs/$bin tabpfn eval --json "$@" > tmp.json 2> $tag.log && mv tmp.json $tag.json
  echo "$tag $(echo "$(date +%s.%N) - $s" | bc)" >> times.txt
}
for K in 0 1 2 3 4; do
  run kiln-distinct new-s$K-psych__lsat7 --first-split $K --splits 1 --baselines $BT $UT/psych__lsat7.csv
  run kiln-distinct new-s$K-VGAM__marital.nz --task regression --first-split $K --splits 1 --baselines $BR $UR/VGAM__marital.nz.csv
  run kiln-distinct new-s$K-pscl__vote92 --first-split $K --splits 1 --baselines $BT $UT/pscl__vote92.csv
  run kiln-distinct new-s$K-AER__SmokeBan --task regression --first-split $K --splits 1 --baselines $BR $UR/AER__SmokeBan.csv
  run kiln-distinct new-s$K-breast_cancer_wisconsin --max-classes 10 --first-split $K --splits 1 $S/tabular/breast_cancer_wisconsin.csv
  run kiln-5443158 old-s$K-breast_cancer_wisconsin --max-classes 10 --first-split $K --splits 1 $S/tabular/breast_cancer_wisconsin.csv
  run kiln-distinct new-s$K-AER__Fertility --task regression --first-split $K --splits 1 --baselines $BR $UR/AER__Fertility.csv
done
