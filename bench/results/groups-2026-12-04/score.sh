#!/bin/sh
# score.sh KILN [MODEL]: R² of kiln on each design of make.py (run in the folder of its CSVs)
for d in id level panel; do
  printf "%s " $d
  $1 tabpfn predict --task regression --train $d-train.csv --test $d-test.csv --target y ${2:+--model $2} --out $d.pred.csv 2>&1 | grep -o "R² [-0-9.]*"
done
