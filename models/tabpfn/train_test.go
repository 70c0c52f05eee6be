package tabpfn

import (
	"context"
	"path/filepath"
	"strings"
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

// A new phase changes the prior's shapes and restarts the learning-rate schedule at the
// current step; a phased run interrupted mid-phase and resumed ends exactly where an
// uninterrupted phased run ends (the phase is part of the checkpoint).
func TestNewPhaseResumesExactly(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()
	phase := Phase{Steps: 7, LR: 5e-4, Warmup: 2, MinRows: 45, MaxRows: 60, MaxFeatures: 7}

	run := func(path string, stopAt int) (*Trainer, []Progress) {
		tc := tinyTrainConfig()
		tc.Steps = 3
		tr, err := NewTrainer(dev, tinyConfig(), tc, path)
		require.NoError(t, err)
		require.NoError(t, tr.Run(context.Background(), nil))
		require.NoError(t, tr.NewPhase(phase))
		var seen []Progress
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		require.NoError(t, tr.Run(ctx, func(p Progress) {
			seen = append(seen, p)
			if p.Step == stopAt {
				cancel()
			}
		}))
		return tr, seen
	}
	full, seen := run(filepath.Join(dir, "full.safetensors"), -1)
	require.Equal(t, 7, full.Step)
	// The model records the widest prior of its phases (5, then 7).
	require.Equal(t, 7, full.Model.Cfg.TrainedFeatures)
	require.Len(t, seen, 4)
	// Warm-up restarts: step 3 is the new schedule's step 0, at lr·1/2.
	require.InDelta(t, 2.5e-4, seen[0].LR, 1e-12)
	require.InDelta(t, 5e-4, seen[1].LR, 1e-12)
	require.Less(t, seen[3].LR, seen[2].LR)
	require.Equal(t, 3, full.Cfg.ScheduleStart)
	// The prior now draws the new shapes.
	b := full.sampler.Batch(100)
	require.GreaterOrEqual(t, b.Shape.Rows, 45)
	require.LessOrEqual(t, b.Shape.Rows, 60)
	require.LessOrEqual(t, b.Shape.Features, 7)
	want := params(t, full.Model)
	full.Model.Release()

	part, _ := run(filepath.Join(dir, "part.safetensors"), 5)
	require.Equal(t, 5, part.Step)
	part.Model.Release()
	resumed, err := Resume(dev, filepath.Join(dir, "part.safetensors"), 0)
	require.NoError(t, err)
	require.Equal(t, phase.MaxRows, resumed.Cfg.Prior.MaxRows)
	require.Equal(t, 7, resumed.Model.Cfg.TrainedFeatures)
	var tail []Progress
	require.NoError(t, resumed.Run(context.Background(), func(p Progress) { tail = append(tail, p) }))
	require.Equal(t, 7, resumed.Step)
	got := params(t, resumed.Model)
	for name, w := range want {
		require.Equal(t, w, got[name], "parameter %s differs after resuming a phase", name)
	}
	require.Equal(t, seen[2].Loss, tail[0].Loss)
	require.Equal(t, seen[2].LR, tail[0].LR)
	resumed.Model.Release()

	require.ErrorContains(t, resumed.NewPhase(Phase{Steps: 7}), "more steps")
}

// A model records the most features of the tables it was trained on: the first phase's
// prior, a wider phase's, never less after a narrower one, through a checkpoint and an export.
func TestTrainedFeaturesRecorded(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()
	tc := tinyTrainConfig()
	tc.Steps = 1
	tr, err := NewTrainer(dev, tinyConfig(), tc, filepath.Join(dir, "run.safetensors"))
	require.NoError(t, err)
	defer tr.Model.Release()
	require.Equal(t, 0, tinyConfig().TrainedFeatures)
	require.Equal(t, tc.Prior.MaxFeatures, tr.Model.Cfg.TrainedFeatures)
	require.NoError(t, tr.Run(context.Background(), nil))
	require.NoError(t, tr.NewPhase(Phase{Steps: 2, MaxFeatures: 9}))
	require.Equal(t, 9, tr.Model.Cfg.TrainedFeatures)
	require.NoError(t, tr.Run(context.Background(), nil))
	require.NoError(t, tr.NewPhase(Phase{Steps: 3, MaxFeatures: 4}))
	require.Equal(t, 9, tr.Model.Cfg.TrainedFeatures)
	require.NoError(t, tr.Run(context.Background(), nil))

	resumed, err := Resume(dev, filepath.Join(dir, "run.safetensors"), 0)
	require.NoError(t, err)
	defer resumed.Model.Release()
	require.Equal(t, 9, resumed.Model.Cfg.TrainedFeatures)
	export := filepath.Join(dir, "model.safetensors")
	require.NoError(t, resumed.ExportModel(export, nil))
	m, err := Load(dev, export)
	require.NoError(t, err)
	defer m.Release()
	require.Equal(t, 9, m.Cfg.TrainedFeatures)
	require.Equal(t, 9, DefaultMemberFeatures(m.Cfg))
}

// Micro-batches accumulate the gradient of the whole batch: training with groups of 3 of a
// batch of 8 datasets (3 + 3 + 2) ends where training on the whole batch at once does, up to
// the float32 rounding of the different summation order, and reports the same losses.
func TestMicroBatchMatchesWholeBatch(t *testing.T) {
	dev := device.MustGet("cpu")
	run := func(micro int) (map[string][]float32, []float64) {
		tc := tinyTrainConfig()
		tc.Steps, tc.CheckpointEvery, tc.MicroBatch = 3, 0, micro
		tc.Prior.BatchSize = 8
		tr, err := NewTrainer(dev, tinyConfig(), tc, "")
		require.NoError(t, err)
		defer tr.Model.Release()
		var losses []float64
		require.NoError(t, tr.Run(context.Background(), func(p Progress) { losses = append(losses, p.Loss) }))
		return params(t, tr.Model), losses
	}
	whole, wl := run(0)
	micro, ml := run(3)
	require.InDeltaSlice(t, wl, ml, 1e-5)
	moved := false
	for name, w := range whole {
		if strings.HasSuffix(name, ".k.bias") {
			// A key bias adds the same q·b to every score of a query, which the softmax
			// cancels: its gradient is rounding noise, and Adam's normalisation turns noise
			// into full-size steps whose sign depends on the summation order.
			continue
		}
		for i := range w {
			require.InDelta(t, w[i], micro[name][i], 2e-5, "parameter %s[%d]", name, i)
		}
		moved = moved || len(w) > 0
	}
	require.True(t, moved)
	tc := tinyTrainConfig()
	tc.MicroBatch = -1
	_, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.ErrorContains(t, err, "micro_batch -1 is below the minimum of 0")
}

// PhaseChanges keeps only the settings that differ from the run's: the run's own settings
// (including a warm-up that was capped to its steps) make no phase, any changed one does.
func TestPhaseChanges(t *testing.T) {
	tc := tinyTrainConfig()
	tc.WarmupAsked, tc.Warmup = 50, 2 // asked for 50, capped to 2
	tc.LR = 5e-4
	tr, err := NewTrainer(device.MustGet("cpu"), tinyConfig(), tc, "")
	require.NoError(t, err)
	same := Phase{Steps: 9, LR: 5e-4, Warmup: 50, Batch: 2, MinRows: 20, MaxRows: 40, MaxFeatures: 5, Mechanisms: "basic"}
	require.Equal(t, Phase{Steps: 9}, tr.PhaseChanges(same))
	require.Equal(t, Phase{Steps: 9}, tr.PhaseChanges(Phase{Steps: 9, Warmup: 2}))
	for _, changed := range []Phase{{LR: 1e-4}, {Warmup: 7}, {Batch: 4}, {MinRows: 25}, {MaxRows: 48}, {MaxFeatures: 6},
		{Mechanisms: "extended"}} {
		require.Equal(t, changed, tr.PhaseChanges(changed))
	}
	// A new phase records the warm-up it asked for.
	tr.Step = 1
	require.NoError(t, tr.NewPhase(Phase{Steps: 9, Warmup: 30}))
	require.Equal(t, 30, tr.Cfg.WarmupAsked)
	require.Equal(t, 4, tr.Cfg.Warmup)
	require.Equal(t, Phase{}, tr.PhaseChanges(Phase{Warmup: 30}))
}
