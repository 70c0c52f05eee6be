package devicetest

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
)

func attentionShapes(s *suite) []device.AttentionParams {
	ap := func(b, lq, lk, d, dv, nc int) device.AttentionParams {
		return device.AttentionParams{Batch: b, Lq: lq, Lk: lk, D: d, Dv: dv, NContext: nc, Scale: 1 / math.Sqrt(float64(d))}
	}
	quick := []device.AttentionParams{
		ap(2, 7, 33, 16, 16, 20),     // NContext < Lk
		ap(1, 33, 33, 32, 24, 33),    // NContext = Lk, Dv ≠ D
		ap(3, 5, 9, 64, 64, 1),       // a single context key
		ap(2, 70, 40, 128, 128, 40),  // Lq > Lk, head dim 128
		ap(1, 9, 2000, 64, 64, 1999), // a long context: many key tiles
		ap(1, 260, 260, 16, 16, 258), // two query blocks and two key tiles of the CPU forward pass
	}
	full := append(quick,
		ap(1, 1, 1, 16, 16, 1),
		ap(2, 130, 70, 128, 128, 70),
		ap(4, 200, 150, 32, 32, 100),
		ap(1, 65, 2000, 128, 96, 2000),
	)
	return pick(s, quick, full)
}

func attnName(p device.AttentionParams) string {
	return fmt.Sprintf("B=%d Lq=%d Lk=%d D=%d Dv=%d NContext=%d", p.Batch, p.Lq, p.Lk, p.D, p.Dv, p.NContext)
}

// attnInputs draws Q, K, V ~ N(0, 1), except that keys and values beyond the context are
// large, so that any leak through the mask shows.
func attnInputs(e *env, p device.AttentionParams) (q, k, v []float64) {
	q = e.normal(p.Batch*p.Lq*p.D, 0, 1)
	k = e.normal(p.Batch*p.Lk*p.D, 0, 1)
	v = e.normal(p.Batch*p.Lk*p.Dv, 0, 1)
	for b := 0; b < p.Batch; b++ {
		for j := p.NContext; j < p.Lk; j++ {
			for c := 0; c < p.D; c++ {
				k[(b*p.Lk+j)*p.D+c] *= 30
			}
			for c := 0; c < p.Dv; c++ {
				v[(b*p.Lk+j)*p.Dv+c] *= 1000
			}
		}
	}
	return q, e.round(k), e.round(v)
}

// attnProbs returns the probabilities of query i of head b over the context keys, and the
// log-sum-exp of its scaled scores, computed directly from the definition in float64.
func attnProbs(p device.AttentionParams, q, k []float64, b, i int) (prob []float64, lse float64) {
	s := make([]float64, p.NContext)
	m := math.Inf(-1)
	qi := q[(b*p.Lq+i)*p.D : (b*p.Lq+i+1)*p.D]
	for j := range s {
		kj := k[(b*p.Lk+j)*p.D : (b*p.Lk+j+1)*p.D]
		dot := 0.0
		for c, x := range qi {
			dot += x * kj[c]
		}
		s[j] = p.Scale * dot
		m = math.Max(m, s[j])
	}
	sum := 0.0
	for j, x := range s {
		s[j] = math.Exp(x - m)
		sum += s[j]
	}
	for j := range s {
		s[j] /= sum
	}
	return s, m + math.Log(sum)
}

// attnRef returns O and lse in float64, and the scales Σ_j p_ij·|v_jc| of O.
func attnRef(p device.AttentionParams, q, k, v []float64) (o, oScale, lse []float64) {
	o, oScale = make([]float64, p.Batch*p.Lq*p.Dv), make([]float64, p.Batch*p.Lq*p.Dv)
	lse = make([]float64, p.Batch*p.Lq)
	for b := 0; b < p.Batch; b++ {
		for i := 0; i < p.Lq; i++ {
			prob, l := attnProbs(p, q, k, b, i)
			lse[b*p.Lq+i] = l
			oi, si := o[(b*p.Lq+i)*p.Dv:], oScale[(b*p.Lq+i)*p.Dv:]
			for j, pj := range prob {
				vj := v[(b*p.Lk+j)*p.Dv : (b*p.Lk+j+1)*p.Dv]
				for c, x := range vj {
					oi[c] += pj * x
					si[c] += pj * math.Abs(x)
				}
			}
		}
	}
	return
}

func attentionCases(s *suite, dt device.DType) {
	// forward runs one case; with Products set, on inputs that are bfloat16 values.
	forward := func(e *env, p device.AttentionParams) float64 {
		q, k, v := attnInputs(e, p)
		tol := e.tol(32, p.D+p.Dv+p.NContext+64)
		if p.Products != 0 {
			q, k, v = roundedTo(p.Products, q), roundedTo(p.Products, k), roundedTo(p.Products, v)
			tol += productsTol
		}
		ob, lb := e.alloc(dt, p.Batch*p.Lq*p.Dv), e.alloc(dt, p.Batch*p.Lq)
		e.dev.Attention(p, e.upload(q), e.upload(k), e.upload(v), ob, lb)
		o, oScale, lse := attnRef(p, q, k, v)
		for i := range oScale {
			oScale[i] += math.SmallestNonzeroFloat64
		}
		e.compare(e.download(ob), o, oScale)
		e.compare(e.download(lb), lse, nil)
		return tol
	}
	for _, p := range attentionShapes(s) {
		s.run("Attention", dt, attnName(p), func(e *env) float64 { return forward(e, p) })
		if dt == device.Float32 {
			p.Products = device.BFloat16
			s.run("Attention", dt, attnName(p)+" products=bfloat16", func(e *env) float64 { return forward(e, p) })
		}
	}
	s.run("Attention", dt, "NContext > Lk panics", func(e *env) float64 {
		p := device.AttentionParams{Batch: 1, Lq: 2, Lk: 3, D: 2, Dv: 2, NContext: 4, Scale: 1}
		x := e.alloc(dt, 6)
		e.expectPanic("Attention with NContext 4 of 3 keys", func() { e.dev.Attention(p, x, x, x, x, x) })
		return 0
	})
}

func attentionBackwardCases(s *suite, dt device.DType) {
	// backward runs one case; with Products set, on inputs that are bfloat16 values.
	backward := func(e *env, p device.AttentionParams) float64 {
		q, k, v := attnInputs(e, p)
		dO := e.normal(p.Batch*p.Lq*p.Dv, 0, 1)
		tol := e.tol(32, p.D+p.Dv+p.NContext+p.Lq+64)
		if p.Products != 0 {
			for _, x := range [][]float64{q, k, v, dO} {
				roundedTo(p.Products, x)
			}
			tol += productsTol
		}
		o, _, lse := attnRef(p, q, k, v)
		dq, dk, dv := e.alloc(dt, len(q)), e.upload(e.normal(len(k), 0, 1)), e.upload(e.normal(len(v), 0, 1)) // dK, dV overwritten
		e.dev.AttentionBackward(p, e.upload(q), e.upload(k), e.upload(v), e.upload(e.round(o)), e.upload(e.round(lse)), e.upload(dO), dq, dk, dv)
		want, scale := attnBackwardRef(p, q, k, v, dO)
		e.compare(e.download(dq), want[0], scale[0])
		e.compare(e.download(dk), want[1], scale[1])
		e.compare(e.download(dv), want[2], scale[2])
		return tol
	}
	for _, p := range attentionShapes(s) {
		s.run("AttentionBackward", dt, attnName(p), func(e *env) float64 { return backward(e, p) })
		if dt == device.Float32 {
			p.Products = device.BFloat16
			s.run("AttentionBackward", dt, attnName(p)+" products=bfloat16", func(e *env) float64 { return backward(e, p) })
		}
	}
}

// productsTol is the error allowed, relative to the scale of each result, for bfloat16
// products (AttentionParams.Products) on operands that are bfloat16 values, beyond the
// float32 tolerance: with u = 2⁻⁸, rounding P to bfloat16 changes O = Σⱼ pᵢⱼvⱼ and
// dV = Σᵢ pᵢⱼdOᵢ by at most u·Σ p|·|, their scales; rounding dS changes dQ and dK by at most
// u times theirs (whose dS scale p(|dP| + Σ p|dP|) also bounds the float32 error of P
// and dP); 4u leaves a factor of 2 for tensor cores that truncate instead of rounding.
const productsTol = 4 * 0x1p-8

// roundedTo returns x with every element rounded to dt.
func roundedTo(dt device.DType, x []float64) []float64 {
	for i, v := range x {
		x[i] = roundTo(v, dt)
	}
	return x
}

// attnBackwardRef computes dQ, dK, dV from the definition (with Δ_i = Σ_j p_ij·dP_ij, not from
// O) and the same formulas on absolute values as scales. Keys outside the context get
// gradient 0 with scale 1.
func attnBackwardRef(p device.AttentionParams, q, k, v, dO []float64) (want, scale [3][]float64) {
	D, Dv := p.D, p.Dv
	for i, n := range []int{len(q), len(k), len(v)} {
		want[i], scale[i] = make([]float64, n), make([]float64, n)
	}
	dq, dk, dv := want[0], want[1], want[2]
	sq, sk, sv := scale[0], scale[1], scale[2]
	for b := 0; b < p.Batch; b++ {
		for i := 0; i < p.Lq; i++ {
			prob, _ := attnProbs(p, q, k, b, i)
			doi := dO[(b*p.Lq+i)*Dv : (b*p.Lq+i+1)*Dv]
			qi := q[(b*p.Lq+i)*D : (b*p.Lq+i+1)*D]
			dP, dPabs := make([]float64, len(prob)), make([]float64, len(prob))
			delta, deltaAbs := 0.0, 0.0
			for j, pj := range prob {
				vj := v[(b*p.Lk+j)*Dv : (b*p.Lk+j+1)*Dv]
				for c, g := range doi {
					dP[j] += g * vj[c]
					dPabs[j] += math.Abs(g * vj[c])
					dv[(b*p.Lk+j)*Dv+c] += pj * g
					sv[(b*p.Lk+j)*Dv+c] += pj * math.Abs(g)
				}
				delta += pj * dP[j]
				deltaAbs += pj * dPabs[j]
			}
			for j, pj := range prob {
				ds := pj * (dP[j] - delta)
				dsAbs := pj * (dPabs[j] + deltaAbs)
				kj := k[(b*p.Lk+j)*D : (b*p.Lk+j+1)*D]
				for c := 0; c < D; c++ {
					dq[(b*p.Lq+i)*D+c] += p.Scale * ds * kj[c]
					sq[(b*p.Lq+i)*D+c] += p.Scale * dsAbs * math.Abs(kj[c])
					dk[(b*p.Lk+j)*D+c] += p.Scale * ds * qi[c]
					sk[(b*p.Lk+j)*D+c] += p.Scale * dsAbs * math.Abs(qi[c])
				}
			}
		}
	}
	for _, s := range scale {
		for i := range s {
			if s[i] == 0 {
				s[i] = 1 // a gradient that must be exactly zero (masked keys)
			}
		}
	}
	return
}
