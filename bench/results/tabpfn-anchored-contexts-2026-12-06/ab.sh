#!/bin/bash
# Old (nearest rows of the test row) against anchored contexts, default settings, split 0.
cd /work/runs/anchor
U=/work/runs/u/tabular
S=/work/shared/data/tabular
for f in $S/digits.csv $U/geepack__muscatine.csv $U/survival__survexp.usr.csv $S/satellite.csv $U/modeldata__hpc_data.csv; do
  t=$(basename $f .csv)
  for b in kiln kiln-anchor; do
    s=$(date +%s.%N)
    /work/runs/$b tabpfn eval --json --splits 1 --max-classes 10 $f > $b-$t.json 2> $b-$t.log
    e=$(date +%s.%N)
    echo "$t $b $(echo "$e - $s" | bc)" >> times.txt
  done
done
