package ops

import (
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// broadcastShapes returns the NumPy broadcast of two shapes or panics naming op.
func broadcastShapes(op string, a, b []int) []int {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			panic(errorf(op, "shapes %s and %s cannot be broadcast together",
				tensor.ShapeString(a), tensor.ShapeString(b)))
		}
	}
	return out
}

// broadcastLayout is the layout that reads a contiguous tensor of shape as if it had shape
// out: axes are aligned at the right, and stretched or missing axes get stride 0.
func broadcastLayout(shape, out []int) device.Layout {
	base := device.Contiguous(shape)
	l := device.Layout{Shape: append([]int(nil), out...), Strides: make([]int, len(out))}
	off := len(out) - len(shape)
	for i := range out {
		j := i - off
		if j < 0 || (shape[j] == 1 && out[i] != 1) {
			continue
		}
		l.Strides[i] = base.Strides[j]
	}
	return l
}

// canBroadcastTo reports whether shape broadcasts to out without changing out.
func canBroadcastTo(shape, out []int) bool {
	if len(shape) > len(out) {
		return false
	}
	off := len(out) - len(shape)
	for j, d := range shape {
		if d != 1 && d != out[j+off] {
			return false
		}
	}
	return true
}

// allocator returns c's constructor for an op's output: Uninit for outputs a primitive
// writes in full, Zeros when zero says the primitive writes nothing (an empty inner or
// reduced dimension) and the result must be zeros.
func allocator(c *tensor.Context, zero bool) func(device.Device, tensor.DType, ...int) *Tensor {
	if zero {
		return c.Zeros
	}
	return c.Uninit
}

// unaryRaw applies a device map to x without recording.
func unaryRaw(op device.UnaryOp, x *Tensor, alpha float64) *Tensor {
	out := x.Context().Uninit(x.Device(), x.DType(), x.Shape()...)
	if out.Len() > 0 {
		x.Device().Unary(op, x.Buffer(), x.Layout(), out.Buffer(), out.Layout(), alpha)
	}
	return out
}

// binaryRaw applies a device map of two operands with broadcasting, without recording.
func binaryRaw(name string, op device.BinaryOp, a, b *Tensor) *Tensor {
	dev := checkFloat(name, a, b)
	as, bs := a.Shape(), b.Shape()
	shape := broadcastShapes(name, as, bs)
	out := tensor.ContextOf(a, b).Uninit(dev, a.DType(), shape...)
	if out.Len() > 0 {
		dev.Binary(op, a.Buffer(), broadcastLayout(as, shape), b.Buffer(), broadcastLayout(bs, shape),
			out.Buffer(), out.Layout())
	}
	return out
}

// expandRaw materialises x broadcast to shape.
func expandRaw(x *Tensor, shape []int) *Tensor {
	out := x.Context().Uninit(x.Device(), x.DType(), shape...)
	if out.Len() > 0 {
		x.Device().Unary(device.UnaryCopy, x.Buffer(), broadcastLayout(x.Shape(), shape), out.Buffer(), out.Layout(), 0)
	}
	return out
}

// Expand broadcasts x to shape (NumPy broadcast_to), materialising the copy. Its gradient
// sums over the stretched axes.
func Expand(x *Tensor, shape ...int) *Tensor {
	checkFloat("expand", x)
	xs := x.Shape()
	if !canBroadcastTo(xs, shape) {
		panic(errorf("expand", "shape %s cannot be broadcast to %s", shp(x), tensor.ShapeString(shape)))
	}
	if tensor.SameShape(xs, shape) {
		return x
	}
	out := expandRaw(x, shape)
	return record("expand", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{SumTo(g, xs...)}
	})
}

// SumTo sums x over the axes that broadcasting would stretch from shape, returning a tensor
// of exactly shape: the adjoint of Expand, used for the gradients of broadcasting ops.
func SumTo(x *Tensor, shape ...int) *Tensor {
	checkFloat("sum_to", x)
	xs := x.Shape()
	if tensor.SameShape(xs, shape) {
		return x
	}
	if !canBroadcastTo(shape, xs) {
		panic(errorf("sum_to", "shape %s does not broadcast to %s", tensor.ShapeString(shape), shp(x)))
	}
	off := len(xs) - len(shape)
	var axes []int
	for i := range xs {
		if j := i - off; j < 0 || (shape[j] == 1 && xs[i] != 1) {
			axes = append(axes, i)
		}
	}
	out := reduceRaw(device.ReduceSum, x, axes).Reshape(shape...)
	return record("sum_to", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Expand(g, xs...)}
	})
}
