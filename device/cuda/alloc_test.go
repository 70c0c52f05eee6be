package cuda

import (
	"errors"
	"strings"
	"testing"
)

// fakeMem is a driver with a fixed capacity, so the allocator's policy is tested without a GPU.
type fakeMem struct {
	capacity, used int64
	next           uintptr
	live           map[uintptr]int64
	mallocs, frees int
}

func newFakeMem(capacity int64) *fakeMem {
	return &fakeMem{capacity: capacity, next: 0x1000, live: map[uintptr]int64{}}
}

var errFakeOOM = errors.New("CUDA_ERROR_OUT_OF_MEMORY")

func (f *fakeMem) malloc(n int64) (uintptr, error) {
	if f.used+n > f.capacity {
		return 0, errFakeOOM
	}
	f.mallocs++
	p := f.next
	f.next += uintptr(n)
	f.used += n
	f.live[p] = n
	return p, nil
}

func (f *fakeMem) free(p uintptr) error {
	f.frees++
	f.used -= f.live[p]
	delete(f.live, p)
	return nil
}

func (f *fakeMem) memInfo() (int64, int64, error) { return f.capacity - f.used, f.capacity, nil }

func TestClassSize(t *testing.T) {
	cases := []struct{ n, want int64 }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {1000, 1024}, {1 << 20, 1 << 20},
		{1<<20 + 1, 2 << 20}, {3 << 20, 4 << 20}, {4 << 20, 4 << 20}, {5<<20 + 7, 6 << 20},
	}
	for _, c := range cases {
		if got := classSize(c.n); got != c.want {
			t.Errorf("classSize(%d) = %d, want %d", c.n, got, c.want)
		}
		if got := classSize(c.n); got < c.n {
			t.Errorf("classSize(%d) = %d is smaller than the request", c.n, got)
		}
	}
}

func TestAllocatorReuse(t *testing.T) {
	f := newFakeMem(1 << 30)
	a := newAllocator("fake:0", f)
	// A "training step" that allocates the same sizes three times: only the first step may
	// reach the driver.
	sizes := []int64{100, 4000, 3 << 20, 4000}
	for step := 0; step < 3; step++ {
		var ps []uintptr
		var cs []int64
		for _, n := range sizes {
			p, c, err := a.alloc(n)
			if err != nil {
				t.Fatal(err)
			}
			ps, cs = append(ps, p), append(cs, c)
		}
		for i := range ps {
			a.release(ps[i], cs[i])
		}
	}
	if f.mallocs != len(sizes) {
		t.Errorf("driver mallocs = %d, want %d (blocks not reused across steps)", f.mallocs, len(sizes))
	}
	st := a.stats
	if st.Allocs != 12 || st.CacheHits != 8 {
		t.Errorf("Allocs=%d CacheHits=%d, want 12 and 8", st.Allocs, st.CacheHits)
	}
	if st.LiveBuffers != 0 || st.LiveBytes != 0 {
		t.Errorf("live after releasing everything: %d buffers, %d bytes", st.LiveBuffers, st.LiveBytes)
	}
	wantCached := int64(512 + 4096 + (4 << 20) + 4096)
	if st.CachedBytes != wantCached {
		t.Errorf("CachedBytes = %d, want %d", st.CachedBytes, wantCached)
	}
	if st.PeakBytes != wantCached {
		t.Errorf("PeakBytes = %d, want %d", st.PeakBytes, wantCached)
	}
}

func TestAllocatorOOMEmptiesCacheThenFails(t *testing.T) {
	f := newFakeMem(8 << 20)
	a := newAllocator("fake:0", f)
	p, c, err := a.alloc(6 << 20) // 6 MiB block, cached after release
	if err != nil {
		t.Fatal(err)
	}
	a.release(p, c)
	// 4 MiB does not fit beside the cached 6 MiB: the cache must be emptied and the retry succeed.
	p2, c2, err := a.alloc(4 << 20)
	if err != nil {
		t.Fatalf("allocation after emptying the cache failed: %v", err)
	}
	if a.stats.CachedBytes != 0 || f.frees != 1 {
		t.Errorf("cache not emptied: CachedBytes=%d frees=%d", a.stats.CachedBytes, f.frees)
	}
	// Now 6 MiB cannot be met at all.
	_, _, err = a.alloc(6 << 20)
	var oom *OOMError
	if !errors.As(err, &oom) {
		t.Fatalf("want *OOMError, got %v", err)
	}
	if !errors.Is(err, errFakeOOM) {
		t.Errorf("OOM error does not wrap the driver's error: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"asked for 6291456 bytes", "4194304 of 8388608 bytes free", "1 live buffers"} {
		if !strings.Contains(msg, want) {
			t.Errorf("OOM message %q lacks %q", msg, want)
		}
	}
	a.release(p2, c2)
}
