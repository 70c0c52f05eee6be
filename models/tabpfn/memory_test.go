package tabpfn

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/internal/flagbound"
)

// The estimate grows linearly with rows and with features, and the activations dominate
// large tables.
func TestEstimateMemory(t *testing.T) {
	cfg := ShippedConfig()
	a := EstimateMemory(cfg, nil, 1000, 100, 1000)
	b := EstimateMemory(cfg, nil, 10000, 500, 1000)
	require.Greater(t, a.Total, a.Device)
	act := 4.0 * 501 * 11000 * 128
	require.InDelta(t, act, b.Device, 0.2*act, "10,000×500: one copy of the activations and a block")
	require.Less(t, b.Total, 8e9, "10,000×500 with 1,000 test rows within 8 GB")
	require.Less(t, a.Total, 1e9, "1,000×100 with 1,000 test rows within 1 GB")
	tiny := EstimateMemory(classifierTinyConfig(), nil, 10, 3, 5)
	require.Less(t, tiny.Device, 1e5, "a tiny table's block is no larger than the table")
}

// A fit whose estimate exceeds the memory limit fails before it allocates, naming the
// estimate, the limit and how to change it.
func TestFitRefusesOverMemoryLimit(t *testing.T) {
	t.Setenv(flagbound.MemoryEnv, "1M")
	m := tinyModel(t)
	X, y := clusters(60, 4, 2, 2, 3)
	c, err := NewClassifier(WithModel(m))
	require.NoError(t, err)
	err = c.Fit(X, y, 2)
	require.ErrorContains(t, err, "60 training rows of 4 features")
	require.ErrorContains(t, err, "over the memory limit of 1 MiB")
	require.ErrorContains(t, err, flagbound.MemoryEnv)
}

// Test rows that do not fit one pass go through in several, with the same predictions.
func TestPredictionInPasses(t *testing.T) {
	m := tinyModel(t)
	X, y := clusters(340, 5, 3, 2, 4)
	train, test := X.SelectRows(seq(0, 40)), X.SelectRows(seq(40, 340))
	fit := func() *Classifier {
		c, err := NewClassifier(WithModel(m), WithEnsemble(2), WithPairwise(0))
		require.NoError(t, err)
		require.NoError(t, c.Fit(train, y[:40], 3))
		return c
	}
	want, err := fit().PredictProba(test)
	require.NoError(t, err)

	limit := EstimateMemory(m.Cfg, m.Dev, 40, 5, 100).Total
	t.Setenv(flagbound.MemoryEnv, strconv.FormatFloat(limit, 'f', 0, 64))
	g, err := testGroup(m.Cfg, m.Dev, 40, 5, 300)
	require.NoError(t, err)
	require.True(t, g >= 50 && g <= 100, "group of %d test rows", g)
	got, err := fit().PredictProba(test)
	require.NoError(t, err)
	require.Equal(t, want.Data, got.Data)

	_, err = testGroup(m.Cfg, device.MustGet("cpu"), 40, 5000, 300)
	require.ErrorContains(t, err, "40 training rows of 5000 features predicting 1 rows")
}
