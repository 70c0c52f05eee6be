#!/bin/bash
cd /work/runs/ssl
while [ ! -f t01.done ]; do sleep 5; done
for spec in "column|" "column,masked,contrastive|--contrastive-temperature 0.1"; do
  arm=${spec%%|*}; extra=${spec#*|}
  name=s2-$(echo $arm | tr , -)
  [ -n "$extra" ] && name=$name-t0.1
  echo "GOMAXPROCS=1 nice -n 10 ./kiln tabpfn train --out $name.safetensors --init /work/wt-ssl/models/tabpfn/default.safetensors --steps 100 --batch 8 --lr 3e-5 --warmup 10 --every 20 --workers 1 --seed 2 --corpus /work/shared/data/corpus --corpus-fraction 0.5 --corpus-holdout 5 --ssl-tasks $arm $extra --export $name.model.safetensors" > cmd-$name.txt
  GOMAXPROCS=1 nice -n 10 ./kiln tabpfn train --out $name.safetensors --init /work/wt-ssl/models/tabpfn/default.safetensors --steps 100 --batch 8 --lr 3e-5 --warmup 10 --every 20 --workers 1 --seed 2 --corpus /work/shared/data/corpus --corpus-fraction 0.5 --corpus-holdout 5 --ssl-tasks $arm $extra --export $name.model.safetensors > train-$name.log 2>&1
done
echo "GOMAXPROCS=1 nice -n 10 ./foundation -mode corpusloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 s2-column.model.safetensors s2-column-masked-contrastive-t0.1.model.safetensors" > cmd-corpusloss-s2.txt
GOMAXPROCS=1 nice -n 10 ./foundation -mode corpusloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 s2-column.model.safetensors s2-column-masked-contrastive-t0.1.model.safetensors > corpusloss-s2.json 2> corpusloss-s2.log
echo done > s2.done
