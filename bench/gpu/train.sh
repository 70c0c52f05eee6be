#!/usr/bin/env bash
# Timed TabPFN training: train until a wall-clock deadline with a learning-rate schedule that
# ends at the deadline rather than being cut off at a high rate.
#
#   KILN=path/to/kiln bash train.sh CKPT DEADLINE_EPOCH_S FIRST_S FLAGS...
#
# A first segment of FIRST_S seconds runs `kiln tabpfn train --out CKPT --force --every 100 FLAGS...`
# (FLAGS: the run's or the new phase's settings, with a provisional --steps; --force because
# the segment starts a new run over any CKPT already there). The steps it finished time a
# step; the run is then resumed with --steps set so that it ends ~8 s before the deadline (a
# resume with --steps re-spans the cosine from the schedule's start). Each checkpoint is
# written atomically, and timeout's SIGTERM makes kiln write one before it exits, so a kill at
# any point leaves a resumable file at CKPT. Checkpoints are sparse (--every 100, then 200):
# the 760k-parameter model's is 15 MB with an fsync, and a checkpoint every step leaves the
# GPU idle most of the time (bench/results/gpu-h100-2026-11-27.md).
set -uo pipefail
ckpt=$1 deadline=$2 first=$3
shift 3
: "${KILN:?set KILN to the kiln binary}"
log=$(mktemp)
s0=$(date +%s%N)
timeout "$first" "$KILN" tabpfn train --out "$ckpt" --force --every 100 "$@" 2>&1 | tee "$log" | awk 'NR % 10 == 0 || /phase|resuming|trained|error|kiln:/'
ms=$(( ($(date +%s%N) - s0) / 1000000 ))
firststep=$(grep -o '^step [0-9]*/' "$log" | head -1 | tr -dc 0-9)
last=$(grep -o '^step [0-9]*/' "$log" | tail -1 | tr -dc 0-9)
if [ -z "$last" ]; then
  echo "train.sh: the first segment logged no step"; exit 1
fi
done_=$(( last - firststep + 1 ))
left=$(( deadline - $(date +%s) - 8 ))
n=$(( left > 0 ? left * 1000 * done_ / ms : 0 ))
echo "train.sh: ${done_} steps in ${ms} ms, ${left} s left: schedule end set to step $(( last + n ))"
if [ "$n" -gt 5 ]; then
  dev=cpu
  for ((i = 1; i <= $#; i++)); do [ "${!i}" = "--device" ] && j=$((i + 1)) && dev=${!j}; done
  timeout "$(( left + 5 ))" "$KILN" tabpfn train --device "$dev" --workers 12 --out "$ckpt" --resume \
      --steps $(( last + n )) --every 200 2>&1 | awk 'NR % 10 == 0 || /trained|error|kiln:/'
fi
ls -l "$ckpt"
rm -f "$log"
