#!/bin/sh
# v2: relevance-weighted subsets on the raw axes only; members on principal axes keep the
# leading components.
cd "$(dirname "$0")"
K=${KILN:-kiln}
T=../../../../shared/data/tabular
TABLES="$T/breast_cancer.csv $T/ionosphere.csv $T/sonar.csv $T/spam.csv $T/satellite.csv $T/digits.csv $T/vehicle.csv"
nice -n 5 $K tabpfn eval --max-features 8 --pairwise 0 --feature-selection relevance --json $TABLES > cls-f8-relevance2.json 2> cls-f8-relevance2.progress
