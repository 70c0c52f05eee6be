package cuda

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
)

// The caching allocator. cuMemAlloc and cuMemFree are slow (cuMemFree synchronises the whole
// device), and a training step allocates and frees the same sizes every iteration, so freed
// blocks are kept per size class and handed out again. Sizes are rounded up to a class so that
// slightly different requests share blocks: powers of two from 512 B to 1 MiB, then multiples
// of 2 MiB. An allocation the driver cannot meet first empties the cache (returning every
// cached block to the driver) and retries once; if that fails too, the error says how many
// bytes were asked for and how many are free.
//
// The allocator is plain Go over three driver functions, so its policy is tested without a GPU
// (alloc_test.go) and exercised on one by the cuda tests.

const (
	minClass   = 512
	smallLimit = 1 << 20
	largeStep  = 2 << 20
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
	return (n + largeStep - 1) / largeStep * largeStep
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
	stats device.MemStats
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

// alloc returns a block of at least n bytes and its class size.
func (a *allocator) alloc(n int64) (uintptr, int64, error) {
	size := classSize(n)
	var p uintptr
	if l := a.cache[size]; len(l) > 0 {
		p = l[len(l)-1]
		a.cache[size] = l[:len(l)-1]
		a.stats.CachedBytes -= size
		a.stats.CacheHits++
	} else {
		var err error
		p, err = a.drv.malloc(size)
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
	a.stats.LiveBytes += size
	if a.stats.LiveBytes > a.stats.PeakBytes {
		a.stats.PeakBytes = a.stats.LiveBytes
	}
	return p, size, nil
}

// release returns a block to the cache.
func (a *allocator) release(p uintptr, size int64) {
	a.cache[size] = append(a.cache[size], p)
	a.stats.CachedBytes += size
	a.stats.LiveBuffers--
	a.stats.LiveBytes -= size
}

// emptyCache gives every cached block back to the driver.
func (a *allocator) emptyCache() {
	for size, l := range a.cache {
		for _, p := range l {
			_ = a.drv.free(p) // a failing free leaves nothing to do but drop the block
			a.stats.CachedBytes -= size
		}
		delete(a.cache, size)
	}
}
