#!/bin/sh
# The unseen-table evaluation of unseen-2026-12-04.md. W: a work folder outside the
# repository (the derived task CSVs stay there). kiln: main at db0a6b2 ("codes"); kiln-half:
# a605554 ("indicators", every other member); kiln-oh: a605554 with indicators in every member
# (newView setting cfg.OneHotLevels for every i; not kept).
set -e
W=/tmp/unseen
mkdir -p $W && cd $W
/usr/bin/python3 $OLDPWD/mktasks.py $W > mktasks.out          # W/tabular, W/regression
/usr/bin/python3 $OLDPWD/baselines.py $W                      # W/*-baselines.json
kiln tabpfn eval --json tabular > cls-kiln.json
kiln tabpfn eval --task regression --json regression > reg-kiln.json
# aff/: links to the tasks with a categorical column of 3 to 16 categories (the only ones
# the change affects; the others were checked to give identical results).
kiln-half tabpfn eval --task regression --json --baselines regression-baselines.json aff/regression > aff-reg-half.json
kiln-half tabpfn eval --json --baselines tabular-baselines.json aff/tabular > aff-cls-half.json
kiln-oh tabpfn eval --task regression --json --baselines regression-baselines.json aff/regression > aff-reg-oh16.json
kiln-oh tabpfn eval --json --baselines tabular-baselines.json aff/tabular    # stopped after 6 tasks
for s in 0 1 2; do
  kiln-half tabpfn eval --task regression --seed $s --json ../shared/data/regression > shared-reg-half-seed$s.json
done
kiln-oh tabpfn eval --task regression --seed 0 --json ../shared/data/regression > shared-reg-oh16-seed0.json
python3 merge.py reg-kiln.json aff-reg-half.json > regression-indicators.json
python3 merge.py cls-kiln.json aff-cls-half.json > classification-indicators.json
python3 summarize.py reg-kiln.json regression-baselines.json regression-indicators.json codes indicators
python3 summarize.py cls-kiln.json tabular-baselines.json classification-indicators.json codes indicators
# Target statistics of columns of more than 16 categories (kiln-ts: the commit after a605554
# that adds them); ts/: links to the tasks with such a column.
kiln-ts tabpfn eval --task regression --json --baselines regression-baselines.json ts/regression > ts-reg.json
kiln-ts tabpfn eval --json --baselines tabular-baselines.json ts/tabular > ts-cls.json
python3 merge.py regression-indicators.json ts-reg.json > regression-now.json
python3 merge.py classification-indicators.json ts-cls.json > classification-now.json
python3 summarize.py reg-kiln.json regression-baselines.json regression-now.json codes now
python3 summarize.py cls-kiln.json tabular-baselines.json classification-now.json codes now
