#!/bin/bash
cd /work/runs/dr
UR=/work/runs/u/regression
BR=/work/main/bench/results/unseen-2026-12-04/regression-baselines.json
run() { local bin=$1 tag=$2; shift 2; [ -s $tag.json ] && return; s=$(date +%s.%N)
  /work/runs/$bin tabpfn eval --json "$@" > tmp2.json 2> $tag.log && mv tmp2.json $tag.json
  echo "$tag $(echo "$(date +%s.%N) - $s" | bc)" >> times.txt; }
for K in 0 1 2 3 4; do for t in VGAM__marital.nz AER__SmokeBan AER__Fertility; do
  run kiln-5443158 old-s$K-$t --task regression --first-split $K --splits 1 --baselines $BR $UR/$t.csv
done; done
