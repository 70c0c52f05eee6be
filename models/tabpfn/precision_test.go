package tabpfn

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// bf16Unit is bfloat16's unit roundoff: an 8-bit significand (7 bits stored and the implicit
// one), so rounding to nearest changes a value by at most 2^-8 of its magnitude.
const bf16Unit = 0x1p-8

// lossAndGrads runs the classifier loss of in on m in an execution context with autocast dt
// (0: float32) and returns the logits, the loss and every parameter's gradient.
func lossAndGrads(t *testing.T, m *Model, in Input, yTest []int32, dt tensor.DType) (logits []float64, loss float64, grads map[string][]float64) {
	t.Helper()
	ec := tensor.NewContext()
	defer ec.Close()
	ec.SetAutocast(dt)
	lg := m.Forward(ec, in)
	require.Equal(t, tensor.Float32, lg.DType(), "the logits are float32 in every precision")
	// The logits of the dataset's classes (the others carry the −1e4 mask).
	all, K, T := lg.Float64s(), m.Cfg.MaxClasses, in.Rows-in.NTrain
	for i, v := range all {
		if i%K < in.Classes[i/(T*K)] {
			logits = append(logits, v)
		}
	}
	l := m.Loss(ec, in, yTest)
	ops.Backward(l)
	loss = l.Item()
	grads = map[string][]float64{}
	for _, n := range m.NamedParameters() {
		g := n.Tensor.Grad()
		require.NotNil(t, g, n.Name)
		require.Equal(t, tensor.Float32, g.DType(), "gradient of %s", n.Name)
		grads[n.Name] = g.Float64s()
	}
	ops.ZeroGrad(m.Parameters()...)
	return logits, loss, grads
}

// relDiff is ‖a − b‖ / ‖b‖ and whether a and b are bit-identical.
func relDiff(a, b []float64) (float64, bool) {
	var d, n float64
	same := true
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		n += b[i] * b[i]
		same = same && a[i] == b[i]
	}
	return math.Sqrt(d / n), same
}

// paramGradDiff is the relative difference of a parameter's gradients in the two
// precisions: ‖g16 − g32‖ / ‖g32‖. The key projections' biases have no gradient in exact
// arithmetic (a softmax does not change when every score of a query shifts by the same
// amount), so both precisions give rounding noise there; it is measured against the
// gradient of the same projection's weight instead.
func paramGradDiff(name string, g16, g32 map[string][]float64) float64 {
	ref := g32[name]
	if strings.HasSuffix(name, ".k.bias") {
		ref = g32[strings.TrimSuffix(name, "bias")+"weight"]
	}
	d := make([]float64, len(g32[name]))
	for i := range d {
		d[i] = g16[name][i] - g32[name][i]
	}
	return norm(d) / norm(ref)
}

// The tolerances. bfloat16 rounding changes a value by at most u = 2^-8 of its magnitude.
// A product in bf16 mode rounds both operands and its output, 3u per element at most; errors
// of successive roundings are independent and add in quadrature, so a normwise error of
// about u·√(3·products on the path) is expected: the 2-layer test model's logits pass
// through 2 encoders and, per layer, 3 rounded attention operands and 2 projections per
// attention, and an MLP of 2: some 30 products, √90 ≈ 10u. The forward tolerance is 16u; a
// gradient passes through the backward products as well (twice the roundings), so 32u. The
// measured errors are about 3u (logits) and at most 5u (gradients). Below 0.1u the casts
// would not be happening: float32 rounding differences are 2^-24, 65536 times smaller than u.
const (
	bf16ForwardTol  = 16 * bf16Unit
	bf16GradientTol = 32 * bf16Unit
	bf16Floor       = 0.1 * bf16Unit
)

// A forward pass in bf16 mode matches the float32 forward within bfloat16's rounding and is
// not bit-identical to it: the products do run on rounded operands.
func TestBF16ForwardMatchesFP32(t *testing.T) {
	dev := device.MustGet("cpu")
	m, err := New(dev, tinyConfig(), 1)
	require.NoError(t, err)
	defer m.Release()
	in, yTest := batchInput(smallPrior(t).Batch(0))
	l32, loss32, _ := lossAndGrads(t, m, in, yTest, 0)
	l16, loss16, _ := lossAndGrads(t, m, in, yTest, tensor.BFloat16)
	d, same := relDiff(l16, l32)
	t.Logf("logits: relative difference %.3g (%.2f u); loss %.6f fp32, %.6f bf16", d, d/bf16Unit, loss32, loss16)
	require.False(t, same, "bf16 logits are bit-identical to fp32")
	require.Greater(t, d, bf16Floor, "bf16 logits differ from fp32 by float32 rounding only")
	require.Less(t, d, bf16ForwardTol)
	require.InDelta(t, loss32, loss16, bf16ForwardTol*loss32)

	// The context's setting is what switches it: the same context without it is float32.
	l32again, _, _ := lossAndGrads(t, m, in, yTest, 0)
	require.Equal(t, l32, l32again)
}

// Gradients in bf16 mode reach every float32 parameter as float32 and match the float32
// gradients within bfloat16's rounding.
func TestBF16GradientsMatchFP32(t *testing.T) {
	dev := device.MustGet("cpu")
	m, err := New(dev, tinyConfig(), 1)
	require.NoError(t, err)
	defer m.Release()
	in, yTest := batchInput(smallPrior(t).Batch(0))
	_, _, g32 := lossAndGrads(t, m, in, yTest, 0)
	_, _, g16 := lossAndGrads(t, m, in, yTest, tensor.BFloat16)
	worst, worstName := 0.0, ""
	for name := range g32 {
		d := paramGradDiff(name, g16, g32)
		if d > worst {
			worst, worstName = d, name
		}
		require.Less(t, d, bf16GradientTol, "gradient of %s: relative difference %.3g", name, d)
	}
	t.Logf("largest relative gradient difference %.3g (%.2f u) at %s", worst, worst/bf16Unit, worstName)
	require.Greater(t, worst, bf16Floor, "bf16 gradients differ from fp32 by float32 rounding only")
}

// An optimizer step in bf16 mode updates float32 master weights: parameters, gradients and
// the AdamW state stay float32, and updates far below bfloat16's resolution of the weights
// (a learning rate of 1e-7 moves a weight of magnitude 0.1 by about 1e-7, where bfloat16's
// spacing is 2^-11 ≈ 5e-4) are kept, which bfloat16 weights would round away.
func TestBF16StepKeepsFP32MasterWeights(t *testing.T) {
	dev := device.MustGet("cpu")
	tc := tinyTrainConfig()
	tc.Steps, tc.Warmup, tc.CheckpointEvery, tc.LR, tc.MinLR, tc.WeightDecay = 1, 0, 0, 1e-7, 1e-7, 0
	tc.Precision = PrecisionBF16
	tr, err := NewTrainer(dev, tinyConfig(), tc, "")
	require.NoError(t, err)
	defer tr.Model.Release()
	before := params(t, tr.Model)
	require.NoError(t, tr.Run(context.Background(), nil))
	after := params(t, tr.Model)
	var moved, tiny, total int
	for _, n := range tr.Model.NamedParameters() {
		require.Equal(t, tensor.Float32, n.Tensor.DType(), n.Name)
		for i, w := range after[n.Name] {
			total++
			if d := math.Abs(float64(w - before[n.Name][i])); d > 0 {
				moved++
				if d < bf16Unit*math.Abs(float64(w))/2 {
					tiny++ // an update bfloat16 weights would have rounded away
				}
			}
		}
	}
	t.Logf("%d of %d weights moved, %d by less than half a bfloat16 step", moved, total, tiny)
	require.Greater(t, moved, total/2)
	require.Greater(t, tiny, total/2)
	st, err := tr.Opt.State()
	require.NoError(t, err)
	require.NotEmpty(t, st.Tensors)
	for name, v := range st.Tensors {
		param, _, _ := strings.Cut(name, "/") // "layers.0.norm1.weight/exp_avg"
		require.Len(t, v, len(after[param]), name)
	}
}

// A bf16 run resumes exactly: the checkpoint records the precision, and the resumed steps
// are those of an uninterrupted bf16 run (and not those of a float32 one).
func TestBF16ResumeIsExact(t *testing.T) {
	dev := device.MustGet("cpu")
	dir := t.TempDir()
	bf := func(steps int) TrainConfig {
		tc := tinyTrainConfig()
		tc.Steps, tc.Precision = steps, PrecisionBF16
		return tc
	}
	run := func(tc TrainConfig, path string) (*Trainer, []float64) {
		tr, err := NewTrainer(dev, tinyConfig(), tc, path)
		require.NoError(t, err)
		var losses []float64
		require.NoError(t, tr.Run(context.Background(), func(p Progress) { losses = append(losses, p.Loss) }))
		return tr, losses
	}
	full, losses := run(bf(6), filepath.Join(dir, "full.safetensors"))
	want := params(t, full.Model)
	full.Model.Release()
	fp32 := bf(6)
	fp32.Precision = ""
	f32, losses32 := run(fp32, "")
	f32.Model.Release()
	part, _ := run(bf(3), filepath.Join(dir, "part.safetensors"))
	part.Model.Release()

	resumed, err := Resume(dev, filepath.Join(dir, "part.safetensors"), 6)
	require.NoError(t, err)
	defer resumed.Model.Release()
	require.Equal(t, PrecisionBF16, resumed.Cfg.Precision)
	var tail []float64
	require.NoError(t, resumed.Run(context.Background(), func(p Progress) { tail = append(tail, p.Loss) }))
	require.Equal(t, losses[3:], tail)
	require.NotEqual(t, losses32[3:], tail, "the resumed run trained in float32")
	got := params(t, resumed.Model)
	for name, w := range want {
		require.Equal(t, w, got[name], "parameter %s differs after resume", name)
	}
}

func TestPrecisionValidate(t *testing.T) {
	tc := tinyTrainConfig()
	for _, p := range []string{"", PrecisionFP32, PrecisionBF16} {
		tc.Precision = p
		require.NoError(t, tc.Validate(), p)
	}
	tc.Precision = "fp16"
	require.ErrorContains(t, tc.Validate(), `precision "fp16"`)
}

func norm(a []float64) float64 {
	var s float64
	for _, v := range a {
		s += v * v
	}
	return math.Sqrt(s)
}
