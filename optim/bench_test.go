package optim

import (
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// BenchmarkStep times a whole Step (gradient checks, clipping factor, one fused update per
// group) of every optimizer over 4M float32 parameters in 8 tensors on the CPU, through the
// fused kernels and through the composed fallback. AdaHessian's estimate is set once and
// reused (the estimator's cost is the model's, not the optimizer's).
func BenchmarkStep(b *testing.B) {
	dev := device.MustGet("cpu")
	const tensors, per = 8, 1 << 19
	for _, c := range cases() {
		switch c.name {
		case "sgd-momentum-wd", "adamw", "lamb", "sophia", "adahessian":
		default:
			continue
		}
		for _, composed := range []bool{false, true} {
			name := c.name + "/fused"
			if composed {
				name = c.name + "/composed"
			}
			b.Run(name, func(b *testing.B) {
				var ps []Param
				for i := 0; i < tensors; i++ {
					p := tensor.Full(dev, tensor.Float32, 0.5, per).Detach()
					p.SetGrad(tensor.Full(dev, tensor.Float32, 0.01, per).Detach())
					ps = append(ps, Param{T: p})
				}
				o, err := c.make([]Group{{Params: ps}})
				if err != nil {
					b.Fatal(err)
				}
				defer o.Release()
				if a, ok := o.(*AdaHessian); ok {
					a.finish = func() {} // keep the estimate for every step
					est := make([]*tensor.Tensor, tensors)
					for i := range est {
						est[i] = tensor.Full(dev, tensor.Float32, 1, per)
					}
					if err := a.SetHessian(est); err != nil {
						b.Fatal(err)
					}
				}
				forceComposed = composed
				defer func() { forceComposed = false }()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := o.Step(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(tensors*per)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mparams/s")
			})
		}
	}
}
