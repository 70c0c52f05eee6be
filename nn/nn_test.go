package nn

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// dev is the device the tests run on: "cpu" unless KILN_TEST_DEVICE names another (a test
// binary built with -tags cuda also registers "cuda").
var dev = testDevice()

func testDevice() device.Device {
	name := os.Getenv("KILN_TEST_DEVICE")
	if name == "" {
		name = "cpu"
	}
	return device.MustGet(name)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func closeTo(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(got[i]) {
			t.Fatalf("%s: element %d = %.12g, want %.12g", what, i, got[i], want[i])
		}
	}
}

func TestLinearForwardAndInit(t *testing.T) {
	gen := tensor.NewGenerator(1)
	l := must(NewLinear(dev, tensor.Float64, 300, 200, true, KaimingUniform, gen))
	defer Release(l)
	w := l.Weight.Float64s()
	bound := math.Sqrt(6.0 / 300)
	var ss float64
	for _, v := range w {
		if math.Abs(v) > bound {
			t.Fatalf("weight %v outside ±%v", v, bound)
		}
		ss += v * v
	}
	// U(±b) has variance b²/3 = 2/fan_in; over 60000 draws the sample variance has a relative
	// standard deviation of about 0.37%, so the 3% tolerance is about eight of them.
	if v := ss / float64(len(w)); math.Abs(v-2.0/300)/(2.0/300) > 0.03 {
		t.Fatalf("weight variance %v, want %v", v, 2.0/300)
	}
	x := tensor.Uniform(dev, tensor.Float64, 9, 0, -1, 1, 2, 3, 300)
	// A non-zero bias so the test sees it.
	dev.Fill(l.Bias.Buffer(), 0, 200, 0.25)
	y := l.Forward(x)
	if !tensor.SameShape(y.Shape(), []int{2, 3, 200}) {
		t.Fatalf("shape %v", y.Shape())
	}
	xv := x.Float64s()
	want := make([]float64, 6*200)
	for r := 0; r < 6; r++ {
		for o := 0; o < 200; o++ {
			s := 0.25
			for i := 0; i < 300; i++ {
				s += xv[r*300+i] * w[o*300+i]
			}
			want[r*200+o] = s
		}
	}
	closeTo(t, "linear", y.Float64s(), want, 1e-12)
	y.Release()
	x.Release()

	xl := must(NewLinear(dev, tensor.Float32, 30, 50, false, XavierUniform, gen))
	defer Release(xl)
	xb := math.Sqrt(6.0 / 80)
	for _, v := range xl.Weight.Float64s() {
		if math.Abs(v) > xb {
			t.Fatalf("xavier weight %v outside ±%v", v, xb)
		}
	}
	if xl.Bias != nil || len(xl.NamedParameters()) != 1 {
		t.Fatal("bias-free layer has a bias")
	}
}

// TestMLPLearnsXOR trains a 2-8-1 tanh MLP on XOR with plain gradient descent, and checks
// that training in an execution context leaves no tensor outside it.
func TestMLPLearnsXOR(t *testing.T) {
	gen := tensor.NewGenerator(3)
	m := must(NewMLP(dev, tensor.Float32, []int{2, 8, 1}, ops.Tanh, XavierUniform, gen))
	defer Release(m)
	c := tensor.NewContext()
	defer c.Close()
	x := c.FromFloat32(dev, []float32{0, 0, 0, 1, 1, 0, 1, 1}, 4, 2)
	y := c.FromFloat32(dev, []float32{0, 1, 1, 0}, 4, 1)
	var loss float64
	free := tensor.FreeTensorsMade()
	for step := 0; step < 2000; step++ {
		s := c.NewScope()
		l := ops.MSE(m.Forward(x), y)
		ops.Backward(l)
		loss = l.Item()
		c.NoGrad(func() {
			for _, p := range m.Parameters() {
				u := ops.MulScalar(c.View(p.Grad()), 0.5)
				dev.Binary(device.BinarySub, p.Buffer(), p.Layout(), u.Buffer(), u.Layout(), p.Buffer(), p.Layout())
			}
		})
		ZeroGrad(m)
		s.Close()
	}
	if n := tensor.FreeTensorsMade() - free; n != 0 {
		t.Fatalf("%d free tensors made while training in a context", n)
	}
	pred := m.Forward(x).Float64s()
	for i, want := range []float64{0, 1, 1, 0} {
		if math.Abs(pred[i]-want) > 0.2 {
			t.Fatalf("after training (loss %v) XOR prediction %d = %v, want %v", loss, i, pred[i], want)
		}
	}
}

// refMHA is multi-head attention with the context mask by plain float64 loops over
// [B, L, Model] inputs, reading the module's weights.
func refMHA(m *MultiHeadAttention, xq, xkv []float64, b, lq, lk, nctx int) []float64 {
	d, h := m.Model, m.Heads
	dh := d / h
	proj := func(l *Linear, x []float64, rows int) []float64 {
		w, bias := l.Weight.Float64s(), l.Bias.Float64s()
		out := make([]float64, rows*d)
		for r := 0; r < rows; r++ {
			for o := 0; o < d; o++ {
				s := bias[o]
				for i := 0; i < d; i++ {
					s += x[r*d+i] * w[o*d+i]
				}
				out[r*d+o] = s
			}
		}
		return out
	}
	q, k, v := proj(m.Q, xq, b*lq), proj(m.K, xkv, b*lk), proj(m.V, xkv, b*lk)
	o := make([]float64, b*lq*d)
	scale := 1 / math.Sqrt(float64(dh))
	for bi := 0; bi < b; bi++ {
		for hi := 0; hi < h; hi++ {
			for i := 0; i < lq; i++ {
				sc := make([]float64, nctx)
				mx := math.Inf(-1)
				for j := 0; j < nctx; j++ {
					for c := 0; c < dh; c++ {
						sc[j] += q[(bi*lq+i)*d+hi*dh+c] * k[(bi*lk+j)*d+hi*dh+c]
					}
					sc[j] *= scale
					mx = math.Max(mx, sc[j])
				}
				z := 0.0
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					z += sc[j]
				}
				for c := 0; c < dh; c++ {
					s := 0.0
					for j := range sc {
						s += sc[j] / z * v[(bi*lk+j)*d+hi*dh+c]
					}
					o[(bi*lq+i)*d+hi*dh+c] = s
				}
			}
		}
	}
	return proj(m.Out, o, b*lq)
}

func TestMultiHeadAttentionMatchesLoops(t *testing.T) {
	gen := tensor.NewGenerator(5)
	m := must(NewMultiHeadAttention(dev, tensor.Float64, 12, 3, gen))
	defer Release(m)
	// Non-zero biases so the reference checks them.
	for i, l := range []*Linear{m.Q, m.K, m.V, m.Out} {
		bias := tensor.Uniform(dev, tensor.Float64, uint64(50+i), 0, -0.5, 0.5, 12)
		dev.Convert(l.Bias.Buffer(), 0, bias.Buffer(), 0, 12)
		bias.Release()
	}
	c := tensor.NewContext()
	defer c.Close()
	xq := c.Track(tensor.Uniform(dev, tensor.Float64, 7, 0, -1, 1, 2, 5, 12))
	xkv := c.Track(tensor.Uniform(dev, tensor.Float64, 8, 0, -1, 1, 2, 7, 12))
	for _, nctx := range []int{1, 4, 7} {
		got := m.Forward(xq, xkv, nctx)
		want := refMHA(m, xq.Float64s(), xkv.Float64s(), 2, 5, 7, nctx)
		closeTo(t, "mha", got.Float64s(), want, 1e-12)
	}
	// Self-attention with extra leading axes: [2, 3, L, Model] is 6 independent sequences.
	x4 := c.Track(tensor.Uniform(dev, tensor.Float64, 9, 0, -1, 1, 2, 3, 4, 12))
	got := m.Forward(x4, x4, 2)
	xv := x4.Float64s()
	closeTo(t, "mha 4-D", got.Float64s(), refMHA(m, xv, xv, 6, 4, 4, 2), 1e-12)
}

// TestMultiHeadAttentionGradients checks gradients and Hessian-vector products with respect
// to every projection against finite differences.
func TestMultiHeadAttentionGradients(t *testing.T) {
	gen := tensor.NewGenerator(6)
	m := must(NewMultiHeadAttention(dev, tensor.Float64, 4, 2, gen))
	defer Release(m)
	x := tensor.Uniform(dev, tensor.Float64, 10, 0, -1, 1, 2, 3, 4).Detach()
	defer x.Release()
	// The module reads its own parameters; the input joins the check's context.
	f := func(ps []*Tensor) *Tensor {
		xc := ps[0].Context().View(x)
		return m.Forward(xc, xc, 2)
	}
	params := m.Parameters()
	if err := ops.GradCheck(f, params, 1e-6, 1e-6); err != nil {
		t.Fatal(err)
	}
	if err := ops.HVPCheck(f, params, 1e-5, 1e-5); err != nil {
		t.Fatal(err)
	}
}

func TestNamedParameters(t *testing.T) {
	gen := tensor.NewGenerator(1)
	m := must(NewMLP(dev, tensor.Float32, []int{3, 5, 2}, ops.Relu, KaimingUniform, gen))
	defer Release(m)
	var names []string
	for _, n := range m.NamedParameters() {
		names = append(names, n.Name)
		if !n.Tensor.RequiresGrad() {
			t.Fatalf("%s does not require gradients", n.Name)
		}
	}
	if got := strings.Join(names, ","); got != "layers.0.weight,layers.0.bias,layers.1.weight,layers.1.bias" {
		t.Fatalf("names %s", got)
	}
	if n := NumParameters(m); n != 3*5+5+5*2+2 {
		t.Fatalf("%d parameters", n)
	}
	a := must(NewMultiHeadAttention(dev, tensor.Float32, 8, 2, gen))
	defer Release(a)
	if ns := a.NamedParameters(); len(ns) != 8 || ns[0].Name != "q.weight" || ns[7].Name != "out.bias" {
		t.Fatalf("attention parameters %v", ns)
	}
	// Parameters are free tensors: no context records them, and closing a context that
	// holds a view of one releases the view, not the parameter.
	e := must(NewEmbedding(dev, tensor.Float32, 10, 3, gen))
	defer Release(e)
	if e.Weight.Context() != nil {
		t.Fatal("parameter recorded in a context")
	}
	c := tensor.NewContext()
	v := c.View(e.Weight)
	c.Close()
	if !v.Released() || e.Weight.Released() {
		t.Fatalf("after closing the context: view released %v, parameter released %v", v.Released(), e.Weight.Released())
	}
}

func TestErrors(t *testing.T) {
	gen := tensor.NewGenerator(1)
	if _, err := NewMultiHeadAttention(dev, tensor.Float32, 10, 3, gen); err == nil || !strings.Contains(err.Error(), "not divisible") {
		t.Fatalf("heads error %v", err)
	}
	if _, err := NewLinear(dev, tensor.Float32, 0, 3, true, KaimingUniform, gen); err == nil {
		t.Fatal("zero-size linear accepted")
	}
	if _, err := NewLinear(dev, tensor.Int32, 2, 3, true, KaimingUniform, gen); err == nil {
		t.Fatal("int32 linear accepted")
	}
	if _, err := NewLayerNorm(dev, tensor.Float32, 4, math.NaN()); err == nil || !strings.Contains(err.Error(), "eps must be finite") {
		t.Fatalf("NaN eps: %v", err)
	}
	if _, err := NewMLP(dev, tensor.Float32, []int{3}, ops.Relu, KaimingUniform, gen); err == nil {
		t.Fatal("one-size MLP accepted")
	}
	l := must(NewLinear(dev, tensor.Float32, 4, 2, true, KaimingUniform, gen))
	defer Release(l)
	c := tensor.NewContext()
	defer c.Close()
	err := ops.Try(func() error { l.Forward(c.Zeros(dev, tensor.Float32, 3, 5)); return nil })
	if err == nil || !strings.Contains(err.Error(), "does not end in the layer's input size 4") {
		t.Fatalf("shape error %v", err)
	}
}
