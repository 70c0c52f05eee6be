package cuda

import (
	"errors"
	"math/rand/v2"
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
		{30 << 20, 30 << 20}, {33 << 20, 36 << 20}, {100 << 20, 104 << 20}, {1 << 30, 1 << 30},
	}
	for _, c := range cases {
		if got := classSize(c.n); got != c.want {
			t.Errorf("classSize(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	// Every class holds its request with at most 12.5% to spare above 2 MiB (eight classes per
	// octave), and classes do not decrease with the request.
	prev := int64(0)
	for n := int64(1); n < 1<<36; n = n*17/16 + 1 {
		got := classSize(n)
		if got < n || got < prev {
			t.Fatalf("classSize(%d) = %d (previous %d)", n, got, prev)
		}
		if n > 2<<20 && float64(got) > float64(n)*1.125+float64(largeStep) {
			t.Errorf("classSize(%d) = %d wastes more than 12.5%%", n, got)
		}
		prev = got
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

func TestAllocatorOOMTrimsCacheThenFails(t *testing.T) {
	const mib = 1 << 20
	f := newFakeMem(12 * mib)
	a := newAllocator("fake:0", f)
	var blocks [][2]int64
	for _, n := range []int64{2 * mib, 8 * mib} {
		p, c, err := a.alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, [2]int64{int64(p), c})
	}
	for _, b := range blocks {
		a.release(uintptr(b[0]), b[1])
	}
	// 4 MiB: the cached 8 MiB block is too large to serve it (over reuseSlack) and the driver
	// has 2 MiB free. The largest cached block goes back; the 2 MiB one stays cached.
	p, c, err := a.alloc(4 * mib)
	if err != nil {
		t.Fatalf("allocation after trimming the cache failed: %v", err)
	}
	if f.frees != 1 || a.stats.CachedBytes != 2*mib {
		t.Errorf("trim: frees=%d CachedBytes=%d, want 1 and %d", f.frees, a.stats.CachedBytes, 2*mib)
	}
	// 10 MiB cannot be met at all: the whole cache goes back, then the error.
	_, _, err = a.alloc(10 * mib)
	var oom *OOMError
	if !errors.As(err, &oom) {
		t.Fatalf("want *OOMError, got %v", err)
	}
	if !errors.Is(err, errFakeOOM) {
		t.Errorf("OOM error does not wrap the driver's error: %v", err)
	}
	if a.stats.CachedBytes != 0 || f.frees != 2 {
		t.Errorf("cache not emptied before failing: CachedBytes=%d frees=%d", a.stats.CachedBytes, f.frees)
	}
	msg := err.Error()
	for _, want := range []string{"asked for 10485760 bytes", "8388608 of 12582912 bytes free", "1 live buffers"} {
		if !strings.Contains(msg, want) {
			t.Errorf("OOM message %q lacks %q", msg, want)
		}
	}
	a.release(p, c)
}

// Best fit: a cached block serves a smaller class within reuseSlack, goes back under its own
// class, and is not used for a request far smaller than itself.
func TestAllocatorBestFit(t *testing.T) {
	const mib = 1 << 20
	f := newFakeMem(1 << 30)
	a := newAllocator("fake:0", f)
	p6, c6, _ := a.alloc(6 * mib)
	a.release(p6, c6)
	p, c, err := a.alloc(4 * mib) // class 4 MiB; 6 MiB ≤ 1.5 × 4 MiB
	if err != nil || p != p6 || c != 6*mib || f.mallocs != 1 {
		t.Fatalf("4 MiB request: block %#x class %d err %v mallocs %d, want the cached 6 MiB block", p, c, err, f.mallocs)
	}
	a.release(p, c)
	if l := a.cache[6*mib]; len(l) != 1 || a.stats.CachedBytes != 6*mib {
		t.Errorf("block not back under its own class: cache %v, CachedBytes %d", a.cache, a.stats.CachedBytes)
	}
	if p2, _, _ := a.alloc(2 * mib); p2 == p6 || f.mallocs != 2 {
		t.Errorf("a 2 MiB request took the 6 MiB block (mallocs %d)", f.mallocs)
	}
}

// trainingTrace replays the allocation pattern of TabPFN training on tables of random shape
// (batch 8, 128–1024 rows, 2–64 features, width 128, 4 layers): each step allocates its
// activations, then as many gradient buffers, then releases everything. The shapes differ
// from step to step, so few requests repeat a size exactly. It returns the largest number
// of bytes one step requested.
func trainingTrace(t *testing.T, a *allocator, steps int, seed uint64) (peak int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for s := 0; s < steps; s++ {
		rows, feats := 128+rng.IntN(897), 2+rng.IntN(63)
		cells := int64(8 * rows * (feats + 1))
		var sizes []int64
		for l := 0; l < 4; l++ {
			sizes = append(sizes,
				cells*128*4,              // layer input
				cells*3*128*4,            // q, k, v
				cells*int64(feats+1)*4*4, // feature-attention scores, 4 heads
				cells*128*4,              // attention output
				cells*192*4, cells*192*4, // MLP hidden, activation
				cells*128*4, cells*128*4, // residual sums
				int64(8*rows*rows*4*4)/4+64, // row-attention statistics
			)
		}
		var ps []uintptr
		var cs []int64
		var total int64
		for pass := 0; pass < 2; pass++ { // activations, then their gradients
			for _, n := range sizes {
				p, c, err := a.alloc(n)
				if err != nil {
					t.Fatalf("step %d: %v", s, err)
				}
				ps, cs, total = append(ps, p), append(cs, c), total+n
			}
		}
		peak = max(peak, total)
		for i := range ps {
			a.release(ps[i], cs[i])
		}
	}
	return peak
}

// On the training trace, with room for about three of the largest steps, the cache must
// serve nearly every request after the first steps: reusing blocks only for an identical size
// class sends most requests of this pattern to the driver (each cuMemFree synchronises the
// device; measured in bench/results/gpu-h200-2026-11-27b.md).
func TestAllocatorTrainingTrace(t *testing.T) {
	probe := newAllocator("probe", newFakeMem(1<<50))
	peak := trainingTrace(t, probe, 200, 7)
	f := newFakeMem(3 * peak)
	a := newAllocator("fake:0", f)
	trainingTrace(t, a, 20, 7) // warm-up
	m0, f0, allocs0 := f.mallocs, f.frees, a.stats.Allocs
	trainingTrace(t, a, 200, 7)
	mallocs, frees, allocs := int64(f.mallocs-m0), int64(f.frees-f0), a.stats.Allocs-allocs0
	t.Logf("after warm-up: %d requests, %d driver mallocs, %d driver frees; peak step %d MB, capacity %d MB",
		allocs, mallocs, frees, peak>>20, f.capacity>>20)
	if mallocs*50 > allocs || frees*50 > allocs {
		t.Errorf("%d driver mallocs and %d frees for %d requests: want each under 2%%", mallocs, frees, allocs)
	}
	if f.used > f.capacity {
		t.Errorf("driver memory %d over capacity %d", f.used, f.capacity)
	}
}
