package tabpfn

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/metrics"
	"github.com/kiln-ml/kiln/models/linear"
)

// ring returns n rows of two features whose class is whether the point lies outside the
// circle of radius 1.2: no linear boundary separates the classes.
func ring(n int, seed uint64) (data.Matrix, []int) {
	r := rand.New(rand.NewPCG(seed, 9))
	X := data.NewMatrix(n, 2)
	y := make([]int, n)
	for i := range y {
		a, b := 2*r.NormFloat64()*0.8, 2*r.NormFloat64()*0.8
		X.Set(i, 0, a)
		X.Set(i, 1, b)
		if math.Hypot(a, b) > 1.2 {
			y[i] = 1
		}
	}
	return X, y
}

func accuracy(t *testing.T, c metrics.Classifier, X data.Matrix, y []int) float64 {
	t.Helper()
	p, err := c.PredictProba(X)
	require.NoError(t, err)
	ok := 0
	for i, k := range metrics.Argmax(p) {
		if k == y[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(y))
}

// Logistic regression on the embeddings of rows given a labelled context separates a table
// that it cannot separate on the raw features; embeddings are deterministic and the same
// from concurrent goroutines.
func TestEmbedMakesARingLinearlySeparable(t *testing.T) {
	model, err := DefaultModel(device.MustGet("cpu"))
	require.NoError(t, err)
	defer model.Release()
	ctxX, ctxY := ring(200, 1) // the TabPFN context
	fitX, fitY := ring(200, 2) // rows the linear model learns from
	tstX, tstY := ring(200, 3) // rows it is scored on

	clf, err := NewClassifier(WithModel(model), WithEnsemble(1), WithSeed(5), WithLocalContexts(0))
	require.NoError(t, err)
	require.NoError(t, clf.Fit(ctxX, ctxY, 2))
	require.Equal(t, model.Cfg.Width, clf.EmbeddingWidth())
	embFit, err := clf.Embed(fitX)
	require.NoError(t, err)
	embTst, err := clf.Embed(tstX)
	require.NoError(t, err)
	require.Equal(t, 200, embTst.Rows)
	require.Equal(t, model.Cfg.Width, embTst.Cols)

	raw := linear.NewLogisticRegression()
	require.NoError(t, raw.Fit(fitX, fitY, 2))
	rawAcc := accuracy(t, raw, tstX, tstY)
	emb := linear.NewLogisticRegression()
	require.NoError(t, emb.Fit(embFit, fitY, 2))
	embAcc := accuracy(t, emb, embTst, tstY)
	t.Logf("logistic regression accuracy: raw %.3f, embeddings %.3f", rawAcc, embAcc)
	require.Greater(t, embAcc, 0.9, "embeddings do not separate the ring")
	require.Less(t, rawAcc, embAcc-0.15, "the raw features should not separate the ring")

	again, err := clf.Embed(tstX)
	require.NoError(t, err)
	require.Equal(t, embTst.Data, again.Data, "embeddings differ between calls")
	var wg sync.WaitGroup
	outs := make([]data.Matrix, 6)
	for g := range outs {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			outs[g], _ = clf.Embed(tstX)
		}(g)
	}
	wg.Wait()
	for g, o := range outs {
		require.Equal(t, embTst.Data, o.Data, "goroutine %d", g)
	}

	// Two members: their embeddings side by side.
	two, err := NewClassifier(WithModel(model), WithEnsemble(2), WithSeed(5), WithLocalContexts(0))
	require.NoError(t, err)
	require.NoError(t, two.Fit(ctxX, ctxY, 2))
	e2, err := two.Embed(tstX)
	require.NoError(t, err)
	require.Equal(t, 2*model.Cfg.Width, e2.Cols)
	for r := 0; r < e2.Rows; r++ {
		require.Equal(t, embTst.Row(r), e2.Row(r)[:model.Cfg.Width], "the first member's embedding of row %d", r)
	}

	_, err = unfitted(t, model).Embed(tstX)
	require.ErrorContains(t, err, "before Fit")
	_, err = clf.Embed(data.NewMatrix(3, 5))
	require.ErrorContains(t, err, "columns")
}

func unfitted(t *testing.T, m *Model) *Classifier {
	c, err := NewClassifier(WithModel(m))
	require.NoError(t, err)
	return c
}
