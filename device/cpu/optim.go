package cpu

import (
	"math"

	"github.com/kiln-ml/kiln/device"
)

// Fused multi-tensor optimizer steps (the CPU side of Device.OptimizerStep).
//
// One call updates every tensor of a parameter group. The group is cut into chunks of
// optimChunk elements across all of its tensors (a chunk never spans two tensors), and the
// chunks are spread over GOMAXPROCS goroutines, so a group of many small tensors and a group
// of one huge tensor both keep every core busy. Every element is read and written once per
// step (LAMB: twice, see below). Arithmetic is done in the storage dtype, as PyTorch's and
// apex's kernels (and kernels/optim.cu) do: float32 parameters get single-precision square
// roots and divisions, which have twice the throughput; LAMB's norms accumulate in float64.
//
// The exact update of each kind, the meaning of each State buffer and the hyper-parameter
// fields read are documented in package optim (doc.go), which also holds the composed
// fallback these kernels must agree with.

// optimChunk is the number of elements one task updates: large enough to amortise the
// scheduling, small enough that a few chunks per core balance the load.
const optimChunk = 1 << 15

// optimizerStep runs one fused optimizer update over a parameter group. It returns
// device.ErrUnsupported for kinds it does not know; misuse (wrong dtypes, short buffers, a
// missing state buffer) panics with a *device.Error like every other primitive.
func optimizerStep(kind device.OptimKind, group []device.OptimTensor, h device.OptimHyper) error {
	const op = "OptimizerStep"
	nstate := 0
	switch kind {
	case device.OptimSGD:
		if h.Momentum != 0 {
			nstate = 1
		}
	case device.OptimAdamW:
		nstate = 2
		if h.AMSGrad {
			nstate = 3
		}
	case device.OptimLAMB, device.OptimSophia:
		nstate = 2
	case device.OptimAdaHessian:
		nstate = 3
	default:
		return device.ErrUnsupported
	}
	ts := make([]optimTensor, len(group))
	for i, g := range group {
		p := getFloat(g.Param, op, "param", 0)
		ts[i].dtype = p.dtype
		ts[i].n = g.N
		ts[i].p = p
		ts[i].g = getFloat(g.Grad, op, "grad", p.dtype)
		needLen(ts[i].p, g.N, op, "param")
		needLen(ts[i].g, g.N, op, "grad")
		if len(g.State) < nstate {
			device.Panicf(op, "%s step of tensor %d has %d state buffers, need %d", kind, i, len(g.State), nstate)
		}
		for k := 0; k < nstate; k++ {
			ts[i].s[k] = getFloat(g.State[k], op, "state", p.dtype)
			needLen(ts[i].s[k], g.N, op, "state")
		}
	}
	c := newOptimCoef(kind, h)
	chunks := optimChunks(ts)
	if kind == device.OptimLAMB {
		// Stage 1 updates the moments and accumulates ‖p‖² and ‖u‖² per chunk; stage 2
		// recomputes u from the new moments (cheaper than storing it: one read of m and v
		// instead of a write and a read of u) and applies the trust-ratio step.
		partial := make([][2]float64, len(chunks))
		runChunks(chunks, func(ci int, ck optimChunkRef) {
			partial[ci] = lambStage1(&ts[ck.t], ck.lo, ck.hi, &c)
		})
		// Per-tensor norms, summed in chunk order so the result does not depend on how the
		// chunks were scheduled.
		norms := make([][2]float64, len(ts))
		for ci, ck := range chunks {
			norms[ck.t][0] += partial[ci][0]
			norms[ck.t][1] += partial[ci][1]
		}
		ratio := make([]float64, len(ts))
		for t, nm := range norms {
			ratio[t] = lambRatio(math.Sqrt(nm[0]), math.Sqrt(nm[1]), h)
		}
		runChunks(chunks, func(_ int, ck optimChunkRef) {
			lambStage2(&ts[ck.t], ck.lo, ck.hi, &c, ratio[ck.t])
		})
		return nil
	}
	runChunks(chunks, func(_ int, ck optimChunkRef) {
		t := &ts[ck.t]
		if t.dtype == device.Float32 {
			optimChunkUpdate[float32](kind, t, ck.lo, ck.hi, &c)
		} else {
			optimChunkUpdate[float64](kind, t, ck.lo, ck.hi, &c)
		}
	})
	return nil
}

type optimTensor struct {
	dtype device.DType
	n     int
	p, g  *buffer
	s     [3]*buffer
}

type optimChunkRef struct{ t, lo, hi int }

func optimChunks(ts []optimTensor) []optimChunkRef {
	var cs []optimChunkRef
	for i, t := range ts {
		for lo := 0; lo < t.n; lo += optimChunk {
			cs = append(cs, optimChunkRef{i, lo, min(lo+optimChunk, t.n)})
		}
	}
	return cs
}

// runChunks runs fn on every chunk, in parallel when the group is large.
func runChunks(cs []optimChunkRef, fn func(ci int, ck optimChunkRef)) {
	parallelFor(len(cs), optimChunk, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			fn(i, cs[i])
		}
	})
}

// optimCoef holds the per-step constants every element shares, computed once in float64.
type optimCoef struct {
	lr, b1, b2, eps, wd, scale  float64
	decay                       float64 // 1 − lr·wd for decoupled decay
	bc1, bc2, rbc2sqrt, rbc2pow float64 // bias corrections and derived factors
	mom, damp                   float64
	first, nesterov, ams        bool
	rhoBs, power                float64
}

func newOptimCoef(kind device.OptimKind, h device.OptimHyper) optimCoef {
	c := optimCoef{lr: h.LR, b1: h.Beta1, b2: h.Beta2, eps: h.Eps, wd: h.WeightDecay, scale: h.GradScale,
		mom: h.Momentum, damp: h.Dampening, first: h.Step <= 1, nesterov: h.Nesterov, ams: h.AMSGrad,
		rhoBs: h.Rho * h.BatchSize, power: h.HessianPower}
	if c.scale == 0 {
		c.scale = 1
	}
	c.decay = 1 - h.LR*h.WeightDecay
	c.bc1, c.bc2 = 1, 1
	if h.BiasCorrection || kind == device.OptimAdaHessian {
		t := float64(max(h.Step, 1))
		c.bc1 = 1 - math.Pow(h.Beta1, t)
		c.bc2 = 1 - math.Pow(h.Beta2, t)
	}
	c.rbc2sqrt = 1 / math.Sqrt(c.bc2)
	c.rbc2pow = math.Pow(c.rbc2sqrt, h.HessianPower)
	return c
}

// lambRatio is apex FusedLAMB's stage-2 step size: lr·‖p‖/‖u‖ when both norms are non-zero
// (else lr), applied when weight decay is non-zero or in NVLAMB mode.
func lambRatio(pn, un float64, h device.OptimHyper) float64 {
	if (h.NVLamb || h.WeightDecay != 0) && pn != 0 && un != 0 {
		return h.LR * pn / un
	}
	return h.LR
}

func optimChunkUpdate[T float](kind device.OptimKind, t *optimTensor, lo, hi int, c *optimCoef) {
	p := floats[T](t.p)[lo:hi]
	g := floats[T](t.g)[lo:hi]
	g = g[:len(p)]
	var s [3][]T
	for k, b := range t.s {
		if b != nil {
			s[k] = floats[T](b)[lo:hi]
			s[k] = s[k][:len(p)]
		}
	}
	switch kind {
	case device.OptimSGD:
		sgdChunk(p, g, s[0], c)
	case device.OptimAdamW:
		if c.ams {
			adamwAMSChunk(p, g, s[0], s[1], s[2], c)
		} else {
			adamwChunk(p, g, s[0], s[1], c)
		}
	case device.OptimSophia:
		sophiaChunk(p, g, s[0], s[1], c)
	case device.OptimAdaHessian:
		adahessianChunk(p, g, s[0], s[1], s[2], c)
	}
}

// sqrtT is a square root in T: for float32 the compiler turns the conversions around
// math.Sqrt into one single-precision SQRTSS.
func sqrtT[T float](x T) T { return T(math.Sqrt(float64(x))) }

// sgdChunk: PyTorch SGD (coupled L2 decay, momentum buffer seeded with the first gradient,
// dampening, Nesterov).
func sgdChunk[T float](p, g, buf []T, c *optimCoef) {
	s, wd, lr, mom, damp := T(c.scale), T(c.wd), T(c.lr), T(c.mom), T(1-c.damp)
	for i := range p {
		pi := p[i]
		d := s*g[i] + wd*pi
		if c.mom != 0 {
			var b T
			if c.first {
				b = d
			} else {
				b = mom*buf[i] + damp*d
			}
			buf[i] = b
			if c.nesterov {
				d += mom * b
			} else {
				d = b
			}
		}
		p[i] = pi - lr*d
	}
}

// adamwChunk: Loshchilov & Hutter (2019), Algorithm 2, in PyTorch's arrangement: decoupled
// decay first, then bias-corrected Adam with ε added to √v/√bc2.
func adamwChunk[T float](p, g, m, v []T, c *optimCoef) {
	b1, b2, s := T(c.b1), T(c.b2), T(c.scale)
	ob1, ob2 := 1-b1, 1-b2
	decay, step, r, eps := T(c.decay), T(c.lr/c.bc1), T(c.rbc2sqrt), T(c.eps)
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i := range p {
		gi := s * g[i]
		mi := b1*m[i] + ob1*gi
		vi := b2*v[i] + ob2*gi*gi
		m[i], v[i] = mi, vi
		p[i] = p[i]*decay - step*mi/(sqrtT(vi)*r+eps)
	}
}

// adamwAMSChunk is adamwChunk with AMSGrad (Reddi et al. 2018): the running maximum of v
// replaces v in the denominator.
func adamwAMSChunk[T float](p, g, m, v, vmax []T, c *optimCoef) {
	b1, b2, s := T(c.b1), T(c.b2), T(c.scale)
	ob1, ob2 := 1-b1, 1-b2
	decay, step, r, eps := T(c.decay), T(c.lr/c.bc1), T(c.rbc2sqrt), T(c.eps)
	g, m, v, vmax = g[:len(p)], m[:len(p)], v[:len(p)], vmax[:len(p)]
	for i := range p {
		gi := s * g[i]
		mi := b1*m[i] + ob1*gi
		vi := b2*v[i] + ob2*gi*gi
		m[i], v[i] = mi, vi
		vi = max(vi, vmax[i])
		vmax[i] = vi
		p[i] = p[i]*decay - step*mi/(sqrtT(vi)*r+eps)
	}
}

// lambStage1 updates m and v (You et al. 2019, Algorithm 2, with apex FusedLAMB's
// bias correction and decoupled decay) and returns this chunk's ‖p‖² and ‖u‖², accumulated
// in float64.
func lambStage1(t *optimTensor, lo, hi int, c *optimCoef) [2]float64 {
	if t.dtype == device.Float32 {
		return lambStage1T[float32](t, lo, hi, c)
	}
	return lambStage1T[float64](t, lo, hi, c)
}

// lambCoef holds the constants of u = (m/bc1)/(√(v/bc2) + ε) + wd·p in T.
type lambCoef[T float] struct{ rbc1, rbc2, eps, wd T }

func newLambCoef[T float](c *optimCoef) lambCoef[T] {
	return lambCoef[T]{T(1 / c.bc1), T(1 / c.bc2), T(c.eps), T(c.wd)}
}

func (k lambCoef[T]) update(m, v, p T) T { return (m*k.rbc1)/(sqrtT(v*k.rbc2)+k.eps) + k.wd*p }

func lambStage1T[T float](t *optimTensor, lo, hi int, c *optimCoef) [2]float64 {
	p := floats[T](t.p)[lo:hi]
	g := floats[T](t.g)[lo:hi][:len(p)]
	m := floats[T](t.s[0])[lo:hi][:len(p)]
	v := floats[T](t.s[1])[lo:hi][:len(p)]
	b1, b2, s := T(c.b1), T(c.b2), T(c.scale)
	ob1, ob2 := 1-b1, 1-b2
	k := newLambCoef[T](c)
	var pn, un float64
	for i := range p {
		gi := s * g[i]
		mi := b1*m[i] + ob1*gi
		vi := b2*v[i] + ob2*gi*gi
		m[i], v[i] = mi, vi
		pi := p[i]
		u := float64(k.update(mi, vi, pi))
		pn += float64(pi) * float64(pi)
		un += u * u
	}
	return [2]float64{pn, un}
}

func lambStage2(t *optimTensor, lo, hi int, c *optimCoef, ratio float64) {
	if t.dtype == device.Float32 {
		lambStage2T[float32](t, lo, hi, c, ratio)
	} else {
		lambStage2T[float64](t, lo, hi, c, ratio)
	}
}

func lambStage2T[T float](t *optimTensor, lo, hi int, c *optimCoef, ratio float64) {
	p := floats[T](t.p)[lo:hi]
	m := floats[T](t.s[0])[lo:hi][:len(p)]
	v := floats[T](t.s[1])[lo:hi][:len(p)]
	k := newLambCoef[T](c)
	r := T(ratio)
	for i := range p {
		pi := p[i]
		p[i] = pi - r*k.update(m[i], v[i], pi)
	}
}

// sophiaChunk: SophiaG as in the authors' code (Liu et al. 2023, Algorithm 3): decoupled
// decay, EMA of gradients without bias correction, and an element-wise clipped
// pre-conditioned sign step with the paper's denominator max(ρ·bs·h, ε). The Hessian EMA h is
// read only (updated every k steps apart).
func sophiaChunk[T float](p, g, m, h []T, c *optimCoef) {
	b1, s, lr, decay, rb, eps := T(c.b1), T(c.scale), T(c.lr), T(c.decay), T(c.rhoBs), T(c.eps)
	ob1 := 1 - b1
	g, m, h = g[:len(p)], m[:len(p)], h[:len(p)]
	for i := range p {
		mi := b1*m[i] + ob1*(s*g[i])
		m[i] = mi
		r := min(max(mi, -mi)/max(rb*h[i], eps), 1)
		switch {
		case mi > 0:
			p[i] = p[i]*decay - lr*r
		case mi < 0:
			p[i] = p[i]*decay + lr*r
		default:
			p[i] = p[i] * decay
		}
	}
}

// adahessianChunk: Yao et al. (2020), Algorithm 1, as in the authors' code: the second moment
// is the EMA of the squared (spatially averaged) Hessian-diagonal estimate d, the
// denominator is (√v)^k/(√bc2)^k + ε, and weight decay is decoupled.
func adahessianChunk[T float](p, g, m, v, d []T, c *optimCoef) {
	b1, b2, s, lr, eps, wd := T(c.b1), T(c.b2), T(c.scale), T(c.lr), T(c.eps), T(c.wd)
	ob1, ob2 := 1-b1, 1-b2
	rbc1, rpow := T(1/c.bc1), T(c.rbc2pow)
	g, m, v, d = g[:len(p)], m[:len(p)], v[:len(p)], d[:len(p)]
	for i := range p {
		di := d[i]
		mi := b1*m[i] + ob1*(s*g[i])
		vi := b2*v[i] + ob2*di*di
		m[i], v[i] = mi, vi
		var sv T
		switch c.power {
		case 1:
			sv = sqrtT(vi)
		case 0.5:
			sv = sqrtT(sqrtT(vi))
		default:
			sv = T(math.Pow(float64(vi), 0.5*c.power))
		}
		pi := p[i]
		p[i] = pi - lr*(mi*rbc1/(sv*rpow+eps)+wd*pi)
	}
}
