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

for np in 2 4; do
  echo "-- comm conformance, $np processes"
  "${MPIRUN[@]}" -np "$np" build/comm-mpi.test -test.count=1
  echo "-- data-parallel training equals one process (DDP, ZeRO-1, DiLoCo, resume), $np processes"
  "${MPIRUN[@]}" -np "$np" build/disttest-mpi.test -test.count=1
done

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
echo "-- mpi tests passed"
