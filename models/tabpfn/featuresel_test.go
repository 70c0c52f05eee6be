package tabpfn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
)

// etaSquared is the uncorrected correlation ratio η² of correlationRatio.
func etaSquared(v []float64, g []int, k int) float64 {
	eta2, _, _ := correlationRatio(v, g, k)
	return eta2
}

func TestEtaSquaredByHand(t *testing.T) {
	// Groups {1, 2} and {3, 4}: mean 2.5, total SS 5, between-group SS 2·1² + 2·1² = 4.
	require.InDelta(t, 0.8, etaSquared([]float64{1, 2, 3, 4}, []int{0, 0, 1, 1}, 2), 1e-15)
	// A non-finite value is left out: {1, 3} against {5}: mean 3, total SS 8, between 2·1 + 4.
	require.InDelta(t, 6.0/8, etaSquared([]float64{1, 3, math.NaN(), 5}, []int{0, 0, 1, 1}, 2), 1e-15)
	// Means equal across groups: 0. Constant values, or one value: 0, not NaN.
	require.InDelta(t, 0, etaSquared([]float64{1, 3, 3, 1}, []int{0, 0, 1, 1}, 2), 1e-15)
	require.Zero(t, etaSquared([]float64{2, 2, 2}, []int{0, 1, 1}, 2))
	require.Zero(t, etaSquared([]float64{2}, []int{0}, 2))
	// Groups that are the values themselves explain everything.
	require.InDelta(t, 1, etaSquared([]float64{5, 5, 7, 7, 9}, []int{0, 0, 1, 1, 2}, 3), 1e-15)
}

func TestChanceLevelByHand(t *testing.T) {
	// Two columns: the level is the median of η²'s null distribution, Beta(1/2, 1) for n = 4
	// values in k = 2 groups, whose CDF is √x: the median is 1/4. η² 0.8 exceeds it by 0.55.
	c := newChanceLevel(2)
	require.InDelta(t, 0.55, c.excess([]float64{1, 2, 3, 4}, []int{0, 0, 1, 1}, 2), 1e-12)
	// Only occupied groups count: the same values with an empty third group give the same.
	require.InDelta(t, 0.55, c.excess([]float64{1, 2, 3, 4}, []int{0, 0, 2, 2}, 3), 1e-12)
	// Below the level it is clamped at 0, and one value per group (n = k) is 0, not a
	// division by 0; a constant column is 0.
	require.Zero(t, c.excess([]float64{1, 3, 3, 1}, []int{0, 0, 1, 1}, 2))
	require.Zero(t, c.excess([]float64{5, 7, 9}, []int{0, 1, 2}, 3))
	require.Zero(t, c.excess([]float64{2, 2, 2}, []int{0, 1, 1}, 2))
	// More columns raise the level: of 1,000 columns only a stronger dependence counts.
	require.Less(t, newChanceLevel(1000).excess([]float64{1, 2, 3, 4}, []int{0, 0, 1, 1}, 2), 0.55)
}

// Of p columns unrelated to the target, about one exceeds the chance level by chance, and
// the share that does matches 1/p: the level is the right quantile of η²'s null distribution.
func TestChanceLevelMatchesNoise(t *testing.T) {
	const n, k = 200, 10
	rng := rand.New(rand.NewPCG(3, 4))
	g := make([]int, n)
	for i := range g {
		g[i] = i % k
	}
	v := make([]float64, n)
	noise := func(c *chanceLevel, columns int) (above int, eta float64) {
		for range columns {
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			if c.excess(v, g, k) > 0 {
				above++
			}
			eta += etaSquared(v, g, k)
		}
		return above, eta / float64(columns)
	}
	// 20 columns: the level is the 95th percentile; over 8,000 noise columns 5%
	// (three binomial standard deviations, 0.73%) exceed it.
	above, eta := noise(newChanceLevel(20), 8000)
	require.InDelta(t, 0.05, float64(above)/8000, 0.0075)
	require.InDelta(t, float64(k-1)/(n-1), eta, 0.003, "η² of noise: (k−1)/(n−1) by chance")
	// 2,000 columns: about one of 2,000 exceeds it.
	above, _ = noise(newChanceLevel(2000), 2000)
	require.LessOrEqual(t, above, 5)
}

// sparseLinearTable returns n rows of standard normal columns, informative ones followed by
// noise ones, and a target per row: the sum of its informative columns plus normal noise of
// standard deviation targetNoise.
func sparseLinearTable(rng *rand.Rand, n, informative, noise int, targetNoise float64) (data.Matrix, []float64) {
	X := data.NewMatrix(n, informative+noise)
	y := make([]float64, n)
	for i := range n {
		for j := range X.Cols {
			X.Set(i, j, rng.NormFloat64())
			if j < informative {
				y[i] += X.At(i, j)
			}
		}
		if targetNoise > 0 {
			y[i] += targetNoise * rng.NormFloat64()
		}
	}
	return X, y
}

// On a table of a few informative columns among many noise columns, relevance beyond the
// chance level gives the informative columns most of a member's draws.
func TestRelevanceFindsFewAmongMany(t *testing.T) {
	const n, informative, noise, limit = 250, 8, 1000, 64
	rng := rand.New(rand.NewPCG(7, 8))
	X, target := sparseLinearTable(rng, n, informative, noise, 0.5)
	y := make([]float32, n)
	for i, v := range target {
		y[i] = float32(v)
	}
	relevance := regressionRelevance(y)(X)
	perm := make([]int, X.Cols)
	for j := range perm {
		perm[j] = j
	}
	u := make([]float64, len(perm))
	hits := 0
	const draws = 200
	for range draws {
		for p := range u {
			u[p] = rng.Float64()
		}
		for _, c := range weightedSubset(perm, relevance, limit, u) {
			if c < informative {
				hits++
			}
		}
	}
	// Uniform draws would give a member 0.5 of the 8 informative columns (64/1008 of them);
	// weights from the uncorrected η² give it about 1.7, from Kelley's chance-corrected ε²
	// about 4.7, from η² beyond the chance level of 1,008 columns 7.85.
	require.Greater(t, float64(hits)/draws, 7.5, "informative columns per member of %d", limit)
}

// relevanceTable has an informative column 0 (the class, or y's square root), a column 1
// that decides the target non-monotonically (|x1|), and noise columns.
func relevanceTable(n int, seed uint64) (X data.Matrix, classes []int, y []float32) {
	rng := rand.New(rand.NewPCG(seed, 5))
	X = data.NewMatrix(n, 6)
	classes = make([]int, n)
	y = make([]float32, n)
	for i := range n {
		for j := range X.Cols {
			X.Set(i, j, rng.NormFloat64())
		}
		classes[i] = i % 2
		X.Set(i, 0, float64(classes[i])*3+rng.NormFloat64())
		y[i] = float32(math.Abs(X.At(i, 1)) + 0.1*rng.NormFloat64())
	}
	return X, classes, y
}

func TestRelevanceScores(t *testing.T) {
	X, classes, y := relevanceTable(400, 1)
	cr := classRelevance(classes, 2)(X)
	require.Len(t, cr, 6)
	require.Greater(t, cr[0], 0.6, "the column that carries the class")
	for j := 1; j < 6; j++ {
		require.Less(t, cr[j], 0.03, "noise column %d", j)
	}
	rr := regressionRelevance(y)(X)
	require.Greater(t, rr[1], 0.6, "|x1| decides y: non-monotone, so a correlation would miss it")
	for _, j := range []int{0, 2, 3, 4, 5} {
		require.Less(t, rr[j], 0.06, "column %d", j)
	}
	// A constant column scores 0 for both.
	for i := range X.Rows {
		X.Set(i, 2, 4)
	}
	require.Zero(t, classRelevance(classes, 2)(X)[2])
	require.Zero(t, regressionRelevance(y)(X)[2])
}

func TestWeightedSubset(t *testing.T) {
	perm := []int{3, 0, 4, 1, 2}
	relevance := []float64{1, 0, 0, 0, 0}
	rng := rand.New(rand.NewPCG(1, 2))
	chosen := make([]int, 5)
	const draws = 20000
	u := make([]float64, len(perm))
	for range draws {
		for p := range u {
			u[p] = rng.Float64()
		}
		sub := weightedSubset(perm, relevance, 2, u)
		require.Len(t, sub, 2)
		// In perm's order, distinct.
		require.Less(t, slices.Index(perm, sub[0]), slices.Index(perm, sub[1]))
		for _, c := range sub {
			chosen[c]++
		}
	}
	// Weights: column 0 has 1/0.2 + 0.2 = 5.2, the others 0.2 each. Its chance of being in a
	// 2-subset: 1 − P(two noise columns drawn first) = 1 − (0.8/6)·(0.6/5.8)·... by the
	// sequential reading of the keys: P(first is noise) = 0.8/6, then P(second is noise |
	// first) = 0.6/5.8.
	want := 1 - (0.8/6)*(0.6/5.8)
	require.InDelta(t, want, float64(chosen[0])/draws, 0.01)
	for c := 1; c < 5; c++ {
		require.InDelta(t, (2-want)/4, float64(chosen[c])/draws, 0.01, "noise column %d", c)
	}
	// No relevance at all: uniform. Fewer columns than the limit: all, unchanged.
	require.Equal(t, perm, weightedSubset(perm, relevance, 5, u))
	clear(chosen)
	for range draws {
		for p := range u {
			u[p] = rng.Float64()
		}
		for _, c := range weightedSubset(perm, make([]float64, 5), 2, u) {
			chosen[c]++
		}
	}
	for c := range 5 {
		require.InDelta(t, 0.4, float64(chosen[c])/draws, 0.015)
	}
}

// mrmrSubset draws one column of a group of exact copies and not a second; beside them, it
// draws like the relevance weights (checked against their closed form with no correlations).
func TestMRMRSubset(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	const n = 200
	// Columns 0–3: the same informative values (copies); 4–7: independent noise; 8: constant;
	// 9: noise with missing values.
	X := data.NewMatrix(n, 10)
	for i := range n {
		v := rng.NormFloat64()
		for j := range 4 {
			X.Set(i, j, v)
		}
		for j := 4; j < 8; j++ {
			X.Set(i, j, rng.NormFloat64())
		}
		X.Set(i, 8, 2)
		X.Set(i, 9, rng.NormFloat64())
		if i%7 == 0 {
			X.Set(i, 9, math.NaN())
		}
	}
	relevance := []float64{1, 1, 1, 1, 0, 0, 0, 0, 0, 0}
	perm := []int{9, 2, 5, 0, 7, 1, 3, 8, 4, 6}
	copies := 0
	const draws = 2000
	for range draws {
		sub := mrmrSubset(perm, relevance, X, 4, rng.Float64)
		require.Len(t, sub, 4)
		for i := 1; i < len(sub); i++ {
			require.Less(t, slices.Index(perm, sub[i-1]), slices.Index(perm, sub[i]), "perm's order, distinct")
		}
		k := 0
		for _, c := range sub {
			if c < 4 {
				k++
			}
		}
		require.LessOrEqual(t, k, 1, "two copies of one column in %v", sub)
		copies += k
	}
	// Relevance weights (0.2 + 1/0.4 = 2.7 per copy, 0.2 otherwise) draw a copy first with
	// probability 10.8/12 = 0.9; later draws can still take one when the first was noise.
	require.Greater(t, float64(copies)/draws, 0.9)
	// The relevance draw of weightedSubset takes two or more copies most of the time.
	u := make([]float64, len(perm))
	several := 0
	for range draws {
		for p := range u {
			u[p] = rng.Float64()
		}
		k := 0
		for _, c := range weightedSubset(perm, relevance, 4, u) {
			if c < 4 {
				k++
			}
		}
		if k >= 2 {
			several++
		}
	}
	require.Greater(t, float64(several)/draws, 0.8)

	// Uncorrelated columns: the first draw follows the weights exactly. Column 0 (weight
	// 0.2 + 1/0.2 = 5.2 against 0.2 for each of 4 others) is first with probability 5.2/6.
	Y := data.NewMatrix(n, 5)
	for i := range n {
		for j := range 5 {
			Y.Set(i, j, rng.NormFloat64())
		}
	}
	first := 0
	for range 20000 {
		if slices.Contains(mrmrSubset([]int{0, 1, 2, 3, 4}, []float64{1, 0, 0, 0, 0}, Y, 1, rng.Float64), 0) {
			first++
		}
	}
	require.InDelta(t, 5.2/6, float64(first)/20000, 0.01)

	// Only copies: after the first, the rest are drawn uniformly, still distinct.
	sub := mrmrSubset([]int{0, 1, 2, 3}, []float64{1, 1, 1, 1}, X, 3, rng.Float64)
	require.Len(t, sub, 3)
	require.True(t, slices.IsSorted(sub))
	// At or under the limit: all, unchanged.
	require.Equal(t, perm, mrmrSubset(perm, relevance, X, 10, rng.Float64))
}

// With relevance selection the members of a classifier and a regressor that must drop
// features keep the informative ones far more often than a random subset does.
func TestFeatureSelectionKeepsRelevantColumns(t *testing.T) {
	X, classes, y := relevanceTable(300, 3)
	yf := make([]float64, len(y))
	for i, v := range y {
		yf[i] = float64(v)
	}
	cfg := classifierTinyConfig()
	count := func(sel FeatureSelection, col int, regression bool) int {
		opts := []Option{WithEnsemble(40), WithMaxFeatures(2), WithFeatureSelection(sel),
			WithVariants(preprocess.VariantStandard), WithLocalContexts(0)}
		var views []view
		if regression {
			r, err := NewRegressor(append(opts, WithModel(tinyRegressionModel(t, 1)))...)
			require.NoError(t, err)
			require.NoError(t, r.Fit(X, yf))
			for _, m := range r.members {
				views = append(views, m.view)
			}
		} else {
			c, err := newWithScorer(&fakeScorer{cfg: cfg, fixed: []float64{0.5, 0.5}}, cfg, append(opts, WithPairwise(0))...)
			require.NoError(t, err)
			require.NoError(t, c.Fit(X, classes, 2))
			for _, m := range c.members {
				views = append(views, m.view)
			}
		}
		require.Len(t, views, 40)
		n := 0
		for _, v := range views {
			require.Len(t, v.cols, 2)
			if slices.Contains(v.cols, col) {
				n++
			}
		}
		return n
	}
	// Random: column 0 in about 2/6 of 40 members. Relevance: nearly all.
	require.Less(t, count(FeaturesRandom, 0, false), 25)
	require.Greater(t, count(FeaturesRelevance, 0, false), 34)
	require.Less(t, count(FeaturesRandom, 1, true), 25)
	require.Greater(t, count(FeaturesRelevance, 1, true), 34)
	require.Greater(t, count(FeaturesMRMR, 0, false), 34)
	require.Greater(t, count(FeaturesMRMR, 1, true), 34)
}

func TestRelevantWidth(t *testing.T) {
	relevance := func(relevant, columns int) []float64 {
		r := make([]float64, columns)
		for i := range relevant {
			r[i] = 0.1
		}
		return r
	}
	require.Equal(t, 64, relevantWidth(relevance(0, 2000), 64), "nothing stands out: the limit")
	require.Equal(t, 16, relevantWidth(relevance(3, 2000), 64), "at least minRelevantWidth")
	require.Equal(t, 20, relevantWidth(relevance(10, 2000), 64), "the relevant columns and as many others")
	require.Equal(t, 64, relevantWidth(relevance(32, 2000), 64), "half the limit relevant: the limit")
	require.Equal(t, 64, relevantWidth(relevance(40, 2000), 64))
	require.Equal(t, 8, relevantWidth(relevance(2, 100), 8), "never above the limit")
}

// On a table of a few informative columns among many noise columns, the members of a
// classifier present the informative columns and about as many others, not a full limit of
// mostly noise.
func TestMembersNarrowToRelevantColumns(t *testing.T) {
	const n, informative, noise = 300, 8, 300
	X, sum := sparseLinearTable(rand.New(rand.NewPCG(9, 10)), n, informative, noise, 0)
	classes := make([]int, n)
	for i, s := range sum {
		if s > 0 {
			classes[i] = 1
		}
	}
	cfg := classifierTinyConfig()
	c, err := newWithScorer(&fakeScorer{cfg: cfg, fixed: []float64{0.5, 0.5}}, cfg,
		WithEnsemble(8), WithMaxFeatures(64), WithPairwise(0), WithVariants(preprocess.VariantStandard))
	require.NoError(t, err)
	require.NoError(t, c.Fit(X, classes, 2))
	for _, m := range c.members {
		// Each informative column explains about 1/8 of the class: all eight stand out, so a
		// member presents 16 columns (a few more if a noise column passes the chance level).
		require.GreaterOrEqual(t, len(m.cols), minRelevantWidth)
		require.LessOrEqual(t, len(m.cols), 20)
		held := 0
		for _, col := range m.cols {
			if col < informative {
				held++
			}
		}
		require.GreaterOrEqual(t, held, 6, "informative columns among %v", m.cols)
	}
}

func TestWithFeatureSelectionRejectsUnknown(t *testing.T) {
	_, err := NewClassifier(WithFeatureSelection("best"))
	require.ErrorContains(t, err, `unknown feature selection "best"`)
}

// DefaultMemberFeatures is the model's training width where the model records it (capped at
// MaxContextFeatures), and MaxContextFeatures (or a larger MaxFeatures) where it does not.
func TestDefaultMemberFeatures(t *testing.T) {
	cfg := classifierTinyConfig()
	cfg.MaxFeatures = 100
	require.Equal(t, MaxContextFeatures, DefaultMemberFeatures(cfg))
	cfg.MaxFeatures = 2 * MaxContextFeatures
	require.Equal(t, 2*MaxContextFeatures, DefaultMemberFeatures(cfg))
	cfg.TrainedFeatures = 32
	require.Equal(t, 32, DefaultMemberFeatures(cfg))
	cfg.TrainedFeatures = MaxContextFeatures + 1
	require.Equal(t, MaxContextFeatures, DefaultMemberFeatures(cfg))
	cfg.TrainedFeatures = -1
	require.ErrorContains(t, cfg.Validate(), "trained_features -1")
	cfg.TrainedFeatures = ConfigBounds().MaxFeatures + 1
	require.ErrorContains(t, cfg.Validate(), "trained_features")
}

// A regressor whose model records a training width presents at most that many features per
// member by default, says so, and warns when WithMaxFeatures asks for more.
func TestRegressorMembersKeepTrainedWidth(t *testing.T) {
	m := tinyRegressionModel(t, 3)
	defer m.Release()
	m.Cfg.TrainedFeatures = 4
	X, y := regressionTable(60, 10, 5, 1, 0)
	r := newTestRegressor(t, m, WithEnsemble(3), WithVariants(preprocess.VariantStandard))
	require.NoError(t, r.Fit(X, y))
	for _, mb := range r.members {
		require.Len(t, mb.view.cols, 4)
	}
	require.Len(t, r.Warnings(), 1)
	require.Contains(t, r.Warnings()[0], "exceed the limit of 4")

	wide := newTestRegressor(t, m, WithEnsemble(1), WithMaxFeatures(8), WithVariants(preprocess.VariantStandard))
	require.NoError(t, wide.Fit(X, y))
	require.Len(t, wide.members[0].view.cols, 8)
	require.Len(t, wide.Warnings(), 2)
	require.Contains(t, wide.Warnings()[1], "presents 8 features, above the 4 the model was trained on")
}
