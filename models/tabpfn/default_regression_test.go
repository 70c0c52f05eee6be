package tabpfn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/metrics"
)

// The embedded regression model has the shipped classifier's body with DefaultBins bins, and
// its file carries checksums.
func TestDefaultRegressionModelIsShippedBody(t *testing.T) {
	f, err := checkpoint.Decode(defaultRegressionModel)
	require.NoError(t, err)
	require.True(t, f.Checksums, "the embedded regression model carries checksums")
	m, err := DefaultRegressionModel(device.MustGet("cpu"))
	require.NoError(t, err)
	defer m.Release()
	want := ShippedConfig().AsRegression(DefaultBins)
	require.Positive(t, m.Cfg.TrainedFeatures, "the embedded regression model records its training width")
	want.TrainedFeatures = m.Cfg.TrainedFeatures
	require.Equal(t, want, m.Cfg)
	require.NotNil(t, m.Bars)
	require.Equal(t, DefaultBins, m.Bars.Bins())
}

// The default Regressor (the embedded model, default options) must recover a known linear
// relation: y = Σ_j x_j/(j+1) + 0.3·noise on 5 standard normal features, whose best possible
// R² is 0.94. With 300 training rows it must reach an R² above 0.8 on 300 test rows and put
// at least 85% of the test targets inside its 90% interval. (Its intervals are wider than
// this relation's noise needs; the coverage on real tables is in
// bench/results/regression-2026-12-03.md.) A broken export, target map or bar distribution
// fails here.
func TestDefaultRegressorKnownRelation(t *testing.T) {
	X, y := regressionTable(600, 5, 21, 1, 0)
	train, test := seq(0, 300), seq(300, 600)
	r, err := NewRegressor()
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.Fit(X.SelectRows(train), y[:300]))
	d, err := r.PredictDistribution(X.SelectRows(test))
	require.NoError(t, err)
	yt := y[300:]
	r2, err := metrics.R2(yt, d.Mean())
	require.NoError(t, err)
	q, err := d.Quantiles([]float64{0.05, 0.95})
	require.NoError(t, err)
	in := 0
	for i, v := range yt {
		if q.At(i, 0) <= v && v <= q.At(i, 1) {
			in++
		}
	}
	cov := float64(in) / float64(len(yt))
	t.Logf("R² %.4f, 90%% interval coverage %.3f", r2, cov)
	require.Greater(t, r2, 0.8)
	require.GreaterOrEqual(t, cov, 0.85)
}

// halvesR2 fits the default Regressor, with opts, on the first half of the rows of X (columns
// described by cols) and returns its R² on the second half. The tests that use it are of how
// a context presents columns, so every test row sees one context of all the training rows
// unless opts ask for local contexts.
func halvesR2(t *testing.T, X data.Matrix, y []float64, cols []data.Column, opts ...Option) float64 {
	t.Helper()
	n := len(y)
	r, err := NewRegressor(append([]Option{WithLocalContexts(0)}, opts...)...)
	require.NoError(t, err)
	defer r.Close()
	r.SetColumns(cols)
	require.NoError(t, r.Fit(X.SelectRows(seq(0, n/2)), y[:n/2]))
	d, err := r.PredictDistribution(X.SelectRows(seq(n/2, n)))
	require.NoError(t, err)
	v, err := metrics.R2(y[n/2:], d.Mean())
	require.NoError(t, err)
	return v
}

// A target set by a category of 40 (a look-up: each category its own level, in no order the
// codes give) and noise: presented as its code the column needs 39 thresholds, so the default
// Regressor must find the levels through the category's mean target, which every member
// presents (instead of the code, or beside it), reaching an R² above 0.6 where codes alone
// stay below it, with one member as with several.
func TestDefaultRegressorManyCategories(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const categories, n = 40, 800
	level := make([]float64, categories)
	names := make([]string, categories)
	for k := range level {
		level[k], names[k] = rng.NormFloat64(), fmt.Sprint("c", k)
	}
	X, y := data.NewMatrix(n, 2), make([]float64, n)
	for i := range y {
		k := rng.IntN(categories)
		X.Set(i, 0, float64(k))
		X.Set(i, 1, rng.NormFloat64())
		y[i] = level[k] + 0.3*rng.NormFloat64()
	}
	cols := []data.Column{{Name: "k", Kind: data.Categorical, Categories: names}, {Name: "x"}}
	r2 := func(opts ...Option) float64 { return halvesR2(t, X, y, cols, opts...) }
	statistics, codes, single := r2(), r2(WithOneHot(0)), r2(WithEnsemble(1))
	t.Logf("R²: with target statistics %.4f, codes alone %.4f, one member (the code and the statistic) %.4f", statistics, codes, single)
	require.Greater(t, statistics, 0.6)
	require.Greater(t, statistics, codes)
	require.Greater(t, single, 0.6)
}

// A column of 7 categories, one of whose mean target lies far from the others' (MASS coop's
// specimens): a regressor's members of codes present the category's mean target beside the
// code, since the regression model reads the code alone poorly as a look-up
// (memberStatistics). One member is a member of codes.
func TestDefaultRegressorFewCategories(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const categories, n = 7, 250
	level := []float64{0.5, 0.4, 1.1, 0.6, 7.8, 1.8, 1.3}
	names := make([]string, categories)
	for k := range names {
		names[k] = fmt.Sprint("s", k)
	}
	X, y := data.NewMatrix(n, 2), make([]float64, n)
	for i := range y {
		k := rng.IntN(categories)
		X.Set(i, 0, float64(k))
		X.Set(i, 1, float64(rng.IntN(3)))
		y[i] = level[k] * math.Exp(0.2*rng.NormFloat64())
	}
	cols := []data.Column{{Name: "specimen", Kind: data.Categorical, Categories: names}, {Name: "batch"}}
	r2 := func(opts ...Option) float64 { return halvesR2(t, X, y, cols, opts...) }
	single, codes := r2(WithEnsemble(1)), r2(WithEnsemble(1), WithOneHot(0))
	t.Logf("R², one member: the code and its statistic %.4f, the code alone %.4f", single, codes)
	require.Greater(t, single, 0.85)
	require.Greater(t, single, codes+0.2)
}

// A school's identifier stored as a number, with a school-level covariate it determines: a
// regressor's members, of indicators and of codes, present the identifier's mean target
// beside it, the look-up a grouped table needs (preprocess.Config.KeyStatistics).
func TestDefaultRegressorGroupKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const schools, n = 40, 800
	effect, kind := make([]float64, schools), make([]float64, schools)
	id := rng.Perm(schools)
	for s := range effect {
		effect[s], kind[s] = rng.NormFloat64(), float64(rng.IntN(3))
	}
	X, y := data.NewMatrix(n, 3), make([]float64, n)
	for i := range y {
		s := rng.IntN(schools)
		X.Set(i, 0, float64(1000+id[s]))
		X.Set(i, 1, kind[s])
		X.Set(i, 2, rng.NormFloat64())
		y[i] = effect[s] + 0.3*X.At(i, 2) + 0.2*rng.NormFloat64()
	}
	cols := []data.Column{{Name: "school"}, {Name: "type"}, {Name: "x"}}
	r2 := func(opts ...Option) float64 { return halvesR2(t, X, y, cols, opts...) }
	keys, plain, single := r2(), r2(WithOneHot(0)), r2(WithEnsemble(1))
	t.Logf("R²: with the key's statistics %.4f, without %.4f; one member (of codes) %.4f", keys, plain, single)
	require.Greater(t, keys, 0.6)
	require.Greater(t, keys, plain+0.1)
	require.Greater(t, single, plain+0.1, "a regressor's member of codes presents the key's statistic too")
}

// Series over time (five of them, each a random walk of its own scale: ggplot2's
// economics_long), one row per series and time: the nearest training rows of a test row are
// its series' neighbouring times, which one context of all 300 training rows blurs. The
// default Regressor must choose local contexts on its held-out training rows and reach an R²
// above 0.95, 0.05 above one context.
func TestDefaultRegressorChoosesLocalContexts(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const series, times = 5, 120
	X, y := data.NewMatrix(series*times, 2), make([]float64, series*times)
	for s := range series {
		scale, level := math.Exp(rng.NormFloat64()), 0.0
		for k := range times {
			level += rng.NormFloat64()
			X.Set(s*times+k, 0, float64(s+1))
			X.Set(s*times+k, 1, float64(1960+k))
			y[s*times+k] = scale * level
		}
	}
	order := rng.Perm(len(y))
	X, y = X.SelectRows(order), pick(y, order)
	cols := []data.Column{{Name: "series"}, {Name: "year"}}
	local := halvesR2(t, X, y, cols, WithLocalContexts(-1))
	whole := halvesR2(t, X, y, cols)
	t.Logf("R²: automatic (local contexts chosen) %.4f, one context %.4f", local, whole)
	require.Greater(t, local, 0.95)
	require.Greater(t, local, whole+0.05)
}
