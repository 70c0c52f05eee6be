#!/bin/bash
D=../shared/data/tabular
for v in power power-pca standard standard-pca quantile quantile-pca power-shuffled quantile-shuffled; do
  kiln tabpfn eval --json --variants $v $D/glass.csv $D/sonar.csv $D/wine.csv $D/ionosphere.csv > $v.json 2> $v.err
done
kiln tabpfn eval --json $D/glass.csv $D/sonar.csv $D/wine.csv $D/ionosphere.csv > default.json 2> default.err
