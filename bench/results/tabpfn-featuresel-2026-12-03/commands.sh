#!/bin/sh
# Feature subsets beyond the feature limit, random against relevance-weighted (kiln built at
# b47f2c4 for run.sh and run3.sh; the raw-axes-only variant of run2.sh was a local build of
# b47f2c4 whose relevance selection skipped members on principal axes). Each eval is the
# shared protocol (5 splits, 1000 training rows at most) with --max-features below the
# tables' widths; classification with --pairwise 0.
./run.sh    # 8 features: classification and regression, random and relevance
./run2.sh   # 8 features: relevance on the raw axes only
./run3.sh   # 16 features: classification, random and relevance
python3 summarize.py > summary.txt
