package tabpfn

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
)

// corpusDir writes a small corpus: two usable tables and a broken file.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("a,b,kind,c\n")
	for i := 0; i < 200; i++ {
		a := math.Sin(float64(i) * 0.37)
		fmt.Fprintf(&b, "%.3f,%.3f,%s,%d\n", a, a*a+0.1*math.Cos(float64(i)), []string{"x", "y", "z"}[i%3], i%4)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p__one.csv"), []byte(b.String()), 0o644))
	b.Reset()
	b.WriteString("u,v,w\n")
	for i := 0; i < 120; i++ {
		fmt.Fprintf(&b, "%d,%d,%d\n", i%9, (i*5)%13, i%2)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p__two.csv"), []byte(b.String()), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p__bad.csv"), []byte("a,b\n\"1,2\n"), 0o644))
	return dir
}

// Training with half the batches from a corpus runs, warns about the bad file once, draws
// about half of its batches from the corpus, and resumes exactly from its checkpoint.
func TestTrainWithCorpusResumesExactly(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()
	tc := tinyTrainConfig()
	tc.Corpus = &CorpusConfig{Dir: corpusDir(t), Fraction: 0.5, Tasks: []string{"column"}}

	corpusBatches := 0
	for b := uint64(0); b < 1000; b++ {
		if fromCorpus(tc.Seed, b, 0.5) {
			corpusBatches++
		}
	}
	require.InDelta(t, 500, corpusBatches, 60, "share of corpus batches")

	full, err := NewTrainer(dev, tinyConfig(), tc, filepath.Join(dir, "full.safetensors"))
	require.NoError(t, err)
	var warn bytes.Buffer
	full.Warnings = &warn
	// The steps of this run that come from the corpus are tasks of its tables.
	fromTables := 0
	for b := uint64(0); b < uint64(tc.Steps); b++ {
		if fromCorpus(tc.Seed, b, 0.5) {
			fromTables++
			batch := full.batch(b)
			require.LessOrEqual(t, batch.Shape.Features, 3, "batch %d has more features than a corpus table", b)
		}
	}
	require.Positive(t, fromTables, "no corpus batch among the first %d", tc.Steps)
	require.NoError(t, full.Run(context.Background(), nil))
	require.Equal(t, 1, strings.Count(warn.String(), "p__bad.csv"), "warnings: %s", warn.String())
	tables, bad := full.CorpusTables()
	require.Equal(t, 3, tables)
	require.Equal(t, 1, bad)
	want := params(t, full.Model)
	full.Model.Release()

	tc.Steps = 3
	part, err := NewTrainer(dev, tinyConfig(), tc, filepath.Join(dir, "part.safetensors"))
	require.NoError(t, err)
	require.NoError(t, part.Run(context.Background(), nil))
	part.Model.Release()
	resumed, err := Resume(dev, filepath.Join(dir, "part.safetensors"), 6)
	require.NoError(t, err)
	require.NotNil(t, resumed.Cfg.Corpus, "the checkpoint keeps the corpus settings")
	require.NoError(t, resumed.Run(context.Background(), nil))
	got := params(t, resumed.Model)
	for name, w := range want {
		require.Equal(t, w, got[name], "parameter %s differs after resume", name)
	}
	resumed.Model.Release()
}

func TestCorpusConfigIsChecked(t *testing.T) {
	dev := device.MustGet("cpu")
	for _, c := range []struct {
		cfg  CorpusConfig
		want string
	}{
		{CorpusConfig{Dir: "x", Fraction: 1.5, Tasks: []string{"column"}}, "fraction"},
		{CorpusConfig{Dir: "x", Fraction: 0.5, Tasks: []string{"masked"}}, `list "column" too`},
		{CorpusConfig{Dir: "x", Fraction: 0.5, Tasks: []string{"column"}, MaskedWeight: 1}, `do not include "masked"`},
		{CorpusConfig{Dir: "x", Fraction: 0.5, Tasks: []string{"column", "contrastive"}, Temperature: 1e-9}, "temperature 1e-09 is below the minimum"},
		{CorpusConfig{Dir: "x", Fraction: 0.5, Tasks: []string{"column", "masked"}, MaskRate: 2}, "mask_rate 2 is above the bound of 1"},
		{CorpusConfig{Dir: "x", Fraction: 0.5, Tasks: []string{"column", "masked"}, MaskedWeight: math.NaN()}, "masked_weight is NaN"},
		{CorpusConfig{Dir: "", Fraction: 0.5, Tasks: []string{"column"}}, "folder"},
		{CorpusConfig{Dir: filepath.Join(t.TempDir(), "none"), Fraction: 0.5, Tasks: []string{"column"}}, "no such file"},
	} {
		tc := tinyTrainConfig()
		tc.Corpus = &c.cfg
		_, err := NewTrainer(dev, tinyConfig(), tc, "")
		require.ErrorContains(t, err, c.want)
	}
}

// With HoldoutEvery, training draws only the other tables, and HeldOutCorpusLoss scores a
// model on tasks of the held-out ones, the same each time.
func TestHeldOutCorpusLoss(t *testing.T) {
	dev := device.MustGet("cpu")
	tc := tinyTrainConfig()
	// Name order: p__bad.csv, p__one.csv (held out), p__two.csv.
	tc.Corpus = &CorpusConfig{Dir: corpusDir(t), Fraction: 1, Tasks: []string{"column"}, HoldoutEvery: 2}
	tr, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	defer tr.Model.Release()
	for b := uint64(0); b < 6; b++ {
		// p__two.csv has 3 columns, so at most 2 features; p__one.csv would give 3.
		require.LessOrEqual(t, tr.batch(b).Shape.Features, 2, "batch %d is not from the training table", b)
	}
	l1, err := HeldOutCorpusLoss(tr.Model, tc, 3)
	require.NoError(t, err)
	require.Greater(t, l1, 0.0)
	require.False(t, math.IsNaN(l1) || math.IsInf(l1, 0))
	l2, err := HeldOutCorpusLoss(tr.Model, tc, 3)
	require.NoError(t, err)
	require.Equal(t, l1, l2)

	tc.Corpus.HoldoutEvery = 0
	_, err = HeldOutCorpusLoss(tr.Model, tc, 3)
	require.ErrorContains(t, err, "holdout_every")
}

// A regression model trains on the corpus's regression tasks (a numeric column as the
// continuous target), with finite losses, resumes exactly, scores held-out tables, and
// refuses the classifier-only auxiliary tasks.
func TestRegressionTrainingWithCorpus(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()
	tc := tinyTrainConfig()
	tc.Corpus = &CorpusConfig{Dir: corpusDir(t), Fraction: 1, Tasks: []string{"column"}}
	full, err := NewTrainer(dev, tinyRegressionConfig(), tc, filepath.Join(dir, "full.safetensors"))
	require.NoError(t, err)
	full.Warnings = io.Discard
	for b := uint64(0); b < uint64(tc.Steps); b++ {
		batch := full.batch(b)
		require.LessOrEqual(t, batch.Shape.Features, 3, "batch %d is not from the corpus", b)
		for i, d := range batch.Datasets {
			require.Nil(t, d.Y, "batch %d task %d", b, i)
			require.Zero(t, d.Classes, "batch %d task %d", b, i)
			require.Len(t, d.Target, d.Rows, "batch %d task %d", b, i)
		}
	}
	var losses []float64
	require.NoError(t, full.Run(context.Background(), func(p Progress) { losses = append(losses, p.Loss) }))
	require.Len(t, losses, tc.Steps)
	for s, l := range losses {
		require.False(t, math.IsNaN(l) || math.IsInf(l, 0) || l <= -100, "step %d: loss %v", s, l)
	}
	want := params(t, full.Model)
	full.Model.Release()

	tc.Steps = 3
	part, err := NewTrainer(dev, tinyRegressionConfig(), tc, filepath.Join(dir, "part.safetensors"))
	require.NoError(t, err)
	part.Warnings = io.Discard
	require.NoError(t, part.Run(context.Background(), nil))
	part.Model.Release()
	resumed, err := Resume(dev, filepath.Join(dir, "part.safetensors"), 6)
	require.NoError(t, err)
	require.NotNil(t, resumed.Cfg.Corpus, "the checkpoint keeps the corpus settings")
	resumed.Warnings = io.Discard
	require.NoError(t, resumed.Run(context.Background(), nil))
	require.Equal(t, want, params(t, resumed.Model))

	// Held-out tables score a regression model by its regression loss.
	htc := tinyTrainConfig()
	htc.Corpus = &CorpusConfig{Dir: tc.Corpus.Dir, Fraction: 1, Tasks: []string{"column"}, HoldoutEvery: 2}
	l, err := HeldOutCorpusLoss(resumed.Model, htc, 2)
	require.NoError(t, err)
	require.False(t, math.IsNaN(l) || math.IsInf(l, 0), "held-out loss %v", l)
	resumed.Model.Release()

	tc.Corpus = &CorpusConfig{Dir: tc.Corpus.Dir, Fraction: 1, Tasks: []string{"column", "masked"}}
	_, err = NewTrainer(dev, tinyRegressionConfig(), tc, "")
	require.ErrorContains(t, err, "regression")
}

// A classification batch given to a regression model is an error, not a batch of zero
// targets.
func TestRegressionInputRefusesClassificationBatches(t *testing.T) {
	ps, err := prior.NewSampler(tinyTrainConfig().Prior)
	require.NoError(t, err)
	b := ps.Batch(0)
	require.Nil(t, b.Datasets[0].Target)
	require.PanicsWithError(t, fmt.Sprintf("tabpfn: regression batch 0: dataset 0 has 0 targets for %d rows (a classification dataset?)", b.Shape.Rows),
		func() { RegressionInputFromBatch(b, 1) })
}
