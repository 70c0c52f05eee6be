#!/bin/bash
cd /work/runs/ssl
name=column-masked-contrastive-t0.1
echo "GOMAXPROCS=1 nice -n 10 ./kiln tabpfn train --out $name.safetensors --init /work/wt-ssl/models/tabpfn/default.safetensors --steps 100 --batch 8 --lr 3e-5 --warmup 10 --every 20 --workers 1 --seed 1 --corpus /work/shared/data/corpus --corpus-fraction 0.5 --corpus-holdout 5 --ssl-tasks column,masked,contrastive --contrastive-temperature 0.1 --export $name.model.safetensors" > cmd-$name.txt
GOMAXPROCS=1 nice -n 10 ./kiln tabpfn train --out $name.safetensors --init /work/wt-ssl/models/tabpfn/default.safetensors --steps 100 --batch 8 --lr 3e-5 --warmup 10 --every 20 --workers 1 --seed 1 --corpus /work/shared/data/corpus --corpus-fraction 0.5 --corpus-holdout 5 --ssl-tasks column,masked,contrastive --contrastive-temperature 0.1 --export $name.model.safetensors > train-$name.log 2>&1
echo "GOMAXPROCS=1 nice -n 10 ./foundation -mode corpusloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 $name.model.safetensors" > cmd-corpusloss-t0.1.txt
GOMAXPROCS=1 nice -n 10 ./foundation -mode corpusloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 $name.model.safetensors > corpusloss-t0.1.json 2> corpusloss-t0.1.log
# superseded by cmd-auxloss-all.txt:
# echo "GOMAXPROCS=1 nice -n 10 ./foundation -mode auxloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 $name.safetensors" > cmd-auxloss-t0.1.txt
# GOMAXPROCS=1 nice -n 10 ./foundation -mode auxloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 $name.safetensors > auxloss-t0.1.json 2> auxloss-t0.1.log
echo done > t01.done
