package cpu

import (
	"math"
	"math/bits"
	"os"
	"sync"
)

// Recycling of freed buffers' memory.
//
// A forward pass allocates every activation anew and frees it when its execution context
// closes, so a model run many times (an ensemble member per row, a training step) asks the Go
// heap for the same sizes over and over. The heap zero-fills each large allocation and its
// collector returns the pages to the system between runs, and both are pure overhead: in a
// TabPFN forward pass on small contexts they took about a sixth of the CPU time
// (bench/results/cpu-recycle-2026-12-05.md). Freed float32 and float64 slices of at least
// minRecycled elements therefore go to a sync.Pool per size class, from which later
// allocations of that class take them. The pools are the garbage collector's: what no
// allocation takes back within two collections is dropped, so recycled memory is bounded
// by what the program recently freed and is never held against a heap that needs it.
//
// A recycled slice reaches only a new buffer. The freed buffer has dropped its slice and
// fails loudly on any use (see get), so recycling cannot be observed through buffers; code
// that keeps a slice from Float32s or Float64s past the buffer's Free could observe it,
// which those functions' documentation forbids.

// poisonUninit fills the memory AllocUninit hands out with NaN, so that a primitive that
// reads an output it did not write shows in its results. It is a debugging aid, set by the
// environment variable KILN_CPU_POISON=1 (make test-poison runs the tests so).
var poisonUninit = os.Getenv("KILN_CPU_POISON") == "1"

// minRecycled is the smallest slice, in elements, that is recycled: below it the heap's own
// size classes serve allocations without zero-filling large spans.
const minRecycled = 4096

// sizeClass returns the capacity that slices of n ≥ minRecycled elements are allocated with:
// n rounded up to the next of the eight steps between consecutive powers of two, so that
// shapes of similar sizes share a pool and at most an eighth of a slice goes unused.
func sizeClass(n int) int {
	shift := bits.Len(uint(n-1)) - 4 // 2^(shift+3) ≤ n−1 < 2^(shift+4): steps of 2^shift are eighths
	if shift < 0 {
		return n
	}
	step := 1 << shift
	return (n + step - 1) / step * step
}

// recycler holds the pools of one element type, keyed by size class.
type recycler[T float32 | float64] struct {
	pools sync.Map // size class → *sync.Pool of *[]T
}

// get returns a slice of n elements, recycled or new, zeroed when zero is set (else its
// contents are unspecified; NaN under poisonUninit). recycled reports which.
func (r *recycler[T]) get(n int, zero bool) (s []T, recycled bool) {
	s, recycled = r.take(n)
	switch {
	case zero && recycled:
		clear(s)
	case !zero && poisonUninit:
		for i := range s {
			s[i] = T(math.NaN())
		}
	}
	return s, recycled
}

// take returns a recycled slice of n elements of its size class, or a new zeroed one.
func (r *recycler[T]) take(n int) ([]T, bool) {
	if n < minRecycled {
		return make([]T, n), false
	}
	c := sizeClass(n)
	if p, ok := r.pools.Load(c); ok {
		if v, _ := p.(*sync.Pool).Get().(*[]T); v != nil {
			return (*v)[:n], true
		}
	}
	return make([]T, n, c), false
}

// put offers s, which no buffer uses any more, for recycling.
func (r *recycler[T]) put(s []T) {
	c := cap(s)
	if c < minRecycled || sizeClass(c) != c {
		return // not from get
	}
	p, ok := r.pools.Load(c)
	if !ok {
		p, _ = r.pools.LoadOrStore(c, new(sync.Pool))
	}
	s = s[:c]
	p.(*sync.Pool).Put(&s)
}
