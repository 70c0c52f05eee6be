package tabpfn

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
)

// trainedCheckpoint runs a tiny training run for 2 steps and returns its checkpoint's path.
func trainedCheckpoint(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.safetensors")
	tc := tinyTrainConfig()
	tc.Steps, tc.CheckpointEvery = 2, 0
	tr, err := NewTrainer(device.MustGet("cpu"), tinyConfig(), tc, path)
	require.NoError(t, err)
	require.NoError(t, tr.Run(context.Background(), nil))
	tr.Model.Release()
	return path
}

// A bit flipped anywhere in a checkpoint's data region makes Resume fail with an error naming
// the tensor it hit, whether a parameter or optimizer state; the unflipped file resumes.
func TestResumeRejectsFlippedBits(t *testing.T) {
	dev := device.MustGet("cpu")
	path := trainedCheckpoint(t)
	buf, err := os.ReadFile(path)
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "checkpoints are readable by group and others")

	n, header, err := safetensors.ReadMetadata(buf)
	require.NoError(t, err)
	start := 8 + int(n)
	owner := func(off int) string {
		for name, info := range header.Tensors() {
			if d := uint64(off - start); d >= info.DataOffsets[0] && d < info.DataOffsets[1] {
				return name
			}
		}
		t.Fatalf("offset %d is in no tensor", off)
		return ""
	}
	const flips = 40
	hit := map[string]bool{}
	for i := range flips {
		off := start + (len(buf)-start-1)*i/(flips-1)
		bad := append([]byte(nil), buf...)
		bad[off] ^= 1 << (i % 8)
		p := filepath.Join(t.TempDir(), "flipped.safetensors")
		require.NoError(t, os.WriteFile(p, bad, 0o644))
		_, err := Resume(dev, p, 0)
		name := owner(off)
		require.ErrorContains(t, err, fmt.Sprintf("tensor %q fails its checksum", name), "flip at offset %d", off)
		hit[strings.SplitN(name, ".", 2)[0]] = true
	}
	require.True(t, hit["model"] && hit["opt"], "flips hit parameters and optimizer state: %v", hit)

	tr, err := Resume(dev, path, 0)
	require.NoError(t, err)
	require.Equal(t, 2, tr.Step)
	tr.Model.Release()
}

// editCheckpoint rewrites a checkpoint with edited metadata and tensors, with valid
// checksums, so that what Resume rejects is the edit itself.
func editCheckpoint(t *testing.T, path string, edit func(f *checkpoint.File)) string {
	t.Helper()
	f, err := checkpoint.Load(path)
	require.NoError(t, err)
	edit(f)
	var es []checkpoint.Entry
	for _, name := range f.Names() {
		es = append(es, f.Entries[name])
	}
	out := filepath.Join(t.TempDir(), "edited.safetensors")
	require.NoError(t, checkpoint.Save(out, es, f.Metadata))
	return out
}

// editJSON applies fn to the JSON object in metadata key.
func editJSON(t *testing.T, f *checkpoint.File, key string, fn func(map[string]any)) {
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(f.Metadata[key]), &v))
	fn(v)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	f.Metadata[key] = string(b)
}

// Training settings and state read from a checkpoint are checked against their bounds
// before the model is built; each error names the field, the value and the bound.
func TestResumeChecksSettingsAndState(t *testing.T) {
	dev := device.MustGet("cpu")
	path := trainedCheckpoint(t)
	trainCfg := func(fn func(map[string]any)) func(*checkpoint.File) {
		return func(f *checkpoint.File) { editJSON(t, f, metaTrainConfig, fn) }
	}
	prior := func(key string, v any) func(*checkpoint.File) {
		return trainCfg(func(m map[string]any) { m["Prior"].(map[string]any)[key] = v })
	}
	optState := func(key string, v any) func(*checkpoint.File) {
		return func(f *checkpoint.File) { editJSON(t, f, metaOptimizer, func(m map[string]any) { m[key] = v }) }
	}
	meta := func(key, v string) func(*checkpoint.File) {
		return func(f *checkpoint.File) { f.Metadata[key] = v }
	}
	optTensor := func(fn func(e *checkpoint.Entry)) func(*checkpoint.File) {
		return func(f *checkpoint.File) {
			for _, name := range f.Names() {
				if strings.HasPrefix(name, "opt.") {
					e := f.Entries[name]
					fn(&e)
					f.Entries[name] = e
					return
				}
			}
		}
	}
	cases := []struct {
		name string
		edit func(*checkpoint.File)
		want string
	}{
		{"workers", trainCfg(func(m map[string]any) { m["workers"] = 1e6 }), "train config workers 1000000 is above the bound of 256"},
		{"steps", trainCfg(func(m map[string]any) { m["steps"] = 0 }), "train config steps 0 is below the minimum of 1"},
		{"lr", trainCfg(func(m map[string]any) { m["lr"] = -1 }), "train config lr -1 must be above 0"},
		{"clip", trainCfg(func(m map[string]any) { m["clip_norm"] = 1e300 }), "train config clip_norm 1e+300 is above the bound of 1e+06"},
		{"batch", prior("BatchSize", 1e6), "train config Prior.BatchSize 1000000 is above the bound of 4096"},
		{"rows", prior("MaxRows", 1e9), "train config Prior.MaxRows 1000000000 is above the bound of 100000"},
		{"cells", trainCfg(func(m map[string]any) {
			p := m["Prior"].(map[string]any)
			p["BatchSize"], p["MaxRows"] = 4096, 100000
		}), "batches of 4096 datasets of up to 100000 rows × 5 features hold 2048000000 cells, above the bound of 268435456"},
		{"not JSON", meta(metaTrainConfig, "{"), "unusable training config"},
		{"optimizer step", optState("step", -1), "optimizer step -1 is below the minimum of 0"},
		{"optimizer lr", optState("lr", 1e9), "optimizer lr 1e+09 is above the bound of 10"},
		{"optimizer scalars", optState("scalars", manyScalars(17)), "optimizer state has 17 scalars, above the bound of 16"},
		{"step", meta(metaStep, "2000000000"), "step 2000000000 is above the bound of 1000000000"},
		{"negative step", meta(metaStep, "-3"), "step -3 is below the minimum of 0"},
		{"average loss", meta(metaAvgLoss, "NaN"), "average loss NaN is not a finite non-negative number"},
		{"optimizer dtype", optTensor(func(e *checkpoint.Entry) {
			e.F32 = make([]float32, len(e.F64))
			e.F64 = nil
		}), "has dtype F32, want F64"},
		{"optimizer values", optTensor(func(e *checkpoint.Entry) {
			e.F64 = append([]float64(nil), e.F64...)
			e.F64[0] = math.NaN()
		}), "holds non-finite values"},
		{"optimizer tensor missing", func(f *checkpoint.File) {
			for _, name := range f.Names() {
				if strings.HasPrefix(name, "opt.") {
					delete(f.Entries, name)
					return
				}
			}
		}, "optim: state has no tensor"},
		{"model config", meta(MetaConfig, strings.Replace(tinyConfig().JSON(), `"width":16`, `"width":200000`, 1)), "config width 200000 is above the bound of 4096"},
	}
	for _, c := range cases {
		_, err := Resume(dev, editCheckpoint(t, path, c.edit), 0)
		require.ErrorContains(t, err, c.want, c.name)
	}
}

// Every TrainConfig field has a range; the defaults and the test settings are within them.
func TestTrainConfigBounds(t *testing.T) {
	require.NoError(t, DefaultTrainConfig().Validate())
	require.NoError(t, tinyTrainConfig().Validate())
	tc := DefaultTrainConfig()
	tc.LR = math.NaN()
	require.EqualError(t, tc.Validate(), "tabpfn: train config lr is NaN")
	tc = DefaultTrainConfig()
	tc.MinLR = math.Inf(1)
	require.EqualError(t, tc.Validate(), "tabpfn: train config min_lr +Inf is above the bound of 10")
	tc = DefaultTrainConfig()
	tc.WeightDecay = -0.1
	require.EqualError(t, tc.Validate(), "tabpfn: train config weight_decay -0.1 is below the minimum of 0")
	tc = DefaultTrainConfig()
	tc.MicroBatch = MaxBatch + 1
	require.EqualError(t, tc.Validate(), "tabpfn: train config micro_batch 4097 is above the bound of 4096")
	tc = DefaultTrainConfig()
	tc.Seed = math.MaxUint64
	require.NoError(t, tc.Validate(), "any seed")
}

func manyScalars(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprint("s", i)] = 1.0
	}
	return m
}
