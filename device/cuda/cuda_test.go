//go:build cuda || cudaemu

package cuda_test

// These tests need an NVIDIA GPU and driver: a cuda test binary exits at start without one
// (gorgonia.org/cu calls cuInit in its init). CI compiles them (`go test -tags cuda -c`);
// bench/gpu/run.sh and `kiln selftest --device cuda` run the same checks on a GPU machine.

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/device/cuda"
	"github.com/kiln-ml/kiln/device/devicetest"
)

func gpu(t testing.TB) *cuda.Device {
	t.Helper()
	d, err := cuda.Open(0)
	if err != nil {
		t.Skipf("no usable GPU: %v", err)
	}
	return d
}

// TestConformance runs the full conformance suite (every primitive, float32 and float64,
// awkward sizes and layouts) against its float64 host references.
func TestConformance(t *testing.T) {
	d := gpu(t)
	rs := devicetest.Run(d, devicetest.Options{Quick: testing.Short()})
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Primitive] = true
		if !r.Pass {
			t.Errorf("%s %s: max error %.3g > tol %.3g %s", r.Primitive, r.Case, r.MaxErr, r.Tol, r.Err)
		}
	}
	for _, p := range devicetest.Primitives() {
		if !seen[p] {
			t.Errorf("no case ran for %s", p)
		}
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestRandomFillMatchesCPU compares whole fills with the CPU backend bit for bit, for both
// distributions and dtypes, at sizes that end mid-block and offsets past 2³².
func TestRandomFillMatchesCPU(t *testing.T) {
	g := gpu(t)
	c := device.MustGet("cpu")
	for _, n := range []int{1, 3, 4, 5, 1001, 1 << 20} {
		for _, dist := range []device.Distribution{device.Uniform, device.Normal} {
			for _, dt := range []device.DType{device.Float32, device.Float64} {
				seed, off := uint64(0x9E3779B97F4A7C15), uint64(1<<32+7)
				gb, err := g.Alloc(dt, n)
				if err != nil {
					t.Fatal(err)
				}
				cb, err := c.Alloc(dt, n)
				if err != nil {
					t.Fatal(err)
				}
				g.RandomFill(gb, dist, seed, off, -1.5, 2.5)
				c.RandomFill(cb, dist, seed, off, -1.5, 2.5)
				got, want := download(t, g, gb), download(t, c, cb)
				for i := range want {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Errorf("%v dist=%d n=%d: element %d = %v, CPU %v", dt, dist, n, i, got[i], want[i])
						break
					}
				}
				gb.Free()
				cb.Free()
			}
		}
	}
}

func download(t *testing.T, d device.Device, b device.Buffer) []float64 {
	t.Helper()
	switch b.DType() {
	case device.Float32:
		x := make([]float32, b.Len())
		if err := d.CopyToHost(x, b); err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = float64(v)
		}
		return out
	default:
		x := make([]float64, b.Len())
		if err := d.CopyToHost(x, b); err != nil {
			t.Fatal(err)
		}
		return x
	}
}

// TestAllocatorReusesAcrossSteps runs a few "steps" that allocate and free the same sizes:
// after the first, every allocation is a cache hit and live memory returns to where it was.
func TestAllocatorReusesAcrossSteps(t *testing.T) {
	d := gpu(t)
	before := d.MemStats()
	sizes := []int{1, 1000, 1 << 18, 3 << 20}
	for step := 0; step < 4; step++ {
		var bs []device.Buffer
		for _, n := range sizes {
			b, err := d.Alloc(device.Float32, n)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, b)
		}
		// Alloc zero-fills, also when the block comes from the cache.
		for _, b := range bs {
			x := make([]float32, b.Len())
			if err := d.CopyToHost(x, b); err != nil {
				t.Fatal(err)
			}
			for i, v := range x {
				if v != 0 {
					t.Fatalf("step %d: fresh buffer element %d = %v, want 0", step, i, v)
				}
			}
			d.Fill(b, 0, b.Len(), 7) // dirty it for the next step
		}
		for _, b := range bs {
			b.Free()
			b.Free() // a second Free is a no-op
		}
	}
	after := d.MemStats()
	if after.LiveBytes != before.LiveBytes || after.LiveBuffers != before.LiveBuffers {
		t.Errorf("live memory not flat: before %+v after %+v", before, after)
	}
	if hits := after.CacheHits - before.CacheHits; hits < int64(3*len(sizes)) {
		t.Errorf("%d cache hits over 4 steps of %d allocations, want ≥ %d", hits, len(sizes), 3*len(sizes))
	}
	if after.CachedBytes < int64(4*(3<<20)) {
		t.Errorf("CachedBytes = %d, want the freed blocks kept", after.CachedBytes)
	}
}

// TestAllocatorOOMMessage asks for more memory than any GPU has and checks the error says how
// much was asked for and how much is free.
func TestAllocatorOOMMessage(t *testing.T) {
	d := gpu(t)
	n := 1 << 45 // 2⁴⁵ float32 elements: 128 TiB
	_, err := d.Alloc(device.Float32, n)
	if err == nil {
		t.Fatal("allocating 128 TiB succeeded")
	}
	var oom *cuda.OOMError
	if !errors.As(err, &oom) {
		t.Fatalf("want *cuda.OOMError, got %T: %v", err, err)
	}
	if oom.Requested != int64(n)*4 || oom.Total <= 0 || oom.Free > oom.Total {
		t.Errorf("bad fields: %+v", oom)
	}
	if !strings.Contains(err.Error(), "asked for 140737488355328 bytes") || !strings.Contains(err.Error(), "bytes free") {
		t.Errorf("message lacks the request or the free memory: %v", err)
	}
	// The device still works afterwards.
	b, err := d.Alloc(device.Float64, 10)
	if err != nil {
		t.Fatal(err)
	}
	b.Free()
}

// TestGatherIndexOutOfRangePanics checks that a bad index panics with *device.Error, as on
// the CPU, rather than reading outside the table.
func TestGatherIndexOutOfRangePanics(t *testing.T) {
	d := gpu(t)
	tab, _ := d.Alloc(device.Float32, 6)
	idx, _ := d.Alloc(device.Int32, 2)
	out, _ := d.Alloc(device.Float32, 4)
	if err := d.CopyFromHost(idx, []int32{1, 3}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, ok := recover().(*device.Error); !ok {
			t.Error("index 3 of a 3-row table did not panic with *device.Error")
		}
	}()
	d.Gather(tab, 3, 2, idx, 2, out)
}
