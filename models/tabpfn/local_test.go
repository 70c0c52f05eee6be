package tabpfn

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/internal/shareddata"
	"github.com/kiln-ml/kiln/metrics"
)

// frequencyScorer answers every test row with the label frequencies of its context, so a
// classifier built on it predicts a row's class frequencies among the training rows of the
// row's context, which a test can count by hand. It is safe for concurrent use.
type frequencyScorer struct {
	cfg   Config
	mu    sync.Mutex
	calls int
}

func (f *frequencyScorer) Probabilities(in Input, _ float64) ([][]float64, error) {
	if err := in.check(f.cfg); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	k, T := in.Classes[0], in.Rows-in.NTrain
	freq := make([]float64, k)
	for _, l := range in.Y[:in.NTrain] {
		freq[l] += 1 / float64(in.NTrain)
	}
	out := make([]float64, 0, T*k)
	for range T {
		out = append(out, freq...)
	}
	return [][]float64{out}, nil
}

// midRank is a value's coordinate in the local space, counted by hand: the share of the
// column's non-missing training values below it plus half the share equal to it.
func midRank(col []float64, v float64) float64 {
	var below, equal, n float64
	for _, u := range col {
		switch {
		case math.IsNaN(u):
			continue
		case u < v:
			below++
		case u == v:
			equal++
		}
		n++
	}
	if math.IsNaN(v) || n == 0 {
		return 0.5
	}
	return (below + equal/2) / n
}

// handNeighbours returns the indices of the k rows of X nearest row in the local space,
// found by hand: mid-ranks per column, squared Euclidean distance, ties to the earlier row.
func handNeighbours(X data.Matrix, row []float64, k int) []int {
	cols := make([][]float64, X.Cols)
	for j := range cols {
		for i := range X.Rows {
			cols[j] = append(cols[j], X.At(i, j))
		}
	}
	pt := func(row []float64) []float64 {
		out := make([]float64, len(row))
		for j, v := range row {
			out[j] = midRank(cols[j], v)
		}
		return out
	}
	q := pt(row)
	type cand struct {
		d float64
		i int
	}
	var cs []cand
	for i := range X.Rows {
		cs = append(cs, cand{sqDist(q, pt(X.Row(i))), i})
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		switch {
		case a.d < b.d:
			return -1
		case a.d > b.d:
			return 1
		}
		return 0
	})
	out := make([]int, k)
	for i, c := range cs[:k] {
		out[i] = c.i
	}
	return out
}

// localTable draws rows of f features with repeated values (ties) and a few missing cells,
// in k classes at random.
func localTable(rows, f, k int, seed uint64) (data.Matrix, []int) {
	rng := rand.New(rand.NewPCG(seed, 5))
	X := data.NewMatrix(rows, f)
	y := make([]int, rows)
	for i := range rows {
		for j := range f {
			X.Set(i, j, float64(rng.IntN(12))+float64(j)*rng.NormFloat64())
			if rng.IntN(40) == 0 {
				X.Set(i, j, math.NaN())
			}
		}
		y[i] = rng.IntN(k)
	}
	return X, y
}

// A training set larger than the model's context predicts each test row from its own
// nearest training rows: with a scorer that returns the context's label frequencies, the
// prediction is the class frequencies among exactly the rows the test finds by hand.
func TestLocalContextsAreNearestRows(t *testing.T) {
	cfg := classifierTinyConfig()
	cfg.MaxRows = 50
	const k, K = 4, 12
	X, y := localTable(150, 3, k, 1)
	Xte, _ := localTable(40, 3, k, 2)
	fs := &frequencyScorer{cfg: cfg}
	var progress [][2]int
	c, err := newWithScorer(fs, cfg, WithLocalContexts(K), WithEnsemble(2),
		WithProgress(func(done, total int) { progress = append(progress, [2]int{done, total}) }))
	require.NoError(t, err)
	require.NoError(t, c.Fit(X, y, k+1)) // class k is absent from the training rows
	require.Contains(t, c.Warnings()[0], "150 training rows exceed the 50 the model was trained on")
	p, err := c.PredictProba(Xte)
	require.NoError(t, err)
	requireValidProba(t, p, Xte.Rows, k+1)
	// One progress call per row, in order, whichever worker finished it.
	require.Len(t, progress, Xte.Rows)
	for i, pr := range progress {
		require.Equal(t, [2]int{i + 1, Xte.Rows}, pr)
	}

	// Each row's frequencies are smoothed as if its context held one more row, spread over
	// the classes as the training set is; class k, absent from the training set, keeps 0.
	prior := make([]float64, k+1)
	for _, v := range y {
		prior[v] += 1 / float64(len(y))
	}
	single := 0
	for r := range Xte.Rows {
		freq, want := make([]float64, k+1), make([]float64, k+1)
		for _, i := range handNeighbours(X, Xte.Row(r), K) {
			freq[y[i]] += 1.0 / K
		}
		if slices.Max(freq) == 1 {
			single++
		}
		for c := range want {
			want[c] = (K*freq[c] + prior[c]) / (K + 1)
		}
		require.InDeltaSlice(t, want, p.Row(r), 1e-12, "test row %d", r)
		require.Zero(t, p.At(r, k))
	}
	// Two members per test row, except for contexts of a single class, which need no model.
	require.Equal(t, 2*(Xte.Rows-single), fs.calls)

	// Embeddings from contexts of their own would not compare across rows.
	_, err = c.Embed(Xte)
	require.ErrorContains(t, err, "WithLocalContexts(0)")

	// The same rows predicted one at a time get the same probabilities.
	for _, r := range []int{0, 17, 39} {
		one, err := c.PredictProba(Xte.SelectRows([]int{r}))
		require.NoError(t, err)
		require.Equal(t, p.Row(r), one.Row(0))
	}
}

// empiricalScorer answers every test row of a regression input with its context's
// standardised targets as the distribution, mass 1/NTrain in the bin of each, so a
// regressor built on it predicts about the mean of its context's targets. It is safe for
// concurrent use.
type empiricalScorer struct {
	cfg   Config
	bars  *Bars
	mu    sync.Mutex
	calls int
}

func (e *empiricalScorer) Probabilities(in Input, _ float64) ([][]float64, error) {
	if err := in.check(e.cfg); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.calls++
	e.mu.Unlock()
	one := make([]float64, e.bars.Bins())
	for _, z := range in.Target[:in.NTrain] {
		one[e.bars.Bin(float64(z))] += 1 / float64(in.NTrain)
	}
	var out []float64
	for range in.Rows - in.NTrain {
		out = append(out, one...)
	}
	return [][]float64{out}, nil
}

// newRegressorWithScorer is a regressor on sc with the given bars, for tests.
func newRegressorWithScorer(t *testing.T, sc scorer, cfg Config, bars *Bars, opts ...Option) *Regressor {
	t.Helper()
	s, err := applyOptions(opts)
	require.NoError(t, err)
	return &Regressor{settings: s, model: sc, cfg: cfg, bars: bars}
}

// skewedLocalTask is the task of the local regressor's tests: a model of bins bins and a
// context of maxRows rows with uniform bars over [−8, 8], train and test rows of localTable,
// and a skewed target of the first feature, so that the target transform matters.
func skewedLocalTask(t *testing.T, bins, train, test, maxRows int) (Config, *Bars, data.Matrix, data.Matrix, []float64) {
	cfg := tinyConfig().AsRegression(bins)
	cfg.MaxRows = maxRows
	X, _ := localTable(train, 3, 2, 1)
	Xte, _ := localTable(test, 3, 2, 2)
	y := make([]float64, X.Rows)
	for i := range y {
		y[i] = math.Exp(0.3 * (X.At(i, 0) + float64(i%7)))
	}
	return cfg, uniformBars(t, bins, -8, 8), X, Xte, y
}

// A regressor's training set larger than the model's context predicts each test row from
// its own nearest training rows, re-binned onto one grid of bins for all rows: with a scorer
// that returns the context's targets as the distribution, each row's mean is the mean
// target of exactly the rows the test finds by hand, to within the bins' resolution, for
// the linear grid of TargetNone and the Yeo–Johnson grid of TargetMixed. A context whose
// targets are all equal gives that target without the model.
func TestLocalRegressorIsNearestRows(t *testing.T) {
	const bins, K = 3200, 12
	cfg, bars, X, Xte, y := skewedLocalTask(t, bins, 150, 30, 50)
	_, sd := meanSD(y)
	for _, tf := range []TargetTransform{TargetNone, TargetMixed} {
		es := &empiricalScorer{cfg: cfg, bars: bars}
		var progress [][2]int
		r := newRegressorWithScorer(t, es, cfg, bars, WithLocalContexts(K), WithEnsemble(2), WithTargetTransform(tf),
			WithProgress(func(done, total int) { progress = append(progress, [2]int{done, total}) }))
		require.NoError(t, r.Fit(X, y))
		require.Contains(t, r.Warnings()[0], "150 training rows exceed the 50 the model was trained on")
		require.Equal(t, tf, r.Transform())
		require.Equal(t, 2, r.Ensemble())
		d, err := r.PredictDistribution(Xte)
		require.NoError(t, err)
		require.Len(t, progress, Xte.Rows)
		require.Equal(t, [2]int{Xte.Rows, Xte.Rows}, progress[Xte.Rows-1])
		p := d.Probabilities()
		mean := d.Mean()
		for i := range Xte.Rows {
			require.InDelta(t, 1, sum(p.Row(i)), 1e-9)
			want := 0.0
			for _, k := range handNeighbours(X, Xte.Row(i), K) {
				want += y[k] / K
			}
			require.InDelta(t, want, mean[i], 0.01*sd, "%s, test row %d", tf, i)
		}
		require.Equal(t, 2*Xte.Rows, es.calls, tf)

		// The same rows predicted one at a time get the same distributions.
		for _, i := range []int{0, 29} {
			one, err := r.PredictDistribution(Xte.SelectRows([]int{i}))
			require.NoError(t, err)
			require.Equal(t, p.Row(i), one.Probabilities().Row(0))
		}
	}

	// Targets constant in runs of 30 rows along one feature: a row amid a run has a context
	// of one target and needs no model; one between runs has two.
	X1 := data.NewMatrix(150, 1)
	y1 := make([]float64, 150)
	for i := range y1 {
		X1.Set(i, 0, float64(i))
		y1[i] = float64(i / 30)
	}
	es := &empiricalScorer{cfg: cfg, bars: bars}
	r := newRegressorWithScorer(t, es, cfg, bars, WithLocalContexts(K), WithEnsemble(2), WithTargetTransform(TargetNone))
	require.NoError(t, r.Fit(X1, y1))
	Xq := data.NewMatrix(2, 1)
	Xq.Set(0, 0, 45)
	Xq.Set(1, 0, 59.5)
	d, err := r.PredictDistribution(Xq)
	require.NoError(t, err)
	mean := d.Mean()
	_, sd1 := meanSD(y1)
	require.InDelta(t, 1, mean[0], 0.005*sd1)
	require.InDelta(t, 1.5, mean[1], 0.005*sd1)
	require.Equal(t, 2, es.calls)
}

// A local regressor averaged with one context predicts the mixture in equal parts of what
// local contexts alone and one context of every training row (WithLocalContexts(0)) predict:
// its mean is the mean of theirs, and its CDF at any target the mean of theirs, which CRPS
// integrates.
func TestLocalRegressorAveraged(t *testing.T) {
	cfg, bars, X, Xte, y := skewedLocalTask(t, 3200, 120, 20, 1024)
	for _, tf := range []TargetTransform{TargetNone, TargetMixed} {
		regressor := func(opts ...Option) *Regressor {
			return newRegressorWithScorer(t, &empiricalScorer{cfg: cfg, bars: bars}, cfg, bars, append([]Option{WithEnsemble(2), WithTargetTransform(tf)}, opts...)...)
		}
		predict := func(how contextCandidate) *Distribution {
			r := regressor()
			l, err := r.fitLocal(X, y, how, "")
			require.NoError(t, err)
			d, err := l.predictDistribution(Xte)
			require.NoError(t, err)
			return d
		}
		averaged, local := predict(contextCandidate{rows: 16, averaged: true}), predict(contextCandidate{rows: 16})
		one := regressor(WithLocalContexts(0))
		require.NoError(t, one.Fit(X, y))
		whole, err := one.PredictDistribution(Xte)
		require.NoError(t, err)
		require.Len(t, averaged.parts, 1+len(whole.parts), tf)

		ma, ml, mw := averaged.Mean(), local.Mean(), whole.Mean()
		require.False(t, floats.EqualApprox(ml, mw, 1e-3), tf) // two different predictions
		for i := range ma {
			require.InDelta(t, (ml[i]+mw[i])/2, ma[i], 1e-9*(1+math.Abs(ma[i])), "%s, row %d", tf, i)
		}
		ca, err := averaged.CRPS(y[:Xte.Rows])
		require.NoError(t, err)
		cl, err := local.CRPS(y[:Xte.Rows])
		require.NoError(t, err)
		cw, err := whole.CRPS(y[:Xte.Rows])
		require.NoError(t, err)
		for i := range ca {
			// CRPS(mixture) = the mean of the parts' CRPS less half the energy distance
			// between them, so it lies at or below their mean.
			require.LessOrEqual(t, ca[i], (cl[i]+cw[i])/2+1e-9, "%s, row %d", tf, i)
		}
		for i := range Xte.Rows {
			require.InDelta(t, 1, sum(averaged.Probabilities().Row(i)), 1e-9)
		}
	}
}

// Local contexts are for training sets larger than the model's context: a smaller one,
// WithLocalContexts(0), or WithMaxRows above the model's context under the automatic
// setting keeps the whole training set as every member's context.
func TestLocalContextsOff(t *testing.T) {
	cfg := classifierTinyConfig()
	cfg.MaxRows = 50
	X, y := localTable(150, 3, 3, 3)
	Xte, _ := localTable(5, 3, 3, 4)
	whole := make([]float64, 3)
	for _, v := range y {
		whole[v] += 1.0 / 150
	}
	for _, opts := range [][]Option{{WithLocalContexts(0)}, {WithMaxRows(500)}, {WithLocalContexts(-1), WithMaxRows(151)}} {
		c, err := newWithScorer(&frequencyScorer{cfg: cfg}, cfg, append(opts, WithEnsemble(3), WithPairwise(0))...)
		require.NoError(t, err)
		require.NoError(t, c.Fit(X, y, 3))
		p, err := c.PredictProba(Xte)
		require.NoError(t, err)
		for r := range p.Rows {
			require.InDeltaSlice(t, whole, p.Row(r), 1e-12)
		}
	}
	// 40 rows fit the context of 50.
	c, err := newWithScorer(&frequencyScorer{cfg: cfg}, cfg, WithLocalContexts(10), WithEnsemble(3), WithPairwise(0))
	require.NoError(t, err)
	require.NoError(t, c.Fit(X.SelectRows(seq(0, 40)), y[:40], 3))
	p, err := c.PredictProba(Xte)
	require.NoError(t, err)
	want := make([]float64, 3)
	for _, v := range y[:40] {
		want[v] += 1.0 / 40
	}
	require.InDeltaSlice(t, want, p.Row(0), 1e-12)
}

func TestWithLocalContextsRange(t *testing.T) {
	for _, n := range []int{-2, 1, MaxContextRows + 1} {
		_, err := applyOptions([]Option{WithLocalContexts(n)})
		require.Error(t, err, "n = %d", n)
	}
	for _, n := range []int{-1, 0, 2, MaxContextRows} {
		_, err := applyOptions([]Option{WithLocalContexts(n)})
		require.NoError(t, err, "n = %d", n)
	}
}

// On letter (26 classes, more than the model's 10 outputs) with 1,100 training rows, above
// the 1,024 the embedded model was trained on, local contexts of DefaultLocalRows rows
// classify most test rows right: each context holds a few of the classes, so the model
// classifies them directly. A fault in how a context's classes map back to the table's
// leaves about one row in 26 right. (The whole-context comparison, on all of letter's
// training half, is in bench/results/tabpfn-local-2026-12-04.md.)
func TestLocalContextsLetter(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the shared datasets are skipped")
	}
	tab, err := data.LoadCSV(shareddata.Require(t, "tabular", "letter.csv"), data.Options{})
	require.NoError(t, err)
	k := tab.NumClasses()
	trainIdx, testIdx, err := data.StratifiedSplit(tab.Y, k, 0.5, 0)
	require.NoError(t, err)
	train, test := tab.Subset(trainIdx), tab.Subset(testIdx)
	idx, err := data.StratifiedSubsample(train.Y, k, 1100, 0)
	require.NoError(t, err)
	train = train.Subset(idx)
	if idx, err = data.StratifiedSubsample(test.Y, k, 52, 0); err != nil {
		t.Fatal(err)
	}
	test = test.Subset(idx)
	c, err := NewClassifier(WithLocalContexts(-1))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Fit(train.X, train.Y, k))
	require.Contains(t, c.Warnings()[0], "predicted from the 64 training rows nearest it")
	p, err := c.PredictProba(test.X)
	require.NoError(t, err)
	requireValidProba(t, p, test.Rows(), k)
	acc, err := metrics.Accuracy(test.Y, p)
	require.NoError(t, err)
	auc, err := metrics.ROCAUC(test.Y, p)
	require.NoError(t, err)
	t.Logf("letter, 1,100 training rows, %d test rows: accuracy %.3f, ROC AUC %.4f", test.Rows(), acc, auc)
	require.Greater(t, acc, 0.7)
	require.Greater(t, auc, 0.95)
}

// linearScorer answers each test row of a regression input with a point mass at the least
// squares fit of the context's targets on its features (with an intercept and a small ridge),
// so that a context of few rows and many features overfits as a real model would.
type linearScorer struct {
	cfg  Config
	bars *Bars
}

func (l *linearScorer) Probabilities(in Input, _ float64) ([][]float64, error) {
	if err := in.check(l.cfg); err != nil {
		return nil, err
	}
	F := in.Features + 1
	A, b := mat.NewSymDense(F, nil), mat.NewVecDense(F, nil)
	x := make([]float64, F)
	row := func(i int) []float64 {
		x[0] = 1
		for j := range in.Features {
			x[j+1] = float64(in.X[i*in.Features+j])
		}
		return x
	}
	for i := range in.NTrain {
		xi := row(i)
		for p := range F {
			b.SetVec(p, b.AtVec(p)+xi[p]*float64(in.Target[i]))
			for q := p; q < F; q++ {
				A.SetSym(p, q, A.At(p, q)+xi[p]*xi[q])
			}
		}
	}
	for p := range F {
		A.SetSym(p, p, A.At(p, p)+1e-3)
	}
	var w mat.VecDense
	if err := w.SolveVec(A, b); err != nil {
		return nil, err
	}
	var out []float64
	for i := in.NTrain; i < in.Rows; i++ {
		p := make([]float64, l.bars.Bins())
		p[l.bars.Bin(mat.Dot(&w, mat.NewVecDense(F, row(i))))] = 1
		out = append(out, p...)
	}
	return [][]float64{out}, nil
}

// Under the automatic setting a regressor measures on held-out training rows whether local
// contexts predict better than one context of all the rows. With a scorer that fits a line
// to its context: a target that steps at one feature's median is fitted far better piecewise
// by 64 nearest rows; a linear target of 24 noisy features is fitted best by all the rows,
// where 64 or 256 of them overfit.
func TestLocalRegressorChoosesContext(t *testing.T) {
	const bins = 2000
	cfg := tinyConfig().AsRegression(bins)
	cfg.MaxRows, cfg.MaxFeatures = 50, 30
	bars := uniformBars(t, bins, -10, 10)
	rng := rand.New(rand.NewPCG(4, 4))
	table := func(rows, feats int, f func(x []float64) float64) (data.Matrix, []float64) {
		X, y := data.NewMatrix(rows, feats), make([]float64, rows)
		for i := range rows {
			for j := range feats {
				X.Set(i, j, rng.NormFloat64())
			}
			y[i] = f(X.Row(i))
		}
		return X, y
	}
	fit := func(X data.Matrix, y []float64) *Regressor {
		r := newRegressorWithScorer(t, &linearScorer{cfg: cfg, bars: bars}, cfg, bars, WithEnsemble(1), WithTargetTransform(TargetNone),
			WithVariants(preprocess.VariantStandard))
		require.NoError(t, r.Fit(X, y))
		return r
	}

	step := fit(table(600, 1, func(x []float64) float64 {
		if x[0] > 0 {
			return 1
		}
		return 0
	}))
	require.Equal(t, DefaultLocalRows, step.LocalContextRows(), step.Warnings())
	require.Contains(t, step.Warnings()[0], "predicted from the 64 training rows nearest it (chosen on 150 held-out training rows; mean squared error: 64 rows ")

	linear := fit(table(1600, 24, func(x []float64) float64 { return x[0] + 0.5*x[1] + rng.NormFloat64() }))
	require.Zero(t, linear.LocalContextRows(), linear.Warnings())
	require.Contains(t, linear.Warnings()[0], "one context of them all predicted held-out rows best (chosen on 256 held-out training rows")
	require.NotEmpty(t, linear.members)

	// Within the model's context the same choice runs from localChoiceMinRows rows on, and
	// says so only when local contexts win.
	cfg.MaxRows = 1024
	curved := func(x []float64) float64 { return x[0] * x[0] }
	small := fit(table(localChoiceMinRows, 1, curved))
	require.Equal(t, DefaultLocalRows, small.LocalContextRows(), small.Warnings())
	require.Len(t, small.Warnings(), 1)
	require.Contains(t, small.Warnings()[0], "each test row is predicted from the 64 of the 128 training rows nearest it, which predicted held-out training rows better than one context of them all (chosen on 32 held-out training rows; mean squared error: 64 rows ")
	// Below it the choice is made by cross-validation, with smaller contexts; below
	// smallChoiceMinRows there is none.
	smaller := fit(table(localChoiceMinRows-1, 1, curved))
	require.Contains(t, []int{16, 32}, smaller.LocalContextRows(), smaller.Warnings())
	require.Contains(t, smaller.Warnings()[0], "(chosen by 4-fold cross-validation on the 127 training rows; mean squared error: 16 rows ")
	smallest := fit(table(smallChoiceMinRows-1, 1, curved))
	require.Zero(t, smallest.LocalContextRows())
	require.Empty(t, smallest.Warnings())
	noise := fit(table(localChoiceMinRows-1, 3, func([]float64) float64 { return rng.NormFloat64() }))
	require.Zero(t, noise.LocalContextRows(), noise.Warnings())
	noisy := fit(table(800, 24, func(x []float64) float64 { return x[0] + 0.5*x[1] + rng.NormFloat64() }))
	require.Zero(t, noisy.LocalContextRows(), noisy.Warnings())
	require.Empty(t, noisy.Warnings())
	require.NotEmpty(t, noisy.members)
	cfg.MaxRows = 50

	// An explicit size is taken as it is.
	r := newRegressorWithScorer(t, &linearScorer{cfg: cfg, bars: bars}, cfg, bars, WithLocalContexts(64), WithEnsemble(1))
	X, y := table(600, 24, func(x []float64) float64 { return x[0] })
	require.NoError(t, r.Fit(X, y))
	require.Equal(t, 64, r.LocalContextRows())
	require.NotContains(t, r.Warnings()[0], "chosen")
}

// Within the model's context a classifier, too, measures on held-out training rows whether
// local contexts predict better than one context of all the rows, by log loss, from
// classifierChoiceMinRows rows on. With a scorer that answers its context's label frequencies (a
// nearest-neighbour vote): a class that steps at one feature's sign is told best by the 64
// nearest rows, and labels drawn at random whatever the features are told best by the
// frequencies of all the rows, which 64 of them estimate with more noise.
func TestLocalClassifierChoosesContext(t *testing.T) {
	cfg := classifierTinyConfig()
	cfg.MaxRows = 1024
	rng := rand.New(rand.NewPCG(3, 9))
	table := func(rows int, label func(x []float64) int) (data.Matrix, []int) {
		X, y := data.NewMatrix(rows, 3), make([]int, rows)
		for i := range rows {
			for j := range 3 {
				X.Set(i, j, rng.NormFloat64())
			}
			y[i] = label(X.Row(i))
		}
		return X, y
	}
	step := func(x []float64) int {
		if x[0] > 0 {
			return 1
		}
		return 0
	}
	fit := func(X data.Matrix, y []int) *Classifier {
		c, err := newWithScorer(&frequencyScorer{cfg: cfg}, cfg, WithEnsemble(1), WithPairwise(0))
		require.NoError(t, err)
		require.NoError(t, c.Fit(X, y, 2))
		return c
	}

	X, y := table(classifierChoiceMinRows, step)
	// The choice tells WithProgress of the held-out rows it predicts from local contexts.
	var told [][2]int
	local, err := newWithScorer(&frequencyScorer{cfg: cfg}, cfg, WithEnsemble(1), WithPairwise(0),
		WithProgress(func(done, total int) { told = append(told, [2]int{done, total}) }))
	require.NoError(t, err)
	require.NoError(t, local.Fit(X, y, 2))
	require.Len(t, told, 64)
	for i, c := range told {
		require.Equal(t, [2]int{i + 1, 64}, c)
	}
	require.NotNil(t, local.local, local.Warnings())
	require.Equal(t, DefaultLocalRows, local.local.rows)
	require.Len(t, local.Warnings(), 1)
	require.Contains(t, local.Warnings()[0], "each test row is predicted from the 64 of the 256 training rows nearest it, which predicted held-out training rows better than one context of them all (chosen on 64 held-out training rows; log loss: 64 rows ")
	// The rows are then predicted from their contexts: a row far on one side of the step is
	// its side's class.
	far := data.NewMatrix(2, 3)
	far.Set(0, 0, 3)
	far.Set(1, 0, -3)
	p, err := local.PredictProba(far)
	require.NoError(t, err)
	require.Greater(t, p.At(0, 1), 0.9)
	require.Greater(t, p.At(1, 0), 0.9)

	X, y = table(1000, func([]float64) int { return rng.IntN(2) })
	whole := fit(X, y)
	require.True(t, whole.local == nil, whole.Warnings())
	require.Empty(t, whole.Warnings())
	require.Equal(t, 1, whole.Ensemble())

	// Below classifierChoiceMinRows smaller contexts are weighed with one context by
	// cross-validation (TestStackedClassifier); below smallChoiceMinRows there are none.
	X, y = table(classifierChoiceMinRows-1, step)
	small := fit(X, y)
	require.True(t, small.local == nil)
	require.NotNil(t, small.stacked, small.Warnings())
	require.Contains(t, small.Warnings()[0], "a mixture of predictions from contexts of the 255 training rows, weighted (")
	X, y = table(smallChoiceMinRows-1, step)
	smaller := fit(X, y)
	require.True(t, smaller.local == nil && smaller.stacked == nil, smaller.Warnings())
	require.Empty(t, smaller.Warnings())
	// Labels drawn at random whatever the features: the mixture's cross-validated log loss
	// is not ahead of one context's by more than the margin, so one context it is.
	X, y = table(classifierChoiceMinRows-1, func([]float64) int { return rng.IntN(2) })
	noise := fit(X, y)
	require.True(t, noise.local == nil && noise.stacked == nil, noise.Warnings())
	require.Empty(t, noise.Warnings())
}

// The cross-validated choice holds out every training row once, predicts it from the other
// folds' rows with each small local size that is at most half of them and one context, and
// keeps a local size only where it beats one context by more than the margin. The losses
// are synthetic, as in TestContextChoiceMargin: one context's is noise around 1.5, a local
// size's the same plus a noise of mean 0 and standard deviation about 0.29, less gain (16
// rows) or less half of it (32 rows).
func TestCrossValidatedContextChoice(t *testing.T) {
	choose := func(n, distinct int, margin, gain float64) (int, string, map[int][]int) {
		heldBy := map[int][]int{}
		chosen, choice, err := crossValidatedContextRows(n, distinct, 7, "loss", margin, func(v float64) float64 { return v }, nil, func(rows int, _ func(int, int), kept, held []int) ([]float64, error) {
			require.True(t, slices.IsSorted(held))
			require.True(t, slices.IsSorted(kept))
			require.Len(t, slices.Concat(held, kept), n)
			require.LessOrEqual(t, 2*rows, len(kept))
			heldBy[rows] = append(heldBy[rows], held...)
			out, noise := make([]float64, len(held)), make([]float64, len(held))
			for i, r := range held {
				out[i] = 1 + float64(mix(1, uint64(r))%1000)/1000
				noise[i] = float64(mix(uint64(rows), uint64(r))%1000) / 1000
			}
			if rows > 0 {
				floats.AddConst(-floats.Sum(noise)/float64(len(noise)), noise)
				floats.Add(out, noise)
			}
			switch rows {
			case 16:
				floats.AddConst(-gain, out)
			case 32:
				floats.AddConst(-gain/2, out)
			}
			return out, nil
		})
		require.NoError(t, err)
		require.False(t, chosen.averaged)
		return chosen.rows, choice, heldBy
	}
	rows, choice, heldBy := choose(200, 200, 1, 0.2)
	require.Equal(t, 16, rows, choice)
	require.Regexp(t, `^chosen by 4-fold cross-validation on the 200 training rows; loss: 16 rows 1\.\d+, 32 rows 1\.\d+, 16 rows averaged with all rows 1\.\d+, 32 rows averaged with all rows 1\.\d+, all rows 1\.\d+$`, choice)
	for _, size := range []int{0, 16, 32} { // every row held out once by every size
		held := slices.Sorted(slices.Values(heldBy[size]))
		require.Len(t, held, 200)
		for i, r := range held {
			require.Equal(t, i, r)
		}
	}
	rows, choice, _ = choose(200, 200, 1, 0.01)
	require.Zero(t, rows)
	require.Regexp(t, `^one context of them all predicted held-out rows within -?\d\.\d+ standard errors of the best, 16 rows \(chosen by 4-fold`, choice)
	rows, choice, _ = choose(200, 200, 0, 0.01)
	require.Equal(t, 16, rows, choice)
	rows, choice, _ = choose(200, 200, 1, -0.2)
	require.Zero(t, rows)
	require.Regexp(t, `^one context of them all predicted held-out rows best \(`, choice)

	// 80 rows keep 60 per fold: 32 rows are more than half of them. 20 distinct rows
	// leave 16 rows only.
	_, _, heldBy = choose(80, 80, 1, 0.2)
	require.Equal(t, []int{0, 16}, slices.Sorted(maps.Keys(heldBy)))
	_, _, heldBy = choose(200, 20, 1, 0.2)
	require.Equal(t, []int{0, 16}, slices.Sorted(maps.Keys(heldBy)))
	rows, choice, heldBy = choose(200, 16, 1, 0.2)
	require.Zero(t, rows)
	require.Empty(t, choice)
	require.Empty(t, heldBy)
}

// The cross-validated choice also scores each local size averaged with one context: a row's value is the mean of the two candidates' values on that row, and its loss
// rowLoss of that. Here the loss is the square of the value, one context's value is 1 on the
// even rows and −1 on the odd ones and a local size's the other way round: each alone has a
// loss of 1 on every row, and only a row-by-row pairing gives their average a loss of 0.
func TestCrossValidatedAveragedChoice(t *testing.T) {
	square := func(v float64) float64 { return v * v }
	chosen, choice, err := crossValidatedContextRows(200, 200, 7, "loss", 0, square, nil, func(rows int, _ func(int, int), kept, held []int) ([]float64, error) {
		out := make([]float64, len(held))
		for i, r := range held {
			out[i] = 1 - 2*float64(r%2)
			if rows > 0 {
				out[i] = -out[i]
			}
		}
		return out, nil
	})
	require.NoError(t, err)
	require.Equal(t, contextCandidate{rows: 16, averaged: true}, chosen, choice)
	require.Equal(t, "chosen by 4-fold cross-validation on the 200 training rows; loss: 16 rows 1, 32 rows 1, 16 rows averaged with all rows 0, 32 rows averaged with all rows 0, all rows 1", choice)

	// The margin holds for averages as for local sizes alone. One context's value on row r
	// is 1 + u, a local size's v − (1 + u), so that their average is v/2, with u and v drawn
	// from [0, 1) and [0, 2): the average's loss is below one context's on every row, by
	// z standard errors of the paired differences.
	u := func(r int) float64 { return float64(mix(3, uint64(r))%1000) / 1000 }
	v := func(r int) float64 { return float64(mix(4, uint64(r))%2000) / 1000 }
	whole, averaged := make([]float64, 200), make([]float64, 200)
	for r := range 200 {
		whole[r], averaged[r] = square(1+u(r)), square(v(r)/2)
	}
	z := pairedZ(whole, averaged)
	require.Greater(t, z, 3.0)
	marginal := func(margin float64) (contextCandidate, string) {
		chosen, choice, err := crossValidatedContextRows(200, 200, 7, "loss", margin, square, nil, func(rows int, _ func(int, int), kept, held []int) ([]float64, error) {
			out := make([]float64, len(held))
			for i, r := range held {
				out[i] = 1 + u(r)
				if rows > 0 {
					out[i] = v(r) - out[i]
				}
			}
			return out, nil
		})
		require.NoError(t, err)
		return chosen, choice
	}
	chosen, choice = marginal(0.99 * z)
	require.Equal(t, contextCandidate{rows: 16, averaged: true}, chosen, choice)
	chosen, choice = marginal(1.01 * z)
	require.Equal(t, contextCandidate{}, chosen, choice)
	require.Contains(t, choice, "one context of them all predicted held-out rows within ")
	require.Contains(t, choice, " standard errors of the best, 16 rows averaged with all rows (")
}

// sharpScorer is frequencyScorer made overconfident: each class's frequency in the context
// raised to the fourth power, normalised. On a step with label noise a local context's
// frequencies then become near certainties that the noise makes costly, one context's
// balanced frequencies stay balanced, and their mean has the least log loss.
type sharpScorer struct{ frequencyScorer }

func (f *sharpScorer) Probabilities(in Input, temperature float64) ([][]float64, error) {
	out, err := f.frequencyScorer.Probabilities(in, temperature)
	if err != nil {
		return nil, err
	}
	k := in.Classes[0]
	for r := 0; r < len(out[0]); r += k {
		p := out[0][r : r+k]
		var sum float64
		for c := range p {
			p[c] = math.Pow(p[c], 4)
			sum += p[c]
		}
		floats.Scale(1/sum, p)
	}
	return out, nil
}

// A small classifier weighs local contexts of 16 and 32 rows and one context of every row by
// cross-validation and, on a step that the nearest rows tell through label noise, keeps the
// mixture: it predicts what each part alone predicts, mixed with its weights (those of the
// warning, which sum to 1), and the one context's part is what WithLocalContexts(0) predicts.
func TestStackedClassifier(t *testing.T) {
	cfg := classifierTinyConfig()
	rng := rand.New(rand.NewPCG(5, 1))
	X, y := data.NewMatrix(200, 2), make([]int, 200)
	for i := range 200 {
		X.Set(i, 0, rng.NormFloat64())
		X.Set(i, 1, rng.NormFloat64())
		if X.At(i, 0) > 0 {
			y[i] = 1
		}
		if rng.Float64() < 0.3 {
			y[i] = 1 - y[i]
		}
	}
	fit := func(opts ...Option) *Classifier {
		c, err := newWithScorer(&sharpScorer{frequencyScorer{cfg: cfg}}, cfg, append([]Option{WithEnsemble(1), WithPairwise(0)}, opts...)...)
		require.NoError(t, err)
		require.NoError(t, c.Fit(X, y, 2))
		return c
	}
	c := fit()
	require.NotNil(t, c.stacked, c.Warnings())
	require.True(t, c.local == nil)
	require.Len(t, c.Warnings(), 1)
	require.Regexp(t, `^each test row's class probabilities are a mixture of predictions from contexts of the 200 training rows, weighted \(.*\) to the least log loss of every training row predicted by 4-fold cross-validation \(stacking; log loss: 16 rows \d\.\d+, 32 rows \d\.\d+, all rows \d\.\d+, the mixture \d\.\d+\)$`, c.Warnings()[0])
	require.Contains(t, c.Warnings()[0], "one context of them all 0.")
	require.GreaterOrEqual(t, len(c.stacked.parts), 2)
	require.Equal(t, 1, c.Ensemble()) // the configured size: each part builds its own

	test := data.NewMatrix(20, 2)
	for i := range test.Data {
		test.Data[i] = rng.NormFloat64()
	}
	p, err := c.PredictProba(test)
	require.NoError(t, err)
	want := make([]float64, len(p.Data))
	sum := 0.0
	var whole []float64
	for _, part := range c.stacked.parts {
		require.GreaterOrEqual(t, part.weight, stackMinWeight)
		sum += part.weight
		var q data.Matrix
		if part.local != nil {
			require.Contains(t, []int{16, 32}, part.local.rows)
			alone := c.child(c.seed)
			alone.nCols, alone.nClasses = 2, 2
			q, err = alone.newLocal(X, y, part.local.rows, nil).predictProba(test, 2)
		} else {
			q, err = fit(WithLocalContexts(0)).PredictProba(test)
			whole = q.Data
		}
		require.NoError(t, err)
		floats.AddScaled(want, part.weight, q.Data)
	}
	require.InDelta(t, 1, sum, 1e-12)
	require.NotNil(t, whole)
	for i := range p.Data {
		require.InDelta(t, want[i], p.Data[i], 1e-12, i)
	}
	require.False(t, floats.EqualApprox(p.Data, whole, 0.01)) // the local parts move the mixture
	_, err = c.Embed(test)
	require.ErrorContains(t, err, "a context of its own")
}

// stackWeights maximises the mean log of the mixed probabilities on the simplex: at the
// maximum each candidate of positive weight has a mean ratio p_j/m of exactly 1 over the
// rows (m the mixture's probability), and one of weight 0 at most 1 (the Karush–Kuhn–Tucker
// conditions of the concave objective). Two mirror-image candidates share the weight
// equally, and a candidate below another on every row gets none.
func TestStackWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 2))
	for trial := range 20 {
		k, n := 2+trial%3, 30+trial*7
		p := make([][]float64, k)
		for j := range p {
			p[j] = make([]float64, n)
			for i := range p[j] {
				p[j][i] = math.Pow(rng.Float64(), float64(1+j))
			}
		}
		w := stackWeights(p)
		require.InDelta(t, 1, floats.Sum(w), 1e-12)
		for j := range k {
			ratio := 0.0
			for i := range n {
				m := 0.0
				for l := range k {
					m += w[l] * max(p[l][i], 1e-15)
				}
				ratio += max(p[j][i], 1e-15) / m / float64(n)
			}
			require.GreaterOrEqual(t, w[j], 0.0)
			if w[j] > 1e-6 {
				require.InDelta(t, 1, ratio, 1e-6, "trial %d, candidate %d of weight %g", trial, j, w[j])
			} else {
				require.LessOrEqual(t, ratio, 1+1e-6, "trial %d, candidate %d", trial, j)
			}
		}
	}
	mirror := [][]float64{{0.9, 0.1, 0.9, 0.1}, {0.1, 0.9, 0.1, 0.9}}
	require.InDeltaSlice(t, []float64{0.5, 0.5}, stackWeights(mirror), 1e-9)
	below := [][]float64{{0.9, 0.1, 0.8}, {0.5, 0.05, 0.7}, {0.2, 0.9, 0.3}}
	w := stackWeights(below)
	require.Less(t, w[1], 1e-6, w)
	require.Greater(t, w[0], 0.1, w)
	require.Greater(t, w[2], 0.1, w)
}

// With a margin, local contexts are chosen only where they beat one context by more than
// that many standard errors of the held-out rows' paired differences. The losses here are
// synthetic: one context's is noise around 1.5, a local size's the same plus a noise of mean
// 0 (over the held-out rows) and standard deviation about 0.29, less gain; the standard
// error of the mean difference is about 0.018.
func TestContextChoiceMargin(t *testing.T) {
	choose := func(margin, gain float64) (int, string) {
		rows, choice, err := chooseContextRows(1024, 1024, 7, "loss", margin, contextRace{}, nil, func(rows int, _ func(int, int), kept, held []int) ([]float64, error) {
			require.Len(t, held, 256)
			out, noise := make([]float64, len(held)), make([]float64, len(held))
			for i, r := range held {
				out[i] = 1 + float64(mix(1, uint64(r))%1000)/1000
				noise[i] = float64(mix(uint64(rows), uint64(r))%1000) / 1000
			}
			if rows > 0 {
				mean := floats.Sum(noise) / float64(len(noise))
				for i := range out {
					out[i] += noise[i] - mean
				}
			}
			if rows == DefaultLocalRows {
				floats.AddConst(-gain, out)
			}
			return out, nil
		})
		require.NoError(t, err)
		return rows, choice
	}
	rows, choice := choose(0, 0.01)
	require.Equal(t, DefaultLocalRows, rows, choice)
	rows, choice = choose(1, 0.01)
	require.Zero(t, rows)
	require.Regexp(t, `^one context of them all predicted held-out rows within 0\.\d+ standard errors of the best, 64 rows \(chosen on 256 held-out training rows; loss: 64 rows `, choice)
	rows, choice = choose(1, 0.1)
	require.Equal(t, DefaultLocalRows, rows, choice)
	require.Regexp(t, `^chosen on 256 held-out training rows; loss: 64 rows 1\.\d+, 256 rows 1\.\d+, all rows 1\.\d+$`, choice)
}

// A race stops a local size whose held-out loss is clearly behind after raceMinRows rows,
// and otherwise chooses exactly as predicting every held-out row with every size does. The
// losses are a function of the size and the row alone, as a model's are: one context's is
// noise around 1.5; a local size's the same plus shift and a noise of its own of mean 0
// and standard deviation about 0.29, and 256 rows' plus behind.
func TestContextChoiceRace(t *testing.T) {
	type call struct{ rows, n int }
	choose := func(race contextRace, shift, behind float64) (int, string, []call, [][2]int) {
		var calls []call
		var told [][2]int
		rows, choice, err := chooseContextRows(1024, 1024, 7, "loss", 1, race, func(done, total int) { told = append(told, [2]int{done, total}) },
			func(rows int, progress func(int, int), kept, held []int) ([]float64, error) {
				require.True(t, slices.IsSorted(held))
				calls = append(calls, call{rows, len(held)})
				out := make([]float64, len(held))
				for i, r := range held {
					out[i] = 1 + float64(mix(1, uint64(r))%1000)/1000
					if rows > 0 {
						out[i] += float64(mix(uint64(rows), uint64(r))%1000)/1000 - 0.5 + shift
					}
					if rows == 4*DefaultLocalRows {
						out[i] += behind
					}
					if rows > 0 && progress != nil {
						progress(i+1, 0)
					}
				}
				return out, nil
			})
		require.NoError(t, err)
		return rows, choice, calls, told
	}
	asked := func(calls []call) map[int]int {
		out := map[int]int{}
		for _, c := range calls {
			out[c.rows] += c.n
		}
		return out
	}
	// Without a race every size predicts all 256 rows in one call.
	rows, choice, calls, told := choose(contextRace{}, -0.1, 1)
	require.Equal(t, DefaultLocalRows, rows, choice)
	require.Equal(t, []call{{0, 256}, {64, 256}, {256, 256}}, calls)
	require.Equal(t, [2]int{512, 512}, told[len(told)-1])

	// Far behind the leader: 256 rows stop after 128 rows, and the choice and the other
	// sizes' losses are those of the full run.
	raced, racedChoice, calls, told := choose(classifierRace, -0.1, 1)
	require.Equal(t, rows, raced)
	require.Equal(t, map[int]int{0: 256, 64: 256, 256: 128}, asked(calls))
	require.Len(t, calls, 7)
	require.Regexp(t, `, 256 rows 2\.\d+ on the first 128, \d+(\.\d+)? standard errors behind 64 rows, then stopped, all rows `, racedChoice)
	require.Equal(t, strings.SplitN(choice, ", 256 rows", 2)[0], strings.SplitN(racedChoice, ", 256 rows", 2)[0])
	require.Equal(t, [2]int{384, 384}, told[len(told)-1])

	// Not behind: the race stops nothing and says what the full run says.
	rows, choice, _, _ = choose(contextRace{}, -0.1, 0)
	raced, racedChoice, calls, _ = choose(classifierRace, -0.1, 0)
	require.Equal(t, rows, raced)
	require.Equal(t, choice, racedChoice)
	require.Len(t, calls, 9)

	// A little behind one context (between 1 and 3 standard errors at 128 rows): the
	// futility bound stops both local sizes, and one context is chosen as without the race;
	// zStop alone lets both run past 128 rows (64 rows stop at 192, 4.1 behind).
	rows, choice, _, _ = choose(contextRace{}, 0.04, 0)
	require.Zero(t, rows, choice)
	raced, racedChoice, calls, _ = choose(classifierRace, 0.04, 0)
	require.Zero(t, raced, racedChoice)
	require.Equal(t, map[int]int{0: 256, 64: 128, 256: 128}, asked(calls))
	require.Regexp(t, `64 rows 1\.\d+ on the first 128, [12]\.\d+ standard errors behind all rows, then stopped, 256 rows 1\.\d+ on the first 128, [12]\.\d+ standard errors behind all rows, then stopped`, racedChoice)
	_, racedChoice, calls, _ = choose(contextRace{zStop: 3}, 0.04, 0)
	require.Equal(t, map[int]int{0: 256, 64: 192, 256: 256}, asked(calls), racedChoice)
}

func TestPairedZ(t *testing.T) {
	// Differences 1, 2, 3: mean 2, sample standard deviation 1, standard error 1/√3.
	require.InDelta(t, 2*math.Sqrt(3), pairedZ([]float64{2, 4, 6}, []float64{1, 2, 3}), 1e-12)
	require.InDelta(t, -2*math.Sqrt(3), pairedZ([]float64{1, 2, 3}, []float64{2, 4, 6}), 1e-12)
	require.True(t, math.IsInf(pairedZ([]float64{2, 3}, []float64{1, 2}), 1))
	require.True(t, math.IsInf(pairedZ([]float64{1, 2}, []float64{2, 3}), -1))
	require.Zero(t, pairedZ([]float64{2, 3}, []float64{2, 3}))
}

// BenchmarkLocalRegressor times fit + predict of 100 test rows from local contexts of 64 of
// 2000 training rows of 20 features, with a randomly initialised regression model of the
// shipped size (the same cost per row as a trained one) and the automatic ensemble: the
// workload of a large regression table, which runs one small forward pass per member and
// row.
func BenchmarkLocalRegressor(b *testing.B) {
	m := shippedSizeRegressionModel(b)
	X, y := regressionTable(2100, 20, 13, 1, 0)
	Xtr, ytr, Xte := X.SelectRows(seq(0, 2000)), y[:2000], X.SelectRows(seq(2000, 2100))
	cpu0 := processCPUSeconds()
	for b.Loop() {
		r, err := NewRegressor(WithModel(m), WithLocalContexts(DefaultLocalRows))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Fit(Xtr, ytr); err != nil {
			b.Fatal(err)
		}
		if _, err := r.PredictDistribution(Xte); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((processCPUSeconds()-cpu0)/float64(b.N), "cpu-s/op")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
}

func TestDistinctRows(t *testing.T) {
	X := data.NewMatrix(6, 2)
	for i, row := range [][]float64{{1, 2}, {1, 2}, {2, 1}, {math.NaN(), 0}, {math.NaN(), math.Copysign(0, -1)}, {1, math.NaN()}} {
		copy(X.Row(i), row)
	}
	require.Equal(t, 4, distinctRows(X)) // {1,2}, {2,1}, {NaN,0} = {NaN,−0}, {1,NaN}
	require.Equal(t, 1, distinctRows(X.SelectRows([]int{0, 1})))
	require.Equal(t, 0, distinctRows(data.NewMatrix(0, 3)))
	// Rows whose hashes collide are still told apart by their values.
	Y := data.NewMatrix(5000, 1)
	for i := range Y.Rows {
		Y.Set(i, 0, float64(i%1237))
	}
	require.Equal(t, 1237, distinctRows(Y))
}

// A local size is a candidate only when the training rows hold more distinct rows than it:
// with fewer than the smallest, one context is chosen without predicting any held-out row.
func TestContextChoiceDistinctRows(t *testing.T) {
	choose := func(distinct int) (int, string, map[int]int) {
		asked := map[int]int{}
		rows, choice, err := chooseContextRows(1024, distinct, 7, "loss", 1, classifierRace, nil, func(rows int, _ func(int, int), kept, held []int) ([]float64, error) {
			asked[rows] += len(held)
			out := make([]float64, len(held))
			for i, r := range held {
				out[i] = 1 + float64(mix(1, uint64(r))%1000)/1000
				if rows > 0 {
					out[i] -= 0.5 // local contexts predict far better
				}
			}
			return out, nil
		})
		require.NoError(t, err)
		return rows, choice, asked
	}
	rows, choice, asked := choose(1024)
	require.Equal(t, DefaultLocalRows, rows, choice)
	require.Equal(t, map[int]int{0: 256, 64: 256, 256: 256}, asked)

	rows, choice, asked = choose(100)
	require.Equal(t, DefaultLocalRows, rows, choice)
	require.Equal(t, map[int]int{0: 256, 64: 256}, asked)
	require.Regexp(t, `^chosen on 256 held-out training rows; loss: 64 rows 1\.\d+, all rows 1\.\d+, not 256 rows, as the rows hold 100 distinct ones$`, choice)

	rows, choice, asked = choose(DefaultLocalRows)
	require.Zero(t, rows)
	require.Empty(t, asked)
	require.Equal(t, "one context of them all, as they hold 64 distinct rows, too few for local contexts of 64 rows or 256 rows", choice)
}

// On a table whose rows take few distinct values, the classifier and the regressor keep one
// context where local contexts would otherwise win the held-out loss: three binary features
// of which the first tells the class (or the target). A scorer that answers its context's
// label frequencies, or fits a line to it, predicts the held-out rows far better from the 64
// nearest rows, copies of each row's own value.
func TestLocalContextsNeedDistinctRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 2))
	binary := func(rows, values int) data.Matrix {
		X := data.NewMatrix(rows, 3)
		for i := range rows {
			v := rng.IntN(values)
			for j := range 3 {
				X.Set(i, j, float64(v>>j&1))
			}
		}
		return X
	}
	cfg := classifierTinyConfig()
	cfg.MaxRows = 1024
	classify := func(X data.Matrix) *Classifier {
		y := make([]int, X.Rows)
		for i := range y {
			y[i] = int(X.At(i, 0))
			if rng.Float64() < 0.1 {
				y[i] = 1 - y[i]
			}
		}
		c, err := newWithScorer(&frequencyScorer{cfg: cfg}, cfg, WithEnsemble(1), WithPairwise(0))
		require.NoError(t, err)
		require.NoError(t, c.Fit(X, y, 2))
		return c
	}
	// Eight distinct rows, fewer than a context of 64: one context, and the choice says
	// nothing. The same table of more distinct rows (a fourth, continuous feature) chooses
	// local contexts.
	c := classify(binary(classifierChoiceMinRows, 8))
	require.True(t, c.local == nil, c.Warnings())
	require.Empty(t, c.Warnings())
	X := binary(classifierChoiceMinRows, 8)
	wide := data.NewMatrix(X.Rows, 4)
	for i := range X.Rows {
		copy(wide.Row(i), X.Row(i))
		wide.Set(i, 3, rng.NormFloat64())
	}
	c = classify(wide)
	require.NotNil(t, c.local, c.Warnings())

	// Above the model's context a classifier takes local contexts without a choice, unless
	// they would not be local.
	cfg.MaxRows = 50
	c = classify(binary(600, 8))
	require.True(t, c.local == nil, c.Warnings())
	require.Contains(t, c.Warnings()[0], "the 600 training rows hold 8 distinct rows, too few for local contexts of 64: one context of them all")

	const bins = 2000
	rcfg := tinyConfig().AsRegression(bins)
	rcfg.MaxRows, rcfg.MaxFeatures = 50, 30
	bars := uniformBars(t, bins, -10, 10)
	X = binary(600, 4)
	y := make([]float64, X.Rows)
	for i := range y {
		y[i] = X.At(i, 0) + 0.1*rng.NormFloat64()
	}
	r := newRegressorWithScorer(t, &linearScorer{cfg: rcfg, bars: bars}, rcfg, bars, WithEnsemble(1), WithTargetTransform(TargetNone),
		WithVariants(preprocess.VariantStandard))
	require.NoError(t, r.Fit(X, y))
	require.Zero(t, r.LocalContextRows(), r.Warnings())
	require.Contains(t, r.Warnings()[0], "one context of them all, as they hold 4 distinct rows, too few for local contexts of 64 rows or 256 rows")
}

// uniformBars returns a bar distribution of bins equal bins over [lo, hi].
func uniformBars(t *testing.T, bins int, lo, hi float64) *Bars {
	borders := make([]float64, bins+1)
	for i := range borders {
		borders[i] = lo + (hi-lo)*float64(i)/float64(bins)
	}
	bars, err := NewBars(borders)
	require.NoError(t, err)
	return bars
}

// The regressor's cross-validated choice keeps its margin: local contexts, scored by squared
// error, must lead one context by more than contextChoiceMargin standard errors. It chooses
// on twelve tables where local contexts and one context are close: y = 0.35·|x| plus unit
// noise, which the linear scorer fits only piecewise. Some tables must fall to each side, and
// the margin must settle some, each within it.
func TestRegressorCrossValidatedMargin(t *testing.T) {
	zWithin := func(choice string) float64 {
		_, after, ok := strings.Cut(choice, "predicted held-out rows within ")
		if !ok {
			return math.NaN()
		}
		var z float64
		_, err := fmt.Sscanf(after, "%g standard errors", &z)
		require.NoError(t, err, choice)
		return z
	}

	const bins = 2000
	rcfg := tinyConfig().AsRegression(bins)
	rcfg.MaxRows, rcfg.MaxFeatures = 1024, 30
	bars := uniformBars(t, bins, -10, 10)
	var local, settled int
	for seed := uint64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, 9))
		X, y := data.NewMatrix(100, 1), make([]float64, 100)
		for i := range 100 {
			X.Set(i, 0, rng.NormFloat64())
			y[i] = 0.35*math.Abs(X.At(i, 0)) + rng.NormFloat64()
		}
		r := newRegressorWithScorer(t, &linearScorer{cfg: rcfg, bars: bars}, rcfg, bars, WithEnsemble(1),
			WithTargetTransform(TargetNone), WithVariants(preprocess.VariantStandard))
		how, choice, err := r.chooseContext(X, y)
		require.NoError(t, err)
		switch z := zWithin(choice); {
		case how.rows > 0:
			local++
		case !math.IsNaN(z):
			settled++
			require.Greater(t, z, 0.0, choice)
			require.LessOrEqual(t, z, float64(contextChoiceMargin), choice)
		}
	}
	require.Positive(t, local, "no regression table chose local contexts")
	require.Positive(t, settled, "the margin settled no regression table")
}
