#!/bin/bash
# Split 0 of the unseen regression tasks with the defaults of the averaged-contexts change,
# one task per process, smallest tables first, resumable.
cd /work/runs/ur0
U=/work/runs/u/regression
B=/work/main/bench/results/unseen-2026-12-04/regression-baselines.json
K=0
for f in $(for f in $U/*.csv; do echo "$(wc -l < $f) $f"; done | sort -n | cut -d' ' -f2); do
  t=$(basename $f .csv)
  [ -s s$K-$t.json ] && continue
  s=$(date +%s.%N)
  /work/runs/kiln-avgfinal tabpfn eval --task regression --json --first-split $K --splits 1 --baselines $B $f > tmp.json 2> s$K-$t.log && mv tmp.json s$K-$t.json
  e=$(date +%s.%N)
  echo "$K $t $(echo "$e - $s" | bc)" >> times.txt
done
