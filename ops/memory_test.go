package ops

import (
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// sgdStep updates p in place: p −= lr·p.Grad(), with its temporary in c.
func sgdStep(c *tensor.Context, p *Tensor, lr float64) {
	c.NoGrad(func() {
		s := c.NewScope()
		defer s.Close()
		u := MulScalar(c.View(p.Grad()), lr)
		p.Device().Binary(device.BinarySub, p.Buffer(), p.Layout(), u.Buffer(), u.Layout(), p.Buffer(), p.Layout())
	})
}

// TestTrainingStepMemoryFlat runs 100 training-step-shaped iterations of a 2-layer MLP (the
// pattern documented in the package comment) and checks that the device's live buffer count
// does not grow, and that the loss goes down.
func TestTrainingStepMemoryFlat(t *testing.T) {
	gen := tensor.NewGenerator(42)
	mk := func(sd float64, shape ...int) *Tensor {
		return gen.Normal(dev, tensor.Float32, 0, sd, shape...).Detach().SetRequiresGrad(true)
	}
	params := []*Tensor{mk(0.5, 4, 16), mk(0.1, 16), mk(0.3, 16, 3), mk(0.1, 3)}
	c := tensor.NewContext()
	defer c.Close()
	x := c.Track(gen.Normal(dev, tensor.Float32, 0, 1, 32, 4))
	y := c.Track(gen.Normal(dev, tensor.Float32, 0, 1, 32, 3))
	defer func() {
		for _, p := range params {
			ZeroGrad(p)
			p.Release()
		}
	}()
	var first, last float64
	var base, free int64
	for step := 0; step < 100; step++ {
		s := c.NewScope()
		h := Gelu(Add(Matmul(x, params[0]), params[1]))
		loss := MSE(Add(Matmul(h, params[2]), params[3]), y)
		Backward(loss)
		for _, p := range params {
			sgdStep(c, p, 0.05)
		}
		ZeroGrad(params...)
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
		s.Close()
		if step == 1 {
			base, free = liveBuffers(), tensor.FreeTensorsMade()
		} else if step > 1 && liveBuffers() != base {
			t.Fatalf("step %d: %d live buffers, %d after step 1", step, liveBuffers(), base)
		}
	}
	if !(last < 0.8*first) {
		t.Fatalf("loss %v → %v did not decrease", first, last)
	}
	if n := tensor.FreeTensorsMade() - free; n != 0 {
		t.Fatalf("%d free tensors made by training steps in a context", n)
	}
}

// TestBackwardReleasesIntermediates checks that a backward pass without createGraph leaves
// only the forward graph and the leaf gradients alive.
func TestBackwardReleasesIntermediates(t *testing.T) {
	x := randT(1, -1, 1, 8, 5).Detach().SetRequiresGrad(true)
	defer func() { ZeroGrad(x); x.Release() }()
	c := tensor.NewContext()
	defer c.Close()
	xc := In(c, x)[0]
	y := SumAll(Softmax(Tanh(Matmul(xc, T(xc))), -1))
	before := liveBuffers()
	Backward(y)
	if got := liveBuffers(); got != before+1 {
		t.Fatalf("%d live buffers after backward, want %d (forward graph + one leaf gradient)", got, before+1)
	}
}
