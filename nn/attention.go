package nn

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// MultiHeadAttention is multi-head scaled dot-product attention (Vaswani et al., "Attention
// is all you need", NeurIPS 2017, section 3.2.2) with the PFN context mask: every query
// attends only to the first nContext keys (Müller et al., ICLR 2022).
type MultiHeadAttention struct {
	Model, Heads int
	Q, K, V, Out *Linear
	headDim      int
	scale        float64
}

// NewMultiHeadAttention makes the four projections (with biases, Xavier-uniform weights).
func NewMultiHeadAttention(dev device.Device, dtype tensor.DType, model, heads int, gen *tensor.Generator) (*MultiHeadAttention, error) {
	if err := checkSizes("multi-head attention", model, heads); err != nil {
		return nil, err
	}
	if model%heads != 0 {
		return nil, fmt.Errorf("nn: multi-head attention: model size %d is not divisible by %d heads", model, heads)
	}
	m := &MultiHeadAttention{Model: model, Heads: heads, headDim: model / heads}
	for _, p := range []**Linear{&m.Q, &m.K, &m.V, &m.Out} {
		l, err := NewLinear(dev, dtype, model, model, true, XavierUniform, gen)
		if err != nil {
			Release(m)
			return nil, err
		}
		*p = l
	}
	return m, nil
}

// Forward attends from queries xq [..., Lq, Model] to keys and values computed from
// xkv [..., Lk, Model] (the same tensor for self-attention), restricted to the first
// nContext positions of xkv. The leading axes of xq and xkv must agree. Under an autocast
// dtype (tensor.Context.SetAutocast) the projections and the attention's products take
// operands of that dtype, and the result is float32 (see Linear.Forward).
func (m *MultiHeadAttention) Forward(xq, xkv *Tensor, nContext int) *Tensor {
	if xq.Rank() < 2 || xkv.Rank() != xq.Rank() {
		panic(&ops.Error{Op: "multi_head_attention", Msg: fmt.Sprintf("inputs must be [..., L, %d] of equal rank, got %s and %s",
			m.Model, tensor.ShapeString(xq.Shape()), tensor.ShapeString(xkv.Shape()))})
	}
	split := func(x *Tensor) *Tensor {
		// [..., L, Model] → [B, L, H, dh] → [B, H, L, dh]
		l := x.Dim(-2)
		return ops.Permute(ops.Reshape(x, -1, l, m.Heads, m.headDim), 0, 2, 1, 3)
	}
	q, k, v := split(m.Q.Forward(xq)), split(m.K.Forward(xkv)), split(m.V.Forward(xkv))
	_, dt := autocast(xq, m.Q.Weight)
	if dt != 0 {
		// Mixed precision: the products of attention take 16-bit operands. q, k and v are
		// rounded to dt and stay float32, so that the softmax statistics, O and the
		// gradients are float32, as fused 16-bit kernels (FlashAttention) compute them; a
		// device with such kernels (device.AttentionParams.Products) also rounds P, dO
		// and dS for its products, the others compute them in float32. The output
		// projection rounds o to dt. The gradients of q, k and v pass through the casts
		// and are rounded alike.
		round := func(t *Tensor) *Tensor { return ops.Cast(ops.Cast(t, dt), t.DType()) }
		q, k, v = round(q), round(k), round(v)
	}
	o := ops.AttentionMixed(q, k, v, nContext, 0, dt)
	// [B, H, Lq, dh] → [B, Lq, H, dh] → [..., Lq, Model]
	shape := xq.Shape()
	o = ops.Reshape(ops.Permute(o, 0, 2, 1, 3), shape...)
	return m.Out.Forward(o)
}

// NamedParameters lists q, k, v and out projections.
func (m *MultiHeadAttention) NamedParameters() []Named {
	var ns []Named
	for _, c := range []struct {
		name string
		l    *Linear
	}{{"q", m.Q}, {"k", m.K}, {"v", m.V}, {"out", m.Out}} {
		if c.l != nil {
			ns = append(ns, prefixed(c.name, c.l.NamedParameters())...)
		}
	}
	return ns
}

// Parameters lists the projections' parameters.
func (m *MultiHeadAttention) Parameters() []*Tensor { return paramsOf(m) }
