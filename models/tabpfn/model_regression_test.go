package tabpfn

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
	"github.com/kiln-ml/kiln/tensor"
)

func tinyRegressionConfig() Config { return tinyConfig().AsRegression(32) }

func smallRegressionPrior(t *testing.T) prior.Config {
	cfg := prior.DefaultConfig()
	cfg.BatchSize, cfg.MinRows, cfg.MaxRows, cfg.MaxFeatures = 2, 20, 40, 5
	cfg.Regression = true
	return cfg
}

// tinyRegressionModel is a fresh regression model with borders from the small prior.
func tinyRegressionModel(t *testing.T, seed uint64) *Model {
	t.Helper()
	m, err := New(device.MustGet("cpu"), tinyRegressionConfig(), seed)
	require.NoError(t, err)
	m.Bars, err = PriorBars(smallRegressionPrior(t), m.Cfg.Bins)
	require.NoError(t, err)
	return m
}

func regressionBatch(t *testing.T, index uint64) (Input, []float32) {
	s, err := prior.NewSampler(smallRegressionPrior(t))
	require.NoError(t, err)
	return RegressionInputFromBatch(s.Batch(index), 1)
}

func TestRegressionConfig(t *testing.T) {
	c := tinyRegressionConfig()
	require.NoError(t, c.Validate())
	bad := c
	bad.MaxClasses = 10
	require.ErrorContains(t, bad.Validate(), "max_classes")
	bad = c
	bad.Bins = 1
	require.ErrorContains(t, bad.Validate(), "bins")
	bad = tinyConfig()
	bad.Bins = 10
	require.ErrorContains(t, bad.Validate(), "bins")
	bad.Bins, bad.Task = 0, "ranking"
	require.ErrorContains(t, bad.Validate(), "ranking")
	// A classifier's config JSON is unchanged by the regression fields.
	require.NotContains(t, tinyConfig().JSON(), "task")

	m := tinyRegressionModel(t, 1)
	defer m.Release()
	n := 0
	shapes := c.parameterShapes()
	for i, p := range m.NamedParameters() {
		n += p.Tensor.Len()
		require.Equal(t, paramPrefix+p.Name, shapes[i].Name)
		require.Equal(t, shapes[i].Shape, p.Tensor.Shape())
	}
	require.Equal(t, c.ParameterCount(), n)
}

// TestRegressionForward checks the output shape, that each row's bin probabilities sum to
// one, that the chunked scorer computes what Forward computes, and that the loss is the
// mean negative log density of the test targets under those probabilities.
func TestRegressionForward(t *testing.T) {
	m := tinyRegressionModel(t, 2)
	defer m.Release()
	in, yTest := regressionBatch(t, 0)
	probs, err := m.Probabilities(in, 1)
	require.NoError(t, err)
	T, B := in.Rows-in.NTrain, m.Cfg.Bins
	var nll float64
	for b, p := range probs {
		require.Len(t, p, T*B)
		for r := range T {
			s := 0.0
			for _, v := range p[r*B : (r+1)*B] {
				s += v
			}
			require.InDelta(t, 1, s, 1e-5)
			nll -= m.Bars.LogPDF(p[r*B:(r+1)*B], float64(yTest[b*T+r]))
		}
	}
	nll /= float64(len(yTest))
	ec := tensor.NewContext()
	defer ec.Close()
	ec.SetGradEnabled(false)
	require.InDelta(t, nll, m.RegressionLoss(ec, in, yTest).Item(), 1e-4*max(1, math.Abs(nll)))

	one := in
	one.Batch, one.X, one.Target = 1, in.X[:in.Rows*in.Features], in.Target[:in.NTrain]
	want, err := m.Probabilities(one, 0.9)
	require.NoError(t, err)
	got, err := chunkedScorer{m: m, chunkRows: 3}.Probabilities(one, 0.9)
	require.NoError(t, err)
	require.Len(t, got[0], len(want[0]))
	for i := range want[0] {
		require.InDelta(t, want[0][i], got[0][i], 2e-5)
	}

	bad := one
	bad.Target = []float32{1}
	_, err = m.Probabilities(bad, 1)
	require.ErrorContains(t, err, "targets")
	bad.Target = append([]float32(nil), one.Target...)
	bad.Target[0] = float32(math.NaN())
	_, err = m.Probabilities(bad, 1)
	require.ErrorContains(t, err, "NaN")
}

func TestRegressionSaveLoad(t *testing.T) {
	dev := device.MustGet("cpu")
	m := tinyRegressionModel(t, 3)
	defer m.Release()
	path := filepath.Join(t.TempDir(), "r.safetensors")
	require.NoError(t, m.Save(path, nil, nil))
	m2, err := Load(dev, path)
	require.NoError(t, err)
	defer m2.Release()
	require.Equal(t, m.Bars.Borders(), m2.Bars.Borders())
	in, _ := regressionBatch(t, 1)
	a, err := m.Probabilities(in, 1)
	require.NoError(t, err)
	b, err := m2.Probabilities(in, 1)
	require.NoError(t, err)
	require.Equal(t, a, b)

	// Borders missing or not increasing: refused.
	f, err := checkpoint.Load(path)
	require.NoError(t, err)
	e := f.Entries[bordersEntry]
	delete(f.Entries, bordersEntry)
	_, err = FromFile(dev, f)
	require.ErrorContains(t, err, bordersEntry)
	e.F64 = append([]float64(nil), e.F64...)
	e.F64[5] = e.F64[4]
	f.Entries[bordersEntry] = e
	_, err = FromFile(dev, f)
	require.ErrorContains(t, err, "increase")

	noBars := tinyRegressionModel(t, 4)
	defer noBars.Release()
	noBars.Bars = nil
	require.Error(t, noBars.Save(filepath.Join(t.TempDir(), "x.safetensors"), nil, nil))
}

// TestToRegression checks that the regression model takes the classifier's body, that its
// target encoder maps −1, 1 and the test flag onto the classifier's embeddings of classes 0
// and 1 and its placeholder, and that its bin logits are class 0's logit plus (k+½)/B times
// the difference to class 1's.
func TestToRegression(t *testing.T) {
	dev := device.MustGet("cpu")
	clf, err := New(dev, tinyConfig(), 5)
	require.NoError(t, err)
	defer clf.Release()
	bars, err := NewBars([]float64{-3, -1, -0.5, 0, 0.5, 1, 3})
	require.NoError(t, err)
	r, err := ToRegression(clf, bars)
	require.NoError(t, err)
	defer r.Release()
	require.True(t, r.Cfg.Regression())
	require.Equal(t, 6, r.Cfg.Bins)
	require.Same(t, bars, r.Bars)
	want := params(t, clf)
	for name, v := range params(t, r) {
		if isHead(name) && name != "decoder.layers.0.weight" && name != "decoder.layers.0.bias" {
			continue
		}
		require.Equal(t, want[name], v, "parameter %s was not copied", name)
	}

	ec := tensor.NewContext()
	defer ec.Close()
	ec.SetGradEnabled(false)
	W := r.Cfg.Width
	tok := r.targetValue.Forward(ec.FromFloat32(dev, []float32{-1, 0, 1, 0, 0, 1}, 3, 2)).Float32s()
	emb := want["encoder.target.weight"]
	for i := range W {
		require.InDelta(t, emb[i], tok[i], 1e-6)          // y = −1: class 0
		require.InDelta(t, emb[W+i], tok[W+i], 1e-6)      // y = 1: class 1
		require.InDelta(t, emb[10*W+i], tok[2*W+i], 1e-6) // test row: the placeholder
	}
	h := make([]float32, r.Cfg.MLPWidth)
	for j := range h {
		h[j] = float32(j%5) - 2
	}
	lr := r.dec.Layers[1].Forward(ec.FromFloat32(dev, h, 1, len(h))).Float32s()
	lc := clf.dec.Layers[1].Forward(ec.FromFloat32(dev, h, 1, len(h))).Float32s()
	for k := range 6 {
		tk := (float64(k) + 0.5) / 6
		require.InDelta(t, float64(lc[0])+tk*float64(lc[1]-lc[0]), float64(lr[k]), 1e-4, "bin %d", k)
	}
	_, err = ToRegression(r, bars)
	require.Error(t, err)
}

// TestRegressionTrainingResumes trains a tiny regression model on the regression prior,
// checks that the loss falls from its start, and that a resumed run ends where an
// uninterrupted one does.
func TestRegressionTrainingResumes(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()
	tc := tinyTrainConfig()
	tc.Steps = 40
	tc.CheckpointEvery = 20
	full, err := NewTrainer(dev, tinyRegressionConfig(), tc, filepath.Join(dir, "full.safetensors"))
	require.NoError(t, err)
	require.True(t, full.Cfg.Prior.Regression)
	var losses []float64
	require.NoError(t, full.Run(context.Background(), func(p Progress) { losses = append(losses, p.Loss) }))
	want := params(t, full.Model)
	first, last := mean(losses[:5]), mean(losses[len(losses)-5:])
	require.Less(t, last, first, "regression loss did not fall: %v", losses)
	full.Model.Release()

	// The same run, interrupted after step 20 and resumed.
	part, err := NewTrainer(dev, tinyRegressionConfig(), tc, filepath.Join(dir, "part.safetensors"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, part.Run(ctx, func(p Progress) {
		if p.Step == 20 {
			cancel()
		}
	}))
	require.Equal(t, 20, part.Step)
	part.Model.Release()
	resumed, err := Resume(dev, filepath.Join(dir, "part.safetensors"), 0)
	require.NoError(t, err)
	require.Equal(t, 20, resumed.Step)
	require.True(t, resumed.Model.Cfg.Regression())
	require.NoError(t, resumed.Run(context.Background(), nil))
	require.Equal(t, want, params(t, resumed.Model))
	resumed.Model.Release()
}

// TestFreezeBody checks that a run with FreezeBody changes the target encoder and the
// decoder only.
func TestFreezeBody(t *testing.T) {
	dev := device.MustGet("cpu")
	clf, err := New(dev, tinyConfig(), 8)
	require.NoError(t, err)
	bars, err := NewBars([]float64{-2, -1, 0, 1, 2})
	require.NoError(t, err)
	r, err := ToRegression(clf, bars)
	clf.Release()
	require.NoError(t, err)
	before := params(t, r)
	tc := tinyTrainConfig()
	tc.Steps, tc.CheckpointEvery, tc.FreezeBody = 3, 0, true
	tr, err := NewTrainerFrom(r, tc, "")
	require.NoError(t, err)
	require.NoError(t, tr.Run(context.Background(), nil))
	defer tr.Model.Release()
	for name, v := range params(t, tr.Model) {
		if isHead(name) {
			require.NotEqual(t, before[name], v, "head parameter %s did not train", name)
		} else {
			require.Equal(t, before[name], v, "body parameter %s changed", name)
		}
	}
}
