package scaling

import (
	"fmt"
	"math"
)

// InferencePlan compares, for one target loss, the inference-aware allocation of Sardana et
// al. 2024 with the Chinchilla-optimal one.
type InferencePlan struct {
	TargetLoss      float64 `json:"target_loss"`
	InferenceTokens float64 `json:"inference_tokens"`

	N              float64 `json:"params"`
	DTrain         float64 `json:"train_tokens"`
	TokensPerParam float64 `json:"tokens_per_param"`
	TrainFLOPs     float64 `json:"train_flops"`     // 6·N·D_train
	InferenceFLOPs float64 `json:"inference_flops"` // 2·N·D_inf
	TotalFLOPs     float64 `json:"total_flops"`

	// Chinchilla is the compute-optimal pair that reaches the same loss; its total adds the
	// inference cost 2·N·D_inf of serving that (larger) model.
	Chinchilla           Allocation `json:"chinchilla"`
	ChinchillaInfFLOPs   float64    `json:"chinchilla_inference_flops"`
	ChinchillaTotalFLOPs float64    `json:"chinchilla_total_flops"`

	SavedFLOPs    float64 `json:"saved_flops"`
	SavedFraction float64 `json:"saved_fraction"` // of the Chinchilla total
}

// InferenceOptimal solves the problem of Sardana et al. 2024: minimise
// the lifetime cost 6·N·D_train + 2·N·D_inf subject to L(N, D_train) = target.
//
// On the constraint D_train(N) = (B/(ℓ − E − A/N^α))^(1/β), defined for N above the size
// N_min at which A/N^α alone uses up ℓ − E. With h(N) = (A/N^α)/(ℓ − E − A/N^α) the
// derivative of the cost is f'(N) = 6·D_train·(1 − (α/β)·h) + 2·D_inf. h falls with N and so
// does D_train, so f' rises from −∞ at N_min and crosses zero once; at the Chinchilla size,
// where (α/β)·h = 1, f' = 2·D_inf ≥ 0. The optimum is therefore the unique root of f' in
// (N_min, N_chinchilla], found by bisection on log N.
func (l Law) InferenceOptimal(target, inferenceTokens float64) (*InferencePlan, error) {
	if !(inferenceTokens >= 0) || math.IsInf(inferenceTokens, 0) {
		return nil, fmt.Errorf("inference tokens must be a non-negative finite number, got %g", inferenceTokens)
	}
	chin, err := l.ComputeOptimalForLoss(target)
	if err != nil {
		return nil, err
	}
	r := target - l.E
	dTrain := func(logN float64) float64 {
		g := r - l.A*math.Exp(-l.Alpha*logN)
		return math.Pow(l.B/g, 1/l.Beta)
	}
	deriv := func(logN float64) float64 {
		an := l.A * math.Exp(-l.Alpha*logN)
		g := r - an
		if g <= 0 {
			return math.Inf(-1)
		}
		d := math.Pow(l.B/g, 1/l.Beta)
		return 6*d*(1-(l.Alpha/l.Beta)*an/g) + 2*inferenceTokens
	}
	lo := math.Log(l.A/r) / l.Alpha // N_min: A/N^α = ℓ − E
	hi := math.Log(chin.N)
	n := chin.N
	if inferenceTokens > 0 {
		for range 200 {
			mid := 0.5 * (lo + hi)
			if deriv(mid) < 0 {
				lo = mid
			} else {
				hi = mid
			}
			if hi-lo < 1e-13*math.Abs(hi) {
				break
			}
		}
		n = math.Exp(hi)
	}
	d := chin.D
	if inferenceTokens > 0 {
		d = dTrain(math.Log(n))
	}
	p := &InferencePlan{
		TargetLoss:      target,
		InferenceTokens: inferenceTokens,
		N:               n,
		DTrain:          d,
		TokensPerParam:  d / n,
		TrainFLOPs:      6 * n * d,
		InferenceFLOPs:  2 * n * inferenceTokens,
		Chinchilla:      chin,
	}
	p.TotalFLOPs = p.TrainFLOPs + p.InferenceFLOPs
	p.ChinchillaInfFLOPs = 2 * chin.N * inferenceTokens
	p.ChinchillaTotalFLOPs = chin.Compute + p.ChinchillaInfFLOPs
	p.SavedFLOPs = p.ChinchillaTotalFLOPs - p.TotalFLOPs
	p.SavedFraction = p.SavedFLOPs / p.ChinchillaTotalFLOPs
	return p, nil
}
