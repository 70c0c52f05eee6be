package tabpfn

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/examples/wine"
	"github.com/kiln-ml/kiln/internal/shareddata"
	"github.com/kiln-ml/kiln/metrics"
)

// The shipped model must classify real tables, not just load: under the evaluation protocol
// its ROC AUC on small shared datasets may not fall more than 0.02 below scikit-learn's
// logistic regression in the reference file (the per-dataset bar), and it must
// separate the embedded wine data almost perfectly. A model exported from a broken or
// truncated training run, or a regression in preprocessing or the forward pass, fails here.
// The datasets are small ones (fast enough for every test run), vehicle among them: it broke
// the bar until half the members moved to principal axes (bench/results/tabpfn-2026-11-27.md
// has the full table).
func TestDefaultModelAgainstReferenceScores(t *testing.T) {
	m, err := DefaultModel(device.MustGet("cpu"))
	require.NoError(t, err)
	defer m.Release()
	newClassifier := func() metrics.Classifier {
		c, err := NewClassifier(WithModel(m), WithEnsemble(2))
		require.NoError(t, err)
		return c
	}

	tab, err := data.ReadCSV(bytes.NewReader(wine.CSV), data.Options{})
	require.NoError(t, err)
	res, err := metrics.Evaluate(t.Context(), tab, newClassifier)
	require.NoError(t, err)
	t.Logf("wine (embedded): AUC %.4f, accuracy %.4f", res.AUC, res.Accuracy)
	require.Greater(t, res.AUC, 0.99)
	require.Greater(t, res.Accuracy, 0.9)

	if testing.Short() {
		t.Skip("-short: the shared datasets are skipped")
	}
	refs, err := metrics.LoadBaselines(shareddata.Require(t, "tabular-baselines.json"))
	require.NoError(t, err)
	for _, name := range []string{"iris", "breast_cancer", "glass", "ionosphere", "vehicle"} {
		tab, err := data.LoadCSV(shareddata.Require(t, "tabular", name+".csv"), data.Options{})
		require.NoError(t, err)
		res, err := metrics.Evaluate(t.Context(), tab, newClassifier)
		require.NoError(t, err)
		ref, ok := refs.Lookup(name)
		require.True(t, ok, "no reference scores for %s", name)
		lr := ref.Models["logreg"].AUC
		t.Logf("%s: AUC %.4f (logistic regression %.4f, random forest %.4f)", name, res.AUC, lr, ref.Models["rf"].AUC)
		require.GreaterOrEqual(t, res.AUC, lr-0.02, "%s: more than 0.02 below logistic regression", name)
	}
}

// The embedded checkpoint is the size LargeConfig documents.
func TestDefaultModelIsLargeConfig(t *testing.T) {
	m, err := DefaultModel(device.MustGet("cpu"))
	require.NoError(t, err)
	defer m.Release()
	require.Equal(t, LargeConfig(), m.Cfg)
	n := 0
	for _, p := range m.Parameters() {
		n += p.Len()
	}
	require.Equal(t, 759882, n)
}

// The pairwise scheme must pay where it was measured to: on glass (six unordered classes),
// 2 members per pair on top of 2 multi-class members raised the shipped model's AUC from
// 0.9049 to 0.9134 and lowered its log loss from 0.810 to 0.766 under the protocol
// (2026-11-27). A change to the coupling, the pair tables or the blend that loses the gain
// fails here.
func TestPairwiseSchemeGainsOnGlass(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the shared datasets are skipped")
	}
	m, err := DefaultModel(device.MustGet("cpu"))
	require.NoError(t, err)
	defer m.Release()
	tab, err := data.LoadCSV(shareddata.Require(t, "tabular", "glass.csv"), data.Options{})
	require.NoError(t, err)
	eval := func(perPair int) *metrics.Result {
		res, err := metrics.Evaluate(t.Context(), tab, func() metrics.Classifier {
			c, err := NewClassifier(WithModel(m), WithEnsemble(2), WithPairwise(perPair))
			require.NoError(t, err)
			return c
		})
		require.NoError(t, err)
		return res
	}
	without, with := eval(0), eval(2)
	t.Logf("glass: AUC %.4f → %.4f, log loss %.4f → %.4f", without.AUC, with.AUC, without.LogLoss, with.LogLoss)
	require.Greater(t, with.AUC, without.AUC+0.004)
	require.Less(t, with.LogLoss, without.LogLoss-0.02)
}
