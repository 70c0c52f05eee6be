package tabpfn

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/metrics"
)

func smallFineTune() FineTuneConfig {
	cfg := DefaultFineTuneConfig()
	cfg.Steps, cfg.EvalEvery, cfg.Patience, cfg.ContextRows, cfg.QueryRows, cfg.Ensemble = 6, 3, 2, 64, 32, 1
	return cfg
}

// heldOutLoss scores model on the held-out rows FineTune uses for cfg (the same split).
func heldOutLoss(t *testing.T, m *Model, X data.Matrix, y []int, k int, cfg FineTuneConfig) float64 {
	t.Helper()
	fit, hold, err := data.StratifiedSplit(y, k, cfg.HoldoutFraction, cfg.Seed)
	require.NoError(t, err)
	c, err := NewClassifier(WithModel(m), WithEnsemble(cfg.Ensemble), WithSeed(cfg.Seed), WithPairwise(0), WithLocalContexts(0))
	require.NoError(t, err)
	require.NoError(t, c.Fit(X.SelectRows(fit), pick(y, fit), k))
	p, err := c.PredictProba(X.SelectRows(hold))
	require.NoError(t, err)
	ll, err := metrics.LogLoss(pick(y, hold), p)
	require.NoError(t, err)
	return ll
}

// Fine-tuning trains a copy (the model given is unchanged), reports the held-out log loss of
// what it returns truthfully, never returns a model worse on the held-out rows than the
// start, and is deterministic.
func TestFineTuneNeverReturnsAWorseModel(t *testing.T) {
	model, err := DefaultModel(device.MustGet("cpu"))
	require.NoError(t, err)
	defer model.Release()
	before := params(t, model)
	X, y := ring(160, 4)

	cfg := smallFineTune()
	cfg.LR = 1e-4
	ft, res, err := FineTune(context.Background(), model, X, y, 2, cfg)
	require.NoError(t, err)
	defer ft.Release()
	require.Equal(t, before, params(t, model), "FineTune changed the model it was given")
	require.Positive(t, res.Steps)
	require.Equal(t, 32, res.Holdout)
	require.LessOrEqual(t, res.BestLoss, res.StartLoss)
	require.InDelta(t, res.BestLoss, heldOutLoss(t, ft, X, y, 2, cfg), 1e-9, "reported loss is the returned model's")
	require.InDelta(t, res.StartLoss, heldOutLoss(t, model, X, y, 2, cfg), 1e-9)
	t.Logf("held-out log loss %.4f → %.4f at step %d of %d", res.StartLoss, res.BestLoss, res.BestStep, res.Steps)

	again, res2, err := FineTune(context.Background(), model, X, y, 2, cfg)
	require.NoError(t, err)
	defer again.Release()
	require.Equal(t, res, res2)
	require.Equal(t, params(t, ft), params(t, again), "two fine-tunings differ")

	// A learning rate that wrecks the model: every scoring is worse, so the start comes back.
	cfg.LR = 0.5
	wrecked, res3, err := FineTune(context.Background(), model, X, y, 2, cfg)
	require.NoError(t, err)
	defer wrecked.Release()
	require.Equal(t, 0, res3.BestStep, "history %+v", res3)
	require.Equal(t, res3.StartLoss, res3.BestLoss)
	require.Equal(t, before, params(t, wrecked), "the wrecked steps were kept")
	require.False(t, math.IsNaN(res3.BestLoss))
}

func TestFineTuneRejectsBadInput(t *testing.T) {
	model, err := New(device.MustGet("cpu"), tinyConfig(), 1)
	require.NoError(t, err)
	defer model.Release()
	X, y := ring(40, 1)
	bad := smallFineTune()
	bad.LR = 0
	_, _, err = FineTune(context.Background(), model, X, y, 2, bad)
	require.ErrorContains(t, err, "learning rate")
	bad = smallFineTune()
	bad.HoldoutFraction = 1
	_, _, err = FineTune(context.Background(), model, X, y, 2, bad)
	require.ErrorContains(t, err, "holdout")
	_, _, err = FineTune(context.Background(), model, X, y[:5], 2, smallFineTune())
	require.ErrorContains(t, err, "labels")
	Xs, ys := ring(4, 1)
	_, _, err = FineTune(context.Background(), model, Xs, ys, 2, smallFineTune())
	require.Error(t, err)
}

// Fine-tuning tasks show a table's categorical columns as the ensemble does: as codes in some
// tasks and as indicator columns in others (a column of 4 categories and a numeric one present
// 2 features as codes, 5 as indicators).
func TestFineTuneTasksPresentCategoriesBothWays(t *testing.T) {
	model, err := DefaultModel(device.MustGet("cpu"))
	require.NoError(t, err)
	defer model.Release()
	rng := rand.New(rand.NewPCG(5, 6))
	X, y := data.NewMatrix(120, 2), make([]int, 120)
	for i := range y {
		X.Set(i, 0, float64(i%4))
		X.Set(i, 1, rng.NormFloat64())
		y[i] = i % 2
	}
	cfg := smallFineTune()
	cfg.Columns = []data.Column{{Name: "k", Kind: data.Categorical, Categories: []string{"a", "b", "c", "d"}}, {Name: "x"}}
	widths := map[int]int{}
	for range 20 {
		in, _, err := model.task(rng, X, y, 2, cfg, preprocess.VariantStandard)
		require.NoError(t, err)
		widths[in.Features]++
	}
	require.Len(t, widths, 2, "feature widths of 20 tasks: %v", widths)
	require.Positive(t, widths[2])
	require.Positive(t, widths[5])
}
