#!/bin/bash
# The unseen classification tasks with the shipped defaults (main at 6652198), one task and
# split per process, smallest tables first, resumable: a finished pair is kept. Arguments:
# the splits, in order (run as `run.sh 1 2 3 4`, then `run.sh 0`; default all five).
cd "${W:-/work/runs/u5}"
U=/work/runs/u/tabular
B=/work/main/bench/results/unseen-2026-12-04/tabular-baselines.json
for K in ${@:-0 1 2 3 4}; do
  for f in $(for f in $U/*.csv; do echo "$(wc -l < $f) $f"; done | sort -n | cut -d' ' -f2); do
    t=$(basename $f .csv)
    [ -s s$K-$t.json ] && continue
    s=$(date +%s.%N)
    /work/runs/kiln tabpfn eval --json --first-split $K --splits 1 --baselines $B $f > tmp.json 2> s$K-$t.log && mv tmp.json s$K-$t.json
    e=$(date +%s.%N)
    echo "$K $t $(echo "$e - $s" | bc)" >> times.txt
  done
done
