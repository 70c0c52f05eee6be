package optim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/tensor"
)

// The references below are written from the papers' equations (and the cited reference
// implementations), in float64 with plain loops, independently of the fused kernels and the
// composed path.

// refParam is one parameter of the reference model with its state.
type refParam struct {
	shape   []int
	p       []float64
	m, v, x []float64 // optimizer state (x: vmax, momentum buffer or Hessian EMA)
	noDecay bool
}

func newRefParam(shape []int, p []float64) *refParam {
	n := len(p)
	return &refParam{shape: shape, p: append([]float64(nil), p...), m: make([]float64, n), v: make([]float64, n), x: make([]float64, n)}
}

func globalClip(gs [][]float64, maxNorm float64) float64 {
	if maxNorm <= 0 {
		return 1
	}
	s := 0.0
	for _, g := range gs {
		for _, v := range g {
			s += v * v
		}
	}
	if n := math.Sqrt(s); n > maxNorm {
		return maxNorm / n
	}
	return 1
}

func refSGD(ps []*refParam, gs [][]float64, t int, c SGDConfig) {
	for k, rp := range ps {
		wd := c.WeightDecay
		if rp.noDecay {
			wd = 0
		}
		for i := range rp.p {
			d := gs[k][i] + wd*rp.p[i]
			if c.Momentum != 0 {
				if t == 1 {
					rp.x[i] = d
				} else {
					rp.x[i] = c.Momentum*rp.x[i] + (1-c.Dampening)*d
				}
				if c.Nesterov {
					d += c.Momentum * rp.x[i]
				} else {
					d = rp.x[i]
				}
			}
			rp.p[i] -= c.LR * d
		}
	}
}

func refAdamW(ps []*refParam, gs [][]float64, t int, c AdamWConfig) {
	s := globalClip(gs, c.MaxGradNorm)
	bc1, bc2 := 1-math.Pow(c.Beta1, float64(t)), 1-math.Pow(c.Beta2, float64(t))
	for k, rp := range ps {
		wd := c.WeightDecay
		if rp.noDecay {
			wd = 0
		}
		for i := range rp.p {
			g := s * gs[k][i]
			rp.p[i] *= 1 - c.LR*wd
			rp.m[i] = c.Beta1*rp.m[i] + (1-c.Beta1)*g
			rp.v[i] = c.Beta2*rp.v[i] + (1-c.Beta2)*g*g
			v := rp.v[i]
			if c.AMSGrad {
				rp.x[i] = math.Max(rp.x[i], v)
				v = rp.x[i]
			}
			mhat := rp.m[i] / bc1
			rp.p[i] -= c.LR * mhat / (math.Sqrt(v/bc2) + c.Eps)
		}
	}
}

func refLAMB(ps []*refParam, gs [][]float64, t int, c LAMBConfig) {
	s := globalClip(gs, c.MaxGradNorm)
	bc1, bc2 := 1.0, 1.0
	if c.BiasCorrection {
		bc1, bc2 = 1-math.Pow(c.Beta1, float64(t)), 1-math.Pow(c.Beta2, float64(t))
	}
	for k, rp := range ps {
		wd := c.WeightDecay
		if rp.noDecay {
			wd = 0
		}
		u := make([]float64, len(rp.p))
		var pn, un float64
		for i := range rp.p {
			g := s * gs[k][i]
			rp.m[i] = c.Beta1*rp.m[i] + (1-c.Beta1)*g
			rp.v[i] = c.Beta2*rp.v[i] + (1-c.Beta2)*g*g
			u[i] = (rp.m[i]/bc1)/(math.Sqrt(rp.v[i]/bc2)+c.Eps) + wd*rp.p[i]
			pn += rp.p[i] * rp.p[i]
			un += u[i] * u[i]
		}
		pn, un = math.Sqrt(pn), math.Sqrt(un)
		r := c.LR
		if (wd != 0 || c.NVLamb) && pn > 0 && un > 0 {
			r = c.LR * pn / un
		}
		for i := range rp.p {
			rp.p[i] -= r * u[i]
		}
	}
}

func refSophia(ps []*refParam, gs [][]float64, c SophiaConfig) {
	for k, rp := range ps {
		wd := c.WeightDecay
		if rp.noDecay {
			wd = 0
		}
		for i := range rp.p {
			rp.p[i] *= 1 - c.LR*wd
			rp.m[i] = c.Beta1*rp.m[i] + (1-c.Beta1)*gs[k][i]
			ratio := math.Min(math.Abs(rp.m[i])/math.Max(c.Rho*c.BatchSize*rp.x[i], 1e-15), 1)
			sign := 0.0
			if rp.m[i] > 0 {
				sign = 1
			} else if rp.m[i] < 0 {
				sign = -1
			}
			rp.p[i] -= c.LR * sign * ratio
		}
	}
}

func refSophiaHessian(ps []*refParam, est [][]float64, beta2 float64) {
	for k, rp := range ps {
		for i := range rp.x {
			rp.x[i] = beta2*rp.x[i] + (1-beta2)*est[k][i]
		}
	}
}

// refSpatial is the authors' averaging of |Hv|: none for rank ≤ 2, the mean over all axes
// after the first two otherwise.
func refSpatial(shape []int, hv []float64) []float64 {
	d := make([]float64, len(hv))
	for i, v := range hv {
		d[i] = math.Abs(v)
	}
	if len(shape) <= 2 {
		return d
	}
	bs := 1
	for _, s := range shape[2:] {
		bs *= s
	}
	for r := 0; r < len(d)/bs; r++ {
		s := 0.0
		for j := 0; j < bs; j++ {
			s += d[r*bs+j]
		}
		for j := 0; j < bs; j++ {
			d[r*bs+j] = s / float64(bs)
		}
	}
	return d
}

func refAdaHessian(ps []*refParam, gs, hv [][]float64, t int, c AdaHessianConfig) {
	bc1, bc2 := 1-math.Pow(c.Beta1, float64(t)), 1-math.Pow(c.Beta2, float64(t))
	for k, rp := range ps {
		wd := c.WeightDecay
		if rp.noDecay {
			wd = 0
		}
		d := refSpatial(rp.shape, hv[k])
		for i := range rp.p {
			rp.m[i] = c.Beta1*rp.m[i] + (1-c.Beta1)*gs[k][i]
			rp.v[i] = c.Beta2*rp.v[i] + (1-c.Beta2)*d[i]*d[i]
			den := math.Pow(math.Sqrt(rp.v[i]), c.HessianPower)/math.Pow(math.Sqrt(bc2), c.HessianPower) + c.Eps
			rp.p[i] -= c.LR * (rp.m[i]/bc1/den + wd*rp.p[i])
		}
	}
}

// ---------------------------------------------------------------------------------------
// Harness

var testShapes = [][]int{{7, 13}, {5}, {3, 4, 5}, {40000}} // the last spans two CPU chunks

func devices(t *testing.T) []device.Device {
	var ds []device.Device
	for _, name := range device.Available() {
		d, err := device.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

func roundTo(dt device.DType, v []float64) []float64 {
	out := append([]float64(nil), v...)
	if dt == device.Float32 {
		for i := range out {
			out[i] = float64(float32(out[i]))
		}
	}
	return out
}

func randVec(r *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * r.NormFloat64()
	}
	return v
}

// setup makes parameters on dev with names; the bias-like {5} goes to a no-decay group.
func setup(dev device.Device, dt device.DType, r *rand.Rand) ([]Group, []*refParam) {
	var dec, nodec []Param
	var refs []*refParam
	for i, sh := range testShapes {
		n := 1
		for _, d := range sh {
			n *= d
		}
		v := roundTo(dt, randVec(r, n, 1))
		t := tensor.FromFloat64As(dev, dt, v, sh...).Detach()
		rp := newRefParam(sh, v)
		name := fmt.Sprintf("w%d", i)
		if len(sh) == 1 && sh[0] == 5 {
			name = "bias"
			rp.noDecay = true
			nodec = append(nodec, Param{Name: name, T: t})
		} else {
			dec = append(dec, Param{Name: name, T: t})
		}
		refs = append(refs, rp)
	}
	// Order refs like the groups: decay params first, then no-decay.
	var ordered []*refParam
	for _, rp := range refs {
		if !rp.noDecay {
			ordered = append(ordered, rp)
		}
	}
	for _, rp := range refs {
		if rp.noDecay {
			ordered = append(ordered, rp)
		}
	}
	return []Group{{Name: "decay", Params: dec}, {Name: "no_decay", Params: nodec, NoWeightDecay: true}}, ordered
}

func setGrads(t *testing.T, o Optimizer, dt device.DType, gs [][]float64) {
	t.Helper()
	k := 0
	for _, g := range o.Groups() {
		for _, p := range g.Params {
			if old := p.T.Grad(); old != nil {
				old.Release()
			}
			p.T.SetGrad(tensor.FromFloat64As(p.T.Device(), dt, gs[k], p.T.Shape()...).Detach())
			k++
		}
	}
}

func tensorsOf(o Optimizer, dev device.Device, dt device.DType, vs [][]float64) []*tensor.Tensor {
	var ts []*tensor.Tensor
	k := 0
	for _, g := range o.Groups() {
		for _, p := range g.Params {
			ts = append(ts, tensor.FromFloat64As(dev, dt, vs[k], p.T.Shape()...).Detach())
			k++
		}
	}
	return ts
}

func compare(t *testing.T, what string, o Optimizer, refs []*refParam, dt device.DType) {
	t.Helper()
	tol := 1e-11
	if dt == device.Float32 {
		tol = 2e-5
	}
	k := 0
	for _, g := range o.Groups() {
		for _, p := range g.Params {
			got := p.T.Float64s()
			want := refs[k].p
			for i := range got {
				if d := math.Abs(got[i] - want[i]); !(d <= tol*math.Max(1, math.Abs(want[i]))) {
					t.Fatalf("%s: %s[%d] = %.12g, reference %.12g (|diff| %.3g)", what, p.Name, i, got[i], want[i], d)
				}
			}
			k++
		}
	}
}

// caseT is one optimizer configuration run against its reference.
type caseT struct {
	name string
	make func([]Group) (Optimizer, error)
	// ref applies one reference step; hv holds this step's Hessian estimates (AdaHessian,
	// Sophia on update steps).
	ref func(ps []*refParam, gs, hv [][]float64, t int)
	// hess supplies estimates to the optimizer before (AdaHessian) or after (Sophia) Step.
	kind device.OptimKind
}

func cases() []caseT {
	sgd := func(c SGDConfig) func([]Group) (Optimizer, error) {
		return func(g []Group) (Optimizer, error) { return NewSGD(g, c) }
	}
	var cs []caseT
	for _, c := range []struct {
		n string
		c SGDConfig
	}{
		{"sgd", SGDConfig{LR: 0.05}},
		{"sgd-momentum-wd", SGDConfig{LR: 0.05, Momentum: 0.9, Dampening: 0.1, WeightDecay: 0.01}},
		{"sgd-nesterov", SGDConfig{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 0.02}},
	} {
		c := c
		cs = append(cs, caseT{c.n, sgd(c.c), func(ps []*refParam, gs, _ [][]float64, t int) { refSGD(ps, gs, t, c.c) }, device.OptimSGD})
	}
	for _, c := range []struct {
		n string
		c AdamWConfig
	}{
		{"adamw", DefaultAdamW()},
		{"adamw-amsgrad-clip", func() AdamWConfig {
			c := DefaultAdamW()
			c.LR, c.AMSGrad, c.WeightDecay, c.MaxGradNorm = 0.01, true, 0.1, 2
			return c
		}()},
	} {
		c := c
		cs = append(cs, caseT{c.n, func(g []Group) (Optimizer, error) { return NewAdamW(g, c.c) },
			func(ps []*refParam, gs, _ [][]float64, t int) { refAdamW(ps, gs, t, c.c) }, device.OptimAdamW})
	}
	for _, c := range []struct {
		n string
		c LAMBConfig
	}{
		{"lamb", func() LAMBConfig { c := DefaultLAMB(); c.LR = 0.01; return c }()},
		{"lamb-nvlamb-nobc", func() LAMBConfig {
			c := DefaultLAMB()
			c.LR, c.NVLamb, c.BiasCorrection, c.MaxGradNorm = 0.01, true, false, 100
			return c
		}()},
	} {
		c := c
		cs = append(cs, caseT{c.n, func(g []Group) (Optimizer, error) { return NewLAMB(g, c.c) },
			func(ps []*refParam, gs, _ [][]float64, t int) { refLAMB(ps, gs, t, c.c) }, device.OptimLAMB})
	}
	sc := DefaultSophia()
	sc.LR, sc.K, sc.BatchSize = 0.01, 3, 4
	cs = append(cs, caseT{"sophia", func(g []Group) (Optimizer, error) { return NewSophia(g, sc) },
		func(ps []*refParam, gs, hv [][]float64, t int) {
			refSophia(ps, gs, sc)
			if hv != nil {
				refSophiaHessian(ps, hv, sc.Beta2)
			}
		}, device.OptimSophia})
	for _, c := range []struct {
		n string
		c AdaHessianConfig
	}{
		{"adahessian", DefaultAdaHessian()},
		{"adahessian-power-wd", func() AdaHessianConfig {
			c := DefaultAdaHessian()
			c.HessianPower, c.WeightDecay, c.LR = 0.5, 0.01, 0.05
			return c
		}()},
	} {
		c := c
		cs = append(cs, caseT{c.n, func(g []Group) (Optimizer, error) { return NewAdaHessian(g, c.c) },
			func(ps []*refParam, gs, hv [][]float64, t int) { refAdaHessian(ps, gs, hv, t, c.c) }, device.OptimAdaHessian})
	}
	return cs
}

// runSteps drives o and the reference through steps with the same random gradients and
// Hessian estimates, checking the parameters after every step.
func runSteps(t *testing.T, o Optimizer, refs []*refParam, c caseT, dev device.Device, dt device.DType, r *rand.Rand, steps int, check bool) {
	t.Helper()
	for s := 1; s <= steps; s++ {
		gs := make([][]float64, len(refs))
		for k, rp := range refs {
			gs[k] = roundTo(dt, randVec(r, len(rp.p), 0.5))
		}
		setGrads(t, o, dt, gs)
		var hv [][]float64
		switch c.kind {
		case device.OptimAdaHessian:
			hv = make([][]float64, len(refs))
			for k, rp := range refs {
				// Magnitudes bounded away from 0: a near-zero curvature makes the step
				// lr·g/|d| huge, and float32 rounding with it.
				hv[k] = randVec(r, len(rp.p), 2)
				for i, x := range hv[k] {
					hv[k][i] = x + math.Copysign(0.25, x)
				}
				hv[k] = roundTo(dt, hv[k])
			}
			if err := o.(*AdaHessian).SetHessian(tensorsOf(o, dev, dt, hv)); err != nil {
				t.Fatal(err)
			}
		case device.OptimSophia:
			if (o.StepCount()+1)%o.(*Sophia).Config.K == 0 {
				hv = make([][]float64, len(refs))
				for k, rp := range refs {
					hv[k] = roundTo(dt, randVec(r, len(rp.p), 1))
					for i := range hv[k] {
						hv[k][i] = math.Abs(hv[k][i])
					}
				}
			}
		}
		if err := o.Step(); err != nil {
			t.Fatalf("step %d: %v", s, err)
		}
		if c.kind == device.OptimSophia && hv != nil {
			sp := o.(*Sophia)
			if !sp.HessianDue() {
				t.Fatalf("step %d: HessianDue false with K = %d", s, sp.Config.K)
			}
			if err := sp.UpdateHessian(tensorsOf(o, dev, dt, hv)); err != nil {
				t.Fatal(err)
			}
		}
		c.ref(refs, gs, hv, o.StepCount())
		if check {
			compare(t, fmt.Sprintf("step %d", s), o, refs, dt)
		}
	}
}

func TestAgainstReference(t *testing.T) {
	for _, dev := range devices(t) {
		for _, composed := range []bool{false, true} {
			for _, dt := range []device.DType{device.Float32, device.Float64} {
				for _, c := range cases() {
					name := fmt.Sprintf("%s/%s/%s/composed=%v", dev.Name(), dt, c.name, composed)
					t.Run(name, func(t *testing.T) {
						forceComposed = composed
						defer func() { forceComposed = false }()
						r := rand.New(rand.NewPCG(1, uint64(c.kind)))
						groups, refs := setup(dev, dt, r)
						o, err := c.make(groups)
						if err != nil {
							t.Fatal(err)
						}
						defer o.Release()
						runSteps(t, o, refs, c, dev, dt, r, 20, true)
						if o.StepCount() != 20 {
							t.Fatalf("StepCount %d after 20 steps", o.StepCount())
						}
					})
				}
			}
		}
	}
}

// TestSaveLoad runs 8 steps, saves (through JSON), loads the state into a fresh optimizer over
// copies of the parameters, and checks that both continue identically (bit for bit) for 8
// more steps.
func TestSaveLoad(t *testing.T) {
	dev := device.MustGet("cpu")
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		for _, c := range cases() {
			t.Run(fmt.Sprintf("%s/%s", dt, c.name), func(t *testing.T) {
				r := rand.New(rand.NewPCG(7, 7))
				groups, refs := setup(dev, dt, r)
				a, err := c.make(groups)
				if err != nil {
					t.Fatal(err)
				}
				runSteps(t, a, refs, c, dev, dt, r, 8, false)
				st, err := a.State()
				if err != nil {
					t.Fatal(err)
				}
				js, err := json.Marshal(st)
				if err != nil {
					t.Fatal(err)
				}
				var st2 State
				if err := json.Unmarshal(js, &st2); err != nil {
					t.Fatal(err)
				}
				// A fresh optimizer over copies of the current parameters.
				var g2 []Group
				for _, g := range a.Groups() {
					ng := g
					ng.Params = nil
					for _, p := range g.Params {
						ng.Params = append(ng.Params, Param{Name: p.Name, T: p.T.Clone().Detach()})
					}
					g2 = append(g2, ng)
				}
				b, err := c.make(g2)
				if err != nil {
					t.Fatal(err)
				}
				if err := b.LoadState(&st2); err != nil {
					t.Fatal(err)
				}
				if b.StepCount() != 8 {
					t.Fatalf("loaded StepCount %d, want 8", b.StepCount())
				}
				ra, rb := rand.New(rand.NewPCG(9, 9)), rand.New(rand.NewPCG(9, 9))
				refsA, refsB := cloneRefs(refs), cloneRefs(refs)
				runSteps(t, a, refsA, c, dev, dt, ra, 8, false)
				runSteps(t, b, refsB, c, dev, dt, rb, 8, false)
				for gi, g := range a.Groups() {
					for pi, p := range g.Params {
						pa, pb := p.T.Float64s(), b.Groups()[gi].Params[pi].T.Float64s()
						for i := range pa {
							if pa[i] != pb[i] {
								t.Fatalf("%s[%d]: continued %v, reloaded %v", p.Name, i, pa[i], pb[i])
							}
						}
					}
				}
				// A state of another kind or with a missing tensor is refused.
				bad := st2
				bad.Optimizer = "other"
				if err := b.LoadState(&bad); err == nil {
					t.Fatal("LoadState accepted another optimizer's state")
				}
				bad = st2
				bad.Tensors = map[string][]float64{}
				if err := b.LoadState(&bad); err == nil && len(st2.Tensors) > 0 {
					t.Fatal("LoadState accepted a state without tensors")
				}
			})
		}
	}
}

func cloneRefs(rs []*refParam) []*refParam {
	out := make([]*refParam, len(rs))
	for i, r := range rs {
		c := *r
		c.p = append([]float64(nil), r.p...)
		c.m = append([]float64(nil), r.m...)
		c.v = append([]float64(nil), r.v...)
		c.x = append([]float64(nil), r.x...)
		out[i] = &c
	}
	return out
}

func TestNonFiniteGradient(t *testing.T) {
	dev := device.MustGet("cpu")
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, skip := range []bool{false, true} {
			w := tensor.FromFloat64(dev, []float64{1, 2, 3, 4}, 2, 2).Detach()
			bias := tensor.FromFloat32(dev, []float32{0.5, -0.5}).Detach()
			ps, _ := Named([]string{"fc2.weight", "fc2.bias"}, []*tensor.Tensor{w, bias})
			c := DefaultAdamW()
			c.SkipNonFinite = skip
			o, err := NewAdamW([]Group{{Params: ps[:1]}, {Params: ps[1:], NoWeightDecay: true}}, c)
			if err != nil {
				t.Fatal(err)
			}
			w.SetGrad(tensor.FromFloat64(dev, []float64{1, 1, 1, 1}, 2, 2))
			bias.SetGrad(tensor.FromFloat32(dev, []float32{1, float32(bad)}))
			err = o.Step()
			if skip {
				if err != nil || o.Skipped() != 1 || !o.LastSkipped() {
					t.Fatalf("skip mode: err %v, skipped %d", err, o.Skipped())
				}
			} else if err == nil || !strings.Contains(err.Error(), `"fc2.bias"`) {
				t.Fatalf("want an error naming fc2.bias, got %v", err)
			}
			if o.StepCount() != 0 {
				t.Fatalf("StepCount %d after a refused step", o.StepCount())
			}
			if got := w.Float64s(); got[0] != 1 || got[3] != 4 {
				t.Fatalf("weights changed by a refused step: %v", got)
			}
			if got := bias.Float64s(); got[0] != 0.5 {
				t.Fatalf("bias changed by a refused step: %v", got)
			}
		}
	}
}

// TestHugeFiniteGradientIsClipped: a float32 gradient whose squared norm overflows float32 is
// finite, so it must be clipped, not refused.
func TestHugeFiniteGradientIsClipped(t *testing.T) {
	dev := device.MustGet("cpu")
	w := tensor.FromFloat32(dev, []float32{0, 0}).Detach()
	c := SGDConfig{LR: 1, Options: Options{MaxGradNorm: 1}}
	o, err := NewSGD(Params(w), c)
	if err != nil {
		t.Fatal(err)
	}
	w.SetGrad(tensor.FromFloat32(dev, []float32{3e30, 4e30}))
	if err := o.Step(); err != nil {
		t.Fatal(err)
	}
	got := w.Float64s()
	if math.Abs(got[0]+0.6) > 1e-6 || math.Abs(got[1]+0.8) > 1e-6 {
		t.Fatalf("clipped step gave %v, want [-0.6 -0.8]", got)
	}
	if math.Abs(o.GradNorm()/5e30-1) > 1e-6 {
		t.Fatalf("GradNorm %g, want 5e30", o.GradNorm())
	}
}

func TestSchedules(t *testing.T) {
	wc := WarmupCosine{Base: 1, Min: 0.1, Warmup: 10, Total: 110}
	for _, c := range []struct {
		step int
		want float64
	}{{0, 0.1}, {4, 0.5}, {9, 1}, {10, 1}, {60, 0.55}, {35, 0.1 + 0.9*0.5*(1+math.Sqrt(0.5))}, {110, 0.1}, {500, 0.1}} {
		if got := wc.LR(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("WarmupCosine.LR(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	sd := StepDecay{Base: 1, Gamma: 0.1, Every: 30}
	for _, c := range []struct {
		step int
		want float64
	}{{0, 1}, {29, 1}, {30, 0.1}, {65, 0.01}} {
		if got := sd.LR(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("StepDecay.LR(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	if Constant(0.3).LR(1000) != 0.3 {
		t.Error("Constant")
	}
	// ApplySchedule uses the optimizer's step count.
	dev := device.MustGet("cpu")
	w := tensor.FromFloat64(dev, []float64{1}).Detach()
	o, _ := NewSGD(Params(w), SGDConfig{LR: 5})
	ApplySchedule(o, wc)
	if o.LR() != 0.1 {
		t.Errorf("ApplySchedule at step 0 set lr %v, want 0.1", o.LR())
	}
}

func TestClipGradNorm(t *testing.T) {
	dev := device.MustGet("cpu")
	a := tensor.FromFloat64(dev, []float64{0, 0}).Detach()
	b := tensor.FromFloat32(dev, []float32{0}).Detach()
	a.SetGrad(tensor.FromFloat64(dev, []float64{3, 4}))
	b.SetGrad(tensor.FromFloat32(dev, []float32{12}))
	ps, _ := Named([]string{"a", "b"}, []*tensor.Tensor{a, b})
	n, err := ClipGradNorm(ps, 6.5)
	if err != nil || n != 13 {
		t.Fatalf("norm %v err %v, want 13", n, err)
	}
	if g := a.Grad().Float64s(); g[0] != 1.5 || g[1] != 2 {
		t.Fatalf("clipped a = %v, want [1.5 2]", g)
	}
	if g := b.Grad().Float64s(); g[0] != 6 {
		t.Fatalf("clipped b = %v, want [6]", g)
	}
	// Below the threshold nothing changes.
	if n, _ := ClipGradNorm(ps, 100); n != 6.5 || a.Grad().Float64s()[0] != 1.5 {
		t.Fatalf("second clip changed a norm-6.5 gradient: norm %v", n)
	}
	b.Grad().Release()
	b.SetGrad(tensor.FromFloat32(dev, []float32{float32(math.NaN())}))
	if _, err := ClipGradNorm(ps, 1); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("NaN gradient: %v", err)
	}
}

func TestAccumulator(t *testing.T) {
	dev := device.MustGet("cpu")
	w := tensor.FromFloat64(dev, []float64{0, 0, 0}).Detach()
	ps := []Param{{Name: "w", T: w}}
	acc, err := NewAccumulator(ps, 3)
	if err != nil {
		t.Fatal(err)
	}
	batches := [][]float64{{1, 2, 3}, {4, 5, 6}, {-2, 0, 9}}
	for i, g := range batches {
		if acc.Ready() {
			t.Fatalf("ready after %d micro-batches", i)
		}
		w.SetGrad(tensor.FromFloat64(dev, g))
		if err := acc.Add(); err != nil {
			t.Fatal(err)
		}
		if w.Grad() != nil {
			t.Fatal("Add left the gradient in place")
		}
	}
	if !acc.Ready() {
		t.Fatal("not ready after 3 micro-batches")
	}
	if err := acc.Add(); err == nil {
		t.Fatal("a fourth Add was accepted")
	}
	if err := acc.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 7.0 / 3, 6}
	for i, v := range w.Grad().Float64s() {
		if math.Abs(v-want[i]) > 1e-15 {
			t.Fatalf("mean gradient %v, want %v", w.Grad().Float64s(), want)
		}
	}
}

func TestBadConfigs(t *testing.T) {
	dev := device.MustGet("cpu")
	w := tensor.FromFloat64(dev, []float64{1}).Detach()
	c := DefaultAdamW()
	c.Beta1 = 1
	if _, err := NewAdamW(Params(w), c); err == nil {
		t.Error("beta1 = 1 accepted")
	}
	if _, err := NewSGD(Params(w), SGDConfig{LR: -1}); err == nil {
		t.Error("negative lr accepted")
	}
	if _, err := NewSGD(Params(w), SGDConfig{LR: 1, Nesterov: true}); err == nil {
		t.Error("Nesterov without momentum accepted")
	}
	if _, err := NewSGD(nil, SGDConfig{LR: 1}); err == nil {
		t.Error("no groups accepted")
	}
	dup := []Group{{Params: []Param{{Name: "x", T: w}, {Name: "x", T: w}}}}
	if _, err := NewSGD(dup, SGDConfig{LR: 1}); err == nil {
		t.Error("duplicate names accepted")
	}
	a, _ := NewAdaHessian(Params(w), DefaultAdaHessian())
	w.SetGrad(tensor.FromFloat64(dev, []float64{1}))
	if err := a.Step(); err == nil || !strings.Contains(err.Error(), "SetHessian") {
		t.Errorf("AdaHessian step without an estimate: %v", err)
	}
	if err := a.SetHessian([]*tensor.Tensor{tensor.FromFloat64(dev, []float64{1, 2})}); err == nil {
		t.Error("estimate of the wrong shape accepted")
	}
}

func TestSplitDecay(t *testing.T) {
	dev := device.MustGet("cpu")
	mk := func(shape ...int) *tensor.Tensor { return tensor.Zeros(dev, device.Float32, shape...) }
	ps := []Param{{"fc1.weight", mk(3, 4)}, {"fc1.bias", mk(3)}, {"ln.weight", mk(4)}, {"layernorm.scale2d", mk(2, 2)}, {"emb", mk(5, 2)}}
	gs := SplitDecay(ps)
	if len(gs) != 2 || len(gs[0].Params) != 2 || gs[0].Params[1].Name != "emb" || !gs[1].NoWeightDecay || len(gs[1].Params) != 3 {
		t.Fatalf("SplitDecay gave %+v", gs)
	}
}

// TestMixedDTypeGroup: one group holding float32 and float64 parameters is updated per dtype
// (one fused call each) and both follow the reference.
func TestMixedDTypeGroup(t *testing.T) {
	dev := device.MustGet("cpu")
	r := rand.New(rand.NewPCG(2, 2))
	a0, b0 := roundTo(device.Float32, randVec(r, 10, 1)), randVec(r, 6, 1)
	a := tensor.FromFloat64As(dev, device.Float32, a0, 10).Detach()
	b := tensor.FromFloat64(dev, b0, 2, 3).Detach()
	c := DefaultLAMB()
	c.LR = 0.05
	o, err := NewLAMB(Params(a, b), c)
	if err != nil {
		t.Fatal(err)
	}
	refs := []*refParam{newRefParam([]int{10}, a0), newRefParam([]int{2, 3}, b0)}
	for s := 1; s <= 5; s++ {
		ga, gb := roundTo(device.Float32, randVec(r, 10, 1)), randVec(r, 6, 1)
		a.SetGrad(tensor.FromFloat64As(dev, device.Float32, ga, 10))
		b.SetGrad(tensor.FromFloat64(dev, gb, 2, 3))
		if err := o.Step(); err != nil {
			t.Fatal(err)
		}
		refLAMB(refs, [][]float64{ga, gb}, s, c)
	}
	for k, p := range []*tensor.Tensor{a, b} {
		got := p.Float64s()
		for i := range got {
			if d := math.Abs(got[i] - refs[k].p[i]); d > 2e-6 {
				t.Fatalf("param %d [%d]: %v, reference %v", k, i, got[i], refs[k].p[i])
			}
		}
	}
}
