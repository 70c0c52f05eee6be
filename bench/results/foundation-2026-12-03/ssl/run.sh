#!/bin/bash
# Ablation arms, one at a time, from the shipped model, same seed and steps.
set -e
cd /work/runs/ssl
STEPS=${STEPS:-60}
for arm in column column,masked column,masked,contrastive; do
  name=$(echo $arm | tr , -)
  [ -f $name.model.safetensors ] && continue
  echo "GOMAXPROCS=1 nice -n 10 ./kiln tabpfn train --out $name.safetensors --init /work/wt-ssl/models/tabpfn/default.safetensors --steps $STEPS --batch 8 --lr 3e-5 --warmup 10 --every 20 --workers 1 --seed 1 --corpus /work/shared/data/corpus --corpus-fraction 0.5 --corpus-holdout 5 --ssl-tasks $arm --export $name.model.safetensors" > cmd-$name.txt
  GOMAXPROCS=1 nice -n 10 ./kiln tabpfn train --out $name.safetensors --init /work/wt-ssl/models/tabpfn/default.safetensors --steps $STEPS --batch 8 --lr 3e-5 --warmup 10 --every 20 --workers 1 --seed 1 --corpus /work/shared/data/corpus --corpus-fraction 0.5 --corpus-holdout 5 --ssl-tasks $arm --export $name.model.safetensors > train-$name.log 2>&1
done
echo done > arms.done
