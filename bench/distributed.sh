#!/usr/bin/env bash
# The data-parallel measurements of bench/results/distributed-*.md, raw outputs into the
# folder given (default bench/results/distributed-$(date +%F)):
#   allreduce  comm's all-reduce against MPI_Allreduce over message sizes, 2 and 4 ranks
#              (the Go benchmark, and kiln bench --only allreduce)
#   modes      DDP, ZeRO-1 and DiLoCo (H = 1, 8, 32): held-out loss at equal steps and bytes
#   scaling    kiln tabpfn train on 1 process and on 2 (one core each, and sharing cores)
# Pass the parts to run as arguments (default: all). Needs Open MPI (see make test-mpi).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results/distributed-$(date +%F)}
parts=${*:-allreduce modes scaling}
mkdir -p "$out" build
export CGO_ENABLED=1
MPIRUN=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
go test -tags mpi -c -o build/comm-mpi.test ./comm
go test -tags mpi -c -o build/disttest-mpi.test ./models/tabpfn/disttest
go build -tags mpi -o build/kiln-mpi ./cmd/kiln
{ date -u; uname -a; nproc; grep -m1 'model name' /proc/cpuinfo; uptime; mpirun --version | head -1; go version; } >"$out/machine.txt"

for part in $parts; do
  case $part in
  allreduce)
    for np in 2 4; do
      rm -rf "$out/allreduce-np$np.d"
      "${MPIRUN[@]}" --output-filename "$out/allreduce-np$np.d" -np "$np" build/comm-mpi.test \
        -test.run '^$' -test.bench AllReduce -test.benchtime 20x -test.count 3 -test.timeout 30m >/dev/null
      grep -h Benchmark "$out/allreduce-np$np.d"/1/rank.0/stdout >"$out/allreduce-np$np.txt"
      rm -rf "$out/allreduce-np$np.d"
      uptime >>"$out/allreduce-np$np.txt"
      # The same sizes through kiln bench (best of 20 after a warm-up, MPI_Allreduce anchor).
      "${MPIRUN[@]}" -np "$np" build/kiln-mpi bench --only allreduce --markdown >"$out/bench-allreduce-np$np.md"
    done
    ;;
  modes)
    rm -f "$out/modes-np2.jsonl"
    "${MPIRUN[@]}" -np 2 -x KILN_COMPARE_OUT="$out/modes-np2.jsonl" -x KILN_COMPARE_STEPS="${STEPS:-256}" \
      build/disttest-mpi.test -test.run '^TestCompareModes$' -test.timeout 2h -test.v >"$out/modes-np2.log" 2>&1
    ;;
  scaling)
    cfg='{"layers":4,"width":64,"heads":4,"mlp_width":128,"feature_dim":16,"max_classes":10,"max_features":20,"max_train_rows":256}'
    args=(tabpfn train --config "$cfg" --steps "${SCALE_STEPS:-12}" --batch 16 --max-rows 100 --max-features 10 --every 0 --workers 1)
    tmp=$(mktemp -d)
    for threads in 1 2; do
      GOMAXPROCS=$threads build/kiln-mpi "${args[@]}" --out "$tmp/one-$threads.safetensors" \
        >"$out/scaling-1proc-${threads}threads.txt" 2>&1
    done
    for threads in 1 2; do
      "${MPIRUN[@]}" -np 2 -x GOMAXPROCS=$threads build/kiln-mpi "${args[@]}" --distributed \
        --out "$tmp/two-$threads.safetensors" >"$out/scaling-2proc-${threads}threads.txt" 2>&1
    done
    rm -rf "$tmp"
    uptime >>"$out/machine.txt"
    ;;
  esac
done
echo "results in $out"
