package cuda

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/kiln-ml/kiln/device"
)

// The caching allocator. cuMemAlloc and cuMemFree are slow (cuMemFree synchronises the whole
// device), and a training step allocates and frees similar sizes every iteration, so freed
// blocks are kept per size class and handed out again. Sizes are rounded up to a class so that
// slightly different requests share blocks: powers of two from 512 B to 1 MiB; above that,
// multiples of 2 MiB with at most largeBits significant bits, eight classes per octave (at
// most 12.5% rounding). A request is served by the smallest cached block of its class or of
// a class up to reuseSlack larger (best fit), since training on tables of random shape
// rarely repeats a size exactly: with fine classes and no best fit, the cache keeps missing,
// fills the GPU, is emptied and fills again, and nearly every request reaches the driver
// (measured in bench/results/gpu-h200-2026-11-27b.md; TestAllocatorTrainingTrace replays
// that pattern). When the driver cannot meet an allocation, cached blocks go back to
// it largest first until it reports enough free memory, and the allocation is retried; if
// that fails too, the whole cache is returned and the allocation retried once more, and if
// that fails the error says how many bytes were asked for and how many are free.
//
// The allocator is plain Go over three driver functions, so its policy is tested without a GPU
// (alloc_test.go) and exercised on one by the cuda tests.

const (
	minClass   = 512
	smallLimit = 1 << 20
	largeStep  = 2 << 20
	largeBits  = 4 // significant bits of a large class, in units of largeStep
	// reuseSlack bounds best fit: a cached block serves a request of its own class up to a
	// block this many times the class (a block that large wastes at most a third of itself).
	reuseSlack = 1.5
)

// classSize is the block size that serves a request of n bytes.
func classSize(n int64) int64 {
	if n <= minClass {
		return minClass
	}
	if n <= smallLimit {
		s := int64(minClass)
		for s < n {
			s <<= 1
		}
		return s
	}
	u := (n + largeStep - 1) / largeStep
	if drop := bits.Len64(uint64(u)) - largeBits; drop > 0 {
		u = (u + 1<<drop - 1) >> drop << drop
	}
	return u * largeStep
}

type driverMem interface {
	malloc(bytes int64) (uintptr, error)
	free(ptr uintptr) error
	memInfo() (free, total int64, err error)
}

type allocator struct {
	drv   driverMem
	name  string // device name for messages
	cache map[int64][]uintptr
	// classes lists every class that has had a cache entry, ascending (best fit searches it).
	classes []int64
	stats   device.MemStats
}

func newAllocator(name string, drv driverMem) *allocator {
	return &allocator{drv: drv, name: name, cache: map[int64][]uintptr{}}
}

// OOMError reports an allocation the device could not meet even after emptying the cache.
type OOMError struct {
	Device             string
	Requested, Class   int64
	Free, Total        int64
	LiveBytes, Buffers int64
	Err                error
}

func (e *OOMError) Error() string {
	return fmt.Sprintf("cuda: out of memory on %s: asked for %d bytes (a %d-byte block); %d of %d bytes free "+
		"after emptying the allocator cache; kiln holds %d bytes in %d live buffers (driver: %v)",
		e.Device, e.Requested, e.Class, e.Free, e.Total, e.LiveBytes, e.Buffers, e.Err)
}

func (e *OOMError) Unwrap() error { return e.Err }

// alloc returns a block of at least n bytes and its size (the class it is cached under).
func (a *allocator) alloc(n int64) (uintptr, int64, error) {
	size := classSize(n)
	p, got := a.fromCache(size)
	if got == 0 {
		var err error
		got = size
		p, err = a.drv.malloc(size)
		if err != nil {
			a.trimCache(size)
			p, err = a.drv.malloc(size)
		}
		if err != nil {
			a.emptyCache()
			p, err = a.drv.malloc(size)
		}
		if err != nil {
			free, total, _ := a.drv.memInfo()
			return 0, 0, &OOMError{Device: a.name, Requested: n, Class: size, Free: free, Total: total,
				LiveBytes: a.stats.LiveBytes, Buffers: a.stats.LiveBuffers, Err: err}
		}
	}
	a.stats.Allocs++
	a.stats.LiveBuffers++
	a.stats.LiveBytes += got
	if a.stats.LiveBytes > a.stats.PeakBytes {
		a.stats.PeakBytes = a.stats.LiveBytes
	}
	return p, got, nil
}

// fromCache takes the smallest cached block of class size or of a larger class within
// reuseSlack, returning it and its class (0 if none fits).
func (a *allocator) fromCache(size int64) (uintptr, int64) {
	limit := int64(float64(size) * reuseSlack)
	i, _ := slices.BinarySearch(a.classes, size)
	for ; i < len(a.classes) && a.classes[i] <= limit; i++ {
		c := a.classes[i]
		if l := a.cache[c]; len(l) > 0 {
			p := l[len(l)-1]
			a.cache[c] = l[:len(l)-1]
			a.stats.CachedBytes -= c
			a.stats.CacheHits++
			return p, c
		}
	}
	return 0, 0
}

// release returns a block to the cache under its class size.
func (a *allocator) release(p uintptr, size int64) {
	if i, found := slices.BinarySearch(a.classes, size); !found {
		a.classes = slices.Insert(a.classes, i, size)
	}
	a.cache[size] = append(a.cache[size], p)
	a.stats.CachedBytes += size
	a.stats.LiveBuffers--
	a.stats.LiveBytes -= size
}

// trimCache gives cached blocks back to the driver, largest first, until the driver reports
// need bytes free or the cache is empty. Returning only what is needed keeps the rest of the
// cache, whose blocks the next steps would otherwise allocate again.
func (a *allocator) trimCache(need int64) {
	for i := len(a.classes) - 1; i >= 0; i-- {
		c := a.classes[i]
		for l := a.cache[c]; len(l) > 0; l = a.cache[c] {
			if free, _, err := a.drv.memInfo(); err == nil && free >= need {
				return
			}
			_ = a.drv.free(l[len(l)-1]) // a failing free leaves nothing to do but drop the block
			a.cache[c] = l[:len(l)-1]
			a.stats.CachedBytes -= c
		}
	}
}

// emptyCache gives every cached block back to the driver.
func (a *allocator) emptyCache() {
	for size, l := range a.cache {
		for _, p := range l {
			_ = a.drv.free(p) // a failing free leaves nothing to do but drop the block
			a.stats.CachedBytes -= size
		}
		a.cache[size] = l[:0]
	}
}
