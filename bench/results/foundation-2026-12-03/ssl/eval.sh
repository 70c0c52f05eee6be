#!/bin/bash
cd /work/runs/ssl
while [ ! -f arms.done ]; do sleep 10; done
echo "GOMAXPROCS=1 nice -n 10 ./foundation -mode corpusloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 column.model.safetensors column-masked.model.safetensors column-masked-contrastive.model.safetensors" > cmd-corpusloss.txt
GOMAXPROCS=1 nice -n 10 ./foundation -mode corpusloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 column.model.safetensors column-masked.model.safetensors column-masked-contrastive.model.safetensors > corpusloss.json 2> corpusloss.log
# superseded by cmd-auxloss-all.txt:
# echo "GOMAXPROCS=1 nice -n 10 ./foundation -mode auxloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 column-masked.safetensors column-masked-contrastive.safetensors" > cmd-auxloss.txt
# GOMAXPROCS=1 nice -n 10 ./foundation -mode auxloss -corpus /work/shared/data/corpus -holdout 5 -batches 50 column-masked.safetensors column-masked-contrastive.safetensors > auxloss.json 2> auxloss.log
echo done > eval.done
