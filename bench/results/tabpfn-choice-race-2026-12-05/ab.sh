#!/bin/bash
# Alternates the old choice and the raced one (KILN_CHOICE_ONLY harness) per task, split 0:
# the unseen tasks of 516 training rows or more, then the shared tables where a race can act.
U=${UNSEEN:-/work/runs/u/tabular}
S=${SHARED:-../shared/data/tabular}
for f in $(sed "s|^|$U/|; s|$|.csv|" tasks18.txt) $S/digits.csv $S/satellite.csv $S/spam.csv; do
  t=$(basename $f .csv)
  for b in old race2; do
    s=$(date +%s.%N)
    KILN_CHOICE_ONLY=1 ./kiln-$b-h tabpfn eval --splits 1 $f > /dev/null 2> ab-$b-$t.log
    e=$(date +%s.%N)
    echo "$t $b $(echo "$e - $s" | bc)" >> ab-times.txt
  done
done
