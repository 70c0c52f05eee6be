#!/bin/bash
# Exploration: the classifier's held-out choice (256+ rows) with averaged candidates, split 0.
cd /work/runs/avgheld
S=/work/shared/data/tabular
for t in breast_cancer pima_diabetes breast_cancer_wisconsin vehicle; do
  [ -s $t.json ] || GOMAXPROCS=1 /work/runs/kiln-avgheld tabpfn eval --json --max-classes 10 --splits 1 $S/$t.csv > $t.json 2> $t.log
  echo "$t $(date +%T)"
done
