package cpu

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/devicetest"
	"github.com/kiln-ml/kiln/rng"
)

func alloc(t *testing.T, d *Device, dt device.DType, n int) device.Buffer {
	t.Helper()
	b, err := d.Alloc(dt, n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		e, ok := r.(*device.Error)
		if !ok {
			t.Fatalf("want a *device.Error panic containing %q, got %v", want, r)
		}
		if !strings.Contains(e.Error(), want) {
			t.Fatalf("panic %q does not mention %q", e.Error(), want)
		}
	}()
	f()
}

func TestRegistered(t *testing.T) {
	d, err := device.Get("cpu")
	if err != nil {
		t.Fatal(err)
	}
	if d != device.Device(Default()) || d.Name() != "cpu" {
		t.Fatalf("Get(cpu) = %v", d)
	}
	if _, err := device.Get("cpu:1"); err == nil {
		t.Fatal("cpu:1 should not exist")
	}
	if info := d.Info(); info.Cores < 1 || info.Kernel == "" {
		t.Fatalf("Info = %+v", info)
	}
	// Opened lists it once however often it is asked for, and not the failed cpu:1.
	device.Get("cpu")
	n := 0
	for _, o := range device.Opened() {
		if o.Name() == "cpu" {
			n++
		}
		if o.Name() == "cpu:1" {
			t.Errorf("Opened lists cpu:1, which failed to open")
		}
	}
	if n != 1 {
		t.Errorf("Opened lists cpu %d times, want once", n)
	}
}

func TestAllocFreeStats(t *testing.T) {
	d := Default()
	before := d.MemStats()
	a := alloc(t, d, device.Float32, 1000)
	b := alloc(t, d, device.Float64, 10)
	s := d.MemStats()
	if s.LiveBuffers != before.LiveBuffers+2 || s.LiveBytes != before.LiveBytes+4000+80 || s.Allocs != before.Allocs+2 {
		t.Fatalf("after two allocs: %+v (before %+v)", s, before)
	}
	if s.PeakBytes < s.LiveBytes {
		t.Fatalf("peak %d below live %d", s.PeakBytes, s.LiveBytes)
	}
	for _, v := range Float32s(a) {
		if v != 0 {
			t.Fatal("Alloc did not zero")
		}
	}
	a.Free()
	a.Free() // idempotent
	b.Free()
	if after := d.MemStats(); after.LiveBuffers != before.LiveBuffers || after.LiveBytes != before.LiveBytes {
		t.Fatalf("after Free: %+v, before %+v", after, before)
	}
	mustPanic(t, "freed", func() { d.Fill(a, 0, 1, 1) })
	mustPanic(t, "freed", func() { Float32s(a) })
	if err := d.CopyToHost(make([]float32, 1000), a); err == nil {
		t.Fatal("CopyToHost from a freed buffer succeeded")
	}
	mustPanic(t, "dtype", func() { Float64s(alloc(t, d, device.Float32, 1)) })
}

func TestCopyErrors(t *testing.T) {
	d := Default()
	b := alloc(t, d, device.Float32, 3)
	defer b.Free()
	if err := d.CopyFromHost(b, []float64{1, 2, 3}); err == nil {
		t.Error("dtype mismatch accepted")
	}
	if err := d.CopyFromHost(b, []float32{1, 2}); err == nil {
		t.Error("length mismatch accepted")
	}
	if err := d.CopyFromHost(b, []float32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 3)
	if err := d.CopyToHost(got, b); err != nil || got[2] != 3 {
		t.Fatalf("round trip: %v %v", got, err)
	}
}

// TestGemmBetaZeroOverwritesNaN checks the BLAS rule that beta = 0 ignores C's old contents,
// against a hand-computed product.
func TestGemmBetaZeroOverwritesNaN(t *testing.T) {
	d := Default()
	a, b, c := alloc(t, d, device.Float64, 4), alloc(t, d, device.Float64, 4), alloc(t, d, device.Float64, 4)
	copy(Float64s(a), []float64{1, 2, 3, 4})
	copy(Float64s(b), []float64{5, 6, 7, 8})
	copy(Float64s(c), []float64{math.NaN(), math.Inf(1), math.NaN(), 1})
	d.Gemm(device.GemmParams{M: 2, N: 2, K: 2, Alpha: 1, LdA: 2, LdB: 2, LdC: 2, Batch: 1}, a, b, c)
	want := []float64{19, 22, 43, 50}
	for i, v := range Float64s(c) {
		if v != want[i] {
			t.Fatalf("C = %v, want %v", Float64s(c), want)
		}
	}
	// k = 0: C = beta·C only.
	d.Gemm(device.GemmParams{M: 2, N: 2, K: 0, Alpha: 1, Beta: 0.5, LdA: 1, LdB: 2, LdC: 2, Batch: 1}, a, b, c)
	if Float64s(c)[3] != 25 {
		t.Fatalf("k=0 gave %v", Float64s(c))
	}
	// k = 0 with an offset beyond A and B: nothing of them is read, so nothing is checked.
	d.Gemm(device.GemmParams{M: 2, N: 2, K: 0, Alpha: 1, Beta: 2, LdA: 1, LdB: 2, LdC: 2, OffA: 100, OffB: 100, Batch: 1}, a, b, c)
	if Float64s(c)[3] != 50 {
		t.Fatalf("k=0 with far offsets gave %v", Float64s(c))
	}
	mustPanic(t, "Batch", func() { d.Gemm(device.GemmParams{M: 1, N: 1, K: 1, LdA: 1, LdB: 1, LdC: 1}, a, b, c) })
	mustPanic(t, "elements", func() {
		d.Gemm(device.GemmParams{M: 2, N: 2, K: 2, LdA: 2, LdB: 2, LdC: 2, Batch: 2, StrideA: 4, StrideB: 0, StrideC: 4}, a, b, c)
	})
}

func TestRandomFillMatchesRNG(t *testing.T) {
	d := Default()
	const n = 100_003 // parallel, and not a multiple of 4
	for _, dist := range []device.Distribution{device.Uniform, device.Normal} {
		b64, b32 := alloc(t, d, device.Float64, n), alloc(t, d, device.Float32, n)
		d.RandomFill(b64, dist, 42, 7, -1, 3)
		d.RandomFill(b32, dist, 42, 7, -1, 3)
		for i := 0; i < n; i++ {
			var want float64
			if dist == device.Uniform {
				want = rng.UniformAt(42, 7, i, -1, 3)
			} else {
				want = rng.NormalAt(42, 7, i, -1, 3)
			}
			if Float64s(b64)[i] != want || Float32s(b32)[i] != float32(want) {
				t.Fatalf("dist %d element %d: %v / %v, want %v", dist, i, Float64s(b64)[i], Float32s(b32)[i], want)
			}
		}
		b64.Free()
		b32.Free()
	}
}

func TestGatherIndexRange(t *testing.T) {
	d := Default()
	tab, idx, out := alloc(t, d, device.Float32, 6), alloc(t, d, device.Int32, 2), alloc(t, d, device.Float32, 4)
	copy(Float32s(tab), []float32{1, 2, 3, 4, 5, 6})
	copy(Int32s(idx), []int32{2, 0})
	d.Gather(tab, 3, 2, idx, 2, out)
	if got := Float32s(out); got[0] != 5 || got[1] != 6 || got[2] != 1 || got[3] != 2 {
		t.Fatalf("Gather = %v", got)
	}
	Int32s(idx)[1] = 3
	mustPanic(t, "outside", func() { d.Gather(tab, 3, 2, idx, 2, out) })
	Int32s(idx)[1] = -1
	mustPanic(t, "outside", func() { d.ScatterAdd(tab, 3, 2, idx, 2, out) })
}

func TestOptimizerStepUnsupported(t *testing.T) {
	if err := Default().OptimizerStep(device.OptimKind(200), nil, device.OptimHyper{}); !errors.Is(err, device.ErrUnsupported) {
		t.Fatalf("OptimizerStep = %v", err)
	}
}

// TestParallelForRepanics checks that a panic inside a worker reaches the caller's goroutine.
func TestParallelForRepanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("no panic")
		}
	}()
	parallelFor(1<<20, 1, func(lo, hi int) {
		if lo > 0 {
			device.Panicf("test", "worker %d", lo)
		}
	})
}

// TestAttentionSmall compares one head against the softmax formula written out directly.
func TestAttentionSmall(t *testing.T) {
	d := Default()
	p := device.AttentionParams{Batch: 1, Lq: 2, Lk: 3, D: 1, Dv: 1, NContext: 2, Scale: 1}
	q, k, v := alloc(t, d, device.Float64, 2), alloc(t, d, device.Float64, 3), alloc(t, d, device.Float64, 3)
	o, lse := alloc(t, d, device.Float64, 2), alloc(t, d, device.Float64, 2)
	copy(Float64s(q), []float64{1, -2})
	copy(Float64s(k), []float64{0.5, 1, 100}) // the third key is masked out
	copy(Float64s(v), []float64{10, 20, 1e6})
	d.Attention(p, q, k, v, o, lse)
	for i, qi := range Float64s(q) {
		e0, e1 := math.Exp(qi*0.5), math.Exp(qi*1)
		want := (10*e0 + 20*e1) / (e0 + e1)
		if got := Float64s(o)[i]; math.Abs(got-want) > 1e-12 {
			t.Errorf("O[%d] = %v, want %v", i, got, want)
		}
		if got := Float64s(lse)[i]; math.Abs(got-math.Log(e0+e1)) > 1e-12 {
			t.Errorf("lse[%d] = %v, want %v", i, got, math.Log(e0+e1))
		}
	}
	mustPanic(t, "NContext", func() {
		p.NContext = 4
		d.Attention(p, q, k, v, o, lse)
	})
}

// TestConformance runs the quick conformance suite on the CPU device.
func TestConformance(t *testing.T) {
	for _, r := range devicetest.Run(Default(), devicetest.Options{Quick: true}) {
		if !r.Pass {
			t.Errorf("%s %s: max error %.3g > tol %.3g %s", r.Primitive, r.Case, r.MaxErr, r.Tol, r.Err)
		}
	}
}

// TestConcurrentAllocFree checks the allocator statistics under concurrent use: the CPU
// device keeps no other mutable state, so several goroutines may share it.
func TestConcurrentAllocFree(t *testing.T) {
	d := Default()
	before := d.MemStats()
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				b, err := d.Alloc(device.Float32, 100+i)
				if err != nil {
					t.Error(err)
					return
				}
				d.Fill(b, 0, b.Len(), 1)
				b.Free()
				b.Free()
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	after := d.MemStats()
	if after.LiveBuffers != before.LiveBuffers || after.LiveBytes != before.LiveBytes || after.Allocs != before.Allocs+1600 {
		t.Fatalf("before %+v, after %+v", before, after)
	}
}
