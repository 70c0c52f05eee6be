package devicetest

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

// Cases for Device.OptimizerStep: every kind and every option of device.OptimHyper that the
// kind reads (package optim, doc.go, "The fused-step contract"), on groups of tensors whose
// sizes end mid-chunk and span several chunks of both backends (the CPU's 32 Ki and CUDA's
// 16 Ki elements), with one zero-length tensor.
//
// The reference (optimReference) is written from the papers' update rules in float64 on the
// host: it never calls a backend. β1 and β2 are rounded to the dtype before both the device
// and the reference see them (like every other input): a float32 kernel forms 1−β2 from
// float32(β2), and for β2 = 0.999 that differs from 1−0.999 by 6e-5 relative, a property of
// the storage type rather than an error of the backend.
//
// Options that belong to the optimizer rather than to the primitive are checked through
// package optim on the device under test: global-norm clipping reaches the primitive as
// GradScale (checked here with the values clipping and loss scaling produce), and skipping
// or refusing a step with a NaN or Inf gradient is decided by optim before any
// OptimizerStep, from the device's ReduceSumSquares, IsFinite and ReduceMin ("optim:"
// cases). A backend that answers device.ErrUnsupported for a kind is checked through the
// composed fallback optimizers then run (optim.ComposedStep); the case says so.

type optimCase struct {
	kind  device.OptimKind
	what  string
	h     device.OptimHyper
	steps int // consecutive calls from h.Step; each is checked, the next starts from the device's state
	// nanBuf starts the SGD momentum buffer as NaN: at t = 1 it is seeded, never read.
	nanBuf bool
	// zeroParam makes the second tensor's parameters all zero (LAMB: ‖p‖ = 0, ratio lr).
	zeroParam bool
}

// Base hyper-parameters per kind. Learning rates are large so that the update is a sizeable
// part of the new parameter and an error in it shows at float32 precision.
var (
	hSGD   = device.OptimHyper{LR: 0.3, GradScale: 1, Momentum: 0.9, Dampening: 0.1, WeightDecay: 0.05, Step: 5}
	hAdamW = device.OptimHyper{LR: 0.1, GradScale: 1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Step: 5, BiasCorrection: true}
	hLAMB  = device.OptimHyper{LR: 0.1, GradScale: 1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-6, WeightDecay: 0.01, Step: 5, BiasCorrection: true}
	hSoph  = device.OptimHyper{LR: 0.2, GradScale: 1, Beta1: 0.96, Eps: 1e-12, WeightDecay: 0.1, Rho: 0.04, BatchSize: 8, Step: 5}
	hAdaH  = device.OptimHyper{LR: 0.15, GradScale: 1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-4, WeightDecay: 0, HessianPower: 1, Step: 5}
)

func with(h device.OptimHyper, f func(*device.OptimHyper)) device.OptimHyper {
	f(&h)
	return h
}

func optimCases() []optimCase {
	sgd, adamw, lamb, soph, adah := device.OptimSGD, device.OptimAdamW, device.OptimLAMB, device.OptimSophia, device.OptimAdaHessian
	return []optimCase{
		{kind: sgd, what: "no momentum, no decay", h: with(hSGD, func(h *device.OptimHyper) { h.Momentum, h.WeightDecay = 0, 0 })},
		{kind: sgd, what: "no momentum, decay 0.05", h: with(hSGD, func(h *device.OptimHyper) { h.Momentum = 0 })},
		{kind: sgd, what: "momentum t=1 seeds the buffer (starts NaN)", h: with(hSGD, func(h *device.OptimHyper) { h.Step = 1 }), nanBuf: true},
		{kind: sgd, what: "momentum 0.9 dampening 0.1 t=5", h: hSGD},
		{kind: sgd, what: "Nesterov t=1", h: with(hSGD, func(h *device.OptimHyper) { h.Nesterov, h.Dampening, h.Step = true, 0, 1 })},
		{kind: sgd, what: "Nesterov t=5", h: with(hSGD, func(h *device.OptimHyper) { h.Nesterov, h.Dampening = true, 0 })},
		{kind: sgd, what: "grad scale 0.37 (clipping)", h: with(hSGD, func(h *device.OptimHyper) { h.GradScale = 0.37 })},
		{kind: sgd, what: "grad scale 0 means 1", h: with(hSGD, func(h *device.OptimHyper) { h.GradScale = 0 })},
		{kind: sgd, what: "3 steps from t=1, Nesterov", h: with(hSGD, func(h *device.OptimHyper) { h.Nesterov, h.Dampening, h.Step = true, 0, 1 }), steps: 3},

		{kind: adamw, what: "t=1", h: with(hAdamW, func(h *device.OptimHyper) { h.Step = 1 })},
		{kind: adamw, what: "t=5 decay 0.1", h: hAdamW},
		{kind: adamw, what: "no decay", h: with(hAdamW, func(h *device.OptimHyper) { h.WeightDecay = 0 })},
		{kind: adamw, what: "no bias correction", h: with(hAdamW, func(h *device.OptimHyper) { h.BiasCorrection = false })},
		{kind: adamw, what: "AMSGrad", h: with(hAdamW, func(h *device.OptimHyper) { h.AMSGrad = true })},
		{kind: adamw, what: "grad scale 2⁻¹⁰ (loss scale)", h: with(hAdamW, func(h *device.OptimHyper) { h.GradScale = 0x1p-10 })},
		{kind: adamw, what: "3 steps from t=1, AMSGrad", h: with(hAdamW, func(h *device.OptimHyper) { h.AMSGrad, h.Step = true, 1 }), steps: 3},

		{kind: lamb, what: "decay 0.01: trust ratio", h: hLAMB},
		{kind: lamb, what: "no decay: no trust ratio", h: with(hLAMB, func(h *device.OptimHyper) { h.WeightDecay = 0 })},
		{kind: lamb, what: "no decay, NVLAMB: trust ratio", h: with(hLAMB, func(h *device.OptimHyper) { h.WeightDecay, h.NVLamb = 0, true })},
		{kind: lamb, what: "zero parameters: ratio lr", h: hLAMB, zeroParam: true},
		{kind: lamb, what: "no bias correction", h: with(hLAMB, func(h *device.OptimHyper) { h.BiasCorrection = false })},
		{kind: lamb, what: "t=1 grad scale 0.37 (clipping)", h: with(hLAMB, func(h *device.OptimHyper) { h.Step, h.GradScale = 1, 0.37 })},
		{kind: lamb, what: "3 steps from t=1", h: with(hLAMB, func(h *device.OptimHyper) { h.Step = 1 }), steps: 3},

		{kind: soph, what: "decay 0.1, h ≤ 0 in places (ε)", h: hSoph},
		{kind: soph, what: "no decay", h: with(hSoph, func(h *device.OptimHyper) { h.WeightDecay = 0 })},
		{kind: soph, what: "ρ·bs = 0.02 (mostly clipped)", h: with(hSoph, func(h *device.OptimHyper) { h.Rho, h.BatchSize = 0.01, 2 })},
		{kind: soph, what: "grad scale 0.37 (clipping)", h: with(hSoph, func(h *device.OptimHyper) { h.GradScale = 0.37 })},
		{kind: soph, what: "3 steps", h: hSoph, steps: 3},

		{kind: adah, what: "k=1", h: hAdaH},
		{kind: adah, what: "k=0.5 decay 0.01", h: with(hAdaH, func(h *device.OptimHyper) { h.HessianPower, h.WeightDecay = 0.5, 0.01 })},
		{kind: adah, what: "k=0.75", h: with(hAdaH, func(h *device.OptimHyper) { h.HessianPower = 0.75 })},
		{kind: adah, what: "t=1 (bias correction is always on)", h: with(hAdaH, func(h *device.OptimHyper) { h.Step = 1 })},
		{kind: adah, what: "grad scale 2⁻¹⁰ (loss scale)", h: with(hAdaH, func(h *device.OptimHyper) { h.GradScale = 0x1p-10 })},
		{kind: adah, what: "3 steps from t=1", h: with(hAdaH, func(h *device.OptimHyper) { h.Step = 1 }), steps: 3},
	}
}

// optimStates is the number of state buffers kind reads with h.
func optimStates(kind device.OptimKind, h device.OptimHyper) int {
	switch kind {
	case device.OptimSGD:
		if h.Momentum != 0 {
			return 1
		}
		return 0
	case device.OptimAdamW:
		if h.AMSGrad {
			return 3
		}
		return 2
	case device.OptimLAMB, device.OptimSophia:
		return 2
	}
	return 3
}

func optimizerCases(s *suite, dt device.DType) {
	sizes := pick(s, []int{1, 0, 7, 130, 40_003}, []int{1, 0, 7, 33, 130, 1000, 70_001})
	for _, c := range optimCases() {
		steps := max(c.steps, 1)
		name := fmt.Sprintf("%s %s, sizes %v", c.kind, c.what, sizes)
		s.run("OptimizerStep", dt, name, func(e *env) float64 {
			ts := newOptimGroup(e, c, sizes)
			var tol float64
			for k := 0; k < steps; k++ {
				h := c.h
				h.Step += k
				h.Beta1, h.Beta2 = e.roundScalar(h.Beta1), e.roundScalar(h.Beta2)
				if k > 0 {
					for _, t := range ts {
						t.g = e.normal(len(t.p), 0, 1)
					}
				}
				tol = runOptimStep(e, c.kind, h, ts)
				if e.failed != "" {
					break
				}
			}
			return tol
		})
	}
	optimMisuseCases(s, dt)
	optimPackageCases(s, dt)
}

// hostTensor is one parameter with its gradient and state on the host.
type hostTensor struct {
	p, g []float64
	s    [][]float64
}

// newOptimGroup draws a group: N(0,1) parameters and gradients, and states in their natural
// ranges (momentum buffers and first moments of either sign, second moments and Hessian
// estimates ≥ 0, Sophia's Hessian EMA partly ≤ 0 so that its ε floor is used). Element 0 of
// every tensor has a zero gradient and a zero first moment, so m stays exactly 0 (Sophia's
// sign(0)).
func newOptimGroup(e *env, c optimCase, sizes []int) []*hostTensor {
	ns := optimStates(c.kind, c.h)
	var ts []*hostTensor
	for i, n := range sizes {
		t := &hostTensor{p: e.normal(n, 0, 1), g: e.normal(n, 0, 1)}
		if c.zeroParam && i == 2 {
			clear(t.p)
		}
		for k := 0; k < ns; k++ {
			var x []float64
			switch {
			case c.kind == device.OptimSGD:
				x = e.normal(n, 0, 1)
				if c.nanBuf {
					for j := range x {
						x[j] = math.NaN()
					}
				}
			case k == 0: // first moments
				x = e.normal(n, 0, 0.3)
			case c.kind == device.OptimSophia: // h, the Hessian EMA
				x = e.uniform(n, -0.2, 2)
			default: // second moments, vmax, AdaHessian's d
				x = abs(e.normal(n, 0, 0.5))
				for j := range x {
					x[j] = e.roundScalar(x[j] * x[j])
				}
			}
			t.s = append(t.s, x)
		}
		if n > 0 {
			t.g[0] = 0
			if ns > 0 && c.kind != device.OptimSGD {
				t.s[0][0] = 0
			}
		}
		ts = append(ts, t)
	}
	return ts
}

// roundScalar rounds one value to the precision of the case's dtype.
func (e *env) roundScalar(x float64) float64 {
	if e.dt == device.Float32 {
		return float64(float32(x))
	}
	return x
}

// runOptimStep uploads the group, runs one OptimizerStep (or the composed fallback), compares
// every parameter and state buffer with the reference, and replaces ts's values with the
// device's, so that a following step starts from them. It returns the case's tolerance.
func runOptimStep(e *env, kind device.OptimKind, h device.OptimHyper, ts []*hostTensor) float64 {
	var group []device.OptimTensor
	var bufs [][]device.Buffer
	for _, t := range ts {
		bs := []device.Buffer{e.upload(t.p), e.upload(t.g)}
		for _, x := range t.s {
			bs = append(bs, e.upload(x))
		}
		bufs = append(bufs, bs)
		group = append(group, device.OptimTensor{Param: bs[0], Grad: bs[1], State: bs[2:], N: len(t.p)})
	}
	err := e.dev.OptimizerStep(kind, group, h)
	if errors.Is(err, device.ErrUnsupported) {
		e.note = "ErrUnsupported: checked through optim.ComposedStep"
		err = optim.ComposedStep(e.dev, kind, group, h)
	}
	if err != nil {
		e.fail("OptimizerStep: %v", err)
		return 0
	}
	want := optimReference(kind, h, ts, e.s.opts.mutation)
	for i, t := range ts {
		got := e.download(bufs[i][0])
		e.compare(got, want[i].p, want[i].ps)
		t.p = got
		for k := range t.s {
			got := e.download(bufs[i][2+k])
			e.compare(got, want[i].s[k], want[i].ss[k])
			t.s[k] = got
		}
	}
	return 32 * e.u
}

// refResult is the reference's new parameters and states with their error scales.
type refResult struct {
	p, ps []float64
	s, ss [][]float64
}

// optimReference applies one step of kind to copies of ts in float64, following the papers'
// update rules in the arrangement of the fused-step contract, and returns for every output
// the scale its rounding errors are relative to: the update evaluated on absolute values
// (|ĝ| for ĝ, β1·|m| + (1−β1)·|ĝ| for m, and so on through every term). Buffers a kind only
// reads (Sophia's h, AdaHessian's d) must come back unchanged.
//
// mutation, for the suite's own tests only, breaks one rule on purpose: a case that still
// passes then would not notice a backend with that bug.
func optimReference(kind device.OptimKind, h device.OptimHyper, ts []*hostTensor, mutation string) []refResult {
	mut := func(m string) bool { return mutation == m }
	s := h.GradScale
	if s == 0 || mut("grad-scale-ignored") {
		s = 1
	}
	t := float64(max(h.Step, 1))
	if mut("step-off-by-one") {
		t++
	}
	// Bias corrections: Adam's 1−βᵗ, on when asked (AdaHessian: always, as in its paper).
	bc1, bc2 := 1.0, 1.0
	if (h.BiasCorrection || kind == device.OptimAdaHessian) != mut("bias-correction-flipped") {
		bc1, bc2 = 1-math.Pow(h.Beta1, t), 1-math.Pow(h.Beta2, t)
	}
	lr, wd, b1, b2, eps := h.LR, h.WeightDecay, h.Beta1, h.Beta2, h.Eps
	if mut("weight-decay-ignored") {
		wd = 0
	}
	out := make([]refResult, len(ts))
	for i, tt := range ts {
		n := len(tt.p)
		r := refResult{p: make([]float64, n), ps: make([]float64, n)}
		for k := range tt.s {
			r.s = append(r.s, append([]float64(nil), tt.s[k]...))
			r.ss = append(r.ss, plusOne(tt.s[k])) // read-only states keep their values
		}
		// ema returns β·x + (1−β)·y and its absolute-value bound.
		ema := func(beta, x, y, ya float64) (float64, float64) {
			return beta*x + (1-beta)*y, beta*math.Abs(x) + (1-beta)*ya
		}
		switch kind {
		case device.OptimSGD:
			// PyTorch SGD (Sutskever et al. 2013 in PyTorch's form): d = ĝ + λp;
			// b = d at t = 1, else μb + (1−τ)d; d = d + μb (Nesterov) or b; p = p − ηd.
			for j := 0; j < n; j++ {
				p, g := tt.p[j], s*tt.g[j]
				d, da := g+wd*p, math.Abs(g)+wd*math.Abs(p)
				if h.Momentum != 0 {
					var b, ba float64
					if h.Step <= 1 && !mut("sgd-buffer-not-seeded") {
						b, ba = d, da
					} else {
						b = h.Momentum*tt.s[0][j] + (1-h.Dampening)*d
						ba = h.Momentum*math.Abs(tt.s[0][j]) + (1-h.Dampening)*da
					}
					r.s[0][j], r.ss[0][j] = b, ba
					if h.Nesterov != mut("nesterov-flipped") {
						d, da = d+h.Momentum*b, da+h.Momentum*ba
					} else {
						d, da = b, ba
					}
				}
				r.p[j], r.ps[j] = p-lr*d, math.Abs(p)+lr*da
			}
		case device.OptimAdamW:
			// Loshchilov & Hutter 2019, Algorithm 2 with η·α = lr and η·λ = lr·wd:
			// m̂ = m/bc1, v̂ = v/bc2 (or max(v̂max, v) with AMSGrad, Reddi et al. 2018),
			// p = p − lr·(m̂/(√v̂ + ε) + wd·p).
			for j := 0; j < n; j++ {
				p, g := tt.p[j], s*tt.g[j]
				m, ma := ema(b1, tt.s[0][j], g, math.Abs(g))
				v, _ := ema(b2, tt.s[1][j], g*g, g*g)
				r.s[0][j], r.ss[0][j] = m, ma
				r.s[1][j], r.ss[1][j] = v, v
				vd := v
				if h.AMSGrad && !mut("amsgrad-ignored") {
					vd = max(tt.s[2][j], v)
					r.s[2][j], r.ss[2][j] = vd, vd
				}
				den := math.Sqrt(vd/bc2) + eps
				if mut("adamw-coupled-decay") {
					r.p[j] = p - lr*(m/bc1)/den
				} else {
					r.p[j] = p - lr*((m/bc1)/den+wd*p)
				}
				r.ps[j] = math.Abs(p)*(1+lr*wd) + lr*(ma/bc1)/den
			}
		case device.OptimLAMB:
			// You et al. 2020, Algorithm 2, with apex FusedLAMB's bias correction: r = m̂/(√v̂+ε),
			// u = r + λp, p = p − lr·φ(‖p‖)/‖u‖·u with φ the identity, applied when λ ≠ 0 or in
			// NVLAMB mode and both norms are non-zero (else p = p − lr·u).
			u, ua := make([]float64, n), make([]float64, n)
			var pn, un, uan float64
			for j := 0; j < n; j++ {
				p, g := tt.p[j], s*tt.g[j]
				m, ma := ema(b1, tt.s[0][j], g, math.Abs(g))
				v, _ := ema(b2, tt.s[1][j], g*g, g*g)
				r.s[0][j], r.ss[0][j] = m, ma
				r.s[1][j], r.ss[1][j] = v, v
				den := math.Sqrt(v/bc2) + eps
				u[j] = (m/bc1)/den + wd*p
				ua[j] = (ma/bc1)/den + wd*math.Abs(p)
				pn += p * p
				un += u[j] * u[j]
				uan += ua[j] * ua[j]
			}
			pn, un, uan = math.Sqrt(pn), math.Sqrt(un), math.Sqrt(uan)
			// With the trust ratio, every element also carries the ratio's relative error:
			// the elements' errors reach ‖u‖ bounded by ‖ua‖/‖u‖ times theirs, and the two
			// sums of n squares err by up to about 8·√n·u (Higham and Mary's bound, as for
			// Reduce), which the term √(n+2)/4 expresses in units of the tolerance 32·u.
			ratio, kappa := lr, 0.0
			if (wd != 0 || h.NVLamb) && pn != 0 && un != 0 && !mut("lamb-no-trust-ratio") {
				ratio, kappa = lr*pn/un, uan/un+math.Sqrt(float64(n+2))/4
			}
			for j := 0; j < n; j++ {
				p := tt.p[j]
				r.p[j] = p - ratio*u[j]
				r.ps[j] = math.Abs(p) + ratio*(ua[j]+math.Abs(u[j])*kappa)
			}
		case device.OptimSophia:
			// SophiaG, Liu et al. 2023, Algorithm 3: m = β1m + (1−β1)ĝ; p = p − lr·λ·p;
			// p = p − lr·clip(m / max(γ·h, ε), 1) with γ = Rho·BatchSize (the authors' code).
			gamma := h.Rho * h.BatchSize
			for j := 0; j < n; j++ {
				p, g := tt.p[j], s*tt.g[j]
				m, ma := ema(b1, tt.s[0][j], g, math.Abs(g))
				r.s[0][j], r.ss[0][j] = m, ma
				den := max(gamma*tt.s[1][j], eps)
				z := m / den
				if !mut("sophia-no-clip") {
					z = max(min(z, 1), -1)
				}
				// Bound of the step: ma/den while unclipped; 1 once |m| ≥ den, where the
				// result no longer depends on m.
				za := 1.0
				if math.Abs(m) < den {
					za = ma / den
				}
				p1 := p * (1 - lr*wd)
				r.p[j], r.ps[j] = p1-lr*z, math.Abs(p1)+lr*za
			}
		case device.OptimAdaHessian:
			// Yao et al. 2021, Algorithm 1: m = β1m + (1−β1)ĝ, v = β2v + (1−β2)d² with d the
			// spatially averaged Hessian diagonal; m̄ = m/bc1, v̄ = (√(v/bc2))^k;
			// p = p − lr·(m̄/(v̄ + ε) + λp).
			k := h.HessianPower
			if mut("hessian-power-ignored") {
				k = 1
			}
			for j := 0; j < n; j++ {
				p, g, d := tt.p[j], s*tt.g[j], tt.s[2][j]
				m, ma := ema(b1, tt.s[0][j], g, math.Abs(g))
				v, _ := ema(b2, tt.s[1][j], d*d, d*d)
				r.s[0][j], r.ss[0][j] = m, ma
				r.s[1][j], r.ss[1][j] = v, v
				den := math.Pow(math.Sqrt(v/bc2), k) + eps
				r.p[j] = p - lr*((m/bc1)/den+wd*p)
				r.ps[j] = math.Abs(p)*(1+lr*wd) + lr*(ma/bc1)/den
			}
		}
		for j := range r.ps {
			r.ps[j] += math.SmallestNonzeroFloat64
		}
		for k := range r.ss {
			for j := range r.ss[k] {
				r.ss[k][j] += math.SmallestNonzeroFloat64
			}
		}
		out[i] = r
	}
	return out
}

// optimMisuseCases check the argument validation every backend shares, and that a kind the
// backend does not know is answered with device.ErrUnsupported (not a panic, not nil).
func optimMisuseCases(s *suite, dt device.DType) {
	other := device.Float64
	if dt == device.Float64 {
		other = device.Float32
	}
	misuse := func(what string, kind device.OptimKind, h device.OptimHyper, mk func(e *env) []device.OptimTensor) {
		s.run("OptimizerStep", dt, what+" panics", func(e *env) float64 {
			group := mk(e)
			var err error
			e.expectPanic(what, func() { err = e.dev.OptimizerStep(kind, group, h) })
			if errors.Is(err, device.ErrUnsupported) {
				// A kind the backend does not fuse needs no validation of its own.
				e.failed, e.note = "", "ErrUnsupported"
			}
			return 0
		})
	}
	misuse("AdamW with one state buffer", device.OptimAdamW, hAdamW, func(e *env) []device.OptimTensor {
		return []device.OptimTensor{{Param: e.alloc(dt, 5), Grad: e.alloc(dt, 5), State: []device.Buffer{e.alloc(dt, 5)}, N: 5}}
	})
	misuse("SGD with a gradient of another dtype", device.OptimSGD, hSGD, func(e *env) []device.OptimTensor {
		return []device.OptimTensor{{Param: e.alloc(dt, 5), Grad: e.alloc(other, 5), State: []device.Buffer{e.alloc(dt, 5)}, N: 5}}
	})
	misuse("LAMB with a short state buffer", device.OptimLAMB, hLAMB, func(e *env) []device.OptimTensor {
		return []device.OptimTensor{{Param: e.alloc(dt, 5), Grad: e.alloc(dt, 5), State: []device.Buffer{e.alloc(dt, 5), e.alloc(dt, 4)}, N: 5}}
	})
	s.run("OptimizerStep", dt, "an unknown kind returns ErrUnsupported", func(e *env) float64 {
		p, g := e.alloc(dt, 3), e.alloc(dt, 3)
		err := e.dev.OptimizerStep(device.OptimKind(200), []device.OptimTensor{{Param: p, Grad: g, N: 3}}, hSGD)
		if !errors.Is(err, device.ErrUnsupported) {
			e.fail("OptimizerStep(%v) returned %v, want device.ErrUnsupported", device.OptimKind(200), err)
		}
		return 0
	})
}

// optimPackageCases run package optim on the device for the behaviours it decides before any
// OptimizerStep: a NaN or Inf gradient is skipped (SkipNonFinite) or refused, leaving
// parameters and state untouched; a float32 gradient whose squared norm overflows is finite
// and is clipped, not refused. They depend on the device's reductions propagating NaN and
// Inf and on its IsFinite map.
func optimPackageCases(s *suite, dt device.DType) {
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		for _, skip := range []bool{true, false} {
			what := "refused"
			if skip {
				what = "skipped (SkipNonFinite)"
			}
			s.run("OptimizerStep", dt, fmt.Sprintf("optim: AdamW step with a %v gradient is %s", bad, what), func(e *env) float64 {
				p0 := e.normal(6, 0, 1)
				g := e.normal(6, 0, 1)
				g[4] = bad
				err := tensor.Catch(func() error {
					w := tensor.FromFloat64As(e.dev, e.dt, p0, 2, 3)
					defer w.Release()
					c := optim.DefaultAdamW()
					c.SkipNonFinite = skip
					o, err := optim.NewAdamW(optim.Params(w), c)
					if err != nil {
						return err
					}
					defer o.Release()
					w.SetGrad(tensor.FromFloat64As(e.dev, e.dt, g, 2, 3))
					defer o.ZeroGrad()
					err = o.Step()
					switch {
					case skip && (err != nil || !o.LastSkipped()):
						e.fail("Step: error %v, LastSkipped %v; want the step skipped", err, o.LastSkipped())
					case !skip && (err == nil || !strings.Contains(err.Error(), "NaN or Inf")):
						e.fail("Step: error %v, want a refusal", err)
					case o.StepCount() != 0:
						e.fail("StepCount %d after a step that was not applied", o.StepCount())
					}
					st, err := o.State()
					if err != nil {
						return err
					}
					for _, x := range st.Tensors {
						e.compare(x, make([]float64, len(x)), nil)
					}
					e.compare(w.Float64s(), p0, nil)
					return nil
				})
				if err != nil {
					e.fail("%v", err)
				}
				return 0
			})
		}
	}
	if dt != device.Float32 {
		return
	}
	s.run("OptimizerStep", dt, "optim: a float32 gradient whose norm² overflows is clipped, not refused", func(e *env) float64 {
		err := tensor.Catch(func() error {
			w := tensor.FromFloat64As(e.dev, e.dt, []float64{0, 0}, 2)
			defer w.Release()
			o, err := optim.NewSGD(optim.Params(w), optim.SGDConfig{LR: 1, Options: optim.Options{MaxGradNorm: 1}})
			if err != nil {
				return err
			}
			defer o.Release()
			w.SetGrad(tensor.FromFloat64As(e.dev, e.dt, []float64{3e30, 4e30}, 2))
			defer o.ZeroGrad()
			if err := o.Step(); err != nil {
				return err
			}
			e.compare(w.Float64s(), []float64{-0.6, -0.8}, nil)
			return nil
		})
		if err != nil {
			e.fail("%v", err)
		}
		return 32 * e.u
	})
}
