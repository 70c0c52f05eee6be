#!/bin/bash
# Fresh small classification tasks (mkfresh.py), 5 splits, default settings, with the
# classifier before stacking (f667db0) and with it (f8fd6d9), one eval per table.
cd "${W:-/work/runs/fresh}"
for f in tabular/*.csv; do
  t=$(basename $f .csv)
  for P in before:/work/runs/kiln-f667db0 stacked:/work/runs/kiln-f8fd6d9; do
    p=${P%%:*}; b=${P#*:}
    [ -s $p-$t.json ] || $b tabpfn eval --json --max-classes 10 --baselines /work/main/bench/results/unseen-2026-12-04/tabular-baselines.json $f > $p-$t.json 2> $p-$t.log
  done
  echo "$t $(date +%T)"
done
