package ops

import (
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// Attention is scaled dot-product attention with the PFN context mask (Müller et al.,
// "Transformers Can Do Bayesian Inference", ICLR 2022): every query attends only to keys
// [0, nContext), O = softmax(Q·K[:nContext]ᵀ·scale)·V[:nContext].
//
// Shapes: q is [..., Lq, D], k is [..., Lk, D], v is [..., Lk, Dv] with identical leading
// (batch) axes, for example [B, L, D] for one head or [B, H, L, D] for H heads; the result
// is [..., Lq, Dv]. 1 ≤ nContext ≤ Lk. scale 0 means 1/√D. Keys and values at positions
// ≥ nContext receive zero gradient.
//
// The forward pass is the device's tiled Attention primitive (online softmax: scores are
// never materialised). The backward pass is the fused AttentionBackward unless it is being
// recorded; then it recomputes the scores with ops (the standard attention backward:
// P = softmax(S), dV = Pᵀ·g, dP = g·Vᵀ, dS = P⊙(dP − Σ dP⊙P), dQ = dS·K·scale,
// dK = dSᵀ·Q·scale), which is differentiable again.
func Attention(q, k, v *Tensor, nContext int, scale float64) *Tensor {
	return AttentionMixed(q, k, v, nContext, scale, 0)
}

// AttentionMixed is Attention whose matrix products the device may compute with operands
// rounded to the 16-bit float dtype products (device.AttentionParams.Products), accumulating
// in float32: mixed-precision training of float32 models (Micikevicius et al., "Mixed
// Precision Training", ICLR 2018). O, the log-sum-exp and the gradients keep q's dtype.
// Devices without such kernels compute exactly in q's dtype; products 0 is Attention. The
// twice-differentiable backward (while recording) is the float32 one.
func AttentionMixed(q, k, v *Tensor, nContext int, scale float64, products tensor.DType) *Tensor {
	dev := checkFloat("attention", q, k, v)
	if products != 0 && !products.IsHalf() {
		panic(errorf("attention", "products dtype %s is not a 16-bit float dtype", products))
	}
	if q.Rank() < 2 || k.Rank() != q.Rank() || v.Rank() != q.Rank() {
		panic(errorf("attention", "q, k, v must have equal rank ≥ 2, got %s, %s, %s", shp(q), shp(k), shp(v)))
	}
	r := q.Rank()
	qs, ks, vs := q.Shape(), k.Shape(), v.Shape()
	for i := 0; i < r-2; i++ {
		if qs[i] != ks[i] || qs[i] != vs[i] {
			panic(errorf("attention", "batch axes of q %s, k %s, v %s differ", shp(q), shp(k), shp(v)))
		}
	}
	lq, d := qs[r-2], qs[r-1]
	lk, dv := ks[r-2], vs[r-1]
	if ks[r-1] != d {
		panic(errorf("attention", "q has width %d but k has %d", d, ks[r-1]))
	}
	if vs[r-2] != lk {
		panic(errorf("attention", "k has %d keys but v has %d", lk, vs[r-2]))
	}
	if nContext < 1 || nContext > lk {
		panic(errorf("attention", "nContext %d out of range [1, %d]", nContext, lk))
	}
	checkFinite("attention", "scale", scale)
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(d))
	}
	batch := numel(qs[:r-2])
	p := device.AttentionParams{Batch: batch, Lq: lq, Lk: lk, D: d, Dv: dv, NContext: nContext, Scale: scale, Products: products}
	outShape := append(append([]int(nil), qs[:r-2]...), lq, dv)
	// The primitives write every output element whenever O has any (keys beyond the context
	// get explicit zero gradients); an empty O means no queries or no value columns, and then
	// lse, dK and dV must be zeros.
	empty := numel(outShape) == 0
	alloc := allocator(tensor.ContextOf(q, k, v), empty)
	o := alloc(dev, q.DType(), outShape...)
	lse := alloc(dev, q.DType(), batch, lq)
	if o.Len() > 0 {
		dev.Attention(p, q.Buffer(), k.Buffer(), v.Buffer(), o.Buffer(), lse.Buffer())
	}
	return record("attention", o, []*Tensor{q, k, v}, func(g *Tensor, needs []bool) []*Tensor {
		if recording(g, q, k, v) {
			return attentionComposed(q, k, v, g, nContext, scale, needs)
		}
		alloc := allocator(tensor.ContextOf(g, q, k, v, o, lse), empty)
		dq := alloc(dev, q.DType(), qs...)
		dk := alloc(dev, q.DType(), ks...)
		dvv := alloc(dev, q.DType(), vs...)
		if o.Len() > 0 {
			dev.AttentionBackward(p, q.Buffer(), k.Buffer(), v.Buffer(), o.Buffer(), lse.Buffer(), g.Buffer(),
				dq.Buffer(), dk.Buffer(), dvv.Buffer())
		}
		return []*Tensor{dq, dk, dvv}
	})
}

// attentionReference computes the same attention with composed ops (scores materialised).
// It is the definition the fused primitive is tested against.
func attentionReference(q, k, v *Tensor, nContext int, scale float64) *Tensor {
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(q.Dim(-1)))
	}
	kc, vc := Slice(k, -2, 0, nContext), Slice(v, -2, 0, nContext)
	return Matmul(Softmax(MulScalar(MatmulT(q, kc, false, true), scale), -1), vc)
}

func attentionComposed(q, k, v, g *Tensor, nContext int, scale float64, needs []bool) []*Tensor {
	lk := k.Dim(-2)
	kc, vc := Slice(k, -2, 0, nContext), Slice(v, -2, 0, nContext)
	pr := Softmax(MulScalar(MatmulT(q, kc, false, true), scale), -1)
	r := make([]*Tensor, 3)
	pad := func(t *Tensor) *Tensor {
		if nContext == lk {
			return t
		}
		return padSlice(t, append(t.Shape()[:t.Rank()-2], lk, t.Dim(-1)), t.Rank()-2, 0)
	}
	if needs[2] {
		r[2] = pad(MatmulT(pr, g, true, false)) // Pᵀ·g
	}
	if needs[0] || needs[1] {
		dp := MatmulT(g, vc, false, true)
		ds := MulScalar(Mul(pr, Sub(dp, Sum(Mul(dp, pr), true, -1))), scale)
		if needs[0] {
			r[0] = Matmul(ds, kc)
		}
		if needs[1] {
			r[1] = pad(MatmulT(ds, q, true, false))
		}
	}
	return r
}
