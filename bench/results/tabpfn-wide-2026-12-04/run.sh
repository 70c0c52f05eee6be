#!/bin/sh
# The wide-table evaluation. W: the tables of mkwide.py; D: shared/data; CW, CC: the wide corpus
# tasks of ../tabpfn-trained-width-2026-12-03/mkval.py and mkcval.py (each writes val/ in the
# folder it runs in). Binaries: $ETA, kiln at 4f0a326 (relevance by η²; the classifier and the
# step-2450 regressor embedded); $EPS, kiln with the chance-corrected relevance (ε²) and the
# same models; $OLD, kiln at 6628fc6, whose classifier and code for classification are those
# of 4f0a326 and whose regressor (step 2290) ran only the random columns, where no relevance
# is computed.
W=${W:-/tmp/wide}; D=${D:-../shared/data}
python3 mkwide.py $D $W
/usr/bin/python3 baselines.py $W     # writes $W/tabular-baselines.json, $W/regression-baselines.json
$OLD tabpfn eval --feature-selection random --json $W/tabular > wide-classification-random.json
$OLD tabpfn eval --task regression --feature-selection random --json $W/regression > wide-regression-random.json
$OLD tabpfn eval --json $W/tabular > wide-classification-relevance.json
$ETA tabpfn eval --task regression --json $W/regression > wide-regression-relevance.json
$EPS tabpfn eval --json $W/tabular > wide-classification-relevance-eps.json
$EPS tabpfn eval --task regression --json $W/regression > wide-regression-relevance-eps.json
$EPS tabpfn eval --task regression --json $D/regression/ames.csv > ames-eps.json
(cd $CW && $ETA tabpfn eval --task regression --splits 3 --json val) > corpus-wide-reg-eta.json
(cd $CW && $EPS tabpfn eval --task regression --splits 3 --json val) > corpus-wide-reg-eps.json
(cd $CC && $OLD tabpfn eval --splits 2 --json val) > corpus-wide-class-eta.json
(cd $CC && $EPS tabpfn eval --splits 2 --json val) > corpus-wide-class-eps.json
python3 summarize.py
python3 ../tabpfn-trained-width-2026-12-03/cmp2.py corpus-wide-reg-eta.json corpus-wide-reg-eps.json
python3 ../tabpfn-trained-width-2026-12-03/cmpc.py corpus-wide-class-eta.json corpus-wide-class-eps.json
