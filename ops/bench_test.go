package ops

import (
	"testing"

	"github.com/kiln-ml/kiln/tensor"
)

// BenchmarkMLPTrainStep times forward + backward of a 2-layer GELU MLP on a 256×64 batch
// (float32): the op and autograd overhead around two pairs of GEMMs.
func BenchmarkMLPTrainStep(b *testing.B) {
	gen := tensor.NewGenerator(1)
	w1 := gen.Normal(dev, tensor.Float32, 0, 0.1, 64, 256).Detach().SetRequiresGrad(true)
	b1 := tensor.Zeros(dev, tensor.Float32, 256).Detach().SetRequiresGrad(true)
	w2 := gen.Normal(dev, tensor.Float32, 0, 0.1, 256, 10).Detach().SetRequiresGrad(true)
	c := tensor.NewContext()
	defer c.Close()
	x := c.Track(gen.Normal(dev, tensor.Float32, 0, 1, 256, 64))
	y := c.FromInt32(dev, make([]int32, 256))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := c.NewScope()
		loss := CrossEntropy(Matmul(Gelu(Add(Matmul(x, w1), b1)), w2), y, nil)
		Backward(loss)
		ZeroGrad(w1, b1, w2)
		s.Close()
	}
}

// BenchmarkHVPAttention times a Hessian-vector product through one attention layer
// (B·H = 8 heads, L = 128, D = 32, float32): the composed second-order path.
func BenchmarkHVPAttention(b *testing.B) {
	gen := tensor.NewGenerator(2)
	q := gen.Normal(dev, tensor.Float32, 0, 1, 8, 128, 32).Detach().SetRequiresGrad(true)
	k := gen.Normal(dev, tensor.Float32, 0, 1, 8, 128, 32).Detach().SetRequiresGrad(true)
	v := gen.Normal(dev, tensor.Float32, 0, 1, 8, 128, 32).Detach().SetRequiresGrad(true)
	dirs := []*Tensor{
		gen.Normal(dev, tensor.Float32, 0, 1, 8, 128, 32).Detach(),
		gen.Normal(dev, tensor.Float32, 0, 1, 8, 128, 32).Detach(),
		gen.Normal(dev, tensor.Float32, 0, 1, 8, 128, 32).Detach(),
	}
	c := tensor.NewContext()
	defer c.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := c.NewScope()
		HVP(c, func() *Tensor {
			in := In(c, q, k, v)
			return SumAll(Square(Attention(in[0], in[1], in[2], 100, 0)))
		}, []*Tensor{q, k, v}, dirs)
		s.Close()
	}
}
