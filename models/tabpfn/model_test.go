package tabpfn

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

func tinyConfig() Config {
	return Config{Layers: 2, Width: 16, Heads: 2, MLPWidth: 32, FeatureDim: 8, MaxClasses: 10, MaxFeatures: 20, MaxRows: 256}
}

func batchInput(b prior.Batch) (Input, []int32) {
	x, y := b.Stack()
	sh := b.Shape
	in := Input{Batch: len(b.Datasets), Rows: sh.Rows, Features: sh.Features, NTrain: sh.NTrain, X: x, FeatureSeed: 1}
	var yTest []int32
	for i, d := range b.Datasets {
		in.Y = append(in.Y, y[i*sh.Rows:i*sh.Rows+sh.NTrain]...)
		yTest = append(yTest, y[i*sh.Rows+sh.NTrain:(i+1)*sh.Rows]...)
		in.Classes = append(in.Classes, d.Classes)
	}
	return in, yTest
}

func smallPrior(t *testing.T) *prior.Sampler {
	cfg := prior.DefaultConfig()
	cfg.BatchSize, cfg.MinRows, cfg.MaxRows, cfg.MaxFeatures = 2, 20, 40, 5
	s, err := prior.NewSampler(cfg)
	require.NoError(t, err)
	return s
}

func TestForwardShapesAndProbabilities(t *testing.T) {
	dev := device.MustGet("cpu")
	m, err := New(dev, tinyConfig(), 1)
	require.NoError(t, err)
	defer m.Release()
	in, _ := batchInput(smallPrior(t).Batch(0))
	probs, err := m.Probabilities(in, 1)
	require.NoError(t, err)
	require.Len(t, probs, in.Batch)
	for b, p := range probs {
		k := in.Classes[b]
		require.Len(t, p, (in.Rows-in.NTrain)*k)
		for r := 0; r < in.Rows-in.NTrain; r++ {
			s := 0.0
			for c := 0; c < k; c++ {
				s += p[r*k+c]
			}
			require.InDelta(t, 1, s, 1e-5)
		}
	}
}

// The model must not depend on the order of the training rows, nor let a test row influence
// another test row's prediction (test rows attend to training rows only).
func TestPermutationInvarianceAndTestIndependence(t *testing.T) {
	dev := device.MustGet("cpu")
	m, err := New(dev, tinyConfig(), 2)
	require.NoError(t, err)
	defer m.Release()
	in, _ := batchInput(smallPrior(t).Batch(1))
	in.Batch, in.Classes = 1, in.Classes[:1]
	in.X = in.X[:in.Rows*in.Features]
	in.Y = in.Y[:in.NTrain]
	base, err := m.Probabilities(in, 1)
	require.NoError(t, err)

	// Reverse the training rows.
	perm := in
	perm.X = append([]float32(nil), in.X...)
	perm.Y = append([]int32(nil), in.Y...)
	F := in.Features
	for i := 0; i < in.NTrain; i++ {
		j := in.NTrain - 1 - i
		copy(perm.X[i*F:(i+1)*F], in.X[j*F:(j+1)*F])
		perm.Y[i] = in.Y[j]
	}
	got, err := m.Probabilities(perm, 1)
	require.NoError(t, err)
	for i := range base[0] {
		require.InDelta(t, base[0][i], got[0][i], 2e-5)
	}

	// Change the last test row: the other test rows' probabilities stay the same.
	mod := in
	mod.X = append([]float32(nil), in.X...)
	for j := 0; j < F; j++ {
		mod.X[(in.Rows-1)*F+j] += 3
	}
	got, err = m.Probabilities(mod, 1)
	require.NoError(t, err)
	k := in.Classes[0]
	for i := 0; i < (in.Rows-in.NTrain-1)*k; i++ {
		require.InDelta(t, base[0][i], got[0][i], 2e-5)
	}
}

func TestSaveLoadRoundTripAndBadInput(t *testing.T) {
	dev := device.MustGet("cpu")
	m, err := New(dev, tinyConfig(), 3)
	require.NoError(t, err)
	defer m.Release()
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, m.Save(path, nil, nil))
	m2, err := Load(dev, path)
	require.NoError(t, err)
	defer m2.Release()
	in, _ := batchInput(smallPrior(t).Batch(2))
	a, err := m.Probabilities(in, 1)
	require.NoError(t, err)
	b, err := m2.Probabilities(in, 1)
	require.NoError(t, err)
	require.Equal(t, a, b)

	bad := in
	bad.Classes = append([]int(nil), in.Classes...)
	bad.Classes[0] = 11
	_, err = m.Probabilities(bad, 1)
	require.ErrorContains(t, err, "11 classes")
	_, err = m.Probabilities(in, math.NaN())
	require.Error(t, err)
	short := in
	short.X = in.X[:3]
	_, err = m.Probabilities(short, 1)
	require.Error(t, err)
}

func TestLossDecreasesOnOneBatch(t *testing.T) {
	dev := device.MustGet("cpu")
	m, err := New(dev, tinyConfig(), 4)
	require.NoError(t, err)
	defer m.Release()
	in, yTest := batchInput(smallPrior(t).Batch(3))
	var first, last float64
	ec := tensor.NewContext()
	defer ec.Close()
	for step := 0; step < 30; step++ {
		s := ec.NewScope()
		loss := m.Loss(ec, in, yTest)
		ops.Backward(loss)
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
		ec.NoGrad(func() {
			for _, p := range m.Parameters() {
				if g := p.Grad(); g != nil {
					dev.Binary(device.BinarySub, p.Buffer(), p.Layout(), ops.MulScalar(ec.View(g), 0.05).Buffer(), g.Layout(), p.Buffer(), p.Layout())
				}
			}
		})
		ops.ZeroGrad(m.Parameters()...)
		s.Close()
	}
	require.Less(t, last, first*0.7, "plain gradient descent must fit one batch (first %.3f, last %.3f)", first, last)
}
