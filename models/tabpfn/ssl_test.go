package tabpfn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// linearHead is z·Wᵀ + b with W and b from the check's inputs.
func linearHead(w, b *tensor.Tensor) func(*tensor.Tensor) *tensor.Tensor {
	return func(z *tensor.Tensor) *tensor.Tensor { return ops.Add(ops.MatmulT(z, w, false, true), b) }
}

func randomTensor(dev device.Device, seed uint64, shape ...int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return tensor.FromFloat64(dev, v, shape...)
}

// handSSLInput scores, in a batch of 2 datasets of 5 rows (3 context) and 2 features with
// views appended (9 rows each), two numeric and three categorical cells.
func handSSLInput() *sslInput {
	const Rx, T = 9, 3
	tok := func(b, r, f int) int32 { return int32((b*Rx+r)*T + f) }
	return &sslInput{
		rows: 5, views: true,
		numIdx: []int32{tok(0, 1, 0), tok(1, 4, 0)}, numValue: []float64{0.7, -1.2}, numWeight: []float64{1.0 / 6, 1.0 / 4},
		catIdx: []int32{tok(0, 0, 1), tok(0, 3, 1), tok(1, 2, 1)}, catCode: []int32{2, 0, 1}, catLevels: []int{3, 3, 2},
		catWgt: []float64{1.0 / 6, 1.0 / 6, 1.0 / 4},
	}
}

// The masked-cell loss's gradients with respect to the tokens and the head agree with
// finite differences, and its value with a float64 hand computation.
func TestMaskedLossGradient(t *testing.T) {
	dev := device.MustGet("cpu")
	const K, E = 3, 4
	s := handSSLInput()
	x := randomTensor(dev, 1, 2, 9, 3, E)
	w := randomTensor(dev, 2, 1+K, E)
	b := randomTensor(dev, 3, 1+K)
	defer x.Release()
	defer w.Release()
	defer b.Release()
	f := func(xs []*tensor.Tensor) *tensor.Tensor {
		return maskedLoss(xs[0], linearHead(xs[1], xs[2]), s, K)
	}
	require.NoError(t, ops.GradCheck(f, []*tensor.Tensor{x, w, b}, 1e-6, 1e-6))

	// By hand.
	xv, wv, bv := x.Float64s(), w.Float64s(), b.Float64s()
	out := func(idx int32) []float64 {
		o := make([]float64, 1+K)
		for k := range o {
			o[k] = bv[k]
			for e := range E {
				o[k] += wv[k*E+e] * xv[int(idx)*E+e]
			}
		}
		return o
	}
	want := 0.0
	for i, idx := range s.numIdx {
		d := out(idx)[0] - s.numValue[i]
		want += s.numWeight[i] * d * d
	}
	for i, idx := range s.catIdx {
		o := out(idx)[1:]
		z := 0.0
		for k := range s.catLevels[i] {
			z += math.Exp(o[k])
		}
		want += s.catWgt[i] * -(o[s.catCode[i]] - math.Log(z))
	}
	c := tensor.NewContext()
	defer c.Close()
	got := maskedLoss(x, linearHead(w, b), s, K).Item()
	require.InDelta(t, want, got, 1e-6)
}

// The contrastive loss's gradients agree with finite differences, and its value with a
// float64 hand computation of InfoNCE over cosine similarities.
func TestContrastiveLossGradientAndValue(t *testing.T) {
	dev := device.MustGet("cpu")
	const B, Rx, T, E, P = 2, 9, 3, 4, 3
	const rows, nTrain, temp = 5, 3, 0.5
	x := randomTensor(dev, 4, B, Rx, T, E)
	w := randomTensor(dev, 5, P, E)
	b := randomTensor(dev, 6, P)
	defer x.Release()
	defer w.Release()
	defer b.Release()
	f := func(xs []*tensor.Tensor) *tensor.Tensor {
		return contrastiveLoss(xs[0], linearHead(xs[1], xs[2]), rows, nTrain, temp)
	}
	require.NoError(t, ops.GradCheck(f, []*tensor.Tensor{x, w, b}, 1e-6, 1e-6))

	xv, wv, bv := x.Float64s(), w.Float64s(), b.Float64s()
	const Q = rows - nTrain
	proj := func(bi, r int) []float64 { // the normalised projection of row r's target token
		z := make([]float64, P)
		norm := 0.0
		for p := range P {
			z[p] = bv[p]
			for e := range E {
				z[p] += wv[p*E+e] * xv[((bi*Rx+r)*T+T-1)*E+e]
			}
			norm += z[p] * z[p]
		}
		for p := range z {
			z[p] /= math.Sqrt(norm)
		}
		return z
	}
	want := 0.0
	for bi := range B {
		for q := range Q {
			za := proj(bi, rows+q)
			sims := make([]float64, Q)
			for j := range Q {
				zb := proj(bi, rows+Q+j)
				for p := range P {
					sims[j] += za[p] * zb[p] / temp
				}
			}
			z := 0.0
			for _, v := range sims {
				z += math.Exp(v)
			}
			want -= (sims[q] - math.Log(z)) / (B * Q)
		}
	}
	c := tensor.NewContext()
	defer c.Close()
	got := contrastiveLoss(x, linearHead(w, b), rows, nTrain, temp).Item()
	require.InDelta(t, want, got, 1e-9)
}

// sslTrainConfig trains a tiny model on corpus tasks only, with both auxiliary tasks.
func sslTrainConfig(t *testing.T, dir string) TrainConfig {
	tc := tinyTrainConfig()
	tc.Corpus = &CorpusConfig{Dir: dir, Fraction: 1, Tasks: []string{"column", "masked", "contrastive"}}
	return tc
}

// recordLosses runs tr and returns each step's losses.
func recordLosses(t *testing.T, tr *Trainer) [][3]float64 {
	t.Helper()
	var out [][3]float64
	require.NoError(t, tr.Run(context.Background(), func(p Progress) {
		out = append(out, [3]float64{p.Loss, p.Masked, p.Contrastive})
	}))
	return out
}

// Two runs with the same seed give the same losses; a run stopped at a checkpoint and
// resumed ends with the parameters, heads and losses of an uninterrupted one; the
// checkpoint holds the heads and their optimizer state, and an exported model does not.
func TestSSLTrainingResumesExactly(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()
	tc := sslTrainConfig(t, corpusDir(t))

	full, err := NewTrainer(dev, tinyConfig(), tc, filepath.Join(dir, "full.safetensors"))
	require.NoError(t, err)
	lossFull := recordLosses(t, full)
	for _, l := range lossFull {
		require.Positive(t, l[1], "masked loss of a corpus step")
		require.Positive(t, l[2], "contrastive loss of a corpus step")
	}
	want := params(t, full.Model)
	wantHeads := map[string][]float32{}
	for _, n := range full.ssl.namedParameters() {
		wantHeads[n.Name] = n.Tensor.Float32s()
	}

	again, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	require.Equal(t, lossFull, recordLosses(t, again), "same seed, same losses")
	again.Model.Release()

	tc.Steps = 3
	part, err := NewTrainer(dev, tinyConfig(), tc, filepath.Join(dir, "part.safetensors"))
	require.NoError(t, err)
	lossPart := recordLosses(t, part)
	part.Model.Release()
	f, err := checkpoint.Load(filepath.Join(dir, "part.safetensors"))
	require.NoError(t, err)
	var sslEntries, sslOpt int
	for name := range f.Entries {
		if strings.HasPrefix(name, "ssl.") {
			sslEntries++
		}
		if strings.HasPrefix(name, "opt.ssl.") {
			sslOpt++
		}
	}
	require.Equal(t, 8, sslEntries, "two heads of two layers: weights and biases")
	require.Equal(t, 16, sslOpt, "AdamW's two moments of each head parameter")
	resumed, err := Resume(dev, filepath.Join(dir, "part.safetensors"), 6)
	require.NoError(t, err)
	lossRest := recordLosses(t, resumed)
	require.Equal(t, lossFull, append(lossPart, lossRest...), "losses of the resumed run")
	got := params(t, resumed.Model)
	for name, w := range want {
		require.Equal(t, w, got[name], "parameter %s differs after resume", name)
	}
	for _, n := range resumed.ssl.namedParameters() {
		require.Equal(t, wantHeads[n.Name], n.Tensor.Float32s(), "head %s differs after resume", n.Name)
	}

	// The exported model has no heads and predicts as the trained one.
	exp := filepath.Join(dir, "export.safetensors")
	require.NoError(t, full.ExportModel(exp, nil))
	ef, err := checkpoint.Load(exp)
	require.NoError(t, err)
	for name := range ef.Entries {
		require.False(t, strings.HasPrefix(name, "ssl.") || strings.HasPrefix(name, "opt."), "exported entry %s", name)
	}
	m, err := Load(dev, exp)
	require.NoError(t, err)
	defer m.Release()
	in, _ := InputFromBatch(full.batch(100), 9)
	p1, err := full.Model.Probabilities(in, 1)
	require.NoError(t, err)
	p2, err := m.Probabilities(in, 1)
	require.NoError(t, err)
	require.Equal(t, p1, p2)
	// A training checkpoint with heads still loads as a model.
	m2, err := Load(dev, filepath.Join(dir, "full.safetensors"))
	require.NoError(t, err)
	m2.Release()
	full.Model.Release()
	resumed.Model.Release()
}

// A checkpoint's heads are checked like its parameters: missing, reshaped or non-finite
// heads, or heads without the task that uses them, are refused.
func TestResumeChecksSSLHeads(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()
	tc := sslTrainConfig(t, corpusDir(t))
	tc.Steps, tc.CheckpointEvery = 2, 0
	path := filepath.Join(dir, "run.safetensors")
	tr, err := NewTrainer(dev, tinyConfig(), tc, path)
	require.NoError(t, err)
	require.NoError(t, tr.Run(context.Background(), nil))
	tr.Model.Release()
	head := "ssl.masked.layers.1.weight"
	for _, c := range []struct {
		name string
		edit func(*checkpoint.File)
		want string
	}{
		{"missing", func(f *checkpoint.File) { delete(f.Entries, head) }, "missing tensor"},
		{"non-finite", func(f *checkpoint.File) {
			e := f.Entries[head]
			e.F32 = append([]float32(nil), e.F32...)
			e.F32[0] = float32(math.Inf(1))
			f.Entries[head] = e
		}, "non-finite"},
		{"reshaped", func(f *checkpoint.File) {
			e := f.Entries[head]
			e.Shape = []int{e.Shape[1], e.Shape[0]}
			f.Entries[head] = e
		}, "has shape"},
		{"no task", func(f *checkpoint.File) {
			editJSON(t, f, metaTrainConfig, func(m map[string]any) {
				m["corpus"].(map[string]any)["tasks"] = []string{"column"}
			})
		}, "no task that uses it"},
		{"bad weight", func(f *checkpoint.File) {
			editJSON(t, f, metaTrainConfig, func(m map[string]any) { m["corpus"].(map[string]any)["masked_weight"] = 1e9 })
		}, "masked_weight 1e+09 is above the bound of 1000"},
	} {
		_, err := Resume(dev, editCheckpoint(t, path, c.edit), 0)
		require.ErrorContains(t, err, c.want, c.name)
	}
	tr, err = Resume(dev, path, 0)
	require.NoError(t, err)
	tr.Model.Release()
}

// A few steps on the masked-cell task lower the reconstruction loss of fixed batches.
func TestMaskedTrainingLowersReconstructionLoss(t *testing.T) {
	dev := device.MustGet("cpu")
	tc := tinyTrainConfig()
	tc.Corpus = &CorpusConfig{Dir: corpusDir(t), Fraction: 1, Tasks: []string{"column", "masked"}, MaskedWeight: 1}
	tc.Steps, tc.LR, tc.Warmup, tc.CheckpointEvery = 40, 3e-3, 2, 0
	tr, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	defer tr.Model.Release()
	eval := func() float64 {
		cc := tc.Corpus.withDefaults()
		total := 0.0
		ec := tensor.NewContext()
		defer ec.Close()
		ec.SetGradEnabled(false)
		for b := uint64(1000); b < 1008; b++ {
			s := sslInputOf(tr.batch(b), 5, tc.Seed, &cc, tr.Model.Cfg.MaxClasses)
			_, lm, _ := tr.Model.sslLosses(ec, &s, tr.ssl, 1)
			require.NotNil(t, lm)
			total += lm.Item()
		}
		return total / 8
	}
	before := eval()
	require.NoError(t, tr.Run(context.Background(), nil))
	after := eval()
	t.Logf("masked-cell loss %.4f before, %.4f after %d steps", before, after, tc.Steps)
	require.Less(t, after, 0.8*before)
}

// Tables with an all-missing column, a constant column, a single row, a single feature or
// more categories than the model has classes never stop a run with the auxiliary tasks.
func TestSSLTrainingSurvivesBadTables(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()
	write := func(name string, rows int, line func(i int) string, header string) {
		var b strings.Builder
		b.WriteString(header + "\n")
		for i := range rows {
			b.WriteString(line(i) + "\n")
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644))
	}
	write("p__missing.csv", 60, func(i int) string { return fmt.Sprintf(",%d,7,%d", i%5, i%2) }, "gone,a,const,y")
	write("p__onerow.csv", 1, func(i int) string { return "1,2,3" }, "a,b,c")
	write("p__onefeature.csv", 40, func(i int) string { return fmt.Sprintf("%d,%d", i%3, i%2) }, "a,y")
	write("p__levels.csv", 80, func(i int) string { return fmt.Sprintf("c%d,%d,%d", i%37, i%4, i%2) }, "many,b,y")
	tc := tinyTrainConfig()
	tc.Corpus = &CorpusConfig{Dir: dir, Fraction: 1, Tasks: []string{"column", "masked", "contrastive"}}
	tc.Steps, tc.CheckpointEvery = 12, 0
	tr, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	defer tr.Model.Release()
	for _, l := range recordLosses(t, tr) {
		for _, v := range l {
			require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "losses %v", l)
		}
	}
}

// Micro-batches split the auxiliary losses as they split the task's: the same losses.
func TestSSLMicroBatchesSplitExactly(t *testing.T) {
	dev := device.MustGet("cpu")
	tc := sslTrainConfig(t, corpusDir(t))
	tc.Steps, tc.CheckpointEvery = 3, 0
	tc.Prior.BatchSize = 4
	whole, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	lw := recordLosses(t, whole)
	whole.Model.Release()
	tc.MicroBatch = 1
	split, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	ls := recordLosses(t, split)
	split.Model.Release()
	for i := range lw {
		for k := range lw[i] {
			require.InDelta(t, lw[i][k], ls[i][k], 1e-4, "step %d loss %d", i, k)
		}
	}
}

// The auxiliary input hides the masked cells (and only those) behind the missing-value
// encoding, scores them at their own tokens, and appends views that leave the task's
// logits as they are: test rows attend only to the context.
func TestSSLInputOf(t *testing.T) {
	dev := device.MustGet("cpu")
	tc := sslTrainConfig(t, corpusDir(t))
	tr, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	defer tr.Model.Release()
	b := tr.batch(3)
	cc := tc.Corpus.withDefaults()
	s := sslInputOf(b, 11, tc.Seed, &cc, tr.Model.Cfg.MaxClasses)
	plain, yTest := InputFromBatch(b, 11)
	require.Equal(t, yTest, s.yTest)
	R, F, N := plain.Rows, plain.Features, plain.NTrain
	Rx := R + 2*(R-N)
	require.Equal(t, Rx, s.in.Rows)
	hidden := 0
	for i := range plain.Batch {
		for r := range R {
			for f := range F {
				was, now := plain.X[(i*R+r)*F+f], s.in.X[(i*Rx+r)*F+f]
				if math.IsNaN(float64(now)) && !math.IsNaN(float64(was)) {
					hidden++
				} else {
					require.Equal(t, math.Float32bits(was), math.Float32bits(now))
				}
			}
		}
	}
	require.Equal(t, hidden, len(s.numIdx)+len(s.catIdx), "every hidden cell of this corpus is scored")
	for _, idx := range append(append([]int32(nil), s.numIdx...), s.catIdx...) {
		i, rest := int(idx)/(Rx*(F+1)), int(idx)%(Rx*(F+1))
		r, f := rest/(F+1), rest%(F+1)
		require.Less(t, f, F, "a feature token")
		require.Less(t, r, R, "a row of the task")
		require.True(t, math.IsNaN(float64(s.in.X[(i*Rx+r)*F+f])), "token %d is a hidden cell", idx)
	}
	// Views only: the task's loss is the plain model's on the same input.
	cv := cc
	cv.Tasks = []string{"column", "contrastive"}
	sv := sslInputOf(b, 11, tc.Seed, &cv, tr.Model.Cfg.MaxClasses)
	ec := tensor.NewContext()
	defer ec.Close()
	ec.SetGradEnabled(false)
	task, masked, contrastive := tr.Model.sslLosses(ec, &sv, tr.ssl, 1)
	require.Nil(t, masked)
	require.NotNil(t, contrastive)
	require.InDelta(t, tr.Model.Loss(ec, plain, yTest).Item(), task.Item(), 1e-5)
}

// HeldOutAuxLoss scores the heads on the held-out tables, the same for the same seed, and
// needs held-out tables and heads.
func TestHeldOutAuxLoss(t *testing.T) {
	dev := device.MustGet("cpu")
	tc := sslTrainConfig(t, corpusDir(t))
	tc.Corpus.HoldoutEvery = 2
	tr, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	defer tr.Model.Release()
	m1, c1, err := tr.HeldOutAuxLoss(2, 5)
	require.NoError(t, err)
	require.Positive(t, m1)
	require.Positive(t, c1)
	m2, c2, err := tr.HeldOutAuxLoss(2, 5)
	require.NoError(t, err)
	require.Equal(t, [2]float64{m1, c1}, [2]float64{m2, c2})
	_, _, err = tr.HeldOutAuxLoss(0, 5)
	require.ErrorContains(t, err, "at least one batch")

	tc.Corpus = &CorpusConfig{Dir: tc.Corpus.Dir, Fraction: 1, Tasks: []string{"column"}, HoldoutEvery: 2}
	plain, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	defer plain.Model.Release()
	_, _, err = plain.HeldOutAuxLoss(2, 5)
	require.ErrorContains(t, err, "no \"masked\" or \"contrastive\" task")
}

// The auxiliary tasks train in bfloat16 mixed precision too (the heads' layers follow the
// context's autocast as the model's do).
func TestSSLTrainingInBF16(t *testing.T) {
	dev := device.MustGet("cpu")
	tc := sslTrainConfig(t, corpusDir(t))
	tc.Steps, tc.CheckpointEvery, tc.Precision = 3, 0, PrecisionBF16
	tr, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	defer tr.Model.Release()
	for _, l := range recordLosses(t, tr) {
		for _, v := range l {
			require.False(t, math.IsNaN(v) || math.IsInf(v, 0) || v <= 0, "losses %v", l)
		}
	}
}
