#!/bin/sh
# Grouped-design phase from the shipped step-2660 regression export: fresh optimizer, new
# prior seed (12), half the synthetic datasets grouped (--prior-groups 0.5); steps count
# from 0 (= 2660 overall). First start: INIT="--init init2660.safetensors"; continue: INIT=--resume.
cd /work/runs/p7
GOMAXPROCS=2 GOGC=100 nice -n 5 ./kiln tabpfn train --task regression ${INIT:---resume} \
  --out p7.safetensors --steps ${STEPS:-300} \
  --lr 5e-5 --warmup 20 --batch 8 --micro-batch 1 --workers 1 --min-rows 128 --max-rows 1024 \
  --max-features 64 --every 10 --seed 12 --prior-groups 0.5 >> train.log 2>&1
