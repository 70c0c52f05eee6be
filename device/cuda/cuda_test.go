//go:build cuda || cudaemu

package cuda_test

// These tests need an NVIDIA GPU and driver: a cuda test binary exits at start without one
// (gorgonia.org/cu calls cuInit in its init). CI compiles them (`go test -tags cuda -c`);
// bench/gpu/run.sh and `kiln selftest --device cuda` run the same checks on a GPU machine.

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/device/cuda"
	"github.com/kiln-ml/kiln/device/devicetest"
	"github.com/kiln-ml/kiln/device/half"
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
	case device.BFloat16:
		x := make([]half.BFloat16, b.Len())
		if err := d.CopyToHost(x, b); err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = float64(v.Float32())
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

// TestGemmPaths drives both GEMM kernels through every path the host code picks between:
// the four transposes, float4 loads on and off (leading dimensions, offsets and batch
// strides that are or are not multiples of 4), edge tiles, batches, K = 0, beta = 0 on a C
// full of NaN (must not be read) and beta ≠ 0. Each result is compared with a float64
// reference under the standard dot-product bound 2·(K+3)·u·Σ|a||b|, and C's padding columns
// must keep their old values.
func TestGemmPaths(t *testing.T) {
	d := gpu(t)
	type sz struct{ m, n, k int }
	sizes := []sz{{130, 200, 77}, {128, 128, 128}, {64, 257, 33}, {67, 64, 1}, {65, 70, 0}, {5, 9, 13}}
	pads := []int{0, 3, 4}
	if testing.Short() {
		sizes, pads = sizes[:3], []int{3, 4}
	}
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		for _, s := range sizes {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, pad := range pads {
						for _, beta := range []float64{0, -0.5} {
							batch := 1 + pad%2*2 // 1 or 3
							gemmCase(t, d, dt, s.m, s.n, s.k, ta, tb, pad, batch, 1.5, beta, false)
						}
					}
				}
			}
		}
	}
}

// tensorCoreGemmSizes are the shapes the tensor-core GEMM tests run: edges of every tile
// size, one element, an empty K, and a square that fills whole tiles.
func tensorCoreGemmSizes(square int) [][3]int {
	s := [][3]int{{130, 200, 77}, {square, square, square}, {1, 1, 1}, {33, 129, 17}, {65, 70, 0}, {256, 64, 40}}
	if testing.Short() {
		s = s[:4]
	}
	return s
}

// eachGemmLayout calls f for every transpose pair, unpadded with batch 1 and β = 0, and
// padded by 3 with batch 2 and β = −0.5.
func eachGemmLayout(f func(ta, tb bool, pad, batch int, beta float64)) {
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			f(ta, tb, 0, 1, 0)
			f(ta, tb, 3, 2, -0.5)
		}
	}
}

// TestGemmTF32 runs the tensor-core TF32 GEMM (cuda.TF32Env) over edge sizes, every
// transpose, padded leading dimensions and batches, against a float64 reference of the
// TF32-rounded inputs with float32 accumulation's tolerance: a wrong fragment, tile or
// pipeline index gives errors of the order of the values.
func TestGemmTF32(t *testing.T) {
	d := gpu(t)
	d.SetTF32(true)
	defer d.SetTF32(false)
	for _, s := range tensorCoreGemmSizes(128) {
		eachGemmLayout(func(ta, tb bool, pad, batch int, beta float64) {
			gemmCase(t, d, device.Float32, s[0], s[1], s[2], ta, tb, pad, batch, 1.5, beta, true)
		})
	}
}

// TestGemmDMMA runs the FP64 tensor-core GEMM (cuda.DMMAEnv) over the same cases as
// TestGemmTF32, against float64's own tolerance.
func TestGemmDMMA(t *testing.T) {
	d := gpu(t)
	d.SetDMMA(true)
	defer d.SetDMMA(false)
	for _, s := range tensorCoreGemmSizes(64) {
		eachGemmLayout(func(ta, tb bool, pad, batch int, beta float64) {
			gemmCase(t, d, device.Float64, s[0], s[1], s[2], ta, tb, pad, batch, 1.5, beta, false)
		})
	}
}

// tf32 rounds x (a float32 value) to TF32 as cvt.rna.tf32.f32 does: to 10 mantissa bits,
// nearest, ties away from zero.
func tf32(x float64) float64 {
	u := math.Float32bits(float32(x))
	if u&0x7f800000 != 0x7f800000 {
		u = (u + 0x1000) &^ 0x1fff
	}
	return float64(math.Float32frombits(u))
}

// gemmCase checks one GEMM against a float64 reference; with tf32 the reference multiplies
// the TF32-rounded inputs (the tensor-core kernel's).
func gemmCase(t *testing.T, d *cuda.Device, dt device.DType, m, n, k int, ta, tb bool, pad, batch int, alpha, beta float64, tf32In bool) {
	t.Helper()
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	p := device.GemmParams{TransA: ta, TransB: tb, M: m, N: n, K: k, Alpha: alpha, Beta: beta,
		LdA: ac + pad, LdB: bc + pad, LdC: n + pad, OffA: pad, OffB: 2 * pad, OffC: pad, Batch: batch}
	p.StrideA, p.StrideB, p.StrideC = ar*p.LdA+pad, br*p.LdB, m*p.LdC+pad
	lenA, lenB, lenC := p.OffA+batch*p.StrideA, p.OffB+batch*p.StrideB+1, p.OffC+batch*p.StrideC
	rnd := func(n int, seed uint64) []float64 {
		x := make([]float64, n)
		r := uint64(seed)
		for i := range x {
			r = r*6364136223846793005 + 1442695040888963407
			x[i] = float64(int64(r>>11)%2000-1000) / 997
			switch dt {
			case device.Float32:
				x[i] = float64(float32(x[i]))
			case device.BFloat16:
				x[i] = float64(half.BFloat16FromFloat64(x[i]).Float32())
			}
		}
		return x
	}
	A, B, C := rnd(lenA, 1), rnd(lenB, 2), rnd(lenC, 3)
	if beta == 0 {
		for i := range C {
			C[i] = math.NaN() // beta = 0: C must not be read
		}
	}
	up := func(x []float64) device.Buffer {
		b, err := d.Alloc(dt, len(x))
		if err != nil {
			t.Fatal(err)
		}
		var err2 error
		switch dt {
		case device.Float32:
			f := make([]float32, len(x))
			for i, v := range x {
				f[i] = float32(v)
			}
			err2 = d.CopyFromHost(b, f)
		case device.BFloat16:
			f := make([]half.BFloat16, len(x))
			for i, v := range x {
				f[i] = half.BFloat16FromFloat64(v)
			}
			err2 = d.CopyFromHost(b, f)
		default:
			err2 = d.CopyFromHost(b, x)
		}
		if err2 != nil {
			t.Fatal(err2)
		}
		return b
	}
	a, b, c := up(A), up(B), up(C)
	defer a.Free()
	defer b.Free()
	defer c.Free()
	d.Gemm(p, a, b, c)
	got := download(t, d, c)
	u := 0x1p-24
	if dt == device.Float64 {
		u = 0x1p-53
	}
	name := fmt.Sprintf("%v m=%d n=%d k=%d ta=%v tb=%v pad=%d batch=%d beta=%v tf32=%v", dt, m, n, k, ta, tb, pad, batch, beta, tf32In)
	at := func(x []float64, off, ld int, r, c int) float64 { return x[off+r*ld+c] }
	for bi := 0; bi < batch; bi++ {
		for i := 0; i < m; i++ {
			for j := 0; j < n+pad; j++ {
				ci := p.OffC + bi*p.StrideC + i*p.LdC + j
				if j >= n { // padding: untouched
					if ci < len(C) && !(math.IsNaN(C[ci]) && math.IsNaN(got[ci])) && got[ci] != C[ci] {
						t.Fatalf("%s: padding C[%d] changed from %v to %v", name, ci, C[ci], got[ci])
					}
					continue
				}
				var want, scale float64
				for kk := 0; kk < k; kk++ {
					var x, y float64
					if ta {
						x = at(A, p.OffA+bi*p.StrideA, p.LdA, kk, i)
					} else {
						x = at(A, p.OffA+bi*p.StrideA, p.LdA, i, kk)
					}
					if tb {
						y = at(B, p.OffB+bi*p.StrideB, p.LdB, j, kk)
					} else {
						y = at(B, p.OffB+bi*p.StrideB, p.LdB, kk, j)
					}
					if tf32In {
						x, y = tf32(x), tf32(y)
					}
					want += x * y
					scale += math.Abs(x * y)
				}
				want *= alpha
				scale *= math.Abs(alpha)
				if beta != 0 {
					want += beta * C[ci]
					scale += math.Abs(beta * C[ci])
				}
				tol := 2 * float64(k+3) * u * (scale + 1e-300)
				if dt == device.BFloat16 { // float32 accumulation, then one rounding of the output
					tol += 0x1p-8 * math.Abs(want)
				}
				if e := math.Abs(got[ci] - want); !(e <= tol) {
					t.Fatalf("%s: C[%d,%d,%d] = %v, want %v (err %.3g > tol %.3g)", name, bi, i, j, got[ci], want, e, tol)
				}
			}
		}
	}
}

// TestOptimizerStepMatchesCPU runs two steps of every fused optimizer on a group of tensors
// whose sizes end mid-chunk and span several chunks, on this device and on the CPU backend
// from the same inputs, and compares parameters and state. Both evaluate package optim's
// contract in the storage dtype; they may differ by FMA contraction, so the comparison allows
// a few ulps relative to the value.
func TestOptimizerStepMatchesCPU(t *testing.T) {
	g := gpu(t)
	c := device.MustGet("cpu")
	sizes := []int{1, 1000, 40_000}
	hyper := device.OptimHyper{LR: 1e-2, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.01, Momentum: 0.9,
		Dampening: 0.1, Rho: 0.04, BatchSize: 8, HessianPower: 0.5, GradScale: 0.5, BiasCorrection: true, Nesterov: true}
	nstate := map[device.OptimKind]int{device.OptimSGD: 1, device.OptimAdamW: 3, device.OptimLAMB: 2,
		device.OptimSophia: 2, device.OptimAdaHessian: 3}
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		tol := 1e-5
		if dt == device.Float64 {
			tol = 1e-13
		}
		for kind := device.OptimSGD; kind <= device.OptimAdaHessian; kind++ {
			h := hyper
			h.AMSGrad = kind == device.OptimAdamW
			// One set of host tensors, uploaded to both devices.
			var host [][]float64 // per tensor: param, grad, states...
			seed := uint64(7)
			for _, n := range sizes {
				for k := 0; k < 2+nstate[kind]; k++ {
					x := make([]float64, n)
					for i := range x {
						seed = seed*6364136223846793005 + 1442695040888963407
						x[i] = float64(int64(seed>>11)%2000-1000) / 1000
						if k >= 2 { // states: moments and Hessian estimates are non-negative where it matters
							x[i] = math.Abs(x[i])
						}
					}
					host = append(host, x)
				}
			}
			mk := func(d device.Device) ([]device.OptimTensor, []device.Buffer) {
				var group []device.OptimTensor
				var all []device.Buffer
				j := 0
				for _, n := range sizes {
					var bs []device.Buffer
					for k := 0; k < 2+nstate[kind]; k++ {
						b := upload(t, d, dt, host[j])
						j++
						bs = append(bs, b)
						all = append(all, b)
					}
					group = append(group, device.OptimTensor{Param: bs[0], Grad: bs[1], State: bs[2:], N: n})
				}
				return group, all
			}
			gg, gall := mk(g)
			cg, call := mk(c)
			for step := 1; step <= 2; step++ {
				h.Step = step
				if err := g.OptimizerStep(kind, gg, h); err != nil {
					t.Fatalf("%v %v: %v", kind, dt, err)
				}
				if err := c.OptimizerStep(kind, cg, h); err != nil {
					t.Fatalf("cpu %v %v: %v", kind, dt, err)
				}
			}
			for i := range gall {
				got, want := download(t, g, gall[i]), download(t, c, call[i])
				for e := range want {
					if d := math.Abs(got[e] - want[e]); !(d <= tol*(math.Abs(want[e])+1)) {
						t.Errorf("%v %v buffer %d element %d: %v, CPU %v", kind, dt, i, e, got[e], want[e])
						break
					}
				}
				gall[i].Free()
				call[i].Free()
			}
		}
	}
}

func upload(t *testing.T, d device.Device, dt device.DType, x []float64) device.Buffer {
	t.Helper()
	b, err := d.Alloc(dt, len(x))
	if err != nil {
		t.Fatal(err)
	}
	if dt == device.Float32 {
		f := make([]float32, len(x))
		for i, v := range x {
			f[i] = float32(v)
		}
		err = d.CopyFromHost(b, f)
	} else {
		err = d.CopyFromHost(b, x)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBSRMatMul multiplies a random block-sparse matrix (some block rows empty) by a dense one
// and compares with the product computed on the host in float64.
func TestBSRMatMul(t *testing.T) {
	d := gpu(t)
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		const blockRows, blockCols, br, bc, n = 7, 5, 3, 4, 45
		var rowptr, colidx []int32
		var vals []float64
		seed := uint64(3)
		next := func() float64 {
			seed = seed*6364136223846793005 + 1442695040888963407
			return float64(int64(seed>>11)%2000-1000) / 1000
		}
		rowptr = append(rowptr, 0)
		for i := 0; i < blockRows; i++ {
			for j := 0; j < blockCols; j++ {
				if (i*3+j*5)%4 == 0 && i != 2 { // block row 2 stays empty
					colidx = append(colidx, int32(j))
					for e := 0; e < br*bc; e++ {
						vals = append(vals, next())
					}
				}
			}
			rowptr = append(rowptr, int32(len(colidx)))
		}
		bm := make([]float64, blockCols*bc*n)
		for i := range bm {
			bm[i] = next()
		}
		up32 := func(x []int32) device.Buffer {
			b, err := d.Alloc(device.Int32, len(x))
			if err != nil {
				t.Fatal(err)
			}
			if err := d.CopyFromHost(b, x); err != nil {
				t.Fatal(err)
			}
			return b
		}
		rp, ci, vb, bb := up32(rowptr), up32(colidx), upload(t, d, dt, vals), upload(t, d, dt, bm)
		cb, err := d.Alloc(dt, blockRows*br*n)
		if err != nil {
			t.Fatal(err)
		}
		d.Fill(cb, 0, blockRows*br*n, math.NaN()) // every element must be overwritten
		d.BSRMatMul(rp, ci, vb, bb, cb, blockRows, br, bc, n)
		got := download(t, d, cb)
		round := func(x float64) float64 {
			if dt == device.Float32 {
				return float64(float32(x))
			}
			return x
		}
		for i := 0; i < blockRows; i++ {
			for r := 0; r < br; r++ {
				for col := 0; col < n; col++ {
					var want, scale float64
					for blk := rowptr[i]; blk < rowptr[i+1]; blk++ {
						for q := 0; q < bc; q++ {
							x := round(vals[int(blk)*br*bc+r*bc+q]) * round(bm[(int(colidx[blk])*bc+q)*n+col])
							want += x
							scale += math.Abs(x)
						}
					}
					u := 0x1p-24
					if dt == device.Float64 {
						u = 0x1p-53
					}
					g := got[(i*br+r)*n+col]
					if e := math.Abs(g - want); !(e <= 2*float64(blockCols*bc+3)*u*scale) {
						t.Fatalf("%v C[%d,%d] = %v, want %v", dt, i*br+r, col, g, want)
					}
				}
			}
		}
		for _, b := range []device.Buffer{rp, ci, vb, bb, cb} {
			b.Free()
		}
	}
}

// AllocUninit skips the zero fill, and where the device poisons (always under the emulator,
// or with KILN_CUDA_POISON=1) the new memory reads as NaN, so an op that reads an element
// of its output before writing it shows; Alloc keeps its zeros.
func TestAllocUninit(t *testing.T) {
	d := gpu(t)
	u, err := device.AllocUninit(d, device.Float32, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Free()
	got := make([]float32, 1000)
	if err := d.CopyToHost(got, u); err != nil {
		t.Fatal(err)
	}
	if d.Poisons() {
		for i, v := range got {
			if v == v {
				t.Fatalf("poisoned element %d is %v, want NaN", i, v)
			}
		}
	}
	// Writing then reading works as for any buffer, and a zeroing Alloc of the recycled
	// memory gives zeros again.
	want := make([]float32, 1000)
	for i := range want {
		want[i] = float32(i)
	}
	if err := d.CopyFromHost(u, want); err != nil {
		t.Fatal(err)
	}
	if err := d.CopyToHost(got, u); err != nil || got[999] != 999 {
		t.Fatalf("after a write: %v, %v", got[999], err)
	}
	u.Free()
	z, err := d.Alloc(device.Float32, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Free()
	if err := d.CopyToHost(got, z); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 0 {
			t.Fatalf("Alloc element %d is %v, want 0", i, v)
		}
	}
}

// TestGemmBF16 runs the bfloat16 tensor-core GEMM (cuda.BF16Env) over edge sizes, every
// transpose, padded leading dimensions and batches: each output must be the float64 product
// of the bfloat16 inputs, accumulated in float32 and rounded once to bfloat16.
func TestGemmBF16(t *testing.T) {
	d := gpu(t)
	d.SetBF16(true)
	defer d.SetBF16(false)
	for _, s := range tensorCoreGemmSizes(128) {
		eachGemmLayout(func(ta, tb bool, pad, batch int, beta float64) {
			gemmCase(t, d, device.BFloat16, s[0], s[1], s[2], ta, tb, pad, batch, 1.5, beta, false)
		})
	}
}
