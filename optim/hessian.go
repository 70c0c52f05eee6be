package optim

import (
	"errors"
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/rng"
	"github.com/kiln-ml/kiln/tensor"
)

// Diagonal Hessian estimators for the second-order optimizers, built on ops' Hessian-vector
// products by double backward. Each takes the loss (or logits) as a closure that runs the
// forward pass in the execution context c (its data belongs to c), so the estimator owns the
// graph it differentiates twice; random directions come from a tensor.Generator, so runs are
// reproducible on every device. Results belong to c's current scope.

// HutchinsonDiag returns u⊙(H·u) for one draw u ~ N(0, I) per parameter: Hutchinson's
// unbiased estimator of diag(H) (Hutchinson 1990), the SophiaH estimator of Liu et al. 2023
// (§2.3 and Algorithm 1). params must require gradients.
func HutchinsonDiag(c *tensor.Context, f func() *tensor.Tensor, params []*tensor.Tensor, gen *tensor.Generator) ([]*tensor.Tensor, error) {
	var out []*tensor.Tensor
	err := ops.Try(func() error {
		if err := checkEstimatorArgs(c, params, gen); err != nil {
			return err
		}
		s := c.NewScope()
		defer s.Close()
		u := make([]*tensor.Tensor, len(params))
		for i, p := range params {
			u[i] = c.Track(gen.Normal(p.Device(), p.DType(), 0, 1, p.Shape()...))
		}
		hu := ops.HVP(c, f, params, u)
		c.NoGrad(func() {
			for i := range hu {
				out = append(out, ops.Mul(u[i], hu[i]))
			}
		})
		s.Keep(out...)
		return nil
	})
	return out, err
}

// Rademacher draws a free tensor of independent ±1 entries (probability ½ each).
func Rademacher(gen *tensor.Generator, dev device.Device, dtype tensor.DType, shape ...int) *tensor.Tensor {
	// The Philox uniform never returns exactly 0 on (−1, 1): (x+0.5)·2⁻³² ≠ ½ for integer x.
	u := gen.Uniform(dev, dtype, -1, 1, shape...)
	v := ops.Sign(u) // u requires no gradient, so nothing is recorded
	u.Release()
	return v
}

// RademacherHVP evaluates the scalar f once and returns its value, its gradients and H·v for a
// Rademacher draw v, together with v⊙(H·v), the unbiased diagonal estimate (Bekas, Kokiopoulou
// and Saad 2007). AdaHessian uses |H·v| = |v⊙(H·v)| (Yao et al. 2020, eq. 7).
func RademacherHVP(c *tensor.Context, f func() *tensor.Tensor, params []*tensor.Tensor, gen *tensor.Generator) (loss float64, grads, hv, vhv []*tensor.Tensor, err error) {
	err = ops.Try(func() error {
		if err := checkEstimatorArgs(c, params, gen); err != nil {
			return err
		}
		s := c.NewScope()
		defer s.Close()
		v := make([]*tensor.Tensor, len(params))
		for i, p := range params {
			v[i] = c.Track(Rademacher(gen, p.Device(), p.DType(), p.Shape()...))
		}
		l, g, h := ops.GradHVP(c, f, params, v)
		loss = l.Item()
		grads, hv = g, h
		c.NoGrad(func() {
			for i := range h {
				vhv = append(vhv, ops.Mul(v[i], h[i]))
			}
		})
		s.Keep(grads...)
		s.Keep(hv...)
		s.Keep(vhv...)
		return nil
	})
	return loss, grads, hv, vhv, err
}

// GaussNewtonBartlett is the SophiaG estimator (Liu et al. 2023, Algorithm 2): logits() runs
// the forward pass and returns [B, C] logits; labels ŷᵢ are sampled from the model's own
// softmax(logitsᵢ) (the Bartlett identity makes E[ĝ⊙ĝ] the Gauss-Newton diagonal), the mean
// cross-entropy on the sampled labels is differentiated, and B·ĝ⊙ĝ is returned. (The authors'
// code returns ĝ⊙ĝ and multiplies by the batch size in the step; with this estimator leave
// SophiaConfig.BatchSize at 1.)
func GaussNewtonBartlett(c *tensor.Context, logits func() *tensor.Tensor, params []*tensor.Tensor, gen *tensor.Generator) ([]*tensor.Tensor, error) {
	var out []*tensor.Tensor
	err := ops.Try(func() error {
		if err := checkEstimatorArgs(c, params, gen); err != nil {
			return err
		}
		s := c.NewScope()
		defer s.Close()
		prev := c.SetGradEnabled(true)
		defer c.SetGradEnabled(prev)
		z := logits()
		if z.Context() != c {
			return fmt.Errorf("optim: GaussNewtonBartlett: the logits do not belong to the execution context")
		}
		if z.Rank() != 2 || z.Dim(0) == 0 || z.Dim(1) < 2 {
			return fmt.Errorf("optim: GaussNewtonBartlett needs [batch, classes ≥ 2] logits, got %v", z.Shape())
		}
		b, nc := z.Dim(0), z.Dim(1)
		var probs []float64
		c.NoGrad(func() { probs = ops.Softmax(ops.Detach(z), -1).Float64s() })
		off := gen.Next(b)
		labels := make([]int32, b)
		for i := 0; i < b; i++ {
			u := rng.UniformAt(gen.Seed, off, i, 0, 1)
			k, acc := nc-1, 0.0
			for j := 0; j < nc; j++ {
				acc += probs[i*nc+j]
				if u < acc {
					k = j
					break
				}
			}
			labels[i] = int32(k)
		}
		y := c.FromInt32(z.Device(), labels)
		loss := ops.CrossEntropy(z, y, nil)
		g := ops.Grad([]*tensor.Tensor{loss}, params, nil, false)
		c.NoGrad(func() {
			for i := range g {
				out = append(out, ops.MulScalar(ops.Square(g[i]), float64(b)))
			}
		})
		s.Keep(out...)
		return nil
	})
	return out, err
}

func checkEstimatorArgs(c *tensor.Context, params []*tensor.Tensor, gen *tensor.Generator) error {
	if c == nil {
		return errors.New("optim: Hessian estimator needs an execution context")
	}
	if gen == nil {
		return errors.New("optim: Hessian estimator needs a random generator")
	}
	if len(params) == 0 {
		return errors.New("optim: Hessian estimator over no parameters")
	}
	for i, p := range params {
		if p == nil || p.Released() || !p.RequiresGrad() {
			return fmt.Errorf("optim: parameter %d of a Hessian estimate is nil, released or does not require gradients", i)
		}
	}
	return nil
}

// tensors lists the optimizer's parameter tensors in Parameters order.
func (b *base) tensors() []*tensor.Tensor {
	var ts []*tensor.Tensor
	for _, g := range b.groups {
		for _, p := range g.Params {
			ts = append(ts, p.T)
		}
	}
	return ts
}

// installGrads replaces the parameters' gradients with gs (taken out of their scope, owned
// by the parameters from now on).
func (b *base) installGrads(gs []*tensor.Tensor) {
	i := 0
	for _, g := range b.groups {
		for _, p := range g.Params {
			if old := p.T.Grad(); old != nil {
				old.Release()
			}
			p.T.SetGrad(gs[i].Detach())
			i++
		}
	}
}

// Prepare is AdaHessian's one call per training step: it evaluates the loss f once, installs
// its gradients into the parameters and hands |H·v| (Rademacher v) to SetHessian, so that
// Step can follow. It returns the loss. f runs the forward pass in c.
func (a *AdaHessian) Prepare(c *tensor.Context, f func() *tensor.Tensor, gen *tensor.Generator) (float64, error) {
	if c == nil {
		return 0, errors.New("optim: adahessian: nil execution context")
	}
	s := c.NewScope()
	defer s.Close()
	loss, grads, hv, _, err := RademacherHVP(c, f, a.tensors(), gen)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("optim: adahessian: the loss is %v", loss)
	}
	a.installGrads(grads)
	return loss, a.SetHessian(hv)
}

// UpdateHessianGNB refreshes Sophia's Hessian EMA with the Gauss-Newton-Bartlett estimate
// (SophiaG); call it when HessianDue reports true. logits runs the forward pass in c.
func (s *Sophia) UpdateHessianGNB(c *tensor.Context, logits func() *tensor.Tensor, gen *tensor.Generator) error {
	if c == nil {
		return errors.New("optim: sophia: nil execution context")
	}
	sc := c.NewScope()
	defer sc.Close()
	est, err := GaussNewtonBartlett(c, logits, s.tensors(), gen)
	if err != nil {
		return err
	}
	return s.UpdateHessian(est)
}

// UpdateHessianHutchinson refreshes Sophia's Hessian EMA with Hutchinson's estimate u⊙(H·u)
// (SophiaH); call it when HessianDue reports true. f runs the forward pass in c.
func (s *Sophia) UpdateHessianHutchinson(c *tensor.Context, f func() *tensor.Tensor, gen *tensor.Generator) error {
	if c == nil {
		return errors.New("optim: sophia: nil execution context")
	}
	sc := c.NewScope()
	defer sc.Close()
	est, err := HutchinsonDiag(c, f, s.tensors(), gen)
	if err != nil {
		return err
	}
	return s.UpdateHessian(est)
}
