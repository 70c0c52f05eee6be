package ops

import (
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// Reshape returns a view of x with a new shape of the same size (one extent may be −1).
func Reshape(x *Tensor, shape ...int) *Tensor {
	xs := x.Shape()
	out := x.Reshape(shape...)
	return record("reshape", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Reshape(g, xs...)}
	})
}

// Unsqueeze inserts an axis of extent 1 before axis (axis may equal the rank, or be negative
// counting from rank+1).
func Unsqueeze(x *Tensor, axis int) *Tensor {
	s := x.Shape()
	a := normAxis("unsqueeze", axis, len(s)+1)
	s = append(s[:a], append([]int{1}, s[a:]...)...)
	return Reshape(x, s...)
}

// Squeeze removes an axis of extent 1.
func Squeeze(x *Tensor, axis int) *Tensor {
	s := x.Shape()
	a := normAxis("squeeze", axis, len(s))
	if s[a] != 1 {
		panic(errorf("squeeze", "axis %d of shape %s has extent %d, not 1", axis, shp(x), s[a]))
	}
	return Reshape(x, append(s[:a], s[a+1:]...)...)
}

// Permute reorders axes: result axis i is input axis perm[i].
func Permute(x *Tensor, perm ...int) *Tensor {
	if len(perm) != x.Rank() {
		panic(errorf("permute", "permutation %v of a rank-%d tensor", perm, x.Rank()))
	}
	p := make([]int, len(perm))
	for i, a := range perm {
		p[i] = normAxis("permute", a, x.Rank())
	}
	identity := true
	for i, a := range p {
		identity = identity && a == i
	}
	if identity {
		return x
	}
	out := x.Permute(p...)
	inv := make([]int, len(p))
	for i, a := range p {
		inv[a] = i
	}
	return record("permute", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Permute(g, inv...)}
	})
}

// Transpose swaps axes a and b.
func Transpose(x *Tensor, a, b int) *Tensor {
	r := x.Rank()
	a, b = normAxis("transpose", a, r), normAxis("transpose", b, r)
	perm := make([]int, r)
	for i := range perm {
		perm[i] = i
	}
	perm[a], perm[b] = perm[b], perm[a]
	return Permute(x, perm...)
}

// T transposes the last two axes.
func T(x *Tensor) *Tensor {
	if x.Rank() < 2 {
		panic(errorf("T", "transpose of a rank-%d tensor", x.Rank()))
	}
	return Transpose(x, -2, -1)
}

// Slice selects [start, end) along axis (negative axis counts from the end).
func Slice(x *Tensor, axis, start, end int) *Tensor {
	xs := x.Shape()
	a := normAxis("slice", axis, len(xs))
	if start < 0 || end > xs[a] || start > end {
		panic(errorf("slice", "[%d:%d] out of range for axis %d of shape %s", start, end, axis, shp(x)))
	}
	if start == 0 && end == xs[a] {
		return x
	}
	out := x.Slice(a, start, end)
	return record("slice", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{padSlice(g, xs, a, start)}
	})
}

// padSlice embeds g into zeros of shape at offset start along axis: the adjoint of Slice.
func padSlice(g *Tensor, shape []int, axis, start int) *Tensor {
	out := g.Context().Zeros(g.Device(), g.DType(), shape...)
	n := g.Dim(axis)
	if g.Len() > 0 {
		dst := tensor.SliceLayout(shape, axis, start, start+n)
		g.Device().Unary(device.UnaryCopy, g.Buffer(), g.Layout(), out.Buffer(), dst, 0)
	}
	return record("pad_slice", out, []*Tensor{g}, func(gg *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Slice(gg, axis, start, start+n)}
	})
}

// Concat joins tensors along axis; all other extents must agree.
func Concat(axis int, ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		panic(errorf("concat", "no tensors"))
	}
	checkFloat("concat", ts...)
	r := ts[0].Rank()
	a := normAxis("concat", axis, r)
	for _, t := range ts {
		if t.Rank() != r {
			panic(errorf("concat", "shapes %s and %s have different ranks", shp(ts[0]), shp(t)))
		}
		for i := 0; i < r; i++ {
			if i != a && t.Dim(i) != ts[0].Dim(i) {
				panic(errorf("concat", "along axis %d of shapes %s and %s", axis, shp(ts[0]), shp(t)))
			}
		}
	}
	if len(ts) == 1 {
		return ts[0]
	}
	out := tensor.Concat(a, ts...)
	sizes := make([]int, len(ts))
	for i, t := range ts {
		sizes[i] = t.Dim(a)
	}
	return record("concat", out, append([]*Tensor(nil), ts...), func(g *Tensor, needs []bool) []*Tensor {
		r := make([]*Tensor, len(sizes))
		at := 0
		for i, n := range sizes {
			if needs[i] {
				r[i] = Slice(g, a, at, at+n)
			}
			at += n
		}
		return r
	})
}

// checkIndex panics unless idx is an int32 tensor on dev.
func checkIndex(op string, idx *Tensor, dev device.Device) {
	if idx == nil || idx.DType() != tensor.Int32 {
		panic(errorf(op, "indices must be an int32 tensor"))
	}
	if idx.Released() {
		panic(errorf(op, "indices have been released"))
	}
	if idx.Device() != dev {
		panic(errorf(op, "indices live on %s, the table on %s", idx.Device().Name(), dev.Name()))
	}
}

// Embedding looks up rows of a [V, D] table: the result has shape idx.Shape() + [D]. Its
// gradient scatters (adds) the output gradient rows back into a zero [V, D] table.
func Embedding(table, idx *Tensor) *Tensor {
	dev := checkFloat("embedding", table)
	checkIndex("embedding", idx, dev)
	if table.Rank() != 2 {
		panic(errorf("embedding", "table must be [rows, width], got %s", shp(table)))
	}
	rows, width := table.Dim(0), table.Dim(1)
	outShape := append(idx.Shape(), width)
	out := tensor.ContextOf(table, idx).Uninit(dev, table.DType(), outShape...) // Gather writes every row
	if n := idx.Len(); n > 0 && width > 0 {
		dev.Gather(table.Buffer(), rows, width, idx.Buffer(), n, out.Buffer())
	}
	return record("embedding", out, []*Tensor{table}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{scatterRows(g, idx, rows, width)}
	})
}

// scatterRows adds the rows of g (any shape ending in width) into a zero [rows, width] table
// at idx; its adjoint is Embedding.
func scatterRows(g, idx *Tensor, rows, width int) *Tensor {
	out := tensor.ContextOf(g, idx).Zeros(g.Device(), g.DType(), rows, width)
	if n := idx.Len(); n > 0 && width > 0 {
		g.Device().ScatterAdd(out.Buffer(), rows, width, idx.Buffer(), n, g.Buffer())
	}
	return record("scatter_rows", out, []*Tensor{g}, func(gg *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Embedding(gg, idx)}
	})
}

// IndexSelect picks entries idx (a 1-D int32 tensor) along axis: the result has x's shape
// with that axis's extent replaced by len(idx). Its gradient adds back into the picked
// positions (repeated indices accumulate).
func IndexSelect(x *Tensor, axis int, idx *Tensor) *Tensor {
	dev := checkFloat("index_select", x)
	checkIndex("index_select", idx, dev)
	if idx.Rank() != 1 {
		panic(errorf("index_select", "indices must be 1-D, got %s", shp(idx)))
	}
	r := x.Rank()
	a := normAxis("index_select", axis, r)
	// Move axis to the front, look rows up in the [n, rest] table, and move it back.
	perm := []int{a}
	for i := 0; i < r; i++ {
		if i != a {
			perm = append(perm, i)
		}
	}
	moved := Permute(x, perm...)
	ms := moved.Shape()
	rows := Embedding(Reshape(moved, ms[0], numel(ms[1:])), idx)
	ms[0] = idx.Len()
	picked := Reshape(rows, ms...)
	inv := make([]int, r)
	for i, p := range perm {
		inv[p] = i
	}
	return Permute(picked, inv...)
}
