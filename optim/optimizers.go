package optim

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
)

// ---------------------------------------------------------------------------------------
// SGD

// SGDConfig configures SGD. Start from DefaultSGD and change what you need.
type SGDConfig struct {
	LR, Momentum, Dampening, WeightDecay float64
	Nesterov                             bool
	Options
}

// DefaultSGD is plain SGD with lr 0.01 and no momentum.
func DefaultSGD() SGDConfig { return SGDConfig{LR: 0.01} }

// SGD is stochastic gradient descent with PyTorch's semantics (torch.optim.SGD): L2 weight
// decay added to the gradient, a momentum buffer seeded with the first gradient, dampening,
// and Nesterov momentum (Sutskever et al. 2013, in the form of PyTorch's documentation).
type SGD struct {
	*base
	Config SGDConfig
}

// NewSGD makes an SGD optimizer over groups.
func NewSGD(groups []Group, c SGDConfig) (*SGD, error) {
	if !(c.Momentum >= 0) || !(c.Dampening >= 0 && c.Dampening <= 1) {
		return nil, fmt.Errorf("optim: SGD momentum %v must be ≥ 0 and dampening %v in [0, 1]", c.Momentum, c.Dampening)
	}
	if c.Nesterov && (c.Momentum == 0 || c.Dampening != 0) {
		return nil, fmt.Errorf("optim: Nesterov momentum needs momentum > 0 and zero dampening")
	}
	var names []string
	if c.Momentum != 0 {
		names = []string{"momentum_buffer"}
	}
	b, err := newBase(device.OptimSGD, groups, c.LR, c.WeightDecay, c.Options, names, 0)
	if err != nil {
		return nil, err
	}
	o := &SGD{base: b, Config: c}
	b.hyper = func(h *device.OptimHyper) {
		h.Momentum, h.Dampening, h.Nesterov = c.Momentum, c.Dampening, c.Nesterov
	}
	return o, nil
}

// ---------------------------------------------------------------------------------------
// AdamW

// AdamWConfig configures AdamW. Start from DefaultAdamW.
type AdamWConfig struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	AMSGrad                            bool
	Options
}

// DefaultAdamW holds PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 0.01.
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
// Regularization", ICLR 2019, Algorithm 2), arranged as torch.optim.AdamW, with optional
// AMSGrad (Reddi et al. 2018: the running maximum of v in the denominator).
type AdamW struct {
	*base
	Config AdamWConfig
}

// NewAdamW makes an AdamW optimizer over groups.
func NewAdamW(groups []Group, c AdamWConfig) (*AdamW, error) {
	if err := firstErr(checkBeta("beta1", c.Beta1), checkBeta("beta2", c.Beta2), checkPositive("eps", c.Eps)); err != nil {
		return nil, err
	}
	names := []string{"exp_avg", "exp_avg_sq"}
	if c.AMSGrad {
		names = append(names, "max_exp_avg_sq")
	}
	b, err := newBase(device.OptimAdamW, groups, c.LR, c.WeightDecay, c.Options, names, 0)
	if err != nil {
		return nil, err
	}
	b.hyper = func(h *device.OptimHyper) {
		h.Beta1, h.Beta2, h.Eps, h.AMSGrad, h.BiasCorrection = c.Beta1, c.Beta2, c.Eps, c.AMSGrad, true
	}
	return &AdamW{base: b, Config: c}, nil
}

// ---------------------------------------------------------------------------------------
// LAMB

// LAMBConfig configures LAMB. Start from DefaultLAMB.
type LAMBConfig struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	// BiasCorrection applies Adam's bias correction to the moments (apex default: on).
	BiasCorrection bool
	// NVLamb applies the trust ratio to every tensor, also when weight decay is zero.
	NVLamb bool
	// Options.MaxGradNorm is the global gradient-norm clip (apex's max_grad_norm, default 1).
	Options
}

// DefaultLAMB holds NVIDIA apex FusedLAMB's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-6,
// wd 0.01, bias correction on, global gradient-norm clipping at 1.
func DefaultLAMB() LAMBConfig {
	return LAMBConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-6, WeightDecay: 0.01, BiasCorrection: true,
		Options: Options{MaxGradNorm: 1}}
}

// LAMB is the layer-wise adaptive large-batch optimizer of You et al., "Large Batch
// Optimization for Deep Learning: Training BERT in 76 minutes" (ICLR 2020, Algorithm 2),
// with the semantics of NVIDIA apex's FusedLAMB: the gradients are first clipped by their
// global norm, Adam moments (with bias correction and gradient averaging) give the update
// u = m̂/(√v̂+ε) + λ·p, and each tensor moves by lr·‖p‖/‖u‖·u when both norms are non-zero
// (lr·u otherwise); the trust ratio applies when weight decay is non-zero or in NVLAMB mode.
type LAMB struct {
	*base
	Config LAMBConfig
}

// NewLAMB makes a LAMB optimizer over groups.
func NewLAMB(groups []Group, c LAMBConfig) (*LAMB, error) {
	if err := firstErr(checkBeta("beta1", c.Beta1), checkBeta("beta2", c.Beta2), checkPositive("eps", c.Eps)); err != nil {
		return nil, err
	}
	b, err := newBase(device.OptimLAMB, groups, c.LR, c.WeightDecay, c.Options, []string{"exp_avg", "exp_avg_sq"}, 0)
	if err != nil {
		return nil, err
	}
	b.hyper = func(h *device.OptimHyper) {
		h.Beta1, h.Beta2, h.Eps, h.BiasCorrection, h.NVLamb = c.Beta1, c.Beta2, c.Eps, c.BiasCorrection, c.NVLamb
	}
	return &LAMB{base: b, Config: c}, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
