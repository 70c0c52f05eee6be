#!/bin/bash
# The shipped rule (margin 0) on the tables where the cross-validated choice takes local contexts.
cd /work/runs/cv3
S=/work/shared/data/tabular; UT=/work/runs/u/tabular
BT=/work/main/bench/results/unseen-2026-12-04/tabular-baselines.json
for f in $S/sonar.csv $S/house_votes_84.csv; do t=$(basename $f .csv); [ -s $t.json ] || /work/runs/kiln-cv0 tabpfn eval --json --max-classes 10 $f > $t.json 2> $t.log; done
for f in $UT/tidyr__cms_patient_care.csv $UT/carData__UN98.csv; do t=$(basename $f .csv); [ -s $t.json ] || /work/runs/kiln-cv0 tabpfn eval --json --baselines $BT $f > $t.json 2> $t.log; done
