#!/usr/bin/env bash
# The GPU device check: runs on a GPU machine (no Go toolchain needed there) from the bundle
# that `make device-bundle` builds (bench/gpu/bundle/: the stripped kiln cuda binary, this
# script, train.sh, the PyTorch anchors and the shared tabular data). Every step has its own
# timeout and a failed step does not stop the next. Results go to $OUT (8 files):
#   run.log        everything printed, nvidia-smi and `kiln devices` included
#   selftest.json  kiln selftest --device cuda --json (conformance suite vs float64 references)
#   kiln.json      kiln cudabench --json (SGEMM, attention fwd/bwd, copy; rel errors)
#   anchors.json   the same measurements through PyTorch
#   report.md      kiln vs PyTorch ratios
#   bench.json     kiln bench --device cuda --json --no-anchor (TabPFN fit+predict included)
#   rsvd.json      kiln linalg rsvd --device cuda vs torch.svd_lowrank on one 8192² matrix
#   ext.safetensors the TabPFN model trained here until the deadline: the shipped 760k-parameter
#                  model (or the newest committed export of it) after one more phase on the
#                  extended prior; model only (a new run starts from it)
# plus, in run.log, that model and the shipped one under the evaluation protocol (kiln tabpfn
# eval --device cuda on the bundle's copy of the shared tabular data, 4 members),
# a short TabPFN training probe (datasets/s, checkpoint + resume; then 200 steps in fp32 and
# in bf16 mixed precision, with their rate ratio) and a
# profiled training segment (KILN_CUDA_PROFILE=1: GPU time per kernel, host time).
# Every step is capped by its own timeout and by a deadline (KILN_DEADLINE seconds after the
# start, default 560), so the whole check fits in a 590 s call; the training phase takes the
# time the checks leave.
# Usage (from the repository root on the GPU machine): bash bench/gpu/bundle/run.sh [--quick]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
quick=""
[ "${1:-}" = "--quick" ] && quick="--quick"
KILN=$here/kiln
exec > >(tee -a "$OUT/run.log") 2>&1

# The binary links libcuda.so.1 (the driver's); some machines keep it outside the loader's
# default path, so look for it rather than fail at the first call.
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1'; then
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/local/cuda/compat \
           $(dirname "$(find / -xdev -name 'libcuda.so.1' 2>/dev/null | head -1)" 2>/dev/null); do
    [ -e "$d/libcuda.so.1" ] && export LD_LIBRARY_PATH=$d:${LD_LIBRARY_PATH:-} && break
  done
fi
export PYTHONUNBUFFERED=1

t0=$(date +%s)
deadline=$(( t0 + ${KILN_DEADLINE:-560} ))
step() { echo; echo "== $* ($(date -u +%H:%M:%S), +$(( $(date +%s) - t0 )) s)"; }
# cap N: N seconds, or what is left before the deadline if that is less (at least 1).
cap() { local left=$(( deadline - $(date +%s) )); [ "$left" -lt "$1" ] && echo $(( left > 1 ? left : 1 )) || echo "$1"; }

step nvidia-smi
nvidia-smi || true
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv || true
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

step kiln version and devices
timeout 30 "$KILN" version
timeout 60 "$KILN" devices

step "kiln selftest --device cuda (conformance suite)"
timeout "$(cap 110)" "$KILN" selftest --device cuda --json $quick > "$OUT/selftest.json"
echo "selftest exit $?"
timeout 30 python3 - "$OUT/selftest.json" <<'PY' || true
import json, sys
j = json.load(open(sys.argv[1]))
print(f"selftest: {j['passed']} passed, {j['failed']} failed")
for r in j.get("results", []):
    if not r["pass"]:
        print("  FAIL", r["primitive"], r["case"], r.get("max_err"), r.get("tol"), r.get("err", ""))
PY

step "kiln cudabench"
timeout "$(cap 80)" "$KILN" cudabench --json $quick > "$OUT/kiln.json"
echo "cudabench exit $?"

step "kiln bench --device cuda"
timeout "$(cap 80)" "$KILN" bench --device cuda --json --no-anchor ${quick:+--quick} > "$OUT/bench.json"
echo "bench exit $?"

step "split reductions and split-K GEMM (kiln bench --only reduce)"
timeout "$(cap 30)" "$KILN" bench --device cuda --only reduce --no-anchor 2>&1 | tail -5

step "PyTorch anchors (same GPU, same run)"
timeout "$(cap 90)" python3 "$here/anchors.py" --kiln "$OUT/kiln.json" --bench "$OUT/bench.json" --out "$OUT" $quick
echo "anchors exit $?"

step "randomized SVD 8192x8192 rank 64: kiln vs torch.svd_lowrank (same matrix, same run)"
timeout "$(cap 60)" python3 "$here/rsvd_anchor.py" --kiln "$KILN" --out "$OUT" $([ -n "$quick" ] && echo --n 1024 --rank 16)
echo "rsvd exit $?"

step "TabPFN training probe on the GPU (kiln tabpfn train's default size and prior: datasets/s, checkpoint + resume)"
tmp=$(mktemp -d)
timeout "$(cap 45)" "$KILN" tabpfn train --device cuda --workers 8 --out "$tmp/run.safetensors" --steps 150 --every 50 2>&1 | awk 'NR % 10 == 0 || /trained|error|kiln:/'
timeout "$(cap 20)" "$KILN" tabpfn train --device cuda --workers 8 --out "$tmp/run.safetensors" --resume --steps 160 2>&1 | tail -2
echo "train exit $?"
# Mixed precision (tabpfn train --precision bf16: bfloat16 products on the tensor cores with
# KILN_CUDA_BF16=1 for the GEMMs and KILN_CUDA_FA_BF16=1 for attention, forward and backward;
# float32 master weights): the same 200 steps from the same seed in each precision, for the
# rate ratio and the loss after 200 steps side by side. Neither switch changes fp32 runs.
for p in fp32 bf16; do
  KILN_CUDA_BF16=1 KILN_CUDA_FA_BF16=1 timeout "$(cap 40)" "$KILN" tabpfn train --device cuda --workers 8 --out "$tmp/$p.safetensors" \
      --steps 200 --every 0 --precision $p 2> "$tmp/$p.log" | tail -1
  echo "precision $p exit $?: $(grep '^step' "$tmp/$p.log" | tail -1)"
done
awk '/^step/ { for (i = 1; i < NF; i++) if ($(i+1) == "datasets/s") r[FILENAME] = $i }
     END { f = ARGV[1]; b = ARGV[2]; if (r[f] > 0 && r[b] > 0) printf "bf16/fp32 datasets/s: %.3f (%s / %s)\n", r[b] / r[f], r[b], r[f] }' \
    "$tmp/fp32.log" "$tmp/bf16.log" || true
rm -rf "$tmp"

# Where a training step's time goes, without a hardware profiler: a short segment of the
# training below under kiln's own CUDA profiler (kernel GPU time from events, host time per
# driver call); the report is printed when the segment ends.
# The training phase trains the shipped model on the extended prior (--prior-mechanisms
# extended: mixed activations with steps, and unordered argmax classes): on the basic prior
# the model has converged and more layers do not lower its loss (bench/results/gpu-h200-2026-11-27b.md),
# while the extended prior did better on small tables (bench/results/tabpfn-2026-11-27.md).
# It starts from the newest export committed under bench/results
# (<run>/tabpfn-ext-<steps>steps.safetensors, model only: the training checkpoint with its
# float64 optimizer state is ~15 MB), else from the shipped model, with a fresh optimizer
# either way.
prev=$(ls "$here"/../../results/*/tabpfn-ext-*steps.safetensors 2>/dev/null |
  awk -F/ '{ print $NF "\t" $0 }' | sort -V | tail -1 | cut -f2)
init=(--init "${prev:-$here/../../../models/tabpfn/default.safetensors}" --prior-mechanisms extended)
base=$(echo "$prev" | xargs -r basename | tr -dc 0-9 | sed 's/^0*//')
if [ -z "$quick" ]; then
  step "profiled TabPFN training segment (KILN_CUDA_PROFILE=1, ${init[*]}, no checkpoint until the end)"
  KILN_CUDA_PROFILE=1 timeout "$(cap 25)" "$KILN" tabpfn train --device cuda --workers 12 --out /tmp/prof.safetensors --force \
      "${init[@]}" --steps 1000000 --every 1000000 --lr 1e-4 --warmup 20 --batch 8 --min-rows 128 --max-rows 1024 \
      --max-features 64 2>&1 | grep -v '^step'
  rm -f /tmp/prof.safetensors
fi

# The rest of the time trains on tables of the evaluation's shapes (128-1024 rows, <=64
# features, batch 8, peak lr 2e-4 after 50 warm-up steps, cosine to the deadline); train.sh
# sets the schedule's end so that it ends at the deadline. The model comes back as
# $OUT/ext.safetensors (model only); to continue from it in a later check, commit it as
# bench/results/<run>/tabpfn-ext-<steps>steps.safetensors, counting the steps of every phase.
if [ -n "$quick" ]; then
  echo "training skipped (quick run)"
else
  step "TabPFN: the shipped model on the extended prior, next phase on the GPU (${init[*]}; batch 8, 128-1024 rows, <=64 features)"
  # The export and the two evaluations below take an estimated 35 s on an H200 (~15 s for each
  # evaluation with 2 members per pair of classes: 90 forward passes per split on digits);
  # 90 s leaves a margin.
  train_end=$deadline
  [ -d "$here/data/tabular" ] && train_end=$(( deadline - 90 ))
  KILN=$KILN bash "$here/train.sh" /tmp/ext-run.safetensors "$train_end" "$(cap 40)" --device cuda \
      --workers 12 "${init[@]}" --steps 40000 --lr 2e-4 --warmup 50 --batch 8 --min-rows 128 --max-rows 1024 --max-features 64
  timeout 30 "$KILN" tabpfn train --out /tmp/ext-run.safetensors --resume --steps 1 --export "$OUT/ext.safetensors" 2>&1 | tail -1
  ran=$(head -c 100000 /tmp/ext-run.safetensors 2>/dev/null | grep -a -o '"tabpfn.step":"[0-9]*"' | tr -dc 0-9)
  echo "steps this run: ${ran:-?}; the model's total: $(( ${base:-0} + ${ran:-0} )) (to continue from it, commit it as bench/results/<run>/tabpfn-ext-$(( ${base:-0} + ${ran:-0} ))steps.safetensors)"
fi

if [ -z "$quick" ] && [ -s "$OUT/ext.safetensors" ] && [ -d "$here/data/tabular" ]; then
  step "evaluation: the shipped model, then the one trained on the extended prior (kiln tabpfn eval --device cuda, 4 members, 2 per pair of classes; compare the evaluations recorded in bench/results)"
  # Into run.log: $OUT already holds the 8 files that come back. Both in the same call, so
  # the comparison is paired (same splits, same members, same card).
  for model in "" "$OUT/ext.safetensors"; do
    timeout "$(cap 40)" "$KILN" tabpfn eval "$here/data/tabular" --device cuda --max-classes 10 --ensemble 4 --pairwise 2 \
        ${model:+--model "$model"} 2>&1 | grep -v '^    AUC\|^\['
    echo "eval exit ${PIPESTATUS[0]}"
  done
fi

step "summary"
grep -E '^selftest:' "$OUT/run.log" | tail -1
[ -s "$OUT/report.md" ] && cat "$OUT/report.md"
step "done in $(( $(date +%s) - t0 )) s"
