package tabpfn

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
)

func tinyTrainConfig() TrainConfig {
	tc := DefaultTrainConfig()
	tc.Steps, tc.Warmup, tc.CheckpointEvery, tc.Workers = 6, 2, 3, 2
	tc.Prior.BatchSize, tc.Prior.MinRows, tc.Prior.MaxRows, tc.Prior.MaxFeatures = 2, 20, 40, 5
	return tc
}

func params(t *testing.T, m *Model) map[string][]float32 {
	out := map[string][]float32{}
	for _, n := range m.NamedParameters() {
		out[n.Name] = n.Tensor.Float32s()
	}
	return out
}

// A run killed after its checkpoint at step 3 and resumed must end exactly where an
// uninterrupted run ends: same batches, same optimizer state, same parameters.
func TestResumeIsExact(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()

	full, err := NewTrainer(dev, tinyConfig(), tinyTrainConfig(), filepath.Join(dir, "full.safetensors"))
	require.NoError(t, err)
	var losses []float64
	require.NoError(t, full.Run(context.Background(), func(p Progress) { losses = append(losses, p.Loss) }))
	require.Equal(t, 6, full.Step)
	want := params(t, full.Model)
	full.Model.Release()

	tc := tinyTrainConfig()
	tc.Steps = 3
	part, err := NewTrainer(dev, tinyConfig(), tc, filepath.Join(dir, "part.safetensors"))
	require.NoError(t, err)
	require.NoError(t, part.Run(context.Background(), nil))
	part.Model.Release()

	resumed, err := Resume(dev, filepath.Join(dir, "part.safetensors"), 6)
	require.NoError(t, err)
	require.Equal(t, 3, resumed.Step)
	var tail []float64
	require.NoError(t, resumed.Run(context.Background(), func(p Progress) { tail = append(tail, p.Loss) }))
	got := params(t, resumed.Model)
	for name, w := range want {
		require.Equal(t, w, got[name], "parameter %s differs after resume", name)
	}
	require.Equal(t, losses[3:], tail)

	// The exported model loads and predicts like the trainer's.
	path := filepath.Join(dir, "model.safetensors")
	require.NoError(t, resumed.ExportModel(path, nil))
	m, err := Load(dev, path)
	require.NoError(t, err)
	require.Equal(t, got, params(t, m))

	_, err = Resume(dev, path, 0)
	require.ErrorContains(t, err, "training config")
}

// An interrupted run (SIGINT cancels the context) stops cleanly and checkpoints the step it
// reached, so --resume loses nothing.
func TestCancelCheckpointsCurrentStep(t *testing.T) {
	dev := device.MustGet("cpu")
	path := filepath.Join(t.TempDir(), "run.safetensors")
	tc := tinyTrainConfig()
	tc.Steps, tc.CheckpointEvery = 50, 1000
	tr, err := NewTrainer(dev, tinyConfig(), tc, path)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, tr.Run(ctx, func(p Progress) {
		if p.Step == 4 {
			cancel()
		}
	}))
	require.Equal(t, 4, tr.Step)
	r, err := Resume(dev, path, 0)
	require.NoError(t, err)
	require.Equal(t, 4, r.Step)
}
