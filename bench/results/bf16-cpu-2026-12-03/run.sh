#!/usr/bin/env bash
# The CPU loss-curve comparison of bench/results/bf16-cpu-2026-12-03.md: the same small
# TabPFN trained 1000 steps from the same seed in fp32 and in bf16 mixed precision, one run
# at a time on one core, then both loss curves in one plot. A third run, fp32 from seed 2
# (other initialisation, other batches), is the scale of run-to-run noise.
# Usage: bash bench/results/bf16-cpu-2026-12-03/run.sh [path/to/kiln]
set -euo pipefail
KILN=${1:-./kiln}
D=$(dirname "$0")
CFG='{"layers":2,"width":32,"heads":2,"mlp_width":64,"feature_dim":8,"max_classes":10,"max_features":16,"max_train_rows":128}'
"$KILN" version > "$D/version.txt"
train() { # precision seed log
  GOMAXPROCS=1 nice -n 10 "$KILN" tabpfn train --out "/tmp/bf16-cpu-$3.safetensors" --force \
    --config "$CFG" --max-rows 64 --steps 1000 --every 100 --workers 1 --seed "$2" \
    --precision "$1" 2> "$D/train-$3.log"
}
train fp32 1 fp32
train bf16 1 bf16
train fp32 2 fp32-seed2
"$KILN" tabpfn curves --out "$D/loss.png" --window 50 --title "TabPFN 2x32, 1000 steps, seed 1: fp32 vs bf16 mixed precision (CPU)" \
  fp32="$D/train-fp32.log" bf16="$D/train-bf16.log"
"$KILN" tabpfn curves --out "$D/loss-with-seed2.png" --window 50 --title "TabPFN 2x32: fp32 and bf16 from seed 1, fp32 from seed 2 (noise scale)" \
  "fp32 seed 1=$D/train-fp32.log" "bf16 seed 1=$D/train-bf16.log" "fp32 seed 2=$D/train-fp32-seed2.log"
python3 "$D/summary.py" "$D" > "$D/summary.md"
