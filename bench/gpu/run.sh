#!/usr/bin/env bash
# The GPU device check: runs on a lent GPU machine (no Go toolchain there) from the bundle that
# `make device-bundle` builds here (bench/gpu/bundle/: the stripped kiln cuda binary, this
# script and anchors.py). Budget: under 8 minutes; every step has its own timeout and a failed
# step does not stop the next. Results go to $OUT (at most 8 files):
#   run.log        everything printed, nvidia-smi and `kiln devices` included
#   selftest.json  kiln selftest --device cuda --json (conformance suite vs float64 references)
#   kiln.json      kiln cudabench --json (SGEMM, attention fwd/bwd, copy; rel errors)
#   anchors.json   the same measurements through PyTorch
#   report.md      kiln vs PyTorch ratios
#   bench.json     kiln bench --device cuda --json --no-anchor (TabPFN fit+predict included)
#   rsvd.json      kiln linalg rsvd --device cuda vs torch.svd_lowrank on one 8192² matrix
# and a short TabPFN training run on the GPU (log lines only).
# Usage (from the repository root on the GPU machine): bash bench/gpu/bundle/run.sh [--quick]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
quick=""
[ "${1:-}" = "--quick" ] && quick="--quick"
KILN=$here/kiln
exec > >(tee -a "$OUT/run.log") 2>&1

# The binary links libcuda.so.1 (the driver's); the lent machines keep it outside the
# loader's default path.
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1'; then
  export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
fi
export PYTHONUNBUFFERED=1

step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }
t0=$(date +%s)

step nvidia-smi
nvidia-smi || true
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv || true

step kiln version and devices
timeout 60 "$KILN" version
timeout 60 "$KILN" devices

step "kiln selftest --device cuda (conformance suite)"
timeout 170 "$KILN" selftest --device cuda --json $quick > "$OUT/selftest.json"
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
timeout 150 "$KILN" cudabench --json $quick > "$OUT/kiln.json"
echo "cudabench exit $?"

step "kiln bench --device cuda"
timeout 90 "$KILN" bench --device cuda --json --no-anchor ${quick:+--quick} > "$OUT/bench.json"
echo "bench exit $?"

step "PyTorch anchors (same GPU, same run)"
timeout 150 python3 "$here/anchors.py" --kiln "$OUT/kiln.json" --bench "$OUT/bench.json" --out "$OUT" $quick
echo "anchors exit $?"

step "randomized SVD 8192x8192 rank 64: kiln vs torch.svd_lowrank (same matrix, same run)"
timeout 150 python3 "$here/rsvd_anchor.py" --kiln "$KILN" --out "$OUT" $([ -n "$quick" ] && echo --n 1024 --rank 16)
echo "rsvd exit $?"

step "short TabPFN training run on the GPU (datasets/s, loss falling, checkpoint + resume)"
tmp=$(mktemp -d)
timeout 60 "$KILN" tabpfn train --device cuda --out "$tmp/run.safetensors" --steps 200 --every 100 2>&1 | awk 'NR % 20 == 0 || /trained|error|kiln:/'
timeout 30 "$KILN" tabpfn train --device cuda --out "$tmp/run.safetensors" --resume --steps 220 2>&1 | tail -2
echo "train exit $?"
rm -rf "$tmp"

step "summary"
grep -E '^selftest:' "$OUT/run.log" | tail -1
[ -s "$OUT/report.md" ] && cat "$OUT/report.md"
step "done in $(( $(date +%s) - t0 )) s"
