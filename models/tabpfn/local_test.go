package tabpfn

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
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
	single := 0
	for r := range Xte.Rows {
		q := pt(Xte.Row(r))
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
		want := make([]float64, k+1)
		for _, c := range cs[:K] {
			want[y[c.i]] += 1.0 / K
		}
		if slices.Max(want) == 1 {
			single++
		}
		require.InDeltaSlice(t, want, p.Row(r), 1e-12, "test row %d", r)
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
	_, err := NewRegressor(WithLocalContexts(64))
	require.ErrorContains(t, err, "option of the classifier")
	for _, n := range []int{-2, 1, MaxContextRows + 1} {
		_, err = applyOptions([]Option{WithLocalContexts(n)})
		require.Error(t, err, "n = %d", n)
	}
	for _, n := range []int{-1, 0, 2, MaxContextRows} {
		_, err = applyOptions([]Option{WithLocalContexts(n)})
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
