#!/bin/sh
# Feature subsets beyond the feature limit: random against relevance-weighted, on the shared
# tables with more than 16 features, at a limit of 8 features per member.
cd "$(dirname "$0")"
K=${KILN:-kiln}
T=../../../../shared/data/tabular
R=../../../../shared/data/regression
TABLES="$T/breast_cancer.csv $T/ionosphere.csv $T/sonar.csv $T/spam.csv $T/satellite.csv $T/digits.csv $T/vehicle.csv"
for sel in random relevance; do
  nice -n 5 $K tabpfn eval --max-features 8 --pairwise 0 --feature-selection $sel --json $TABLES > cls-f8-$sel.json 2> cls-f8-$sel.progress
done
for sel in random relevance; do
  nice -n 5 $K tabpfn eval --task regression --max-features 8 --feature-selection $sel --json $R/ames.csv $R/boston.csv $R/ozone.csv $R/cps1985_wages.csv > reg-f8-$sel.json 2> reg-f8-$sel.progress
done
