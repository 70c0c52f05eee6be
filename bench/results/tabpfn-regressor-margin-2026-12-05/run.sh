#!/bin/bash
cd /work/main
export KILN_CHOICE_ONLY=1
S=../shared/data/regression
for f in biomass boston ozone salaries concrete ames diamonds; do
  /work/runs/kiln-zexp tabpfn eval --task regression $S/$f.csv --splits 2 --json > /work/runs/zreg/shared-$f.json 2> /work/runs/zreg/shared-$f.log
done
for f in $(cat /work/runs/zreg/tasks.txt); do
  /work/runs/kiln-zexp tabpfn eval --task regression /work/runs/u/regression/$f --splits 1 --json > /work/runs/zreg/u-$f.json 2> /work/runs/zreg/u-$f.log
done
