#!/bin/bash
# Ensemble sizes on the shared tables of fewer than 256 training rows a split (no context choice).
cd "${W:-/work/runs/ens}"  # small/: links to the 7 tables below
B=/work/shared/data/tabular-baselines.json
for e in 8 16; do
  /work/runs/kiln tabpfn eval --json --ensemble $e --baselines $B --max-classes 10 small > e$e.json 2> e$e.log
done
