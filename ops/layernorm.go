package ops

import (
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// LayerNorm normalises x over its last axis, y = (x − μ)/√(σ² + eps)·γ + β (Ba, Kiros and
// Hinton, "Layer Normalization", 2016), with the biased variance. gamma and beta have shape
// [cols] and may be nil (no scale, no shift).
//
// The backward pass uses the device's fused LayerNormBackward unless it is being recorded;
// then it recomputes the statistics from x with ops and applies
//
//	dx̂ = g⊙γ,  dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂⊙x̂)),  dγ = Σ g⊙x̂,  dβ = Σ g
//
// so that second derivatives are exact.
func LayerNorm(x, gamma, beta *Tensor, eps float64) *Tensor {
	ts := []*Tensor{x}
	for _, t := range []*Tensor{gamma, beta} {
		if t != nil {
			ts = append(ts, t)
		}
	}
	dev := checkFloat("layer_norm", ts...)
	if math.IsNaN(eps) || math.IsInf(eps, 0) || eps < 0 {
		panic(errorf("layer_norm", "eps must be finite and ≥ 0, got %v", eps))
	}
	if x.Rank() == 0 {
		panic(errorf("layer_norm", "needs at least one axis"))
	}
	cols := x.Dim(-1)
	for _, t := range []*Tensor{gamma, beta} {
		if t != nil && (t.Rank() != 1 || t.Dim(0) != cols) {
			panic(errorf("layer_norm", "gamma and beta must have shape (%d), got %s", cols, shp(t)))
		}
	}
	rows := 0
	if cols > 0 {
		rows = x.Len() / cols
	}
	// The primitive writes all three whenever y has elements; otherwise rows is 0.
	c := tensor.ContextOf(x, gamma, beta)
	y := c.Uninit(dev, x.DType(), x.Shape()...)
	mean := c.Uninit(dev, x.DType(), rows)
	rstd := c.Uninit(dev, x.DType(), rows)
	if y.Len() > 0 {
		dev.LayerNorm(x.Buffer(), bufOrNil(gamma), bufOrNil(beta), y.Buffer(), mean.Buffer(), rstd.Buffer(), rows, cols, eps)
	}
	return record("layer_norm", y, []*Tensor{x, gamma, beta}, func(g *Tensor, needs []bool) []*Tensor {
		if recording(g, x, gamma, beta) {
			return layerNormComposed(x, gamma, g, eps, needs)
		}
		r := make([]*Tensor, 3)
		// The primitive writes dx, dγ and dβ in full when there are rows; with none, dγ and dβ
		// are sums over nothing and must be zeros.
		alloc := allocator(tensor.ContextOf(g, x, gamma, beta, mean, rstd), x.Len() == 0)
		dx := alloc(dev, x.DType(), x.Shape()...)
		var dg, db *Tensor
		if gamma != nil {
			dg = alloc(dev, x.DType(), cols)
		}
		if beta != nil {
			db = alloc(dev, x.DType(), cols)
		}
		if dx.Len() > 0 {
			dev.LayerNormBackward(x.Buffer(), bufOrNil(gamma), mean.Buffer(), rstd.Buffer(), g.Buffer(),
				dx.Buffer(), bufOrNil(dg), bufOrNil(db), rows, cols)
		}
		r[0], r[1], r[2] = dx, dg, db
		return r
	})
}

func layerNormComposed(x, gamma, g *Tensor, eps float64, needs []bool) []*Tensor {
	cols := x.Dim(-1)
	xc := Sub(x, Mean(x, true, -1))
	rstd := Rsqrt(AddScalar(Mean(Square(xc), true, -1), eps))
	xhat := Mul(xc, rstd)
	r := make([]*Tensor, 3)
	if needs[0] {
		dxhat := g
		if gamma != nil {
			dxhat = Mul(g, gamma)
		}
		inner := Sub(Sub(dxhat, Mean(dxhat, true, -1)), Mul(xhat, Mean(Mul(dxhat, xhat), true, -1)))
		r[0] = Mul(rstd, inner)
	}
	if needs[1] {
		r[1] = SumTo(Mul(g, xhat), cols)
	}
	if needs[2] {
		r[2] = SumTo(g, cols)
	}
	return r
}

func bufOrNil(t *Tensor) device.Buffer {
	if t == nil {
		return nil
	}
	return t.Buffer()
}
