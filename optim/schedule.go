package optim

import (
	"errors"
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// Schedule maps a step index (0 for the first update) to a learning rate.
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant float64

// LR returns the constant.
func (c Constant) LR(int) float64 { return float64(c) }

// WarmupCosine rises linearly from Base/Warmup to Base over the first Warmup steps (step i
// gets Base·(i+1)/Warmup), then follows a half cosine from Base down to Min at step Total
// (Loshchilov & Hutter, "SGDR", ICLR 2017, without restarts) and stays at Min after it.
type WarmupCosine struct {
	Base, Min     float64
	Warmup, Total int
}

// LR implements Schedule.
func (s WarmupCosine) LR(step int) float64 {
	if step < 0 {
		step = 0
	}
	if step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	span := s.Total - s.Warmup
	if span <= 0 || step >= s.Total {
		return s.Min
	}
	frac := float64(step-s.Warmup) / float64(span)
	return s.Min + (s.Base-s.Min)*0.5*(1+math.Cos(math.Pi*frac))
}

// StepDecay multiplies Base by Gamma every Every steps: Base·Gamma^⌊step/Every⌋.
type StepDecay struct {
	Base, Gamma float64
	Every       int
}

// LR implements Schedule.
func (s StepDecay) LR(step int) float64 {
	if s.Every <= 0 || step < 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(step/s.Every))
}

// ApplySchedule sets the optimizer's learning rate for its next step.
func ApplySchedule(o Optimizer, s Schedule) { o.SetLR(s.LR(o.StepCount())) }

// ClipGradNorm rescales the gradients of params in place so that their global L2 norm is at
// most maxNorm, and returns the norm before clipping. A NaN or Inf gradient is an error
// naming the parameter. (Optimizers clip inside the fused step with Options.MaxGradNorm; this
// is for loops that need the clipped gradients themselves.)
func ClipGradNorm(params []Param, maxNorm float64) (float64, error) {
	if !(maxNorm > 0) {
		return 0, fmt.Errorf("optim: ClipGradNorm max norm %v, want > 0", maxNorm)
	}
	var ps []Param
	var gs []*tensor.Tensor
	for _, p := range params {
		if g := p.T.Grad(); g != nil && g.Len() > 0 {
			ps = append(ps, p)
			gs = append(gs, g)
		}
	}
	var norm float64
	err := tensor.Catch(func() error {
		sq, err := sumSquares(gs)
		if err != nil {
			return err
		}
		total := 0.0
		for i, s := range sq {
			if math.IsNaN(s) || math.IsInf(s, 0) {
				return fmt.Errorf("optim: the gradient of parameter %q holds NaN or Inf", ps[i].Name)
			}
			total += s
		}
		norm = math.Sqrt(total)
		if norm <= maxNorm {
			return nil
		}
		c := maxNorm / norm
		for _, g := range gs {
			v := newVec(g.Device(), g.DType(), g.Len())
			v.scaleInPlace(g.Buffer(), c)
		}
		return nil
	})
	return norm, err
}

// Accumulator sums gradients over several micro-batches so that one optimizer step sees the
// mean gradient of a larger batch. After each micro-batch's backward pass call Add; once
// Ready, Flush installs the mean as every parameter's gradient (ready for Step) and starts
// over.
type Accumulator struct {
	params []Param
	steps  int
	count  int
	sums   []*tensor.Tensor
}

// NewAccumulator accumulates steps micro-batches for params.
func NewAccumulator(params []Param, steps int) (*Accumulator, error) {
	if steps < 1 {
		return nil, fmt.Errorf("optim: accumulation over %d micro-batches, want ≥ 1", steps)
	}
	return &Accumulator{params: params, steps: steps, sums: make([]*tensor.Tensor, len(params))}, nil
}

// Add adds every parameter's current gradient to the running sums and releases it (so that
// the next backward pass starts from no gradient).
func (a *Accumulator) Add() error {
	if a.count >= a.steps {
		return errors.New("optim: Accumulator.Add after the last micro-batch; call Flush")
	}
	err := tensor.Catch(func() error {
		for i, p := range a.params {
			g := p.T.Grad()
			if g == nil {
				continue
			}
			if !tensor.SameShape(g.Shape(), p.T.Shape()) || g.DType() != p.T.DType() {
				return fmt.Errorf("optim: the gradient of %q does not match the parameter", p.Name)
			}
			if a.sums[i] == nil {
				a.sums[i] = g.Clone().Detach()
			} else {
				v := newVec(g.Device(), g.DType(), g.Len())
				v.binary(device.BinaryAdd, a.sums[i].Buffer(), g.Buffer(), a.sums[i].Buffer())
			}
			g.Release()
			p.T.SetGrad(nil)
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.count++
	return nil
}

// Ready reports whether every micro-batch has been added.
func (a *Accumulator) Ready() bool { return a.count >= a.steps }

// Count is the number of micro-batches added since the last Flush.
func (a *Accumulator) Count() int { return a.count }

// Flush sets each parameter's gradient to the mean of the accumulated ones (divided by the
// number of micro-batches added) and resets the accumulator. The gradients it installs are
// owned by the parameters (ZeroGrad releases them).
func (a *Accumulator) Flush() error {
	if a.count == 0 {
		return errors.New("optim: Accumulator.Flush with nothing accumulated")
	}
	err := tensor.Catch(func() error {
		for i, p := range a.params {
			s := a.sums[i]
			if s == nil {
				continue
			}
			if a.count > 1 {
				v := newVec(s.Device(), s.DType(), s.Len())
				v.scaleInPlace(s.Buffer(), 1/float64(a.count))
			}
			if old := p.T.Grad(); old != nil {
				old.Release()
			}
			p.T.SetGrad(s)
			a.sums[i] = nil
		}
		return nil
	})
	a.count = 0
	return err
}
