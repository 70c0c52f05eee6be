package tabpfn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
)

// testMixture returns a two-part mixture over testBars (untransformed, and Yeo–Johnson
// fitted on right-skewed targets) with random bin probabilities for rows rows, and its
// parts as distributions of their own.
func testMixture(t *testing.T, rows int, weight float64) (*Distribution, *Distribution, *Distribution) {
	t.Helper()
	b := testBars(t)
	r := rand.New(rand.NewPCG(11, 12))
	y := make([]float64, 200)
	for i := range y {
		y[i] = 50 * math.Exp(0.8*r.NormFloat64())
	}
	none, err := fitTargetMap(y, TargetNone)
	require.NoError(t, err)
	yj, err := fitTargetMap(y, TargetYeoJohnson)
	require.NoError(t, err)
	require.True(t, yj.yeoJohnson)
	probs := func() data.Matrix {
		m := data.NewMatrix(rows, b.Bins())
		for i := range rows {
			copy(m.Row(i), randomProbs(r, b.Bins()))
		}
		return m
	}
	a := distPart{target: none, probs: probs(), weight: 1 - weight}
	c := distPart{target: yj, probs: probs(), weight: weight}
	one := func(p distPart) *Distribution { p.weight = 1; return newDistribution(b, []distPart{p}) }
	return newDistribution(b, []distPart{a, c}), one(a), one(c)
}

// mixtureCDFRef is the mixture's CDF at x read from each part's Bars.CDF, independently
// of the one-pass code.
func mixtureCDFRef(d *Distribution, r int, x float64) float64 {
	var f float64
	for _, p := range d.parts {
		t := p.target
		v := d.bars.CDF(p.probs.Row(r), t.forward(x))
		if t.yeoJohnson && x < t.lo {
			v = 0
		}
		if t.yeoJohnson && x >= t.hi {
			v = 1
		}
		f += p.weight * v
	}
	return f
}

// TestMixtureMean checks that a mixture's mean is its parts' means weighted.
func TestMixtureMean(t *testing.T) {
	d, a, c := testMixture(t, 6, 0.3)
	ma, mc := a.Mean(), c.Mean()
	for i, v := range d.Mean() {
		require.InDelta(t, 0.7*ma[i]+0.3*mc[i], v, 1e-12*math.Abs(v))
	}
}

// TestMixtureQuantiles checks that the mixture's CDF at its quantiles is the level (the
// CDF just below is at most the level, and at the quantile at least), that they do not decrease,
// and that each lies between its parts' quantiles.
func TestMixtureQuantiles(t *testing.T) {
	d, a, c := testMixture(t, 8, 0.5)
	qs := []float64{1e-6, 0.001, 0.02, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999, 1 - 1e-6}
	got, err := d.Quantiles(qs)
	require.NoError(t, err)
	qa, err := a.Quantiles(qs)
	require.NoError(t, err)
	qc, err := c.Quantiles(qs)
	require.NoError(t, err)
	for r := range d.Rows() {
		for i, q := range qs {
			x := got.At(r, i)
			// F(x⁻) ≤ q ≤ F(x): equality but where an atom (the transformed part's clamp)
			// makes the CDF jump.
			tol := 1e-9 * min(q, 1-q)
			require.LessOrEqual(t, mixtureCDFRef(d, r, math.Nextafter(x, math.Inf(-1))), q+tol, "row %d level %v at %v", r, q, x)
			require.GreaterOrEqual(t, mixtureCDFRef(d, r, x), q-tol, "row %d level %v at %v", r, q, x)
			lo, hi := min(qa.At(r, i), qc.At(r, i)), max(qa.At(r, i), qc.At(r, i))
			require.True(t, x >= lo-1e-9*math.Abs(lo) && x <= hi+1e-9*math.Abs(hi), "row %d level %v: %v outside [%v, %v]", r, q, x, lo, hi)
			if i > 0 {
				require.GreaterOrEqual(t, x, got.At(r, i-1)) // equal at an atom
			}
		}
	}
	// Mixing a distribution with itself changes nothing.
	self := newDistribution(a.bars, []distPart{{target: a.parts[0].target, probs: a.parts[0].probs, weight: 0.5},
		{target: a.parts[0].target, probs: a.parts[0].probs, weight: 0.5}})
	gs, err := self.Quantiles(qs)
	require.NoError(t, err)
	for r := range self.Rows() {
		for i := range qs {
			require.InDelta(t, qa.At(r, i), gs.At(r, i), 1e-9*math.Max(1, math.Abs(qa.At(r, i))))
		}
	}
}

// TestMixtureCRPS checks the mixture's CRPS, from its quantile function, against the
// integral ∫ (F(x) − 1{x ≥ y})² dx of its CDF by the trapezoid rule.
func TestMixtureCRPS(t *testing.T) {
	d, _, _ := testMixture(t, 4, 0.5)
	ends, err := d.Quantiles([]float64{1e-9, 1 - 1e-9})
	require.NoError(t, err)
	for r := range d.Rows() {
		lo, hi := ends.At(r, 0), ends.At(r, 1)
		for _, y := range []float64{lo + 0.3*(hi-lo), d.Median()[r], hi - 0.1*(hi-lo)} {
			ys := make([]float64, d.Rows())
			ys[r] = y
			got, err := d.CRPS(ys)
			require.NoError(t, err)
			want := integrate(func(x float64) float64 {
				f := mixtureCDFRef(d, r, x)
				if x >= y {
					f--
				}
				return f * f
			}, lo, hi, 400_000)
			require.InDelta(t, want, got[r], 2e-3*want, "row %d at %v", r, y)
		}
	}
}

// TestMixtureBins checks a mixture's bins: edges increase, each row's probabilities are
// non-negative and sum to one, and their cumulative sums are the CDF at the inner edges.
func TestMixtureBins(t *testing.T) {
	d, _, _ := testMixture(t, 5, 0.4)
	e := d.Edges()
	p := d.Probabilities()
	require.True(t, slices.IsSorted(e))
	require.Equal(t, len(e)-1, p.Cols)
	for r := range p.Rows {
		cum := 0.0
		for k, v := range p.Row(r) {
			require.GreaterOrEqual(t, v, 0.0)
			cum += v
			if k+1 < p.Cols {
				require.InDelta(t, mixtureCDFRef(d, r, e[k+1]), cum, 1e-9)
			}
		}
		require.InDelta(t, 1, cum, 1e-9)
	}
}

// TestRegressorMixedTransform checks that the members alternate between the two target
// maps, that one member is the untransformed regressor's to the last bit, and that a
// mixed regressor's predictions are finite and ordered.
func TestRegressorMixedTransform(t *testing.T) {
	m := tinyRegressionModel(t, 21)
	defer m.Release()
	X, y := regressionTable(60, 3, 7, 4, 100)
	for i := range y {
		y[i] = math.Exp(y[i] / 50) // right-skewed
	}
	Xt, _ := regressionTable(12, 3, 8, 1, 0)

	r := newTestRegressor(t, m, WithTargetTransform(TargetMixed), WithEnsemble(4))
	require.NoError(t, r.Fit(X, y))
	require.Equal(t, TargetMixed, r.Transform())
	require.Len(t, r.targets, 2)
	require.False(t, r.targets[0].yeoJohnson)
	require.True(t, r.targets[1].yeoJohnson)
	for i, mem := range r.members {
		require.Equal(t, i%2, mem.target)
	}
	d, err := r.PredictDistribution(Xt)
	require.NoError(t, err)
	require.Len(t, d.parts, 2)
	require.Equal(t, 0.5, d.parts[0].weight)
	q, err := d.Quantiles([]float64{0.05, 0.5, 0.95})
	require.NoError(t, err)
	for i, v := range d.Mean() {
		require.False(t, math.IsNaN(v) || math.IsInf(v, 0))
		require.Less(t, q.At(i, 0), q.At(i, 1))
		require.Less(t, q.At(i, 1), q.At(i, 2))
	}

	one := newTestRegressor(t, m, WithTargetTransform(TargetMixed), WithEnsemble(1))
	require.NoError(t, one.Fit(X, y))
	require.Equal(t, TargetNone, one.Transform())
	plain := newTestRegressor(t, m, WithTargetTransform(TargetNone), WithEnsemble(1))
	require.NoError(t, plain.Fit(X, y))
	a, err := one.Predict(Xt)
	require.NoError(t, err)
	b, err := plain.Predict(Xt)
	require.NoError(t, err)
	require.Equal(t, b, a)
}

// BenchmarkDistributionScores times what the regression protocol reads from a predictive
// distribution of 2000 rows over 1000 bins (mean, 5%/50%/95% quantiles and CRPS), for one
// target map and for the two-part mixture of TargetMixed.
func BenchmarkDistributionScores(b *testing.B) {
	const rows, bins = 2000, 1000
	r := rand.New(rand.NewPCG(1, 2))
	borders := make([]float64, bins+1)
	for i := range borders {
		borders[i] = 4 * (2*float64(i)/bins - 1)
	}
	bars, err := NewBars(borders)
	require.NoError(b, err)
	y := make([]float64, 500)
	for i := range y {
		y[i] = math.Exp(r.NormFloat64())
	}
	none, err := fitTargetMap(y, TargetNone)
	require.NoError(b, err)
	yj, err := fitTargetMap(y, TargetYeoJohnson)
	require.NoError(b, err)
	probs := func() data.Matrix {
		m := data.NewMatrix(rows, bins)
		for i := range rows {
			copy(m.Row(i), randomProbs(r, bins))
		}
		return m
	}
	obs := y[:0:0]
	for range rows {
		obs = append(obs, math.Exp(r.NormFloat64()))
	}
	for _, c := range []struct {
		name  string
		parts []distPart
	}{
		{"none", []distPart{{target: none, probs: probs(), weight: 1}}},
		{"mixed", []distPart{{target: none, probs: probs(), weight: 0.5}, {target: yj, probs: probs(), weight: 0.5}}},
	} {
		d := newDistribution(bars, c.parts)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				d.Mean()
				if _, err := d.Quantiles([]float64{0.05, 0.5, 0.95}); err != nil {
					b.Fatal(err)
				}
				if _, err := d.CRPS(obs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
