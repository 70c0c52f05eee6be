package ops_test

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// A training step: parameters live outside the step's scope, the step's graph and
// temporaries are released when it closes.
func ExampleBackward() {
	dev := device.MustGet("cpu")
	w := tensor.FromFloat64(dev, []float64{1, 2}).Detach().SetRequiresGrad(true)
	x := tensor.FromFloat64(dev, []float64{3, 4}).Detach()
	defer w.Release()
	defer x.Release()

	s := tensor.NewScope()
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
	s := tensor.NewScope()
	defer s.Close()
	x := tensor.FromFloat64(dev, []float64{1, 2, 3}).SetRequiresGrad(true)
	v := tensor.FromFloat64(dev, []float64{1, 1, 0.5})
	hv := ops.HVP(func() *tensor.Tensor { return ops.SumAll(ops.PowScalar(x, 3)) }, []*tensor.Tensor{x}, []*tensor.Tensor{v})
	fmt.Println(hv[0].Float64s())
	// Output: [6 12 9]
}

// Errors at a public boundary.
func ExampleTry() {
	dev := device.MustGet("cpu")
	s := tensor.NewScope()
	defer s.Close()
	a := tensor.Zeros(dev, tensor.Float32, 2, 3)
	b := tensor.Zeros(dev, tensor.Float32, 4)
	err := ops.Try(func() error { ops.Add(a, b); return nil })
	fmt.Println(err)
	// Output: ops: add: shapes (2, 3) and (4) cannot be broadcast together
}
