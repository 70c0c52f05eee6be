package preprocess

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// YeoJohnson applies the Yeo–Johnson power transformation ψ(λ, x) (Yeo & Johnson 2000,
// "A new family of power transformations to improve normality or symmetry", Biometrika 87(4),
// eq. 2.1):
//
//	ψ(λ, x) = ((x+1)^λ − 1)/λ           x ≥ 0, λ ≠ 0
//	          log(x+1)                  x ≥ 0, λ = 0
//	          −((1−x)^(2−λ) − 1)/(2−λ)  x < 0, λ ≠ 2
//	          −log(1−x)                 x < 0, λ = 2
func YeoJohnson(x, lambda float64) float64 {
	const eps = 1e-12 // treat λ this close to 0 or 2 as the logarithmic branch
	if x >= 0 {
		if math.Abs(lambda) < eps {
			return math.Log1p(x)
		}
		return math.Expm1(lambda*math.Log1p(x)) / lambda
	}
	if math.Abs(lambda-2) < eps {
		return -math.Log1p(-x)
	}
	return -math.Expm1((2-lambda)*math.Log1p(-x)) / (2 - lambda)
}

// YeoJohnsonInverse inverts YeoJohnson: the x with ψ(λ, x) = v. ψ(λ, ·) is increasing, and
// for λ < 0 bounded above by −1/λ (for λ > 2 below by 1/(2−λ)); a v beyond that bound has no
// preimage and maps to ±math.MaxFloat64, the end of the range it lies past.
func YeoJohnsonInverse(v, lambda float64) float64 {
	const eps = 1e-12
	if v >= 0 {
		if math.Abs(lambda) < eps {
			return math.Expm1(v)
		}
		// (x+1)^λ = 1 + λv; Log1p keeps its logarithm exact for λ near 0.
		if 1+lambda*v <= 0 {
			return math.MaxFloat64
		}
		return math.Min(math.Expm1(math.Log1p(lambda*v)/lambda), math.MaxFloat64)
	}
	if math.Abs(lambda-2) < eps {
		return -math.Expm1(-v)
	}
	// (1−x)^(2−λ) = 1 − (2−λ)v, likewise for λ near 2.
	if 1-(2-lambda)*v <= 0 {
		return -math.MaxFloat64
	}
	return math.Max(-math.Expm1(math.Log1p(-(2-lambda)*v)/(2-lambda)), -math.MaxFloat64)
}

// YeoJohnsonLogLik is the profile log-likelihood of λ for a sample under the assumption that
// ψ(λ, x) is normal (Yeo & Johnson 2000, section 3): with σ̂² the maximum-likelihood
// (divide-by-n) variance of the transformed sample,
//
//	ℓ(λ) = −n/2 · log σ̂²(λ) + (λ − 1) · Σ sign(xᵢ) log(|xᵢ| + 1),
//
// dropping constants. NaN values are skipped.
func YeoJohnsonLogLik(xs []float64, lambda float64) float64 {
	s := newYJSample(xs)
	return s.logLik(lambda)
}

// yjSample caches what ℓ(λ) needs from a sample so that each evaluation costs one expm1 per
// value: ψ(λ, x) = expm1(λ·log1p(x))/λ for x ≥ 0 and −expm1((2−λ)·log1p(−x))/(2−λ) for x < 0.
type yjSample struct {
	logs []float64 // log1p(|x|)
	neg  []bool
	jac  float64 // Σ sign(x) log1p(|x|)
	buf  []float64
}

func newYJSample(xs []float64) *yjSample {
	s := &yjSample{}
	for _, x := range xs {
		if math.IsNaN(x) {
			continue
		}
		l := math.Log1p(math.Abs(x))
		s.logs = append(s.logs, l)
		s.neg = append(s.neg, x < 0)
		s.jac += math.Copysign(l, x)
	}
	s.buf = make([]float64, len(s.logs))
	return s
}

func (s *yjSample) logLik(lambda float64) float64 {
	const eps = 1e-12
	n := float64(len(s.logs))
	if n == 0 {
		return math.Inf(-1)
	}
	var sum float64
	for i, l := range s.logs {
		var y float64
		switch {
		case !s.neg[i] && math.Abs(lambda) < eps:
			y = l
		case !s.neg[i]:
			y = math.Expm1(lambda*l) / lambda
		case math.Abs(lambda-2) < eps:
			y = -l
		default:
			y = -math.Expm1((2-lambda)*l) / (2 - lambda)
		}
		s.buf[i] = y
		sum += y
	}
	mean := sum / n
	var ss float64 // two-pass variance: the one-pass form cancels badly for large |λ|
	for _, y := range s.buf {
		d := y - mean
		ss += d * d
	}
	v := ss / n
	if v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return math.Inf(-1)
	}
	return -n/2*math.Log(v) + (lambda-1)*s.jac
}

// Bounds of the λ search. Beyond them ψ grows like |x|^λ, which on standardized data only
// chases a few extreme points.
const (
	lambdaMin = -4.0
	lambdaMax = 4.0
)

// FitYeoJohnson returns the maximum-likelihood λ for a sample (NaN skipped): a grid search
// over [-4, 4] in steps of 0.25 brackets the maximum, then golden-section search refines it
// to about 1e-7 inside the two grid cells around the best grid point. ℓ(λ) is smooth and in
// practice unimodal; the grid is what keeps a local maximum from being taken for the global
// one, and the tests compare the result with a brute-force grid of ℓ.
func FitYeoJohnson(xs []float64) float64 {
	return FitYeoJohnsonIn(xs, lambdaMin, lambdaMax)
}

// FitYeoJohnsonIn is FitYeoJohnson with λ restricted to [lo, hi] (lo ≤ 1 ≤ hi; the grid
// starts at lo in steps of 0.25). The interval [0, 2] keeps ψ a bijection of the real line:
// for λ < 0 the transform of large positive values is bounded above by −1/λ, and for λ > 2
// that of large negative values is bounded below, so a distribution over the transformed
// scale that puts mass beyond those bounds has no inverse there.
func FitYeoJohnsonIn(xs []float64, lo, hi float64) float64 {
	const step = 0.25
	s := newYJSample(xs)
	best, bestL := 1.0, math.Inf(-1)
	for k := 0; ; k++ {
		l := lo + float64(k)*step
		if l > hi+1e-9 {
			break
		}
		if v := s.logLik(l); v > bestL {
			best, bestL = l, v
		}
	}
	if math.IsInf(bestL, -1) {
		return 1 // constant or empty sample: the identity is as good as any
	}
	a, b := max(best-step, lo), min(best+step, hi)
	invPhi := (math.Sqrt(5) - 1) / 2
	c, d := b-invPhi*(b-a), a+invPhi*(b-a)
	fc, fd := s.logLik(c), s.logLik(d)
	for b-a > 1e-7 {
		if fc > fd {
			b, d, fd = d, c, fc
			c = b - invPhi*(b-a)
			fc = s.logLik(c)
		} else {
			a, c, fc = c, d, fd
			d = a + invPhi*(b-a)
			fd = s.logLik(d)
		}
	}
	return (a + b) / 2
}

// QuantileNormal maps values through the empirical distribution of a training sample and then
// through the inverse standard-normal CDF, so a continuous training column becomes close to
// N(0, 1) whatever its shape (the "quantile" preprocessing of TabPFN v2, Hollmann et al.,
// Nature 2025, which uses scikit-learn's QuantileTransformer(output_distribution="normal")).
//
// The empirical CDF at a training value v is the mid-rank (#{x < v} + #{x ≤ v}) / 2n, so ties
// map to one point; between distinct training values it is interpolated linearly; outside
// the training range it saturates. Probabilities are clipped to [1e-7, 1−1e-7] as
// scikit-learn does, bounding the output to about ±5.2.
type QuantileNormal struct {
	Knots []float64 // distinct sorted training values
	Probs []float64 // mid-rank empirical CDF at each knot
}

// FitQuantileNormal fits the map to the non-NaN values of xs. With no values it is nil-safe:
// Transform then returns NaN.
func FitQuantileNormal(xs []float64) *QuantileNormal {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	slices.Sort(v)
	n := float64(len(v))
	q := &QuantileNormal{}
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && v[j] == v[i] {
			j++
		}
		q.Knots = append(q.Knots, v[i])
		q.Probs = append(q.Probs, float64(i+j)/(2*n))
		i = j
	}
	return q
}

const quantileClip = 1e-7

// Transform maps one value; NaN stays NaN.
func (q *QuantileNormal) Transform(x float64) float64 {
	if math.IsNaN(x) || len(q.Knots) == 0 {
		return math.NaN()
	}
	var p float64
	k := q.Knots
	switch i, found := slices.BinarySearch(k, x); {
	case found:
		p = q.Probs[i]
	case i == 0:
		p = 0
	case i == len(k):
		p = 1
	default:
		t := (x - k[i-1]) / (k[i] - k[i-1])
		p = q.Probs[i-1] + t*(q.Probs[i]-q.Probs[i-1])
	}
	p = min(max(p, quantileClip), 1-quantileClip)
	return distuv.UnitNormal.Quantile(p)
}
