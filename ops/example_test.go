package ops_test

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// A training step: parameters are free tensors that live across steps; the data belongs to
// an execution context, so the step's graph and temporaries belong to it too and are
// released when the step's scope closes.
func ExampleBackward() {
	dev := device.MustGet("cpu")
	w := tensor.FromFloat64(dev, []float64{1, 2}).SetRequiresGrad(true)
	defer w.Release()
	c := tensor.NewContext()
	defer c.Close()
	x := c.FromFloat64(dev, []float64{3, 4})

	s := c.NewScope()
	loss := ops.Square(ops.Matmul(x, w)) // (x·w)² = 121
	ops.Backward(loss)                   // ∂/∂w = 2(x·w)·x = (66, 88)
	fmt.Println(loss.Item(), w.Grad().Float64s())
	ops.ZeroGrad(w)
	s.Close()
	// Output: 121 [66 88]
}

// Hessian-vector product by double backward: f = Σ xᵢ³ has H = diag(6x).
func ExampleHVP() {
	dev := device.MustGet("cpu")
	c := tensor.NewContext()
	defer c.Close()
	x := c.FromFloat64(dev, []float64{1, 2, 3}).SetRequiresGrad(true)
	v := c.FromFloat64(dev, []float64{1, 1, 0.5})
	hv := ops.HVP(c, func() *tensor.Tensor { return ops.SumAll(ops.PowScalar(x, 3)) }, []*tensor.Tensor{x}, []*tensor.Tensor{v})
	fmt.Println(hv[0].Float64s())
	// Output: [6 12 9]
}

// Errors at a public boundary.
func ExampleTry() {
	dev := device.MustGet("cpu")
	c := tensor.NewContext()
	defer c.Close()
	a := c.Zeros(dev, tensor.Float32, 2, 3)
	b := c.Zeros(dev, tensor.Float32, 4)
	err := ops.Try(func() error { ops.Add(a, b); return nil })
	fmt.Println(err)
	// Output: ops: add: shapes (2, 3) and (4) cannot be broadcast together
}
