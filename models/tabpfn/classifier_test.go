package tabpfn

import (
	"bytes"
	"fmt"
	"github.com/kiln-ml/kiln/internal/shareddata"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/examples/wine"
	"github.com/kiln-ml/kiln/metrics"
)

func classifierTinyConfig() Config {
	return Config{Layers: 1, Width: 16, Heads: 2, MLPWidth: 32, FeatureDim: 8, MaxClasses: 10, MaxFeatures: 20, MaxRows: 256}
}

func tinyModel(t testing.TB) *Model {
	t.Helper()
	m, err := New(device.MustGet("cpu"), classifierTinyConfig(), 7)
	require.NoError(t, err)
	t.Cleanup(m.Release)
	return m
}

// clusters draws n rows of f features in k Gaussian clusters (row i in class i mod k): each
// class has a random centre drawn with standard deviation sep and rows scatter around it with
// standard deviation 1, so sep ≫ 1 makes the classes separable.
func clusters(n, f, k int, sep float64, seed uint64) (data.Matrix, []int) {
	rng := rand.New(rand.NewPCG(seed, 99))
	centre := make([][]float64, k)
	for c := range centre {
		centre[c] = make([]float64, f)
		for j := range centre[c] {
			centre[c][j] = sep * rng.NormFloat64()
		}
	}
	X := data.NewMatrix(n, f)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		y[i] = i % k
		for j := 0; j < f; j++ {
			X.Set(i, j, centre[y[i]][j]+rng.NormFloat64())
		}
	}
	return X, y
}

func requireValidProba(t *testing.T, p data.Matrix, rows, cols int) {
	t.Helper()
	require.Equal(t, rows, p.Rows)
	require.Equal(t, cols, p.Cols)
	for r := 0; r < rows; r++ {
		s := 0.0
		for _, v := range p.Row(r) {
			require.False(t, math.IsNaN(v))
			require.GreaterOrEqual(t, v, 0.0)
			require.LessOrEqual(t, v, 1.0)
			s += v
		}
		require.InDelta(t, 1, s, 1e-9, "row %d", r)
	}
}

// fakeScorer stands in for the model with a rule whose output the test can derive by hand.
// It validates inputs as the model does and records the shapes it was shown.
type fakeScorer struct {
	cfg Config
	// fixed, when set, is returned for every test row whatever the context (a label-biased
	// "model"): fixed[l] is the probability of model label l.
	fixed []float64
	// Otherwise the scorer is 1-nearest-neighbour on the presented features: probability
	// 1 − eps on the nearest training row's label, the rest spread evenly.
	eps      float64
	nTrain   []int
	features []int
	classes  []int
	seeds    []uint64
	tests    []int // test rows of each call
}

func (f *fakeScorer) Probabilities(in Input, temperature float64) ([][]float64, error) {
	if err := in.check(f.cfg); err != nil {
		return nil, err
	}
	f.nTrain = append(f.nTrain, in.NTrain)
	f.features = append(f.features, in.Features)
	f.classes = append(f.classes, in.Classes[0])
	f.seeds = append(f.seeds, in.FeatureSeed)
	f.tests = append(f.tests, in.Rows-in.NTrain)
	k, F, T := in.Classes[0], in.Features, in.Rows-in.NTrain
	out := make([]float64, T*k)
	for r := 0; r < T; r++ {
		row := out[r*k : (r+1)*k]
		if f.fixed != nil {
			copy(row, f.fixed[:k])
			continue
		}
		q := in.X[(in.NTrain+r)*F : (in.NTrain+r+1)*F]
		best, bestD := 0, math.Inf(1)
		for i := 0; i < in.NTrain; i++ {
			d := 0.0
			for j, v := range in.X[i*F : (i+1)*F] {
				e := float64(v - q[j])
				d += e * e
			}
			if d < bestD {
				best, bestD = i, d
			}
		}
		for c := range row {
			row[c] = f.eps / float64(k-1)
		}
		row[in.Y[best]] = 1 - f.eps
	}
	return [][]float64{out}, nil
}

func TestClassifierTinyModelProbabilities(t *testing.T) {
	m := tinyModel(t)
	X, y := clusters(90, 5, 3, 3, 1)
	X.Set(4, 2, math.NaN()) // missing values are allowed
	X.Set(50, 0, math.NaN())
	Xtr, ytr := X.SelectRows(seq(0, 60)), y[:60]
	Xte := X.SelectRows(seq(60, 90))

	// Four classes asked for, three present: the absent class gets probability 0.
	c, err := NewClassifier(WithModel(m), WithEnsemble(3), WithPairwise(0))
	require.NoError(t, err)
	require.NoError(t, c.Fit(Xtr, ytr, 4))
	p, err := c.PredictProba(Xte)
	require.NoError(t, err)
	requireValidProba(t, p, 30, 4)
	for r := 0; r < 30; r++ {
		require.Zero(t, p.At(r, 3))
	}

	// The ensemble is the plain mean of its members, and the members differ.
	per := make([][]float64, len(c.members))
	for i, mb := range c.members {
		per[i], err = c.predictMember(mb, Xte, 3)
		require.NoError(t, err)
	}
	for i := 1; i < len(per); i++ {
		require.NotEqual(t, per[0], per[i], "members 0 and %d agree exactly", i)
	}
	for r := 0; r < 30; r++ {
		for cl := 0; cl < 3; cl++ {
			mean := (per[0][r*3+cl] + per[1][r*3+cl] + per[2][r*3+cl]) / 3
			require.InDelta(t, mean, p.At(r, cl), 1e-12)
		}
	}

	// Predict is the argmax; the same seed reproduces the probabilities exactly.
	pred, err := c.Predict(Xte)
	require.NoError(t, err)
	require.Equal(t, metrics.Argmax(p), pred)
	c2, err := NewClassifier(WithModel(m), WithEnsemble(3), WithPairwise(0))
	require.NoError(t, err)
	require.NoError(t, c2.Fit(Xtr, ytr, 4))
	p2, err := c2.PredictProba(Xte)
	require.NoError(t, err)
	require.Equal(t, p.Data, p2.Data)

	// Chunking does not change the result: chunks of 7 rows against one pass.
	c3, err := NewClassifier(WithModel(m), WithEnsemble(3), WithPairwise(0), WithTestBatch(7))
	require.NoError(t, err)
	require.NoError(t, c3.Fit(Xtr, ytr, 4))
	p3, err := c3.PredictProba(Xte)
	require.NoError(t, err)
	require.InDeltaSlice(t, p.Data, p3.Data, 1e-5)
}

// The chunked forward (all rows' activations held once, each attention a block at a time,
// the last layer for the target tokens only) computes what Model.Forward computes, with
// missing cells and masked classes.
func TestChunkedScorerMatchesForward(t *testing.T) {
	// One layer is the reduced last layer alone; three add two full ones. Chunk sizes of 1
	// and 7 rows make blocks of one column and of a few rows; 51, blocks of several columns;
	// 1000, one block for everything.
	for _, layers := range []int{1, 3} {
		cfg := classifierTinyConfig()
		cfg.Layers = layers
		m, err := New(device.MustGet("cpu"), cfg, 21)
		require.NoError(t, err)
		defer m.Release()
		rng := rand.New(rand.NewPCG(4, 5))
		in := Input{Batch: 1, Rows: 83, Features: 6, NTrain: 51, Classes: []int{4}, FeatureSeed: 9}
		for i := 0; i < in.Rows*in.Features; i++ {
			v := float32(rng.NormFloat64())
			if i%17 == 3 {
				v = float32(math.NaN())
			}
			in.X = append(in.X, v)
		}
		for i := 0; i < in.NTrain; i++ {
			in.Y = append(in.Y, int32(rng.IntN(4)))
		}
		want, err := m.Probabilities(in, 0.8)
		require.NoError(t, err)
		for _, chunk := range []int{0, 1, 7, 51, 1000} {
			got, err := chunkedScorer{m: m, chunkRows: chunk}.Probabilities(in, 0.8)
			require.NoError(t, err)
			require.Len(t, got[0], len(want[0]))
			require.InDeltaSlice(t, want[0], got[0], 2e-6, "%d layers, chunk %d", layers, chunk)
		}
		in.Batch = 2
		_, err = chunkedScorer{m: m}.Probabilities(in, 1)
		require.Error(t, err)
	}
}

// A single member with the standard variant and no rotation is exactly one model call on the
// preprocessed rows: rebuild that call by hand and compare.
func TestClassifierMemberMatchesDirectModelCall(t *testing.T) {
	m := tinyModel(t)
	X, y := clusters(50, 4, 2, 2, 3)
	Xtr, ytr, Xte := X.SelectRows(seq(0, 40)), y[:40], X.SelectRows(seq(40, 50))
	c, err := NewClassifier(WithModel(m), WithEnsemble(1), WithVariants(preprocess.VariantStandard), WithTemperature(1.3))
	require.NoError(t, err)
	require.NoError(t, c.Fit(Xtr, ytr, 2))
	p, err := c.PredictProba(Xte)
	require.NoError(t, err)

	pre := preprocess.New(preprocess.VariantStandard.Config(0))
	all, err := pre.FitTransform(Xtr, nil)
	require.NoError(t, err)
	te, err := pre.Transform(Xte)
	require.NoError(t, err)
	all = data.Matrix{Rows: 50, Cols: all.Cols, Data: append(all.Data, te.Data...)}
	cols := c.members[0].cols
	require.ElementsMatch(t, seq(0, all.Cols), cols, "one member presents every column once")
	in := Input{Batch: 1, Rows: 50, Features: len(cols), NTrain: 40, Classes: []int{2}, FeatureSeed: c.members[0].featureSeed}
	for r := 0; r < 50; r++ {
		for _, j := range cols {
			in.X = append(in.X, float32(all.At(r, j)))
		}
	}
	for _, v := range ytr {
		in.Y = append(in.Y, int32(v))
	}
	want, err := m.Probabilities(in, 1.3)
	require.NoError(t, err)
	require.InDeltaSlice(t, want[0], p.Data, 1e-12)
}

func TestClassifierRotationIsUndone(t *testing.T) {
	cfg := classifierTinyConfig()
	X, y := clusters(60, 3, 3, 2, 5)
	Xtr, ytr, Xte := X.SelectRows(seq(0, 45)), y[:45], X.SelectRows(seq(45, 60))
	q := []float64{0.5, 0.3, 0.2}
	for _, tc := range []struct {
		n    int
		want []float64
	}{
		// Offsets 0: p(c) = q[c].
		{1, q},
		// Offsets 0 and ⌊3/2⌋ = 1: p(c) = (q[c] + q[(c+1) mod 3]) / 2.
		{2, []float64{0.4, 0.25, 0.35}},
		// Offsets 0, 1, 2: every class sees every label once, so the bias averages out.
		{3, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
		// Offsets ⌊3i/4⌋ = 0, 0, 1, 2: p(c) = (2q[c] + q[c+1] + q[c+2]) / 4 = (q[c] + 1) / 4.
		{4, []float64{0.375, 0.325, 0.3}},
	} {
		fs := &fakeScorer{cfg: cfg, fixed: q}
		c, err := newWithScorer(fs, cfg, WithEnsemble(tc.n), WithPairwise(0))
		require.NoError(t, err)
		require.NoError(t, c.Fit(Xtr, ytr, 3))
		p, err := c.PredictProba(Xte)
		require.NoError(t, err)
		for r := 0; r < p.Rows; r++ {
			require.InDeltaSlice(t, tc.want, p.Row(r), 1e-12, "ensemble %d", tc.n)
		}
		// Each member draws its own feature embeddings.
		require.Len(t, fs.seeds, tc.n)
		for i := range fs.seeds {
			for j := i + 1; j < len(fs.seeds); j++ {
				require.NotEqual(t, fs.seeds[i], fs.seeds[j])
			}
		}
	}

	// A label-equivariant rule (nearest neighbour) gives the same answer under every
	// rotation, and on separable clusters it is the true class.
	Xs, ys := clusters(80, 3, 3, 10, 6)
	fs := &fakeScorer{cfg: cfg, eps: 0.1}
	c, err := newWithScorer(fs, cfg, WithEnsemble(3), WithPairwise(0), WithVariants(preprocess.VariantStandard))
	require.NoError(t, err)
	require.NoError(t, c.Fit(Xs.SelectRows(seq(0, 60)), ys[:60], 3))
	p, err := c.PredictProba(Xs.SelectRows(seq(60, 80)))
	require.NoError(t, err)
	for r := 0; r < p.Rows; r++ {
		want := []float64{0.05, 0.05, 0.05}
		want[ys[60+r]] = 0.9
		require.InDeltaSlice(t, want, p.Row(r), 1e-12)
	}
}

func TestOutputCodes(t *testing.T) {
	for _, tc := range []struct{ k, m, n, min int }{{12, 10, 4, 4}, {26, 10, 4, 4}, {26, 10, 9, 9}, {101, 10, 1, 6}, {11, 10, 1, 4}} {
		books := outputCodes(tc.k, tc.m, tc.n, data.NewRand(uint64(tc.k), 1))
		require.GreaterOrEqual(t, len(books), tc.min)
		for _, b := range books {
			require.Len(t, b, tc.k)
			used := make([]int, tc.m)
			for _, l := range b {
				used[l]++
			}
			lo, hi := slices.Min(used), slices.Max(used)
			require.Equal(t, tc.k/tc.m, lo, "balanced: every label carries ⌊k/m⌋ or ⌈k/m⌉ classes")
			require.LessOrEqual(t, hi, (tc.k+tc.m-1)/tc.m)
		}
		for a := 0; a < tc.k; a++ {
			for b := a + 1; b < tc.k; b++ {
				apart := 0
				for _, book := range books {
					if book[a] != book[b] {
						apart++
					}
				}
				require.GreaterOrEqual(t, apart, 2, "classes %d and %d", a, b)
			}
		}
	}
}

// Twelve classes on a ten-class model: with a scorer that gets every codebook label right,
// decoding must recover the exact class; the probabilities follow from the log pool by hand.
func TestClassifierManyClassesOutputCodes(t *testing.T) {
	cfg := classifierTinyConfig()
	X, y := clusters(240, 4, 12, 12, 8)
	Xtr, ytr, Xte, yte := X.SelectRows(seq(0, 180)), y[:180], X.SelectRows(seq(180, 240)), y[180:]
	fs := &fakeScorer{cfg: cfg, eps: 0.09}
	// The pairs of candidate classes are off: TestClassifierPrunedPairs checks them.
	c, err := newWithScorer(fs, cfg, WithEnsemble(4), WithPairwise(0), WithVariants(preprocess.VariantStandard), WithLocalContexts(0))
	require.NoError(t, err)
	require.NoError(t, c.Fit(Xtr, ytr, 12))
	require.GreaterOrEqual(t, c.Ensemble(), 4)
	require.True(t, slices.ContainsFunc(c.Warnings(), func(s string) bool { return strings.Contains(s, "output codes") }))
	p, err := c.PredictProba(Xte)
	require.NoError(t, err)
	requireValidProba(t, p, 60, 12)
	for _, l := range fs.classes {
		require.Equal(t, 10, l, "every model call sees the ten labels")
	}
	pred := metrics.Argmax(p)
	require.Equal(t, yte, pred)

	// Hand decoding of one row: balanced training classes (15 rows each), so share(c) =
	// 1 / (classes on c's label); member probability 0.91 on the right label, 0.01 elsewhere.
	r := 0
	logp := make([]float64, 12)
	for _, mb := range c.members {
		carried := make([]int, 10)
		for _, l := range mb.code {
			carried[l]++
		}
		for cl := range logp {
			pl := 0.01
			if mb.code[cl] == mb.code[yte[r]] {
				pl = 0.91
			}
			logp[cl] += math.Log(pl/float64(carried[mb.code[cl]])) / float64(len(c.members))
		}
	}
	sum := 0.0
	for _, v := range logp {
		sum += math.Exp(v)
	}
	for cl, v := range logp {
		require.InDelta(t, math.Exp(v)/sum, p.At(r, cl), 1e-9)
	}

	// The real (tiny, untrained) model on the same path gives valid probabilities.
	cm, err := NewClassifier(WithModel(tinyModel(t)), WithEnsemble(2))
	require.NoError(t, err)
	require.NoError(t, cm.Fit(Xtr, ytr, 12))
	pm, err := cm.PredictProba(Xte)
	require.NoError(t, err)
	requireValidProba(t, pm, 60, 12)
}

// The letter data (26 classes) through output codes with a nearest-neighbour scorer: every
// codebook labels a test row by the same nearest training row, so decoding must reproduce
// plain 1-NN on the preprocessed features, computed here directly. (Distances between
// letter's small-integer features tie often; members see the features in different orders,
// so a tie can break differently in float32, hence the small tolerance.)
func TestClassifierLetterOutputCodesMatchNearestNeighbour(t *testing.T) {
	tab, err := data.LoadCSV(shareddata.Require(t, "tabular/letter.csv"), data.Options{})
	require.NoError(t, err)
	k := tab.NumClasses()
	require.Equal(t, 26, k)
	trIdx, teIdx, err := data.StratifiedSplit(tab.Y, k, 0.5, 0)
	require.NoError(t, err)
	train, test := tab.Subset(trIdx), tab.Subset(teIdx)
	sub, err := data.StratifiedSubsample(train.Y, k, 1000, 0)
	require.NoError(t, err)
	train = train.Subset(sub)
	if sub, err = data.StratifiedSubsample(test.Y, k, 500, 0); err != nil {
		t.Fatal(err)
	}
	test = test.Subset(sub)

	cfg := SmallConfig()
	fs := &fakeScorer{cfg: cfg, eps: 0.05}
	c, err := newWithScorer(fs, cfg, WithVariants(preprocess.VariantStandard))
	require.NoError(t, err)
	require.NoError(t, c.Fit(train.X, train.Y, k))
	p, err := c.PredictProba(test.X)
	require.NoError(t, err)
	requireValidProba(t, p, test.Rows(), k)
	got, err := metrics.Accuracy(test.Y, p)
	require.NoError(t, err)

	pre := preprocess.New(preprocess.VariantStandard.Config(0))
	trX, err := pre.FitTransform(train.X, nil)
	require.NoError(t, err)
	teX, err := pre.Transform(test.X)
	require.NoError(t, err)
	correct := 0
	for i := 0; i < teX.Rows; i++ {
		best, bestD := 0, math.Inf(1)
		for j := 0; j < trX.Rows; j++ {
			d := 0.0
			for f, v := range trX.Row(j) {
				e := float64(float32(v) - float32(teX.At(i, f)))
				d += e * e
			}
			if d < bestD {
				best, bestD = j, d
			}
		}
		if train.Y[best] == test.Y[i] {
			correct++
		}
	}
	want := float64(correct) / float64(teX.Rows)
	t.Logf("letter, %d codebooks: output-code accuracy %.4f, direct 1-NN %.4f", c.Ensemble(), got, want)
	require.Greater(t, want, 0.5, "1-NN on letter should be well above chance (1/26)")
	require.InDelta(t, want, got, 0.02)
}

// Tables larger than the limits set with WithMaxRows and WithMaxFeatures are seen through a
// stratified row subsample and a random feature subset per member.
func TestClassifierSubsamplingWarnings(t *testing.T) {
	checkSubsampling(t, classifierTinyConfig(), []Option{WithMaxRows(50), WithMaxFeatures(4)})
}

// Without local contexts the default limits are MaxContextRows and MaxContextFeatures, above
// the sizes the model was trained on: every row and feature reaches the model, with a
// warning that the model extrapolates; a model trained on larger contexts keeps its own
// limits.
func TestClassifierLimitsRaised(t *testing.T) {
	small := classifierTinyConfig()
	small.MaxRows, small.MaxFeatures = 50, 4
	for _, opts := range [][]Option{nil, {WithMaxRows(500), WithMaxFeatures(40)}} {
		X, y := clusters(120, 7, 3, 2, 9)
		fs := &fakeScorer{cfg: small, fixed: []float64{0.2, 0.3, 0.5}}
		c, err := newWithScorer(fs, small, append([]Option{WithEnsemble(2), WithPairwise(0), WithLocalContexts(0)}, opts...)...)
		require.NoError(t, err)
		require.NoError(t, c.Fit(X, y, 3))
		w := c.Warnings()
		require.Len(t, w, 2)
		require.Contains(t, w[0], "context of 120 training rows is above the 50 the model was trained on")
		require.Contains(t, w[1], "presents 7 features, above the 4 the model was trained on")
		_, err = c.PredictProba(X.SelectRows(seq(0, 10)))
		require.NoError(t, err)
		require.Equal(t, []int{120, 120}, fs.nTrain)
		require.Equal(t, []int{7, 7}, fs.features)
	}
	c, err := newWithScorer(&fakeScorer{cfg: small}, small)
	require.NoError(t, err)
	rows, features := c.limits()
	require.Equal(t, []int{MaxContextRows, MaxContextFeatures}, []int{rows, features})
	big := small
	big.MaxRows, big.MaxFeatures = 2*MaxContextRows, 2*MaxContextFeatures
	c, err = newWithScorer(&fakeScorer{cfg: big}, big)
	require.NoError(t, err)
	rows, features = c.limits()
	require.Equal(t, []int{big.MaxRows, big.MaxFeatures}, []int{rows, features})
}

func checkSubsampling(t *testing.T, cfg Config, opts []Option) {
	X, y := clusters(120, 7, 3, 2, 9)
	y[0], y[3], y[6] = 2, 2, 2 // unbalanced classes: 37 / 40 / 43
	fs := &fakeScorer{cfg: cfg, fixed: []float64{0.2, 0.3, 0.5}}
	c, err := newWithScorer(fs, cfg, append([]Option{WithEnsemble(3), WithPairwise(0), WithLocalContexts(0)}, opts...)...)
	require.NoError(t, err)
	var log strings.Builder
	c.warn = &log
	require.NoError(t, c.Fit(X, y, 3))
	w := c.Warnings()
	require.Len(t, w, 2)
	require.Contains(t, w[0], "120 training rows exceed the context of 50")
	require.Contains(t, w[1], "7 features after preprocessing exceed the limit of 4")
	require.Contains(t, log.String(), "tabpfn: warning: 120 training rows")

	counts := func(ys []int32) []int {
		n := make([]int, 3)
		for _, v := range ys {
			n[v]++
		}
		return n
	}
	var firstCols []int
	for i, mb := range c.members {
		require.Len(t, mb.trainY, 50)
		require.Len(t, mb.cols, 4)
		// Undo the rotation to count the original classes.
		orig := make([]int32, len(mb.trainY))
		for j, l := range mb.trainY {
			orig[j] = int32(slices.Index(mb.code, int(l)))
		}
		n := counts(orig)
		total := [3]int{}
		for _, v := range y {
			total[v]++
		}
		for cl := range n {
			require.InDelta(t, float64(total[cl])*50/120, float64(n[cl]), 1, "member %d class %d", i, cl)
		}
		if i == 0 {
			firstCols = mb.cols
		} else {
			require.NotEqual(t, firstCols, mb.cols, "feature subsets should differ between members")
		}
	}
	_, err = c.PredictProba(X.SelectRows(seq(0, 10)))
	require.NoError(t, err)
	require.Equal(t, []int{50, 50, 50}, fs.nTrain)
	require.Equal(t, []int{4, 4, 4}, fs.features)
}

// With random subsets, a member on principal axes that must drop columns keeps the
// non-component columns and the leading components (a truncated PCA), not a random subset
// of components.
func TestSubsetColumnsKeepsLeadingComponents(t *testing.T) {
	// Output columns 0..5 are components in order of variance, 6 is categorical, 7 an
	// indicator (input column 2's).
	kept := []int{-1, -1, -1, -1, -1, -1, 4}
	perm := []int{5, 7, 0, 3, 6, 1, 4, 2}
	got := subsetColumns(perm, kept, 4)
	require.Equal(t, []int{7, 0, 6, 1}, got, "indicator and categorical first, then components 0 and 1, in perm's order")
	require.Equal(t, perm[:3], subsetColumns(perm, []int{0, 1, 2, 3, 4, 5, 6}, 3), "no components: a random subset")
	require.Equal(t, perm, subsetColumns(perm, kept, 8))
	require.Equal(t, []int{6, 7}, subsetColumns([]int{6, 7, 0}, kept, 2), "more other columns than room")

	// Through Fit: 12 correlated numeric columns and one categorical, at most 5 features.
	rng := rand.New(rand.NewPCG(1, 9))
	X := data.NewMatrix(80, 13)
	y := make([]int, 80)
	for i := 0; i < 80; i++ {
		y[i] = i % 2
		u := rng.NormFloat64() + float64(y[i])
		for j := 0; j < 12; j++ {
			X.Data[i*13+j] = u*float64(j+1) + rng.NormFloat64()
		}
		X.Data[i*13+12] = float64(i % 3)
	}
	cols := make([]data.Column, 13)
	for j := range cols {
		cols[j] = data.Column{Name: fmt.Sprint("x", j)}
	}
	cols[12] = data.Column{Name: "k", Kind: data.Categorical, Categories: []string{"a", "b", "c"}}
	cfg := classifierTinyConfig()
	c, err := newWithScorer(&fakeScorer{cfg: cfg, eps: 0.1}, cfg, WithEnsemble(2), WithMaxFeatures(5),
		WithVariants(preprocess.VariantStandardPCA, preprocess.VariantStandard), WithFeatureSelection(FeaturesRandom), WithLocalContexts(0))
	require.NoError(t, err)
	c.SetColumns(cols)
	require.NoError(t, c.Fit(X, y, 2))
	pcaMember := c.members[0]
	keptCols := pcaMember.pre.KeptColumns()
	var names []string
	for _, col := range pcaMember.cols {
		names = append(names, pcaMember.pre.OutputNames()[col])
	}
	slices.Sort(names)
	require.Equal(t, []string{"k", "pc1", "pc2", "pc3", "pc4"}, names, "kept %v", keptCols)
}

// Columns that carry nothing (constant, or missing everywhere) are dropped by preprocessing;
// with none left the model sees one all-zero column and predicts from the labels alone.
func TestClassifierNoUsableFeatures(t *testing.T) {
	cfg := classifierTinyConfig()
	X := data.NewMatrix(30, 2)
	y := make([]int, 30)
	for i := range y {
		X.Set(i, 0, 4)
		X.Set(i, 1, math.NaN())
		y[i] = i % 2
	}
	fs := &fakeScorer{cfg: cfg, fixed: []float64{0.7, 0.3}}
	c, err := newWithScorer(fs, cfg, WithEnsemble(2))
	require.NoError(t, err)
	require.NoError(t, c.Fit(X, y, 2))
	p, err := c.PredictProba(X.SelectRows(seq(0, 5)))
	require.NoError(t, err)
	require.Equal(t, []int{1, 1}, fs.features)
	for r := 0; r < 5; r++ {
		require.InDeltaSlice(t, []float64{0.5, 0.5}, p.Row(r), 1e-12) // offsets 0 and 1
	}
	cm, err := NewClassifier(WithModel(tinyModel(t)))
	require.NoError(t, err)
	require.NoError(t, cm.Fit(X, y, 2))
	pm, err := cm.PredictProba(X.SelectRows(seq(0, 5)))
	require.NoError(t, err)
	requireValidProba(t, pm, 5, 2)
}

func TestClassifierBadInput(t *testing.T) {
	m := tinyModel(t)
	X, y := clusters(20, 3, 2, 2, 10)
	newC := func(opts ...Option) *Classifier {
		c, err := NewClassifier(append([]Option{WithModel(m), WithEnsemble(1)}, opts...)...)
		require.NoError(t, err)
		return c
	}
	withInf := X.Clone()
	withInf.Set(3, 1, math.Inf(1))
	oneClass := make([]int, 20)
	outOfRange := slices.Clone(y)
	outOfRange[5] = 2
	negative := slices.Clone(y)
	negative[7] = -1

	for _, tc := range []struct {
		name string
		X    data.Matrix
		y    []int
		k    int
		want string
	}{
		{"inf", withInf, y, 2, "row 3, column 1 is +Inf"},
		{"one class", X, oneClass, 2, "every training label is class 0"},
		{"label out of range", X, outOfRange, 2, "label 2 of row 5 is outside [0, 2)"},
		{"negative label", X, negative, 2, "label -1 of row 7"},
		{"one class asked", X, y, 1, "need at least 2 classes"},
		{"label count", X, y[:19], 2, "19 labels for 20 rows"},
		{"empty", data.Matrix{}, nil, 2, "empty matrix"},
		{"ragged", data.Matrix{Rows: 2, Cols: 3, Data: make([]float64, 5)}, []int{0, 1}, 2, "holds 5 values"},
	} {
		err := newC().Fit(tc.X, tc.y, tc.k)
		require.ErrorContains(t, err, tc.want, tc.name)
	}

	c := newC()
	_, err := c.PredictProba(X)
	require.ErrorContains(t, err, "before Fit")
	_, err = c.Predict(X)
	require.ErrorContains(t, err, "before Fit")

	require.NoError(t, c.Fit(X, y, 2))
	_, err = c.PredictProba(X.SelectRows([]int{0, 1}).Clone())
	require.NoError(t, err)
	wide := data.NewMatrix(2, 4)
	_, err = c.PredictProba(wide)
	require.ErrorContains(t, err, "X has 4 columns but the classifier was fitted on 3")
	_, err = c.PredictProba(withInf)
	require.ErrorContains(t, err, "row 3, column 1 is +Inf")

	c.SetColumns(make([]data.Column, 2))
	require.ErrorContains(t, c.Fit(X, y, 2), "SetColumns described 2 columns but X has 3")

	// A failed Fit leaves the classifier unfitted rather than half-fitted.
	_, err = c.PredictProba(X)
	require.ErrorContains(t, err, "before Fit")

	for _, tc := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithModel(m), WithEnsemble(-1)}, "ensemble size must be at least 1"},
		{[]Option{WithModel(m), WithTemperature(0)}, "temperature must be positive"},
		{[]Option{WithModel(m), WithMaxRows(1)}, "max rows must be from 2 to 10000"},
		{[]Option{WithModel(m), WithMaxRows(MaxContextRows + 1)}, "max rows must be from 2 to 10000"},
		{[]Option{WithModel(m), WithMaxFeatures(-3)}, "max features must be from 1 to 500"},
		{[]Option{WithModel(m), WithMaxFeatures(MaxContextFeatures + 1)}, "max features must be from 1 to 500"},
		{[]Option{WithModel(m), WithTemperature(math.NaN())}, "temperature must be positive"},
		{[]Option{WithModel(m), WithTestBatch(0)}, "test batch must be at least 1"},
		{[]Option{WithModel(m), WithModelPath("x.safetensors")}, "not both"},
		{[]Option{WithModel(nil)}, "WithModel(nil)"},
		{[]Option{WithDeviceName("tpu")}, "unknown device"},
		{[]Option{WithModelPath(filepath.Join(t.TempDir(), "missing.safetensors"))}, "missing.safetensors"},
		{[]Option{WithModel(m), WithVariants()}, "at least one variant"},
	} {
		_, err := NewClassifier(tc.opts...)
		require.ErrorContains(t, err, tc.want)
	}
}

// A model saved to disk and loaded back through WithModelPath predicts exactly as the
// in-memory one.
func TestClassifierModelPath(t *testing.T) {
	m := tinyModel(t)
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	require.NoError(t, m.Save(path, nil, nil))
	X, y := clusters(40, 3, 2, 2, 11)
	var got [][]float64
	for _, opt := range []Option{WithModel(m), WithModelPath(path)} {
		c, err := NewClassifier(opt, WithEnsemble(2), WithDeviceName("cpu"))
		require.NoError(t, err)
		require.NoError(t, c.Fit(X.SelectRows(seq(0, 30)), y[:30], 2))
		p, err := c.PredictProba(X.SelectRows(seq(30, 40)))
		require.NoError(t, err)
		got = append(got, p.Data)
		c.Close()
	}
	require.Equal(t, got[0], got[1])
}

// The protocol runs the classifier end to end (ColumnAware included) on the wine-sized
// synthetic data and the tiny model.
func TestClassifierUnderProtocol(t *testing.T) {
	m := tinyModel(t)
	X, y := clusters(80, 4, 3, 3, 12)
	tab := &data.Table{X: X, Y: y, Classes: []string{"a", "b", "c"}}
	for j := 0; j < 4; j++ {
		tab.Columns = append(tab.Columns, data.Column{Name: string(rune('p' + j))})
	}
	p := metrics.DefaultProtocol()
	p.Splits = 2
	res, err := p.Evaluate(t.Context(), tab, func() metrics.Classifier {
		c, err := NewClassifier(WithModel(m), WithEnsemble(2))
		require.NoError(t, err)
		return c
	})
	require.NoError(t, err)
	require.Len(t, res.Splits, 2)
	require.Equal(t, 40, res.Splits[0].TestRows)
}

func seq(lo, hi int) []int {
	out := make([]int, hi-lo)
	for i := range out {
		out[i] = lo + i
	}
	return out
}

// BenchmarkClassifierFitPredict times fit + predict on one dataset of 1000 training rows,
// 20 features and 1000 test rows with a randomly initialised model of the shipped size
// (ShippedConfig; the same cost per row as the trained one): the
// "members=1" case is the cost of one ensemble member, "default" the DefaultEnsemble. Both
// are one context of the training set; the automatic setting's choice of local contexts
// adds the cost BenchmarkRegressorContextChoice measures for a regressor.
func BenchmarkClassifierFitPredict(b *testing.B) {
	m, err := New(device.MustGet("cpu"), ShippedConfig(), 1)
	require.NoError(b, err)
	defer m.Release()
	X, y := clusters(2000, 20, 3, 1, 13)
	Xtr, ytr, Xte := X.SelectRows(seq(0, 1000)), y[:1000], X.SelectRows(seq(1000, 2000))
	for _, bc := range []struct {
		name string
		n    int
	}{{"members=1", 1}, {"default", DefaultEnsemble}} {
		b.Run(bc.name, func(b *testing.B) {
			cpu0 := processCPUSeconds()
			for b.Loop() {
				c, err := NewClassifier(WithModel(m), WithEnsemble(bc.n), WithLocalContexts(0))
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Fit(Xtr, ytr, 3); err != nil {
					b.Fatal(err)
				}
				if _, err := c.PredictProba(Xte); err != nil {
					b.Fatal(err)
				}
			}
			// CPU seconds per dataset: on an idle machine with P cores the wall time is at
			// best this divided by P; on a shared one the wall time says little.
			b.ReportMetric((processCPUSeconds()-cpu0)/float64(b.N), "cpu-s/op")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
		})
	}
}

// ExampleClassifier fits the embedded model on the wine data carried in kiln and predicts
// a held-out half. (No Output line: the numbers change whenever the shipped model does.)
func ExampleClassifier() {
	tab, err := data.ReadCSV(bytes.NewReader(wine.CSV), data.Options{})
	if err != nil {
		panic(err)
	}
	trainIdx, testIdx, err := data.StratifiedSplit(tab.Y, tab.NumClasses(), 0.5, 0)
	if err != nil {
		panic(err)
	}
	train, test := tab.Subset(trainIdx), tab.Subset(testIdx)
	clf, err := NewClassifier(WithEnsemble(4), WithWarnings(os.Stderr))
	if err != nil {
		panic(err)
	}
	defer clf.Close()
	clf.SetColumns(train.Columns)
	if err := clf.Fit(train.X, train.Y, train.NumClasses()); err != nil {
		panic(err)
	}
	proba, err := clf.PredictProba(test.X)
	if err != nil {
		panic(err)
	}
	acc, _ := metrics.Accuracy(test.Y, proba)
	fmt.Printf("held-out accuracy %.3f\n", acc)
}

// The automatic ensemble gives small tables the full ensemble and the 1000×20 binary
// benchmark table one member, tables of three or more classes at least one member per class
// up to the default, and Fit builds exactly that many members.
func TestAutoEnsemble(t *testing.T) {
	require.Equal(t, DefaultEnsemble, AutoEnsemble(89, 13, 2))
	require.Equal(t, 1, AutoEnsemble(1000, 20, 2))
	require.Equal(t, 2, AutoEnsemble(284, 30, 2))
	require.Equal(t, 1, AutoEnsemble(5000, 100, 2))
	require.Equal(t, 3, AutoEnsemble(1000, 20, 3))
	require.Equal(t, DefaultEnsemble, AutoEnsemble(1000, 20, 10))
	require.Equal(t, DefaultEnsemble, AutoEnsemble(89, 13, 3))
	require.Equal(t, 3, AutoEnsemble(284, 30, 3))
	m := tinyModel(t)
	c, err := NewClassifier(WithModel(m))
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, 0, c.Ensemble())
	X := data.NewMatrix(30, 3)
	y := make([]int, 30)
	for i := range y {
		y[i] = i % 2
		X.Set(i, 0, float64(y[i])+0.1*float64(i%5))
		X.Set(i, 1, float64(i))
		X.Set(i, 2, float64(i%3))
	}
	require.NoError(t, c.Fit(X, y, 2))
	require.Equal(t, AutoEnsemble(30, 3, 2), c.Ensemble())
}
