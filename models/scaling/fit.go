package scaling

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"gonum.org/v1/gonum/optimize"
)

// numParams is the number of free parameters of the law (E, A, B, α, β).
const numParams = 5

// Positions in the log-space parameter vector θ = (a, b, e, α, β) with a = log A, b = log B,
// e = log E, the parametrisation of Hoffmann et al. 2022, Appendix D.2.
const (
	pA = iota
	pB
	pE
	pAlpha
	pBeta
)

// DefaultHuberDelta is the Huber threshold of Hoffmann et al. 2022 (Appendix D.2), kept by
// Besiroglu et al. 2024: δ = 10⁻³ on log-loss residuals.
const DefaultHuberDelta = 1e-3

// Grid is the set of L-BFGS starting points: every combination of the listed values.
type Grid struct {
	Alpha, Beta, E, A, B []float64 // E, A, B in log space (e, a, b)
}

// ReplicationGrid is the initialisation grid of Hoffmann et al. 2022 (Appendix D.2) used by
// Besiroglu et al. 2024: α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25};
// 5·5·5·6·6 = 4500 starts.
func ReplicationGrid() Grid {
	return Grid{
		Alpha: linspace(0, 2, 5),
		Beta:  linspace(0, 2, 5),
		E:     linspace(-1, 1, 5),
		A:     linspace(0, 25, 6),
		B:     linspace(0, 25, 6),
	}
}

func linspace(lo, hi float64, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	return v
}

// points enumerates the grid as θ vectors.
func (g Grid) points() [][numParams]float64 {
	var pts [][numParams]float64
	for _, al := range g.Alpha {
		for _, be := range g.Beta {
			for _, e := range g.E {
				for _, a := range g.A {
					for _, b := range g.B {
						pts = append(pts, [numParams]float64{pA: a, pB: b, pE: e, pAlpha: al, pBeta: be})
					}
				}
			}
		}
	}
	return pts
}

// FitOptions controls Fit. The zero value reproduces Besiroglu et al. 2024 without the
// bootstrap.
type FitOptions struct {
	Delta   float64 // Huber threshold; 0 means DefaultHuberDelta
	Grid    *Grid   // starting points; nil means ReplicationGrid
	Workers int     // goroutines; 0 means GOMAXPROCS

	Bootstrap int     // number of bootstrap resamples; 0 disables the bootstrap
	Seed      uint64  // seed of the bootstrap resampling
	Level     float64 // two-sided level of the percentile intervals; 0 means 0.80
	// BootstrapFullGrid refits every resample from the whole grid, as the replication did.
	// By default a resample starts from the full-data optimum and the best distinct local
	// optima the grid found, which lands on the same minimum at a fraction of the cost
	// (a resample is a small perturbation of the data).
	BootstrapFullGrid bool
}

// FitResult is the outcome of Fit. Its JSON encoding holds the law under "law", so that
// ReadLaw (and `kiln scaling plan --params`) can load it.
type FitResult struct {
	Law Law `json:"law"`
	// LogParams is the optimum in the space it was fitted in: a = log A, b = log B, e = log E.
	LogParams    map[string]float64 `json:"log_params"`
	Objective    float64            `json:"objective"` // Σ Huber_δ(log L − log L̂) at the optimum
	HuberDelta   float64            `json:"huber_delta"`
	Runs         int                `json:"runs"`
	Starts       int                `json:"starts"`
	StartsAtBest int                `json:"starts_at_best"` // grid starts whose coarse run ended within 1e-5 relative of the best objective
	Exponents    struct {
		A float64 `json:"a"` // N_opt ∝ C^a
		B float64 `json:"b"` // D_opt ∝ C^b
	} `json:"exponents"`
	Residuals ResidualSummary  `json:"residuals"`
	Bootstrap *BootstrapResult `json:"bootstrap,omitempty"`
}

// ResidualSummary describes r = log L − log L̂ over the fitted runs.
type ResidualSummary struct {
	N         int     `json:"n"`
	Mean      float64 `json:"mean"`
	RMSE      float64 `json:"rmse"`
	MAE       float64 `json:"mae"`
	MedianAbs float64 `json:"median_abs"`
	MaxAbs    float64 `json:"max_abs"`
	// WithinDelta is the fraction of runs in the quadratic zone of the Huber loss (|r| ≤ δ).
	WithinDelta float64 `json:"within_delta"`
}

// BootstrapResult holds the bootstrap distribution summaries of every parameter.
type BootstrapResult struct {
	Samples int        `json:"samples"`
	Failed  int        `json:"failed"`
	Seed    uint64     `json:"seed"`
	Level   float64    `json:"level"`
	Params  []Interval `json:"params"`
}

// Interval is a point estimate with its bootstrap standard error and percentile interval.
type Interval struct {
	Name     string  `json:"name"`
	Estimate float64 `json:"estimate"`
	SE       float64 `json:"se"`
	Lo       float64 `json:"lo"`
	Hi       float64 `json:"hi"`
}

// Param returns the interval of the named parameter.
func (b *BootstrapResult) Param(name string) (Interval, bool) {
	for _, p := range b.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Interval{}, false
}

// objective is Σᵢ wᵢ·Huber_δ(log Lᵢ − LSE(a − α·log Nᵢ, b − β·log Dᵢ, e)), the fitting
// criterion of Hoffmann et al. 2022 (Section 3.3 and Appendix D.2) as Besiroglu et al. 2024 apply it:
// a sum (not a mean) over runs. The weights are bootstrap multiplicities (1 for a plain fit).
type objective struct {
	logN, logD, logL, w []float64
	delta               float64
}

func newObjective(runs []Run, delta float64) *objective {
	o := &objective{delta: delta}
	for _, r := range runs {
		o.logN = append(o.logN, math.Log(r.N))
		o.logD = append(o.logD, math.Log(r.D))
		o.logL = append(o.logL, math.Log(r.Loss))
		o.w = append(o.w, 1)
	}
	return o
}

// eval returns the objective at θ and, when grad is non-nil, writes its analytic gradient.
// With s = softmax of the three LSE terms and ψ = Huber' (the residual clipped to ±δ),
// ∂/∂a = −Σψ·s₁, ∂/∂α = Σψ·s₁·log N, ∂/∂b = −Σψ·s₂, ∂/∂β = Σψ·s₂·log D, ∂/∂e = −Σψ·s₃.
func (o *objective) eval(th []float64, grad []float64) float64 {
	a, b, e, al, be := th[pA], th[pB], th[pE], th[pAlpha], th[pBeta]
	d := o.delta
	var f, ga, gb, ge, gal, gbe float64
	for i, lw := range o.w {
		if lw == 0 {
			continue
		}
		x1 := a - al*o.logN[i]
		x2 := b - be*o.logD[i]
		// Stable log-sum-exp: factor out the largest term, whose exponential is then 1, so
		// each run costs two exponentials and one logarithm.
		var m, e1, e2, e3 float64
		switch {
		case x1 >= x2 && x1 >= e:
			m, e1, e2, e3 = x1, 1, math.Exp(x2-x1), math.Exp(e-x1)
		case x2 >= e:
			m, e1, e2, e3 = x2, math.Exp(x1-x2), 1, math.Exp(e-x2)
		default:
			m, e1, e2, e3 = e, math.Exp(x1-e), math.Exp(x2-e), 1
		}
		s := e1 + e2 + e3
		r := o.logL[i] - (m + math.Log(s))
		var psi float64
		if r > d {
			f += lw * d * (r - 0.5*d)
			psi = d
		} else if r < -d {
			f += lw * d * (-r - 0.5*d)
			psi = -d
		} else {
			f += lw * 0.5 * r * r
			psi = r
		}
		if grad != nil {
			c := lw * psi / s
			ga -= c * e1
			gb -= c * e2
			ge -= c * e3
			gal += c * e1 * o.logN[i]
			gbe += c * e2 * o.logD[i]
		}
	}
	if grad != nil {
		grad[pA], grad[pB], grad[pE], grad[pAlpha], grad[pBeta] = ga, gb, ge, gal, gbe
	}
	return f
}

// localFit is one L-BFGS run.
type localFit struct {
	x [numParams]float64
	f float64
}

// Stopping rules of the two phases of the search. The coarse phase runs from every grid
// point and only has to find the basin; the precise phase polishes the best few. The
// objective is a sum of Huber terms of size ~δ·|r| ≈ 1e-5 each, so the precise tolerances are
// tiny: Besiroglu et al. 2024 trace Hoffmann et al.'s biased estimates to an
// optimizer that stopped early on this badly scaled loss.
var (
	coarseStop  = stopRule{grad: 1e-6, rel: 1e-6, iters: 3}
	preciseStop = stopRule{grad: 1e-11, rel: 1e-13, iters: 25}
)

type stopRule struct {
	grad, rel float64
	iters     int
}

// minimize runs L-BFGS (gonum/optimize) from x0. Func and Grad share one pass over the
// data: Func computes the gradient too and Grad reuses it when called at the same point,
// which is what L-BFGS's line search does.
func (o *objective) minimize(x0 [numParams]float64, stop stopRule) localFit {
	var cacheX, cacheG [numParams]float64
	cached := false
	p := optimize.Problem{
		Func: func(x []float64) float64 {
			f := o.eval(x, cacheG[:])
			copy(cacheX[:], x)
			cached = true
			return f
		},
		Grad: func(g, x []float64) {
			if cached && [numParams]float64(x) == cacheX {
				copy(g, cacheG[:])
				return
			}
			o.eval(x, g)
		},
	}
	settings := &optimize.Settings{
		GradientThreshold: stop.grad,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-16, Relative: stop.rel, Iterations: stop.iters},
		MajorIterations:   3000,
	}
	// A line-search failure near the optimum (no further decrease representable) still
	// leaves the best point found in the result, so the error is not fatal; only non-finite
	// results are discarded.
	res, _ := optimize.Minimize(p, x0[:], settings, &optimize.LBFGS{})
	out := localFit{f: math.Inf(1)}
	if res == nil || math.IsNaN(res.F) || math.IsInf(res.F, 0) {
		return out
	}
	copy(out.x[:], res.X)
	for _, v := range out.x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return out
		}
	}
	out.f = res.F
	return out
}

// search is the replication's multi-start search: a coarse L-BFGS run from every start,
// then a precise run from the k best distinct coarse optima; it returns the precise optima,
// best first, and the coarse ones in start order.
func (o *objective) search(starts [][numParams]float64, k, workers int) (polished, coarse []localFit) {
	coarse = multiStart(o, starts, coarseStop, workers)
	top := distinctBest(coarse, k)
	polished = multiStart(o, top, preciseStop, workers)
	sort.SliceStable(polished, func(i, j int) bool { return polished[i].f < polished[j].f })
	return polished, coarse
}

func (o *objective) clone() *objective {
	c := *o
	return &c
}

// multiStart minimises o from every start, in parallel, and returns the local optima in
// start order.
func multiStart(o *objective, starts [][numParams]float64, stop stopRule, workers int) []localFit {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(starts))
	out := make([]localFit, len(starts))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = o.minimize(starts[i], stop)
			}
		}()
	}
	for i := range starts {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func lawFromTheta(th [numParams]float64) Law {
	return Law{E: math.Exp(th[pE]), A: math.Exp(th[pA]), B: math.Exp(th[pB]), Alpha: th[pAlpha], Beta: th[pBeta]}
}

// Fit estimates the law from runs as Besiroglu et al. 2024 do (following Hoffmann
// et al. 2022, Appendix D.2): minimise the summed Huber loss of log-loss residuals with
// L-BFGS from every point of the grid and keep the best optimum; optionally bootstrap.
func Fit(runs []Run, opt FitOptions) (*FitResult, error) {
	if err := ValidateRuns(runs); err != nil {
		return nil, err
	}
	delta := opt.Delta
	if delta == 0 {
		delta = DefaultHuberDelta
	}
	if !(delta > 0) || math.IsInf(delta, 0) {
		return nil, fmt.Errorf("scaling fit: Huber delta must be positive, got %g", delta)
	}
	grid := ReplicationGrid()
	if opt.Grid != nil {
		grid = *opt.Grid
	}
	starts := grid.points()
	if len(starts) == 0 {
		return nil, errors.New("scaling fit: the start grid is empty")
	}
	level := opt.Level
	if level == 0 {
		level = 0.80
	}
	if !(level > 0 && level < 1) {
		return nil, fmt.Errorf("scaling fit: interval level must be in (0, 1), got %g", level)
	}
	if opt.Bootstrap < 0 {
		return nil, fmt.Errorf("scaling fit: bootstrap count must be non-negative, got %d", opt.Bootstrap)
	}

	o := newObjective(runs, delta)
	polished, coarse := o.search(starts, polishCount, opt.Workers)
	if len(polished) == 0 || math.IsInf(polished[0].f, 1) {
		return nil, errors.New("scaling fit: L-BFGS diverged from every start")
	}
	th := polished[0].x
	res := &FitResult{
		Law:        lawFromTheta(th),
		LogParams:  map[string]float64{"a": th[pA], "b": th[pB], "e": th[pE]},
		Objective:  polished[0].f,
		HuberDelta: delta,
		Runs:       len(runs),
		Starts:     len(starts),
	}
	// Coarse optima stop at a relative tolerance of ~1e-6, so "reached the best basin" is
	// judged at 1e-5.
	for _, f := range coarse {
		if f.f <= polished[0].f*(1+1e-5) {
			res.StartsAtBest++
		}
	}
	res.Exponents.A, res.Exponents.B = res.Law.Exponents()
	res.Residuals = residuals(runs, res.Law, delta)

	if opt.Bootstrap > 0 {
		var warm [][numParams]float64
		for _, f := range polished {
			warm = append(warm, f.x)
		}
		res.Bootstrap = bootstrap(o, warm, starts, opt.BootstrapFullGrid, res.Law, opt.Bootstrap, opt.Seed, level, opt.Workers)
	}
	return res, nil
}

// polishCount is how many distinct coarse optima get the precise L-BFGS run.
const polishCount = 8

// distinctBest returns the starting points for the precise phase: the k best coarse optima
// that differ after rounding θ to two decimals, best first.
func distinctBest(fits []localFit, k int) [][numParams]float64 {
	idx := make([]int, 0, len(fits))
	for i, f := range fits {
		if !math.IsInf(f.f, 1) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(i, j int) bool { return fits[idx[i]].f < fits[idx[j]].f })
	seen := map[[numParams]float64]bool{}
	var out [][numParams]float64
	for _, i := range idx {
		var key [numParams]float64
		for j, v := range fits[i].x {
			key[j] = math.Round(v*100) / 100
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, fits[i].x)
		if len(out) == k {
			break
		}
	}
	return out
}

func residuals(runs []Run, l Law, delta float64) ResidualSummary {
	rs := ResidualSummary{N: len(runs)}
	abs := make([]float64, len(runs))
	var sum, sq, within float64
	for i, r := range runs {
		res := math.Log(r.Loss) - math.Log(l.Loss(r.N, r.D))
		sum += res
		sq += res * res
		abs[i] = math.Abs(res)
		rs.MaxAbs = max(rs.MaxAbs, abs[i])
		if abs[i] <= delta {
			within++
		}
	}
	n := float64(len(runs))
	rs.Mean = sum / n
	rs.RMSE = math.Sqrt(sq / n)
	sort.Float64s(abs)
	var sa float64
	for _, v := range abs {
		sa += v
	}
	rs.MAE = sa / n
	rs.MedianAbs = quantileSorted(abs, 0.5)
	rs.WithinDelta = within / n
	return rs
}

// quantileSorted is the linear-interpolation quantile of sorted data (Hyndman and Fan's
// type 7, the default of numpy and R).
func quantileSorted(x []float64, p float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	h := p * float64(len(x)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(x) {
		return x[len(x)-1]
	}
	return x[i] + (h-lo)*(x[i+1]-x[i])
}
