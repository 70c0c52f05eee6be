package optim

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// ---------------------------------------------------------------------------------------
// Sophia

// SophiaConfig configures Sophia. Start from DefaultSophia.
type SophiaConfig struct {
	LR, Beta1, Beta2, Rho, WeightDecay float64
	// BatchSize is the bs of the clipping denominator ρ·bs·h. The authors' code multiplies
	// by the batch size there and feeds raw ĝ⊙ĝ into the EMA; the estimators of this
	// package return B·ĝ⊙ĝ (Algorithm 2 of the paper) or the unbiased Hutchinson estimate,
	// so leave it at 1 with them.
	BatchSize float64
	// K is the Hessian update interval (HessianDue is true every K steps).
	K int
	// Eps is the floor of the denominator max(ρ·bs·h, ε) (the authors' 1e-15).
	Eps float64
	Options
}

// DefaultSophia holds the defaults of the authors' SophiaG: lr 1e-4, betas (0.965, 0.99),
// ρ 0.04, wd 0.1, k 10, ε 1e-15.
func DefaultSophia() SophiaConfig {
	return SophiaConfig{LR: 1e-4, Beta1: 0.965, Beta2: 0.99, Rho: 0.04, WeightDecay: 0.1, BatchSize: 1, K: 10, Eps: 1e-15}
}

// Sophia is the second-order clipped stochastic optimizer of Liu, Li, Hall, Liang and Ma,
// "Sophia: A Scalable Stochastic Second-order Optimizer for Language Model Pre-training"
// (2023, Algorithm 3), as in the authors' SophiaG code: θ ← θ(1 − lr·wd), m ← β1·m +
// (1−β1)·g (no bias correction), θ ← θ − lr·sign(m)·min(|m|/max(ρ·bs·h, ε), 1). The
// denominator is the paper's max(ρ·bs·h, ε) rather than the code's ρ·bs·h + 1e-15: the two
// agree to 1e-15 wherever h ≥ 0 (always, with the Gauss-Newton-Bartlett estimate), and the
// max keeps the step a bounded sign step where a Hutchinson estimate makes h negative, where
// the code's form would step uphill. The diagonal
// Hessian EMA h ← β2·h + (1−β2)·ĥ is updated by UpdateHessian from an estimate ĥ supplied by
// the caller, every K steps (see HessianDue): Gauss-Newton-Bartlett for SophiaG,
// Hutchinson for SophiaH (estimators in hessian.go).
type Sophia struct {
	*base
	Config         SophiaConfig
	hessianUpdates int
}

// NewSophia makes a Sophia optimizer over groups.
func NewSophia(groups []Group, c SophiaConfig) (*Sophia, error) {
	if err := firstErr(checkBeta("beta1", c.Beta1), checkBeta("beta2", c.Beta2), checkPositive("rho", c.Rho),
		checkPositive("batch size", c.BatchSize), checkPositive("eps", c.Eps)); err != nil {
		return nil, err
	}
	if c.K < 1 {
		return nil, fmt.Errorf("optim: Sophia's Hessian interval K = %d, want ≥ 1", c.K)
	}
	b, err := newBase(device.OptimSophia, groups, c.LR, c.WeightDecay, c.Options, []string{"exp_avg", "hessian"}, 0)
	if err != nil {
		return nil, err
	}
	s := &Sophia{base: b, Config: c}
	b.hyper = func(h *device.OptimHyper) {
		h.Beta1, h.Beta2, h.Rho, h.BatchSize, h.Eps = c.Beta1, c.Beta2, c.Rho, c.BatchSize, c.Eps
	}
	b.saveScalars = func(m map[string]float64) { m["hessian_updates"] = float64(s.hessianUpdates) }
	b.loadScalars = func(m map[string]float64) error {
		s.hessianUpdates = int(m["hessian_updates"])
		return nil
	}
	return s, nil
}

// HessianDue reports whether the Hessian EMA should be refreshed now: after every K-th step,
// as the authors' training loop does (iter % k == k−1, counting from 0).
func (s *Sophia) HessianDue() bool { return s.step > 0 && s.step%s.Config.K == 0 }

// HessianUpdates counts the calls of UpdateHessian.
func (s *Sophia) HessianUpdates() int { return s.hessianUpdates }

// UpdateHessian folds one diagonal Hessian estimate per parameter (in Parameters order; a
// nil entry leaves that parameter's EMA alone) into h ← β2·h + (1−β2)·ĥ. A non-finite
// estimate is refused with an error naming the parameter, and nothing is updated.
func (s *Sophia) UpdateHessian(est []*tensor.Tensor) error {
	if s.state == nil {
		return fmt.Errorf("optim: UpdateHessian after Release")
	}
	refs, ts, err := s.matchEstimates(est)
	if err != nil {
		return err
	}
	return tensor.Catch(func() error {
		b2 := s.Config.Beta2
		for i, r := range refs {
			e := ts[i]
			v := newVec(e.Device(), e.DType(), e.Len())
			tmp := v.scratch()
			v.ema(s.state[r.g][r.p][1].Buffer(), b2, e.Buffer(), 1-b2, tmp)
			tmp.Free()
		}
		s.hessianUpdates++
		return nil
	})
}

// matchEstimates pairs estimates with parameters and checks shapes and finiteness.
func (b *base) matchEstimates(est []*tensor.Tensor) ([]ref, []*tensor.Tensor, error) {
	var refs []ref
	var ts []*tensor.Tensor
	i := 0
	for gi, g := range b.groups {
		for pi, p := range g.Params {
			if i >= len(est) {
				return nil, nil, fmt.Errorf("optim: %d Hessian estimates for more parameters", len(est))
			}
			e := est[i]
			i++
			if e == nil || p.T.Len() == 0 {
				continue
			}
			if e.Released() || !tensor.SameShape(e.Shape(), p.T.Shape()) || e.DType() != p.T.DType() || e.Device() != p.T.Device() {
				return nil, nil, fmt.Errorf("optim: the Hessian estimate for %q must be a live %v %s tensor on %s",
					p.Name, p.T.Shape(), p.T.DType(), p.T.Device().Name())
			}
			refs = append(refs, ref{gi, pi})
			ts = append(ts, e)
		}
	}
	if i != len(est) {
		return nil, nil, fmt.Errorf("optim: %d Hessian estimates for %d parameters", len(est), i)
	}
	var sq []float64
	err := tensor.Catch(func() (err error) { sq, err = sumSquares(ts); return })
	if err != nil {
		return nil, nil, err
	}
	for k, v := range sq {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("optim: the Hessian estimate of parameter %q holds NaN or Inf", b.param(refs[k]).Name)
		}
	}
	return refs, ts, nil
}

// ---------------------------------------------------------------------------------------
// AdaHessian

// AdaHessianConfig configures AdaHessian. Start from DefaultAdaHessian.
type AdaHessianConfig struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	// HessianPower is k in the denominator (√v)^k (Yao et al. §3.2).
	HessianPower float64
	// SpatialBlock sets the spatial averaging of |diag H| for tensors of rank ≥ 3 (tensors of
	// rank ≤ 2 are never averaged): 0 averages over all axes after the first two (the
	// authors' choice for convolution kernels, §3.3), 1 turns averaging off, and b > 1
	// averages consecutive blocks of b elements (b must divide the tensor's size).
	SpatialBlock int
	Options
}

// DefaultAdaHessian holds the authors' defaults: lr 0.15, betas (0.9, 0.999), eps 1e-4,
// wd 0, Hessian power 1.
func DefaultAdaHessian() AdaHessianConfig {
	return AdaHessianConfig{LR: 0.15, Beta1: 0.9, Beta2: 0.999, Eps: 1e-4, HessianPower: 1}
}

// AdaHessian is the optimizer of Yao, Gholami, Shen, Mustafa, Keutzer and Mahoney,
// "ADAHESSIAN: An Adaptive Second Order Optimizer for Machine Learning" (AAAI 2021,
// Algorithm 1): the second moment is the EMA of the squared, spatially averaged Hutchinson
// diagonal |v⊙Hv| = |Hv| (Rademacher v), raised to the Hessian power, with bias correction and
// decoupled weight decay. Each Step consumes the estimate given to SetHessian.
type AdaHessian struct {
	*base
	Config AdaHessianConfig
	has    [][]bool
}

// NewAdaHessian makes an AdaHessian optimizer over groups.
func NewAdaHessian(groups []Group, c AdaHessianConfig) (*AdaHessian, error) {
	if err := firstErr(checkBeta("beta1", c.Beta1), checkBeta("beta2", c.Beta2), checkPositive("eps", c.Eps),
		checkPositive("hessian power", c.HessianPower)); err != nil {
		return nil, err
	}
	if c.HessianPower > 1 {
		return nil, fmt.Errorf("optim: Hessian power %v, want 0 < k ≤ 1", c.HessianPower)
	}
	if c.SpatialBlock < 0 {
		return nil, fmt.Errorf("optim: SpatialBlock %d < 0", c.SpatialBlock)
	}
	b, err := newBase(device.OptimAdaHessian, groups, c.LR, c.WeightDecay, c.Options, []string{"exp_avg", "exp_hessian_diag_sq"}, 1)
	if err != nil {
		return nil, err
	}
	a := &AdaHessian{base: b, Config: c}
	for _, g := range b.groups {
		if c.SpatialBlock > 1 {
			for _, p := range g.Params {
				if p.T.Rank() >= 3 && p.T.Len()%c.SpatialBlock != 0 {
					b.Release()
					return nil, fmt.Errorf("optim: SpatialBlock %d does not divide the %d elements of %q", c.SpatialBlock, p.T.Len(), p.Name)
				}
			}
		}
		a.has = append(a.has, make([]bool, len(g.Params)))
	}
	b.hyper = func(h *device.OptimHyper) {
		h.Beta1, h.Beta2, h.Eps, h.HessianPower, h.BiasCorrection = c.Beta1, c.Beta2, c.Eps, c.HessianPower, true
	}
	b.prepare = func(active []ref) error {
		for _, r := range active {
			if !a.has[r.g][r.p] {
				return fmt.Errorf("optim: adahessian step %d: no Hessian estimate for parameter %q (call SetHessian before Step)",
					b.step+1, b.param(r).Name)
			}
		}
		return nil
	}
	b.finish = func() {
		for _, h := range a.has {
			clear(h)
		}
	}
	return a, nil
}

// spatialBlock is the averaging block of a parameter of the given shape.
func (a *AdaHessian) spatialBlock(shape []int) int {
	if len(shape) <= 2 || a.Config.SpatialBlock == 1 {
		return 1
	}
	if a.Config.SpatialBlock > 1 {
		return a.Config.SpatialBlock
	}
	b := 1
	for _, d := range shape[2:] {
		b *= d
	}
	return b
}

// SetHessian supplies this step's diagonal estimates Hv (or v⊙Hv: only magnitudes are used),
// one per parameter in Parameters order (nil for parameters without gradients). They are
// stored as |·|, spatially averaged, and consumed by the next Step.
func (a *AdaHessian) SetHessian(est []*tensor.Tensor) error {
	if a.state == nil {
		return fmt.Errorf("optim: SetHessian after Release")
	}
	refs, ts, err := a.matchEstimates(est)
	if err != nil {
		return err
	}
	return tensor.Catch(func() error {
		for i, r := range refs {
			e := ts[i]
			d := a.state[r.g][r.p][2].Buffer()
			dev, n := e.Device(), e.Len()
			l := device.Contiguous([]int{n})
			dev.Unary(device.UnaryAbs, e.Buffer(), l, d, l, 0)
			if bs := a.spatialBlock(e.Shape()); bs > 1 {
				rows := n / bs
				mean, err := dev.Alloc(e.DType(), rows)
				if err != nil {
					return err
				}
				dev.Reduce(device.ReduceSum, d, rows, bs, 1, mean)
				ml := device.Contiguous([]int{rows})
				dev.Unary(device.UnaryScale, mean, ml, mean, ml, 1/float64(bs))
				dev.Unary(device.UnaryCopy, mean, device.Layout{Shape: []int{rows, bs}, Strides: []int{1, 0}},
					d, device.Contiguous([]int{rows, bs}), 0)
				mean.Free()
			}
			a.has[r.g][r.p] = true
		}
		return nil
	})
}
