#!/bin/bash
# The 12 shared regression tables under the protocol with the shipped defaults (the binary of
# f667db0, whose rules are HEAD's), one process per table and split, resumable: a finished
# pair is kept. The ten smaller tables run all five splits first, then ames, then diamonds.
cd "${W:-/work/runs/sr5}"
D=/work/shared/data/regression
B=/work/shared/data/regression-baselines.json
run() { # table split
  [ -s s$2-$1.json ] && return
  s=$(date +%s.%N)
  /work/runs/kiln-f667db0 tabpfn eval --task regression --json --first-split $2 --splits 1 --baselines $B $D/$1.csv > tmp.json 2> s$2-$1.log && mv tmp.json s$2-$1.json
  echo "$2 $1 $(echo "$(date +%s.%N) - $s" | bc)" >> times.txt
}
for K in 0 1 2 3 4; do
  for t in prestige servo cpus mpg ozone salaries boston cps1985_wages biomass concrete; do run $t $K; done
done
for K in 0 1 2 3 4; do run ames $K; done
for K in 0 1 2 3 4; do run diamonds $K; done
