package tabpfn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/metrics"
)

// regressionTable is a synthetic regression problem: y = Σ x_j/(j+1) + noise, with the
// target then mapped by scale·y + shift.
func regressionTable(rows, feats int, seed uint64, scale, shift float64) (data.Matrix, []float64) {
	r := rand.New(rand.NewPCG(seed, 99))
	X := data.NewMatrix(rows, feats)
	y := make([]float64, rows)
	for i := range rows {
		s := 0.0
		for j := range feats {
			v := r.NormFloat64()
			X.Set(i, j, v)
			s += v / float64(j+1)
		}
		y[i] = scale*(s+0.3*r.NormFloat64()) + shift
	}
	return X, y
}

func newTestRegressor(t *testing.T, m *Model, opts ...Option) *Regressor {
	t.Helper()
	r, err := NewRegressor(append([]Option{WithModel(m)}, opts...)...)
	require.NoError(t, err)
	return r
}

func TestRegressorRejectsBadInput(t *testing.T) {
	m := tinyRegressionModel(t, 11)
	defer m.Release()
	r := newTestRegressor(t, m)
	X, y := regressionTable(20, 3, 1, 1, 0)

	c := slices.Clone(y)
	for i := range c {
		c[i] = 3.5
	}
	require.ErrorContains(t, r.Fit(X, c), "constant")
	bad := slices.Clone(y)
	bad[7] = math.NaN()
	require.ErrorContains(t, r.Fit(X, bad), "row 7")
	require.ErrorContains(t, r.Fit(X, y[:5]), "5 targets for 20 rows")
	_, err := r.Predict(X)
	require.ErrorContains(t, err, "before Fit")
	require.NoError(t, r.Fit(X, y))
	_, err = r.PredictQuantiles(X, []float64{0.5, 1})
	require.ErrorContains(t, err, "not in (0, 1)")
	Xw, _ := regressionTable(5, 4, 2, 1, 0)
	_, err = r.Predict(Xw)
	require.ErrorContains(t, err, "4 columns")

	// A classifier is not a regression model, and the other way round.
	clf, err := New(device.MustGet("cpu"), tinyConfig(), 12)
	require.NoError(t, err)
	defer clf.Release()
	_, err = NewRegressor(WithModel(clf))
	require.ErrorContains(t, err, "classifier")
	_, err = NewClassifier(WithModel(m))
	require.ErrorContains(t, err, "regression model")
	_, err = NewClassifier(WithModel(clf), WithTargetTransform(TargetYeoJohnson))
	require.Error(t, err)
	_, err = NewRegressor(WithModel(m), WithTargetTransform("log10"))
	require.ErrorContains(t, err, "log10")
}

// TestRegressorScaleEquivariance checks that the target's units do not matter: fitting
// a·y + b (a > 0) gives a·(predictions for y) + b, for targets of magnitude 1e12 and 1e-12
// alike, with and without the target transform. (A negative a is not a symmetry: the model
// is not invariant to flipping the target's sign.)
func TestRegressorScaleEquivariance(t *testing.T) {
	m := tinyRegressionModel(t, 13)
	defer m.Release()
	X, y := regressionTable(60, 3, 3, 1, 0)
	Xt, _ := regressionTable(15, 3, 4, 1, 0)
	for _, tf := range []TargetTransform{TargetNone, TargetYeoJohnson} {
		base := newTestRegressor(t, m, WithEnsemble(2), WithTargetTransform(tf))
		require.NoError(t, base.Fit(X, y))
		want, err := base.PredictDistribution(Xt)
		require.NoError(t, err)
		for _, ab := range [][2]float64{{1e12, 3e12}, {1e-12, -5e-12}, {2.5, -1}} {
			a, b := ab[0], ab[1]
			ys := make([]float64, len(y))
			for i, v := range y {
				ys[i] = a*v + b
			}
			r := newTestRegressor(t, m, WithEnsemble(2), WithTargetTransform(tf))
			require.NoError(t, r.Fit(X, ys))
			got, err := r.PredictDistribution(Xt)
			require.NoError(t, err)
			tol := func(v float64) float64 { return 1e-6*math.Abs(a) + 1e-9*math.Abs(v) }
			check := func(what string, g, w []float64) {
				for i := range w {
					require.InDelta(t, a*w[i]+b, g[i], tol(g[i]), "%s, %s, a=%v b=%v, row %d", tf, what, a, b, i)
				}
			}
			check("mean", got.Mean(), want.Mean())
			qw, err := want.Quantiles([]float64{0.05, 0.95})
			require.NoError(t, err)
			qg, err := got.Quantiles([]float64{0.05, 0.95})
			require.NoError(t, err)
			check("q05", qg.Col(0), qw.Col(0))
			check("q95", qg.Col(1), qw.Col(1))
			// CRPS scales with |a|.
			yt := make([]float64, Xt.Rows)
			for i := range yt {
				yt[i] = 0.1 * float64(i)
			}
			cw, err := want.CRPS(yt)
			require.NoError(t, err)
			for i := range yt {
				yt[i] = a*yt[i] + b
			}
			cg, err := got.CRPS(yt)
			require.NoError(t, err)
			for i := range cw {
				require.InDelta(t, math.Abs(a)*cw[i], cg[i], 1e-5*math.Abs(a)*cw[i], "%s CRPS row %d", tf, i)
			}
		}
	}
}

// TestRegressorDistribution checks the outputs against each other: quantiles increase with
// the level, the median is the 0.5-quantile, probabilities sum to one, edges increase, and
// the transform's mean agrees with the exact mean of the untransformed map.
func TestRegressorDistribution(t *testing.T) {
	m := tinyRegressionModel(t, 14)
	defer m.Release()
	X, y := regressionTable(80, 4, 5, 3, 10)
	Xt, _ := regressionTable(10, 4, 6, 1, 0)
	r := newTestRegressor(t, m, WithTargetTransform(TargetNone)) // one target map (mixture_test.go has the mixtures)
	require.NoError(t, r.Fit(X, y))
	d, err := r.PredictDistribution(Xt)
	require.NoError(t, err)
	require.Equal(t, Xt.Rows, d.Rows())
	qs := []float64{0.9, 0.05, 0.5, 0.25}
	q, err := d.Quantiles(qs)
	require.NoError(t, err)
	med := d.Median()
	for i := range Xt.Rows {
		require.Less(t, q.At(i, 1), q.At(i, 3))
		require.Less(t, q.At(i, 3), q.At(i, 2))
		require.Less(t, q.At(i, 2), q.At(i, 0))
		require.InDelta(t, med[i], q.At(i, 2), 1e-9)
		require.InDelta(t, 1, sum(d.Probabilities().Row(i)), 1e-5)
	}
	require.True(t, slices.IsSorted(d.Edges()))
	mean, err := r.Predict(Xt)
	require.NoError(t, err)
	// The quadrature mean (used with a transform) against the exact one: λ = 1 is the
	// identity, and the inverse's bounds are left open.
	p := d.parts[0]
	quad := newDistribution(d.bars, []distPart{{probs: p.probs, weight: 1, target: targetMap{mean: p.target.mean, scale: p.target.scale, yeoJohnson: true, lambda: 1, tScale: 1,
		lo: -math.MaxFloat64, hi: math.MaxFloat64}}})
	for i, v := range quad.Mean() {
		require.InDelta(t, mean[i], v, 1e-3*p.target.scale, "row %d", i)
	}
	pm, err := r.PredictMedian(Xt)
	require.NoError(t, err)
	require.Equal(t, med, pm)
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, v := range xs {
		s += v
	}
	return s
}

func TestTargetMap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	y := make([]float64, 300)
	for i := range y {
		y[i] = math.Exp(r.NormFloat64()) * 1000 // right-skewed
	}
	for _, tf := range []TargetTransform{TargetNone, TargetYeoJohnson, TargetAuto} {
		m, err := fitTargetMap(y, tf)
		require.NoError(t, err)
		require.Equal(t, tf != TargetNone, m.yeoJohnson, tf)
		z := make([]float64, len(y))
		for i, v := range y {
			z[i] = m.forward(v)
			require.InDelta(t, v, m.inverse(z[i]), 1e-9*v)
		}
		mean, sd := meanSD(z)
		require.InDelta(t, 0, mean, 1e-9)
		require.InDelta(t, 1, sd, 1e-9)
	}
	sym := make([]float64, 300)
	for i := range sym {
		sym[i] = r.NormFloat64()
	}
	m, err := fitTargetMap(sym, TargetAuto)
	require.NoError(t, err)
	require.False(t, m.yeoJohnson, "a symmetric target was transformed")

	// λ stays in [0, 2], where ψ maps the real line onto itself: the inverse of every z is
	// finite before the range bound, even for a target skewed beyond what log undoes
	// (whose unrestricted λ is negative, its transform bounded above by −1/λ).
	heavy := make([]float64, 300)
	for i := range heavy {
		heavy[i] = math.Exp(3 * r.NormFloat64())
	}
	for _, ys := range [][]float64{y, heavy} {
		m, err := fitTargetMap(ys, TargetYeoJohnson)
		require.NoError(t, err)
		require.GreaterOrEqual(t, m.lambda, 0.0)
		require.LessOrEqual(t, m.lambda, 2.0)
		for _, z := range []float64{-30, -5, 5, 30} {
			u := preprocess.YeoJohnsonInverse(m.tMean+m.tScale*z, m.lambda)
			require.False(t, math.IsInf(u, 0) || math.IsNaN(u), "ψ⁻¹ at z=%v: %v (λ %v)", z, u, m.lambda)
		}
	}

	// A transformed target's inverse stays within the training range widened by the range
	// on each side, however far into the tails z goes (a log-like λ would overflow).
	m, err = fitTargetMap(y, TargetYeoJohnson)
	require.NoError(t, err)
	lo, hi := slices.Min(y), slices.Max(y)
	for _, z := range []float64{-1e6, -50, -8, 8, 50, 1e6} {
		v := m.inverse(z)
		require.False(t, math.IsInf(v, 0) || math.IsNaN(v), "inverse(%v) = %v", z, v)
		require.GreaterOrEqual(t, v, lo-(hi-lo), "inverse(%v)", z)
		require.LessOrEqual(t, v, hi+(hi-lo), "inverse(%v)", z)
	}
}

// TestRegressorTransformedTailsFinite fits a Yeo–Johnson regressor on a heavy right-skewed
// target and requires finite means, medians and quantiles within the bounded range: the
// bar distribution's tails, mapped through an unbounded inverse, would give +Inf.
func TestRegressorTransformedTailsFinite(t *testing.T) {
	m := tinyRegressionModel(t, 19)
	defer m.Release()
	X, y := regressionTable(80, 3, 20, 1, 0)
	for i := range y {
		y[i] = math.Exp(3 * y[i]) // skewness far above AutoSkewness
	}
	r := newTestRegressor(t, m, WithTargetTransform(TargetAuto), WithLocalContexts(0))
	require.NoError(t, r.Fit(X, y))
	require.Equal(t, TargetYeoJohnson, r.Transform())
	d, err := r.PredictDistribution(X)
	require.NoError(t, err)
	lo, hi := slices.Min(y), slices.Max(y)
	q, err := d.Quantiles([]float64{0.001, 0.05, 0.95, 0.999})
	require.NoError(t, err)
	for _, v := range append(append(d.Mean(), d.Median()...), q.Data...) {
		require.False(t, math.IsInf(v, 0) || math.IsNaN(v), "%v", v)
		require.GreaterOrEqual(t, v, lo-(hi-lo))
		require.LessOrEqual(t, v, hi+(hi-lo))
	}
	crps, err := d.CRPS(y)
	require.NoError(t, err)
	for _, v := range crps {
		require.False(t, math.IsInf(v, 0) || math.IsNaN(v), "CRPS %v", v)
	}
}

func meanSD(z []float64) (float64, float64) {
	var m, s float64
	for _, v := range z {
		m += v / float64(len(z))
	}
	for _, v := range z {
		s += (v - m) * (v - m)
	}
	return m, math.Sqrt(s / float64(len(z)-1))
}

// TestRegressorSubsamplesRows checks that a table longer than the model's context gets a
// random subsample per member and a warning.
func TestRegressorSubsamplesRows(t *testing.T) {
	m := tinyRegressionModel(t, 15)
	defer m.Release()
	X, y := regressionTable(300, 2, 9, 1, 0)
	r := newTestRegressor(t, m, WithEnsemble(3), WithMaxRows(100), WithLocalContexts(0))
	require.NoError(t, r.Fit(X, y))
	require.Len(t, r.Warnings(), 1)
	require.Contains(t, r.Warnings()[0], "random subsample of 100")
	require.Equal(t, 3, r.Ensemble())
	for _, mb := range r.members {
		require.Len(t, mb.trainY, 100)
	}
	require.NotEqual(t, r.members[0].trainY, r.members[1].trainY)
}

// TestConcurrentRegressor runs 8 goroutines that each fit a regressor of their own on one
// shared model and predict, then 8 goroutines predicting (mean and quantiles) with one
// shared fitted regressor, and requires every result to equal a lone run's bit for bit.
// Under -race it also shows that the regressor keeps no shared mutable state.
func TestConcurrentRegressor(t *testing.T) {
	const goroutines = 8
	m := tinyRegressionModel(t, 16)
	defer m.Release()
	X, y := regressionTable(60, 3, 10, 1, 0)
	Xt, _ := regressionTable(20, 3, 11, 1, 0)
	qs := []float64{0.05, 0.5, 0.95}
	r := newTestRegressor(t, m, WithEnsemble(2))
	require.NoError(t, r.Fit(X, y))
	want, err := r.Predict(Xt)
	require.NoError(t, err)
	wantQ, err := r.PredictQuantiles(Xt, qs)
	require.NoError(t, err)
	errs := make(chan error, 2*goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own, err := NewRegressor(WithModel(m), WithEnsemble(2))
			if err == nil {
				err = own.Fit(X, y)
			}
			var got []float64
			if err == nil {
				got, err = own.Predict(Xt)
			}
			switch {
			case err != nil:
				errs <- fmt.Errorf("own regressor, goroutine %d: %w", g, err)
			case !slices.Equal(got, want):
				errs <- fmt.Errorf("own regressor, goroutine %d: predictions differ from a lone run", g)
			}
		}()
	}
	wg.Wait()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := r.Predict(Xt)
			var q data.Matrix
			if err == nil {
				q, err = r.PredictQuantiles(Xt, qs)
			}
			switch {
			case err != nil:
				errs <- fmt.Errorf("shared regressor, goroutine %d: %w", g, err)
			case !slices.Equal(got, want) || !equalMatrix(q, wantQ):
				errs <- fmt.Errorf("shared regressor, goroutine %d: predictions differ from a lone run", g)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRegressionProtocol runs the regression protocol with the regressor on a small table
// and checks that it reports every score.
func TestRegressionProtocol(t *testing.T) {
	m := tinyRegressionModel(t, 17)
	defer m.Release()
	X, y := regressionTable(60, 2, 12, 1, 0)
	tab := &data.Table{Columns: []data.Column{{Name: "a"}, {Name: "b"}}, X: X, Values: y, Target: "y"}
	tab.Values[3] = math.NaN()
	p := metrics.DefaultRegressionProtocol()
	p.Splits = 2
	res, err := p.Evaluate(context.Background(), tab, func() metrics.Regressor {
		return newTestRegressor(t, m).ForProtocol()
	})
	require.NoError(t, err)
	require.Equal(t, 1, res.Dropped)
	require.Len(t, res.Splits, 2)
	require.Equal(t, 30, res.Splits[0].TestRows)
	for _, v := range []float64{res.R2, res.RMSE, res.CRPS, res.Coverage90} {
		require.False(t, math.IsNaN(v))
	}
	require.Greater(t, res.Coverage90, 0.0)
}

// shippedSizeRegressionModel returns a randomly initialised regression model of the shipped
// size (ShippedConfig with DefaultBins bins evenly spaced on [−5, 5]), released when b ends:
// the same cost per row as a trained one.
func shippedSizeRegressionModel(b *testing.B) *Model {
	m, err := New(device.MustGet("cpu"), ShippedConfig().AsRegression(DefaultBins), 1)
	require.NoError(b, err)
	b.Cleanup(m.Release)
	borders := make([]float64, DefaultBins+1)
	for i := range borders {
		borders[i] = -5 + 10*float64(i)/DefaultBins
	}
	m.Bars, err = NewBars(borders)
	require.NoError(b, err)
	return m
}

// BenchmarkRegressorFitPredict times fit + predict (the full distribution, its mean,
// median and 5%/95% quantiles) on one table of 1000 training rows, 20 features and 1000
// test rows with a randomly initialised regression model of the shipped size (ShippedConfig
// with DefaultBins bins; the same cost per row as a trained one), in one context of all the
// training rows: "members=1" is the cost of one ensemble member, "default" the automatic
// ensemble, one member for this size. BenchmarkRegressorContextChoice is what the automatic
// setting adds before either.
func BenchmarkRegressorFitPredict(b *testing.B) {
	m := shippedSizeRegressionModel(b)
	X, y := regressionTable(2000, 20, 13, 1, 0)
	Xtr, ytr, Xte := X.SelectRows(seq(0, 1000)), y[:1000], X.SelectRows(seq(1000, 2000))
	for _, bc := range []struct {
		name string
		n    int
	}{{"members=1", 1}, {"default", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			cpu0 := processCPUSeconds()
			for b.Loop() {
				r, err := NewRegressor(WithModel(m), WithEnsemble(bc.n), WithLocalContexts(0))
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Fit(Xtr, ytr); err != nil {
					b.Fatal(err)
				}
				d, err := r.PredictDistribution(Xte)
				if err != nil {
					b.Fatal(err)
				}
				d.Mean()
				d.Median()
				if _, err := d.Quantiles([]float64{0.05, 0.95}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((processCPUSeconds()-cpu0)/float64(b.N), "cpu-s/op")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
		})
	}
}

// BenchmarkRegressorContextChoice times Fit under the automatic setting on
// BenchmarkRegressorFitPredict's 1000 training rows, which is the choice of context size: 250
// held-out rows predicted from contexts of 64 rows, of 256 rows and of the other 750, then
// the fit of the size chosen. The choice is paid whichever size wins.
func BenchmarkRegressorContextChoice(b *testing.B) {
	m := shippedSizeRegressionModel(b)
	X, y := regressionTable(1000, 20, 13, 1, 0)
	cpu0 := processCPUSeconds()
	for b.Loop() {
		r, err := NewRegressor(WithModel(m))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Fit(X, y); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((processCPUSeconds()-cpu0)/float64(b.N), "cpu-s/op")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
}
