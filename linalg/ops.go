package linalg

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// dims2 returns the extents of a matrix tensor, panicking for other ranks.
func dims2(t *tensor.Tensor) (int, int) {
	if t.Rank() != 2 {
		panic(fmt.Errorf("linalg: want a matrix, got a tensor of shape %v", t.Shape()))
	}
	return t.Dim(0), t.Dim(1)
}

// opDims are the extents of op(t): t or tᵀ.
func opDims(t *tensor.Tensor, trans bool) (int, int) {
	r, c := dims2(t)
	if trans {
		return c, r
	}
	return r, c
}

// gemmInto computes c = alpha·op(a)·op(b) + beta·c through the device's Gemm, so the same
// call runs on every backend. All three are contiguous row-major matrices.
func gemmInto(c, a *tensor.Tensor, ta bool, b *tensor.Tensor, tb bool, alpha, beta float64) {
	m, k := opDims(a, ta)
	k2, n := opDims(b, tb)
	cm, cn := dims2(c)
	if k != k2 || cm != m || cn != n {
		panic(fmt.Errorf("linalg: gemm of op(A) %d×%d, op(B) %d×%d into C %d×%d", m, k, k2, n, cm, cn))
	}
	if a.DType() != c.DType() || b.DType() != c.DType() {
		panic(fmt.Errorf("linalg: gemm of %s, %s into %s", a.DType(), b.DType(), c.DType()))
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		// Nothing to multiply: C = beta·C.
		c.Device().Unary(device.UnaryScale, c.Buffer(), c.Layout(), c.Buffer(), c.Layout(), beta)
		return
	}
	p := device.GemmParams{
		TransA: ta, TransB: tb,
		M: m, N: n, K: k,
		Alpha: alpha, Beta: beta,
		LdA: a.Dim(1), LdB: b.Dim(1), LdC: n,
		Batch: 1,
	}
	c.Device().Gemm(p, a.Buffer(), b.Buffer(), c.Buffer())
}

// matmul returns op(a)·op(b) as a new tensor on a's device, in the operands' context.
func matmul(a *tensor.Tensor, ta bool, b *tensor.Tensor, tb bool) *tensor.Tensor {
	m, _ := opDims(a, ta)
	_, n := opDims(b, tb)
	c := tensor.ContextOf(a, b).Zeros(a.Device(), a.DType(), m, n)
	gemmInto(c, a, ta, b, tb, 1, 0)
	return c
}

// frobenius is ‖t‖_F, reduced on t's device (sum of squares, then a square root on the host).
func frobenius(t *tensor.Tensor) float64 {
	n := t.Len()
	if n == 0 {
		return 0
	}
	y := tensor.Zeros(t.Device(), t.DType(), 1)
	defer y.Release()
	t.Device().Reduce(device.ReduceSumSquares, t.Buffer(), 1, n, 1, y.Buffer())
	return math.Sqrt(y.Item())
}

// scaleColumns multiplies column j of the m×n matrix t by s[j], in place on t's device.
func scaleColumns(t *tensor.Tensor, s []float64) {
	m, n := dims2(t)
	if len(s) != n {
		panic(fmt.Errorf("linalg: %d scales for %d columns", len(s), n))
	}
	if m == 0 || n == 0 {
		return
	}
	sv := tensor.FromFloat64As(t.Device(), t.DType(), s, n)
	defer sv.Release()
	// A zero row stride broadcasts the scale vector over the rows.
	bl := device.Layout{Shape: []int{m, n}, Strides: []int{0, 1}}
	t.Device().Binary(device.BinaryMul, t.Buffer(), t.Layout(), sv.Buffer(), bl, t.Buffer(), t.Layout())
}

// subInPlace computes a -= b element by element on a's device.
func subInPlace(a, b *tensor.Tensor) {
	l := a.Layout()
	a.Device().Binary(device.BinarySub, a.Buffer(), l, b.Buffer(), b.Layout(), a.Buffer(), l)
}

// upload copies a host matrix into a new tensor with like's device, dtype and execution
// context.
func upload(like *tensor.Tensor, m mat.Matrix) *tensor.Tensor {
	r, c := m.Dims()
	v := make([]float64, r*c)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			v[i*c+j] = m.At(i, j)
		}
	}
	t := tensor.FromFloat64As(like.Device(), like.DType(), v, r, c)
	if c := like.Context(); c != nil {
		c.Track(t)
	}
	return t
}

// download copies a matrix tensor to the host as float64.
func download(t *tensor.Tensor) *mat.Dense {
	r, c := dims2(t)
	if r == 0 || c == 0 {
		return &mat.Dense{}
	}
	return mat.NewDense(r, c, t.Float64s())
}

// machineEps is the machine epsilon ε of a floating dtype (the spacing of numbers at 1:
// 2⁻⁵² for float64, 2⁻²³ for float32); the CholeskyQR thresholds are stated in it.
func machineEps(dt tensor.DType) float64 {
	if dt == tensor.Float32 {
		return 0x1p-23
	}
	return 0x1p-52
}

func checkFloat(t *tensor.Tensor) error {
	if dt := t.DType(); dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("linalg: want a float32 or float64 tensor, got %s", dt)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
