#!/bin/sh
# Cap 16: random against relevance (all members), the classification tables with more than 16 features.
cd "$(dirname "$0")"
K=${KILN:-kiln}
T=../../../../shared/data/tabular
TABLES="$T/breast_cancer.csv $T/ionosphere.csv $T/sonar.csv $T/spam.csv $T/satellite.csv $T/digits.csv $T/vehicle.csv"
for sel in random relevance; do
  nice -n 5 $K tabpfn eval --max-features 16 --pairwise 0 --feature-selection $sel --json $TABLES > cls-f16-$sel.json 2> cls-f16-$sel.progress
done
