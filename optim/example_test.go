package optim_test

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

// A training loop: the data in an execution context, a scope per step, Backward, one fused
// Step, ZeroGrad; the schedule sets the learning rate before each step. Here AdamW fits w to
// minimise ‖w − (1, −2, 3)‖².
func Example() {
	dev := device.MustGet("cpu")
	w := tensor.Zeros(dev, tensor.Float64, 3).SetRequiresGrad(true)
	defer w.Release()
	c := tensor.NewContext()
	defer c.Close()
	target := c.FromFloat64(dev, []float64{1, -2, 3})
	cfg := optim.DefaultAdamW()
	cfg.WeightDecay = 0
	opt, err := optim.NewAdamW(optim.Params(w), cfg)
	if err != nil {
		panic(err)
	}
	defer opt.Release()
	sched := optim.WarmupCosine{Base: 0.1, Min: 0.001, Warmup: 10, Total: 500}
	for step := 0; step < 500; step++ {
		optim.ApplySchedule(opt, sched)
		s := c.NewScope()
		ops.Backward(ops.SumAll(ops.Square(ops.Sub(w, target))))
		s.Close()
		if err := opt.Step(); err != nil {
			panic(err)
		}
		opt.ZeroGrad()
	}
	for _, v := range w.Float64s() {
		fmt.Printf("%.3f ", v)
	}
	fmt.Println()
	// Output: 1.000 -2.000 3.000
}

// Sophia with the Gauss-Newton-Bartlett estimator (SophiaG): refresh the Hessian EMA
// whenever HessianDue says so, from the model's own logits.
func ExampleSophia_UpdateHessianGNB() {
	dev := device.MustGet("cpu")
	c := tensor.NewContext()
	defer c.Close()
	x := c.FromFloat64(dev, []float64{1, 0, 0, 1, 1, 1, -1, 0}, 4, 2)
	y := c.FromInt32(dev, []int32{0, 1, 1, 0})
	w := tensor.Zeros(dev, tensor.Float64, 2, 2).SetRequiresGrad(true)
	defer w.Release()
	logits := func() *tensor.Tensor { return ops.Matmul(x, w) }
	cfg := optim.DefaultSophia()
	cfg.LR = 0.05
	opt, err := optim.NewSophia(optim.Params(w), cfg)
	if err != nil {
		panic(err)
	}
	defer opt.Release()
	gen := tensor.NewGenerator(1)
	var first, last float64
	for step := 0; step < 100; step++ {
		s := c.NewScope()
		loss := ops.CrossEntropy(logits(), y, nil)
		ops.Backward(loss)
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
		s.Close()
		if err := opt.Step(); err != nil {
			panic(err)
		}
		opt.ZeroGrad()
		if opt.HessianDue() {
			if err := opt.UpdateHessianGNB(c, logits, gen); err != nil {
				panic(err)
			}
		}
	}
	fmt.Println(last < first, opt.HessianUpdates())
	// Output: true 10
}
