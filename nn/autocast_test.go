package nn

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/device/half"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// bf rounds v to bfloat16.
func bf(v float64) float64 { return float64(half.BFloat16FromFloat64(v).Float32()) }

// Under a bfloat16 autocast a Linear layer's output is the float32 product of the rounded
// input and weight rounded once to bfloat16, plus the float32 bias; its result and the
// weight's gradient are float32. Without the setting (and for tensors of no context) it is
// the float32 layer.
func TestLinearAutocast(t *testing.T) {
	const in, out, rows = 6, 4, 3
	gen := tensor.NewGenerator(7)
	l := must(NewLinear(dev, tensor.Float32, in, out, true, XavierUniform, gen))
	defer Release(l)
	l.Bias.Release()
	l.Bias = Param(tensor.FromFloat64As(dev, tensor.Float32, uniform(gen, out), out))
	xv := uniform(gen, rows*in)

	c := tensor.NewContext()
	defer c.Close()
	x := c.FromFloat64As(dev, tensor.Float32, xv, rows, in)
	plain := l.Forward(x).Float64s()
	if prev := c.SetAutocast(tensor.BFloat16); prev != 0 {
		t.Fatalf("a new context's autocast is %s", prev)
	}
	y := l.Forward(x)
	if y.DType() != tensor.Float32 {
		t.Fatalf("output dtype %s, want float32", y.DType())
	}
	w, b, got := l.Weight.Float64s(), l.Bias.Float64s(), y.Float64s()
	same := true
	for i := range rows {
		for j := range out {
			var s float64
			for k := range in {
				s += bf(xv[i*in+k]) * bf(w[j*in+k])
			}
			want := bf(s) + b[j]
			if d := math.Abs(got[i*out+j] - want); d > 1e-6*(math.Abs(s)+math.Abs(b[j]))+1e-12 {
				t.Fatalf("y[%d,%d] = %v, want bf16(%v) + %v = %v", i, j, got[i*out+j], s, b[j], want)
			}
			same = same && got[i*out+j] == plain[i*out+j]
		}
	}
	if same {
		t.Error("the autocast output equals the float32 one: no rounding happened")
	}
	ops.Backward(ops.SumAll(ops.Square(y)))
	if g := l.Weight.Grad(); g == nil || g.DType() != tensor.Float32 {
		t.Fatalf("weight gradient %v, want float32", g)
	}
	ops.ZeroGrad(l.Parameters()...)

	// A free input has no context, so no autocast.
	free := tensor.FromFloat64As(dev, tensor.Float32, xv, rows, in)
	defer free.Release()
	yf := l.Forward(free)
	defer yf.Release()
	closeTo(t, "free input", yf.Float64s(), plain, 0)

	for _, dt := range []tensor.DType{tensor.Float64, tensor.Int32} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetAutocast(%s) did not panic", dt)
				}
			}()
			c.SetAutocast(dt)
		}()
	}
	if prev := c.SetAutocast(tensor.Float32); prev != tensor.BFloat16 || c.Autocast() != 0 {
		t.Errorf("SetAutocast(float32) after bfloat16: previous %s, now %s", prev, c.Autocast())
	}
}

// Multi-head attention under a bfloat16 autocast stays within bfloat16's rounding of the
// float32 layer (u = 2^-8 per rounding; a few roundings on the path, 8u allowed normwise),
// differs from it, and returns float32.
func TestMultiHeadAttentionAutocast(t *testing.T) {
	gen := tensor.NewGenerator(3)
	m := must(NewMultiHeadAttention(dev, tensor.Float32, 8, 2, gen))
	defer Release(m)
	xv := uniform(gen, 2*5*8)
	c := tensor.NewContext()
	defer c.Close()
	x := c.FromFloat64As(dev, tensor.Float32, xv, 2, 5, 8)
	want := m.Forward(x, x, 3).Float64s()
	c.SetAutocast(tensor.BFloat16)
	y := m.Forward(x, x, 3)
	if y.DType() != tensor.Float32 {
		t.Fatalf("output dtype %s", y.DType())
	}
	var d, n float64
	for i, v := range y.Float64s() {
		d += (v - want[i]) * (v - want[i])
		n += want[i] * want[i]
	}
	rel := math.Sqrt(d / n)
	if rel == 0 || rel > 8*0x1p-8 {
		t.Fatalf("relative difference from float32 %.3g, want in (0, %.3g]", rel, 8*0x1p-8)
	}
	ops.Backward(ops.SumAll(ops.Square(y)))
	for _, p := range m.Parameters() {
		if g := p.Grad(); g == nil || g.DType() != tensor.Float32 {
			t.Fatalf("a parameter's gradient is %v, want float32", g)
		}
	}
	ops.ZeroGrad(m.Parameters()...)
}

// uniform draws n values in [−1, 1) from gen.
func uniform(gen *tensor.Generator, n int) []float64 {
	u := gen.Uniform(dev, tensor.Float32, -1, 1, n)
	defer u.Release()
	return u.Float64s()
}
