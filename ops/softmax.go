package ops

import (
	"github.com/kiln-ml/kiln/tensor"
)

// Softmax normalises exp(x) along axis to sum to one.
func Softmax(x *Tensor, axis int) *Tensor { return softmaxAxis("softmax", x, axis, false) }

// LogSoftmax is log(Softmax(x)), computed stably as x − logsumexp(x).
func LogSoftmax(x *Tensor, axis int) *Tensor { return softmaxAxis("log_softmax", x, axis, true) }

func softmaxAxis(name string, x *Tensor, axis int, log bool) *Tensor {
	checkFloat(name, x)
	if x.Rank() == 0 {
		panic(errorf(name, "needs at least one axis"))
	}
	a := normAxis(name, axis, x.Rank())
	last := x.Rank() - 1
	if a == last {
		return softmaxLast(x, log)
	}
	return Transpose(softmaxLast(Transpose(x, a, last), log), a, last)
}

// softmaxLast applies the device's row softmax to the last axis. The backward pass uses the
// fused SoftmaxBackward primitive unless it is being recorded, when it is composed of ops
// from the output y (which is itself recorded), so it can be differentiated again:
//
//	softmax:     dx = y ⊙ (g − Σ g⊙y)
//	log-softmax: dx = g − exp(y)·Σ g
func softmaxLast(x *Tensor, log bool) *Tensor {
	dev := x.Device()
	cols := x.Dim(-1)
	rows := 0
	if cols > 0 {
		rows = x.Len() / cols
	}
	y := x.Context().Uninit(dev, x.DType(), x.Shape()...)
	if y.Len() > 0 {
		dev.Softmax(x.Buffer(), y.Buffer(), rows, cols, log)
	}
	name := "softmax"
	if log {
		name = "log_softmax"
	}
	return record(name, y, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		if recording(g, y) {
			if log {
				return []*Tensor{Sub(g, Mul(Exp(y), Sum(g, true, -1)))}
			}
			return []*Tensor{Mul(y, Sub(g, Sum(Mul(g, y), true, -1)))}
		}
		dx := tensor.ContextOf(g, y).Uninit(dev, x.DType(), x.Shape()...)
		if dx.Len() > 0 {
			dev.SoftmaxBackward(y.Buffer(), g.Buffer(), dx.Buffer(), rows, cols, log)
		}
		return []*Tensor{dx}
	})
}
