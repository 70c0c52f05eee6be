package ops

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/device/half"
	"github.com/kiln-ml/kiln/tensor"
)

// TestCastMixedPrecision runs a float32 master weight through a bfloat16 product, as mixed
// precision does: y = Cast(x_bf16 · Cast(w, bf16), f32), loss = Σ y². The forward is the
// float32 product of the bfloat16-rounded operands rounded once to bfloat16; the gradient
// reaches w in float32 and equals, within bfloat16's rounding of the backward's products,
// the float64 gradient of the same rounded values.
func TestCastMixedPrecision(t *testing.T) {
	c := tensor.NewContext()
	defer c.Close()
	const m, k, n = 5, 7, 3
	xv := randT(11, -1, 1, m, k).Float64s()
	w := randT(12, -1, 1, k, n).AsType(tensor.Float32).SetRequiresGrad(true)
	defer ZeroGrad(w)
	x := c.FromFloat64As(dev, tensor.BFloat16, xv, m, k)
	y := Cast(Matmul(x, Cast(In(c, w)[0], tensor.BFloat16)), tensor.Float32)
	if y.DType() != tensor.Float32 || x.DType() != tensor.BFloat16 {
		t.Fatalf("dtypes: y %s, x %s", y.DType(), x.DType())
	}
	Backward(SumAll(Square(y)))
	if w.Grad().DType() != tensor.Float32 {
		t.Fatalf("w's gradient has dtype %s, want float32", w.Grad().DType())
	}
	bf := func(v float64) float64 { return float64(half.BFloat16FromFloat64(v).Float32()) }
	xr, wr := make([]float64, m*k), make([]float64, k*n)
	for i, v := range xv {
		xr[i] = bf(v)
	}
	for i, v := range w.Float64s() {
		wr[i] = bf(v)
	}
	// Forward: each output is the product of rounded operands, rounded once.
	yv, yw := y.Float64s(), make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				s += xr[i*k+l] * wr[l*n+j]
			}
			yw[i*n+j] = s
			if math.Abs(yv[i*n+j]-bf(s)) > 1e-6*math.Abs(s)+1e-12 {
				t.Fatalf("y[%d,%d] = %v, want %v rounded to bfloat16 (%v)", i, j, yv[i*n+j], s, bf(s))
			}
		}
	}
	// Backward: dL/dw = xᵀ·(2y), each step rounded to bfloat16 at most a few times.
	gw := w.Grad().Float64s()
	for l := 0; l < k; l++ {
		for j := 0; j < n; j++ {
			var s, mag float64
			for i := 0; i < m; i++ {
				s += xr[i*k+l] * 2 * yv[i*n+j]
				mag += math.Abs(xr[i*k+l] * 2 * yv[i*n+j])
			}
			if d := math.Abs(gw[l*n+j] - s); d > 4*0x1p-8*mag {
				t.Fatalf("dw[%d,%d] = %v, want %v (error %.3g > %.3g)", l, j, gw[l*n+j], s, d, 4*0x1p-8*mag)
			}
		}
	}
	// The bfloat16 product differs from the float32 one by more than float32 rounding: the
	// casts are real.
	var diff float64
	for i, v := range yv {
		diff = math.Max(diff, math.Abs(v-yw[i]))
	}
	if diff == 0 {
		t.Error("the bfloat16 path gave exactly the unrounded products")
	}
	if Cast(y, tensor.Float32) != y {
		t.Error("a cast to the tensor's own dtype is not the tensor itself")
	}
}
