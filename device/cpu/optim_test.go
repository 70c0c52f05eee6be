package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/optim"
)

// TestOptimizerStepMatchesComposed checks every fused kind against optim.ComposedStep (the
// composition of primitives that package optim tests against float64 references), on
// groups of odd-sized tensors that span several chunks, in both dtypes.
func TestOptimizerStepMatchesComposed(t *testing.T) {
	d := Default()
	sizes := []int{1, 7, optimChunk + 3, 2*optimChunk + 11}
	type tc struct {
		kind device.OptimKind
		h    device.OptimHyper
	}
	base := device.OptimHyper{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.05, GradScale: 0.7, Step: 3, BiasCorrection: true}
	var cases []tc
	for _, step := range []int{1, 4} {
		h := base
		h.Step, h.Momentum, h.Dampening = step, 0.9, 0.2
		cases = append(cases, tc{device.OptimSGD, h})
		h.Dampening, h.Nesterov = 0, true
		cases = append(cases, tc{device.OptimSGD, h})
	}
	cases = append(cases, tc{device.OptimSGD, base})
	cases = append(cases, tc{device.OptimAdamW, base})
	ams := base
	ams.AMSGrad = true
	cases = append(cases, tc{device.OptimAdamW, ams})
	cases = append(cases, tc{device.OptimLAMB, base})
	nv := base
	nv.WeightDecay, nv.NVLamb, nv.BiasCorrection = 0, true, false
	cases = append(cases, tc{device.OptimLAMB, nv})
	noTrust := nv
	noTrust.NVLamb = false
	cases = append(cases, tc{device.OptimLAMB, noTrust})
	so := base
	so.Rho, so.BatchSize, so.Eps, so.Beta1 = 0.04, 8, 1e-15, 0.965
	cases = append(cases, tc{device.OptimSophia, so})
	ah := base
	ah.HessianPower = 1
	cases = append(cases, tc{device.OptimAdaHessian, ah})
	ah.HessianPower = 0.5
	cases = append(cases, tc{device.OptimAdaHessian, ah})

	nstate := func(c tc) int {
		switch c.kind {
		case device.OptimSGD:
			if c.h.Momentum == 0 {
				return 0
			}
			return 1
		case device.OptimAdamW:
			if c.h.AMSGrad {
				return 3
			}
			return 2
		case device.OptimAdaHessian:
			return 3
		}
		return 2
	}
	for ci, c := range cases {
		for _, dt := range []device.DType{device.Float32, device.Float64} {
			t.Run(fmt.Sprintf("%d-%s-%s", ci, c.kind, dt), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(ci), 3))
				mk := func(n int, positive bool) ([]float64, [2]device.Buffer) {
					v := make([]float64, n)
					for i := range v {
						v[i] = r.NormFloat64()
						if positive {
							v[i] = math.Abs(v[i])
						}
					}
					var bs [2]device.Buffer
					for k := range bs {
						b, _ := d.Alloc(dt, n)
						if dt == device.Float32 {
							f := make([]float32, n)
							for i := range f {
								f[i] = float32(v[i])
							}
							_ = d.CopyFromHost(b, f)
						} else {
							_ = d.CopyFromHost(b, v)
						}
						bs[k] = b
					}
					return v, bs
				}
				var groups [2][]device.OptimTensor
				for _, n := range sizes {
					_, p := mk(n, false)
					_, g := mk(n, false)
					var st [2][]device.Buffer
					for k := 0; k < nstate(c); k++ {
						// m may be signed; v, vmax, h and d are non-negative.
						_, s := mk(n, k > 0)
						st[0] = append(st[0], s[0])
						st[1] = append(st[1], s[1])
					}
					for k := range groups {
						groups[k] = append(groups[k], device.OptimTensor{Param: p[k], Grad: g[k], State: st[k], N: n})
					}
				}
				if err := optimizerStep(c.kind, groups[0], c.h); err != nil {
					t.Fatal(err)
				}
				if err := optim.ComposedStep(d, c.kind, groups[1], c.h); err != nil {
					t.Fatal(err)
				}
				tol := 1e-12
				if dt == device.Float32 {
					tol = 2e-6
				}
				for ti := range groups[0] {
					a, b := groups[0][ti], groups[1][ti]
					bufs := [][2]device.Buffer{{a.Param, b.Param}}
					for k := range a.State {
						bufs = append(bufs, [2]device.Buffer{a.State[k], b.State[k]})
					}
					for k, pair := range bufs {
						x, y := host(pair[0]), host(pair[1])
						for i := range x {
							if diff := math.Abs(x[i] - y[i]); !(diff <= tol*math.Max(1, math.Abs(y[i]))) {
								t.Fatalf("tensor %d (n=%d) buffer %d [%d]: fused %.10g, composed %.10g", ti, a.N, k, i, x[i], y[i])
							}
						}
					}
				}
			})
		}
	}
}

func host(b device.Buffer) []float64 {
	cb := b.(*buffer)
	if cb.dtype == device.Float64 {
		return append([]float64(nil), cb.f64...)
	}
	out := make([]float64, cb.n)
	for i, v := range cb.f32 {
		out[i] = float64(v)
	}
	return out
}

func TestOptimizerStepUnknownKind(t *testing.T) {
	if err := optimizerStep(device.OptimKind(99), nil, device.OptimHyper{}); err != device.ErrUnsupported {
		t.Fatalf("unknown kind returned %v, want ErrUnsupported", err)
	}
}

// BenchmarkFusedAdamW100M times one fused AdamW step over 100M float32 parameters (100
// tensors of 1M) and, in the same run, a parallel memory copy that moves the same bytes over
// the same buffers, so the step can be read against what this machine's memory system gives
// a plain copy. AdamW reads p, g, m, v and writes p, m, v: 28 bytes per parameter. The copy
// does g→m, p→v, m→p and half of v→g: also 14 bytes read and 14 written per parameter.
// "step/copy" is copy time over step time (1 would mean the step runs at copy speed).
// Memory: 1.6 GB; skipped with -short.
func BenchmarkFusedAdamW100M(b *testing.B) {
	if testing.Short() {
		b.Skip("needs 1.6 GB; skipped in -short mode")
	}
	const tensors, per = 100, 1 << 20
	d := Default()
	group := make([]device.OptimTensor, tensors)
	reset := func() {
		for _, ot := range group {
			d.Fill(ot.Param, 0, per, 1)
			d.Fill(ot.Grad, 0, per, 0.01)
			d.Fill(ot.State[0], 0, per, 0)
			d.Fill(ot.State[1], 0, per, 0)
		}
	}
	for i := range group {
		p, _ := d.Alloc(device.Float32, per)
		g, _ := d.Alloc(device.Float32, per)
		m, _ := d.Alloc(device.Float32, per)
		v, _ := d.Alloc(device.Float32, per)
		group[i] = device.OptimTensor{Param: p, Grad: g, State: []device.Buffer{m, v}, N: per}
		defer func() { p.Free(); g.Free(); m.Free(); v.Free() }()
	}
	reset()
	h := device.OptimHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 10, BiasCorrection: true}
	params := float64(tensors * per)
	var stepNs, copyNs float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := optimizerStep(device.OptimAdamW, group, h); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		parallelFor(tensors, per, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				ot := group[k]
				p, g := Float32s(ot.Param), Float32s(ot.Grad)
				m, v := Float32s(ot.State[0]), Float32s(ot.State[1])
				copy(m, g)
				copy(v, p)
				copy(p, m)
				copy(g[:per/2], v[:per/2])
			}
		})
		t2 := time.Now()
		stepNs += float64(t1.Sub(t0).Nanoseconds())
		copyNs += float64(t2.Sub(t1).Nanoseconds())
		b.StopTimer()
		reset()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(stepNs/n/1e6, "ms/step")
	b.ReportMetric(params/(stepNs/n)*1e3, "Mparams/s")
	b.ReportMetric(28*params/(stepNs/n), "step-GB/s")
	b.ReportMetric(28*params/(copyNs/n), "copy-GB/s")
	b.ReportMetric(copyNs/stepNs, "step/copy")
}
