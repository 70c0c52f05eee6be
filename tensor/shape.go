package tensor

import (
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/rng"
)

// Reshape returns a view with a new shape of the same number of elements, sharing storage,
// in t's context.
// One extent may be -1, inferred from the others.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	shape = append([]int(nil), shape...)
	infer := -1
	known := 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panicf("reshape %v: bad extent %d", shape, d)
		default:
			known *= d
		}
	}
	n := t.Len()
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			panicf("reshape of %v into %v: cannot infer the -1 extent", t.shape, shape)
		}
		shape[infer] = n / known
	}
	if numel(shape) != n {
		panicf("reshape of %v (%d elements) into %v (%d elements)", t.shape, n, shape, numel(shape))
	}
	st := t.st
	if st == nil {
		panicf("reshape of a released tensor")
	}
	st.refs.Add(1)
	return t.ctx.track(&Tensor{shape: shape, dtype: t.dtype, st: st})
}

// Clone copies the tensor into new storage on the same device (and in its context).
func (t *Tensor) Clone() *Tensor {
	out := t.ctx.Uninit(t.Device(), t.dtype, t.shape...)
	if t.Len() > 0 {
		t.Device().Convert(out.buf(), 0, t.buf(), 0, t.Len())
	}
	return out
}

// copyStrided materialises a strided view of t into a new contiguous tensor.
func (t *Tensor) copyStrided(view device.Layout) *Tensor {
	out := t.ctx.Uninit(t.Device(), t.dtype, view.Shape...)
	if out.Len() > 0 {
		t.Device().Unary(device.UnaryCopy, t.buf(), view, out.buf(), device.Contiguous(view.Shape), 0)
	}
	return out
}

// Permute reorders axes: result axis i is input axis perm[i].
func (t *Tensor) Permute(perm ...int) *Tensor {
	return t.copyStrided(PermutedLayout(t.shape, perm))
}

// PermutedLayout is the strided view of a contiguous tensor of shape whose axes are read in
// the order perm.
func PermutedLayout(shape []int, perm []int) device.Layout {
	if len(perm) != len(shape) {
		panicf("permute %v of a rank-%d tensor", perm, len(shape))
	}
	base := device.Contiguous(shape)
	seen := make([]bool, len(shape))
	l := device.Layout{Shape: make([]int, len(shape)), Strides: make([]int, len(shape))}
	for i, p := range perm {
		if p < 0 || p >= len(shape) || seen[p] {
			panicf("permute %v is not a permutation of %d axes", perm, len(shape))
		}
		seen[p] = true
		l.Shape[i] = shape[p]
		l.Strides[i] = base.Strides[p]
	}
	return l
}

// Transpose swaps two axes.
func (t *Tensor) Transpose(a, b int) *Tensor {
	a, b = t.axis(a), t.axis(b)
	perm := make([]int, t.Rank())
	for i := range perm {
		perm[i] = i
	}
	perm[a], perm[b] = perm[b], perm[a]
	return t.Permute(perm...)
}

// T transposes a matrix (the last two axes).
func (t *Tensor) T() *Tensor {
	if t.Rank() < 2 {
		panicf("T of a rank-%d tensor", t.Rank())
	}
	return t.Transpose(-2, -1)
}

// SliceLayout is the strided view selecting [start, end) along axis of a contiguous tensor.
func SliceLayout(shape []int, axis, start, end int) device.Layout {
	if axis < 0 || axis >= len(shape) {
		panicf("slice axis %d of a rank-%d tensor", axis, len(shape))
	}
	if start < 0 || end > shape[axis] || start > end {
		panicf("slice [%d:%d] out of range for axis %d of extent %d", start, end, axis, shape[axis])
	}
	l := device.Contiguous(shape)
	l.Shape = append([]int(nil), shape...)
	l.Shape[axis] = end - start
	l.Offset = start * l.Strides[axis]
	return l
}

// Slice copies elements [start, end) along axis into a new tensor.
func (t *Tensor) Slice(axis, start, end int) *Tensor {
	return t.copyStrided(SliceLayout(t.shape, t.axis(axis), start, end))
}

// Concat joins tensors of equal shapes (except along axis) and dtype on one device.
func Concat(axis int, ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		panicf("concat of no tensors")
	}
	first := ts[0]
	axis = first.axis(axis)
	shape := first.Shape()
	total := 0
	for _, t := range ts {
		if t.Rank() != first.Rank() || t.dtype != first.dtype {
			panicf("concat of %v %s with %v %s", first.shape, first.dtype, t.shape, t.dtype)
		}
		if t.Device() != first.Device() {
			panicf("concat of tensors on %s and %s", first.Device().Name(), t.Device().Name())
		}
		for i := range shape {
			if i != axis && t.shape[i] != shape[i] {
				panicf("concat along axis %d of shapes %v and %v", axis, first.shape, t.shape)
			}
		}
		total += t.shape[axis]
	}
	shape[axis] = total
	out := ContextOf(ts...).Empty(first.Device(), first.dtype, shape...)
	at := 0
	for _, t := range ts {
		n := t.shape[axis]
		if t.Len() > 0 {
			dst := SliceLayout(shape, axis, at, at+n)
			first.Device().Unary(device.UnaryCopy, t.buf(), t.Layout(), out.buf(), dst, 0)
		}
		at += n
	}
	return out
}

// To copies the tensor to another device, in its context (returning t itself when it is
// already there).
func (t *Tensor) To(dev device.Device) *Tensor {
	if t.Device() == dev {
		return t
	}
	switch t.dtype {
	case Float32:
		return t.ctx.FromFloat32(dev, t.Float32s(), t.shape...)
	case Float64:
		return t.ctx.FromFloat64(dev, t.Float64s(), t.shape...)
	case Int32:
		return t.ctx.FromInt32(dev, t.Int32s(), t.shape...)
	case BFloat16, Float16:
		return t.ctx.FromFloat64As(dev, t.dtype, t.Float64s(), t.shape...) // exact both ways
	}
	panicf("To: unsupported dtype %s", t.dtype)
	return nil
}

// AsType converts to another floating dtype (returning t when it already has it).
func (t *Tensor) AsType(dtype DType) *Tensor {
	if t.dtype == dtype {
		return t
	}
	out := t.ctx.Uninit(t.Device(), dtype, t.shape...)
	if t.Len() > 0 {
		t.Device().Convert(out.buf(), 0, t.buf(), 0, t.Len())
	}
	return out
}

// Arange returns [start, start+step, ...) with n = ⌈(stop−start)/step⌉ elements.
func Arange(dev device.Device, dtype DType, start, stop, step float64) *Tensor {
	if step == 0 || math.IsNaN(start+stop+step) || math.IsInf(start+stop+step, 0) {
		panicf("arange(%v, %v, %v): step must be non-zero and bounds finite", start, stop, step)
	}
	n := int(math.Ceil((stop - start) / step))
	if n < 0 {
		n = 0
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = start + float64(i)*step
	}
	return FromFloat64As(dev, dtype, v, n)
}

// Uniform fills a new tensor of c with draws from U[low, high) of the Philox stream keyed by
// seed, starting at counter offset (see package rng).
func (c *Context) Uniform(dev device.Device, dtype DType, seed, offset uint64, low, high float64, shape ...int) *Tensor {
	if !finite(low) || !finite(high) || high < low {
		panicf("uniform(%v, %v): bounds must be finite with low ≤ high", low, high)
	}
	t := c.Empty(dev, dtype, shape...)
	if t.Len() > 0 {
		dev.RandomFill(t.buf(), device.Uniform, seed, offset, low, high)
	}
	return t
}

// Normal fills a new tensor of c with N(mean, sd²) draws of the Philox stream.
func (c *Context) Normal(dev device.Device, dtype DType, seed, offset uint64, mean, sd float64, shape ...int) *Tensor {
	if !finite(mean) || !finite(sd) || sd < 0 {
		panicf("normal(%v, %v): mean and standard deviation must be finite, sd ≥ 0", mean, sd)
	}
	t := c.Empty(dev, dtype, shape...)
	if t.Len() > 0 {
		dev.RandomFill(t.buf(), device.Normal, seed, offset, mean, sd)
	}
	return t
}

// Uniform is Context.Uniform for a free tensor.
func Uniform(dev device.Device, dtype DType, seed, offset uint64, low, high float64, shape ...int) *Tensor {
	return (*Context)(nil).Uniform(dev, dtype, seed, offset, low, high, shape...)
}

// Normal is Context.Normal for a free tensor.
func Normal(dev device.Device, dtype DType, seed, offset uint64, mean, sd float64, shape ...int) *Tensor {
	return (*Context)(nil).Normal(dev, dtype, seed, offset, mean, sd, shape...)
}

// Generator draws successive non-overlapping random tensors from one seed.
type Generator struct{ rng.Stream }

// NewGenerator starts a stream at counter 0 of seed.
func NewGenerator(seed uint64) *Generator { return &Generator{rng.Stream{Seed: seed}} }

// Uniform draws the next tensor of U[low, high) values.
func (g *Generator) Uniform(dev device.Device, dtype DType, low, high float64, shape ...int) *Tensor {
	return Uniform(dev, dtype, g.Seed, g.Next(numel(shape)), low, high, shape...)
}

// Normal draws the next tensor of N(mean, sd²) values.
func (g *Generator) Normal(dev device.Device, dtype DType, mean, sd float64, shape ...int) *Tensor {
	return Normal(dev, dtype, g.Seed, g.Next(numel(shape)), mean, sd, shape...)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
