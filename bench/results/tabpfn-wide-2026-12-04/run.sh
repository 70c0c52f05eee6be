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

# Relevance beyond the chance level (chanceLevel): $CHANCE is kiln with it, $EPS as above (the
# binary of 9f81c9e). The same tables and tasks, then the protocol of
# ../tabpfn-featuresel-2026-12-03 at 8 features per member, ε² against the chance level.
$CHANCE tabpfn eval --task regression --json $W/regression > wide-regression-chance.json
$CHANCE tabpfn eval --json $W/tabular > wide-classification-chance.json
(cd $CW && $CHANCE tabpfn eval --task regression --splits 3 --json val) > corpus-wide-reg-chance.json
(cd $CC && $CHANCE tabpfn eval --splits 2 --json val) > corpus-wide-class-chance.json
$CHANCE tabpfn eval --task regression --json $D/regression/ames.csv > ames-chance.json
R=$D/regression; T=$D/tabular
F8R="$R/ames.csv $R/boston.csv $R/ozone.csv $R/cps1985_wages.csv"
F8C="$T/breast_cancer.csv $T/ionosphere.csv $T/sonar.csv $T/spam.csv $T/satellite.csv $T/digits.csv $T/vehicle.csv"
$EPS tabpfn eval --task regression --max-features 8 --json $F8R > reg-f8-eps.json
$CHANCE tabpfn eval --task regression --max-features 8 --json $F8R > reg-f8-chance.json
$EPS tabpfn eval --max-features 8 --pairwise 0 --json $F8C > cls-f8-eps.json
$CHANCE tabpfn eval --max-features 8 --pairwise 0 --json $F8C > cls-f8-chance.json
python3 summarize.py
python3 ../tabpfn-trained-width-2026-12-03/cmp2.py corpus-wide-reg-eps.json corpus-wide-reg-chance.json
python3 ../tabpfn-trained-width-2026-12-03/cmpc.py corpus-wide-class-eps.json corpus-wide-class-chance.json
/usr/bin/python3 baselines.py $W synthetic2000 > synthetic2000-regression-baselines.json

# Narrower members (relevantWidth): $NARROW is the experimental build (KILN_NARROW=1 set the
# same rule without the cap at the limit), $WIDTH the binary of the commit that ships it.
KILN_NARROW=1 $NARROW tabpfn eval --task regression --json $W/regression > wide-regression-narrow.json
(cd $CW && KILN_NARROW=1 $NARROW tabpfn eval --task regression --splits 3 --json val) > corpus-wide-reg-narrow.json
KILN_NARROW=1 $NARROW tabpfn eval --json $W/tabular > wide-classification-narrow.json
(cd $CC && KILN_NARROW=1 $NARROW tabpfn eval --splits 2 --json val) > corpus-wide-class-narrow.json
$WIDTH tabpfn eval --task regression --json $D/regression/ames.csv > ames-width.json
python3 summarize.py
python3 ../tabpfn-trained-width-2026-12-03/cmp2.py corpus-wide-reg-chance.json corpus-wide-reg-narrow.json
python3 ../tabpfn-trained-width-2026-12-03/cmpc.py corpus-wide-class-chance.json corpus-wide-class-narrow.json
# The regression model's 39 corpus validation tasks (../regression-2026-12-03.md; V: its val2).
$WIDTH tabpfn eval --task regression --splits 2 --json $V > corpus-val2-width.json
# Narrowing within the limit (not shipped): $ALL narrowed, under KILN_NARROW_ALL=1, tables no
# wider than a member too; the same runs with $WIDTH are the within-limit-*-width.json.
T7="$T/breast_cancer.csv $T/ionosphere.csv $T/sonar.csv $T/spam.csv $T/satellite.csv $T/digits.csv $T/vehicle.csv"
KILN_NARROW_ALL=1 $ALL tabpfn eval --pairwise 0 --json $T7 > within-limit-cls-all.json
KILN_NARROW_ALL=1 $ALL tabpfn eval --task regression --json $R > within-limit-reg-all.json
KILN_NARROW_ALL=1 $ALL tabpfn eval --task regression --splits 2 --json $V > corpus-val2-all.json
