package ops

import (
	"sort"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// normAxes normalises, sorts and de-duplicates axes; no axes means all of them.
func normAxes(op string, axes []int, rank int) []int {
	if len(axes) == 0 {
		all := make([]int, rank)
		for i := range all {
			all[i] = i
		}
		return all
	}
	seen := map[int]bool{}
	var out []int
	for _, a := range axes {
		n := normAxis(op, a, rank)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// keptShape is shape with the reduced axes set to 1.
func keptShape(shape, axes []int) []int {
	k := append([]int(nil), shape...)
	for _, a := range axes {
		k[a] = 1
	}
	return k
}

// droppedShape is shape without the reduced axes.
func droppedShape(shape, axes []int) []int {
	red := map[int]bool{}
	for _, a := range axes {
		red[a] = true
	}
	var d []int
	for i, s := range shape {
		if !red[i] {
			d = append(d, s)
		}
	}
	return d
}

// reduceRaw reduces x over the sorted axes with the device's middle-axis reduction, one run of
// adjacent axes at a time (sum, max and min are associative, so the order does not matter).
// The result has the kept (size-1) shape.
func reduceRaw(op device.ReduceOp, x *Tensor, axes []int) *Tensor {
	shape := x.Shape()
	cur := x
	// Walk runs of consecutive axes from the last one, so earlier axes keep their indices.
	for i := len(axes) - 1; i >= 0; {
		j := i
		for j > 0 && axes[j-1] == axes[j]-1 {
			j--
		}
		lo, hi := axes[j], axes[i]
		outer, n, inner := numel(shape[:lo]), numel(shape[lo:hi+1]), numel(shape[hi+1:])
		next := append([]int(nil), shape...)
		for a := lo; a <= hi; a++ {
			next[a] = 1
		}
		out := x.Context().Uninit(x.Device(), x.DType(), next...) // Reduce writes every element
		if out.Len() > 0 {
			if n == 0 {
				panic(errorf(op.String(), "reduction over an empty axis of shape %s", tensor.ShapeString(shape)))
			}
			x.Device().Reduce(op, cur.Buffer(), outer, n, inner, out.Buffer())
		}
		cur, shape = out, next
		i = j - 1
	}
	if cur == x {
		return x.Reshape(shape...)
	}
	return cur
}

// Sum sums x over axes (all axes when none are given). With keepdim the reduced axes stay
// as extent 1; otherwise they are removed (a sum over everything is a 0-D scalar).
func Sum(x *Tensor, keepdim bool, axes ...int) *Tensor {
	checkFloat("sum", x)
	xs := x.Shape()
	ax := normAxes("sum", axes, len(xs))
	out := reduceRaw(device.ReduceSum, x, ax)
	kept := out.Shape()
	if !keepdim {
		out = out.Reshape(droppedShape(xs, ax)...)
	}
	return record("sum", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Expand(Reshape(g, kept...), xs...)}
	})
}

// Mean averages x over axes (all when none are given).
func Mean(x *Tensor, keepdim bool, axes ...int) *Tensor {
	checkFloat("mean", x)
	ax := normAxes("mean", axes, x.Rank())
	n := 1
	for _, a := range ax {
		n *= x.Dim(a)
	}
	return MulScalar(Sum(x, keepdim, ax...), 1/float64(n))
}

// SumAll sums every element into a 0-D scalar.
func SumAll(x *Tensor) *Tensor { return Sum(x, false) }

// MeanAll averages every element into a 0-D scalar.
func MeanAll(x *Tensor) *Tensor { return Mean(x, false) }

// Max takes the maximum over axes (all when none are given). The gradient is shared equally
// among tied maxima: g·[x = max]/count, where the mask is a constant, so the backward is
// linear in g and differentiable again.
func Max(x *Tensor, keepdim bool, axes ...int) *Tensor {
	return extremum("max", device.ReduceMax, x, keepdim, axes)
}

// Min takes the minimum over axes, with the gradient shared among ties like Max.
func Min(x *Tensor, keepdim bool, axes ...int) *Tensor {
	return extremum("min", device.ReduceMin, x, keepdim, axes)
}

// MaxAll is the maximum of every element, a 0-D scalar.
func MaxAll(x *Tensor) *Tensor { return Max(x, false) }

// MinAll is the minimum of every element, a 0-D scalar.
func MinAll(x *Tensor) *Tensor { return Min(x, false) }

func extremum(name string, op device.ReduceOp, x *Tensor, keepdim bool, axes []int) *Tensor {
	checkFloat(name, x)
	xs := x.Shape()
	ax := normAxes(name, axes, len(xs))
	m := reduceRaw(op, x, ax)
	kept := m.Shape()
	out := m
	if !keepdim {
		out = m.Reshape(droppedShape(xs, ax)...)
	}
	return record(name, out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		mask := Eq(x, m)
		w := Div(mask, reduceRaw(device.ReduceSum, mask, ax))
		return []*Tensor{Mul(Reshape(g, kept...), w)}
	})
}
