#!/bin/sh
# Pretraining comparison on the shared protocol, reduced for a 2-core shared CPU:
# 2 splits (seeds 0, 1), one ensemble member, no pairwise classifiers, tables with <= 10 classes.
cd /work/runs/corpus
for m in shipped cont-corpus cont-prior; do
  model=""
  [ $m != shipped ] && model="--model /work/runs/corpus/$m.model.safetensors"
  while [ $m != shipped ] && [ ! -f /work/runs/corpus/$m.model.safetensors ]; do sleep 20; done
  GOMAXPROCS=1 nice -n 10 ./kiln tabpfn eval /work/shared/data/tabular --max-classes 10 --splits 2 --ensemble 1 --pairwise 0 $model --json > eval-$m.json 2> eval-$m.log
done
