#!/bin/sh
cd /work/runs/corpus
while [ ! -f cont-corpus-ho5.model.safetensors ]; do sleep 15; done
GOMAXPROCS=1 nice -n 10 ./foundation-cl -mode corpusloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 cont-corpus-ho5.model.safetensors > corpusloss-ho5.json 2> corpusloss-ho5.log
GOMAXPROCS=1 nice -n 10 ./kiln tabpfn eval /work/shared/data/tabular --max-classes 10 --splits 2 --ensemble 1 --pairwise 0 --model /work/runs/corpus/cont-corpus-ho5.model.safetensors --json > eval-cont-corpus-ho5.json 2> eval-cont-corpus-ho5.log
