#!/usr/bin/env bash
# The multi-process tests (make test-mpi): the communicator's conformance suite and the
# data-parallel training tests under mpirun with 2 and 4 processes (oversubscribed, so
# that they run on a 2-core machine), then the failure drills: a hung rank and a killed
# rank must end the job with a non-zero status, naming the rank, within 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=1
MPIRUN=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
mkdir -p build

echo "-- build the mpi test binaries"
go test -tags mpi -c -o build/comm-mpi.test ./comm
go test -tags mpi -c -o build/disttest-mpi.test ./models/tabpfn/disttest
go build -tags mpi -o build/kiln-mpi ./cmd/kiln

for np in 2 4; do
  echo "-- comm conformance, $np processes"
  "${MPIRUN[@]}" -np "$np" build/comm-mpi.test -test.count=1
  echo "-- data-parallel training equals one process (DDP, ZeRO-1, DiLoCo, resume), $np processes"
  "${MPIRUN[@]}" -np "$np" build/disttest-mpi.test -test.count=1
done

echo "-- kiln bench --only allreduce on 2 processes, with its MPI_Allreduce anchor"
out=$("${MPIRUN[@]}" -np 2 build/kiln-mpi bench --only allreduce --quick --json)
if [ "$(grep -c '"anchor": "MPI_Allreduce"' <<<"$out")" -ne 2 ]; then
  echo "$out"
  echo "FAIL: the allreduce bench did not report both sizes against MPI_Allreduce"
  exit 1
fi

echo "-- drill: a hung rank ends the job within the watchdog timeout, naming the rank"
log=$(mktemp)
start=$SECONDS
set +e
"${MPIRUN[@]}" -np 3 -x KILN_COMM_HANG_RANK=1 -x KILN_COMM_TIMEOUT=10s \
  build/comm-mpi.test -test.run '^TestWatchdogHang$' >"$log" 2>&1
rc=$?
set -e
took=$((SECONDS - start))
if [ "$rc" -eq 0 ] || [ "$took" -gt 60 ] || ! grep -q 'not reached by rank 1' "$log"; then
  cat "$log"
  echo "FAIL: hung rank drill (status $rc after ${took}s)"
  exit 1
fi
echo "   ended with status $rc after ${took}s: $(grep -m1 'not reached by rank 1' "$log")"
rm -f "$log"
# drill KIND SIGNAL PATTERN: train on 2 ranks until a checkpoint exists, send SIGNAL to rank
# 1, and require the job to end with a non-zero status within 60 s, its output naming rank 1
# (a line matching PATTERN), and the checkpoint to resume.
tiny='{"layers":1,"width":16,"heads":2,"mlp_width":32,"feature_dim":8,"max_classes":10,"max_features":20,"max_train_rows":256}'
drill() {
  local kind=$1 sig=$2 pattern=$3 dir victim="" mpid rc took
  echo "-- drill: a $kind rank 1 ends the training job within 60 s; the checkpoint stays valid"
  dir=$(mktemp -d)
  "${MPIRUN[@]}" -np 2 build/kiln-mpi tabpfn train --distributed --out "$dir/run.safetensors" --config "$tiny" \
    --steps 1000000 --batch 4 --max-rows 40 --max-features 5 --every 5 --comm-timeout 15s >"$dir/log" 2>&1 &
  mpid=$!
  for _ in $(seq 600); do [ -f "$dir/run.safetensors" ] && break; sleep 0.1; done
  [ -f "$dir/run.safetensors" ] || { cat "$dir/log"; echo "FAIL: no checkpoint"; kill -9 "$mpid"; exit 1; }
  # mpirun starts the ranks of one machine as its children, each with its rank in OMPI_COMM_WORLD_RANK.
  for p in $(pgrep -P "$mpid"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then victim=$p; fi
  done
  [ -n "$victim" ] || { echo "FAIL: rank 1 not found among mpirun's children"; kill -9 "$mpid"; exit 1; }
  kill "-$sig" "$victim"
  start=$SECONDS
  set +e
  timeout 90 tail --pid="$mpid" -f /dev/null
  wait "$mpid"
  rc=$?
  set -e
  took=$((SECONDS - start))
  if [ "$rc" -eq 0 ] || [ "$took" -gt 60 ] || ! grep -Eq "$pattern" "$dir/log"; then
    tail -20 "$dir/log"
    echo "FAIL: $kind rank drill (status $rc after ${took}s)"
    exit 1
  fi
  echo "   ended with status $rc after ${took}s: $(grep -Em1 "$pattern" "$dir/log")"
  build/kiln-mpi tabpfn train --out "$dir/run.safetensors" --resume --steps 1 >/dev/null 2>"$dir/resume.log" ||
    { cat "$dir/resume.log"; echo "FAIL: the checkpoint left by the $kind drill does not resume"; exit 1; }
  echo "   the checkpoint resumes: $(grep -m1 resuming "$dir/resume.log")"
  rm -rf "$dir"
}
drill killed KILL 'process rank 1 .*exited on signal 9'   # mpirun's own report
drill hung STOP '(not reached by|not answering:) rank 1'   # the watchdog's, from rank 0

echo "-- mpi tests passed"
