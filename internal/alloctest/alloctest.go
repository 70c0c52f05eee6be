// Package alloctest checks, in tests and fuzz targets, that a computation allocates no more
// than a bound.
//
// It reads the process-wide count of allocated heap bytes (runtime/metrics, without stopping
// the world, so fuzzing stays fast). Other goroutines of the process allocate too (the fuzzing
// engine's workers, the garbage collector's bookkeeping), so one reading over a bound can be
// noise: Check runs the computation again and reports a violation only when every run is over.
package alloctest

import (
	"runtime/metrics"
	"testing"
)

// Runs is how many times Check measures a computation before it reports it over the bound.
const Runs = 3

// allocated is the cumulative count of bytes allocated on the heap.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Measure returns the bytes allocated while fn ran (with whatever else the process allocated
// meanwhile).
func Measure(fn func()) uint64 {
	before := allocated()
	fn()
	return allocated() - before
}

// Check runs fn, which must be repeatable, and fails t when it allocates more than limit
// bytes in each of Runs runs; what names the input in the message.
func Check(t testing.TB, limit uint64, what string, fn func()) {
	t.Helper()
	least := Measure(fn)
	for i := 1; i < Runs && least > limit; i++ {
		least = min(least, Measure(fn))
	}
	if least > limit {
		t.Fatalf("allocated %d bytes for %s (limit %d)", least, what, limit)
	}
}
