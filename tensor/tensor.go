// Package tensor defines kiln's Tensor: a shape, a dtype and a reference-counted buffer on
// one device, with constructors, shape manipulation and device transfer. It depends on the
// standard library and kiln only; conversions to and from gonum's mat.Dense and
// gorgonia.org/tensor's *Dense live in package tensor/interop.
//
// # Errors
//
// Functions in this package panic with an *Error (or a *device.Error from a backend) on
// misuse: a shape mismatch, an out-of-range slice, a NaN distribution parameter. Public
// boundaries (the CLI, model APIs, loaders) wrap their work in Catch, which turns those
// panics into ordinary errors.
//
// # Memory and execution contexts
//
// Device memory is never left to the garbage collector's finalizers. Every tensor holds one
// reference to its storage; Release drops it, and the storage is freed when its last
// reference goes. Views made by Reshape share storage and hold their own reference, so
// releasing a base does not invalidate its views.
//
// An execution Context makes this practical: a tensor made under a context is recorded in
// the context's innermost open Scope, and Scope.Close releases all of them except those
// moved out with Keep. A training step opens a scope, keeps the values it needs, and closes
// it, so the number of live buffers after N steps is flat; Context.Close releases whatever
// is left. Ops put their outputs in the context of their operands (ContextOf), so code that
// computes on tensors of a context needs no further bookkeeping. The context also carries
// the grad mode that package ops consults.
//
// # Concurrency
//
// The package keeps no process-wide state. A Context and the tensors it owns are used by one
// goroutine at a time; any number of goroutines may work at once, each in its own context.
// Tensors that nobody writes (a model's parameters) may be read by all of them at once:
// reading, viewing with Reshape and Release are safe for concurrent use, since storage
// reference counts are atomic.
package tensor

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/kiln-ml/kiln/device"
)

// DType re-exports device.DType for convenience.
type DType = device.DType

const (
	Float32 = device.Float32
	Float64 = device.Float64
	Int32   = device.Int32
)

// storage is a buffer shared by a tensor and its views.
type storage struct {
	buf  device.Buffer
	refs atomic.Int32
}

func (s *storage) release() {
	if s.refs.Add(-1) == 0 {
		s.buf.Free()
	}
}

// Tensor is an n-dimensional array of one dtype on one device, stored contiguously in
// row-major order.
type Tensor struct {
	shape []int
	dtype DType
	st    *storage
	ctx   *Context // the context whose scope records the tensor; nil when free
	scope *Scope

	// Autograd bookkeeping, owned by package ops.
	requiresGrad bool
	grad         *Tensor
	node         any
}

// Error is the panic value for misuse of tensors (shapes, ranges, parameters).
type Error struct{ Msg string }

func (e *Error) Error() string { return "tensor: " + e.Msg }

func panicf(format string, args ...any) { panic(&Error{Msg: fmt.Sprintf(format, args...)}) }

// Catch runs fn and converts a panic raised by kiln's inner layers (a *tensor.Error, a
// *device.Error, or any other error value) into a returned error; runtime errors and panics
// that are not errors are re-raised (see Recovered).
func Catch(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Recovered(r)
		}
	}()
	return fn()
}

// Recovered applies Catch's policy to a value returned by recover, for public APIs that
// recover in their own deferred functions. An error value (kiln's panics on misuse, bad
// shapes and device failures) is returned. A runtime error (index out of range, nil
// dereference) or a value that is not an error is a fault in kiln itself: it is re-raised,
// so that it keeps its stack trace instead of passing for a bad input.
func Recovered(r any) error {
	if e, ok := r.(error); ok {
		if _, fault := r.(runtime.Error); !fault {
			return e
		}
	}
	panic(r)
}

// Shape returns a copy of the tensor's shape.
func (t *Tensor) Shape() []int { return append([]int(nil), t.shape...) }

// Dim returns the extent of axis i (negative counts from the end).
func (t *Tensor) Dim(i int) int { return t.shape[t.axis(i)] }

// Rank is the number of axes.
func (t *Tensor) Rank() int { return len(t.shape) }

// Len is the number of elements.
func (t *Tensor) Len() int { return numel(t.shape) }

// DType is the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Device is the device holding the tensor's buffer.
func (t *Tensor) Device() device.Device { return t.buf().Device() }

// Buffer exposes the underlying device buffer (contiguous, row-major, Len elements) for
// packages that call device primitives directly.
func (t *Tensor) Buffer() device.Buffer { return t.buf() }

// Layout is the contiguous layout of the tensor's shape.
func (t *Tensor) Layout() device.Layout { return device.Contiguous(t.Shape()) }

func (t *Tensor) buf() device.Buffer {
	if t.st == nil {
		panicf("use of a released tensor of shape %v", t.shape)
	}
	return t.st.buf
}

// Released reports whether Release has been called.
func (t *Tensor) Released() bool { return t.st == nil }

// Release drops this tensor's reference to its storage. Releasing twice is a no-op.
func (t *Tensor) Release() {
	if t.st == nil {
		return
	}
	t.st.release()
	t.st = nil
}

func (t *Tensor) String() string {
	return fmt.Sprintf("Tensor(%v, %s, %s)", t.shape, t.dtype, t.buf().Device().Name())
}

// axis normalises a possibly negative axis and checks its range.
func (t *Tensor) axis(i int) int {
	r := len(t.shape)
	if i < 0 {
		i += r
	}
	if i < 0 || i >= r {
		panicf("axis %d out of range for a tensor of rank %d", i, r)
	}
	return i
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func checkShape(shape []int) {
	for _, d := range shape {
		if d < 0 {
			panicf("negative extent in shape %v", shape)
		}
	}
}

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b []int) bool { return slices.Equal(a, b) }

// ShapeString formats a shape as (2, 3).
func ShapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// wrap makes a tensor owning a fresh reference to buf's storage and records it in c's
// innermost scope (a nil c leaves it free: the caller owns it).
func wrap(c *Context, buf device.Buffer, dtype DType, shape []int) *Tensor {
	st := &storage{buf: buf}
	st.refs.Store(1)
	return c.track(&Tensor{shape: append([]int(nil), shape...), dtype: dtype, st: st})
}

// The constructors below exist twice: as package functions, which make free tensors (owned
// by the caller, outside every context), and as methods of *Context, which record the new
// tensor in the context's innermost scope. A method called on a nil *Context makes a free
// tensor, so code that derives its context from operands (ContextOf) needs no special case.

// FromBuffer wraps an existing buffer (taking ownership of it) as a tensor of the given
// shape; backends and optimizers use it for buffers they allocated themselves.
func (c *Context) FromBuffer(buf device.Buffer, shape ...int) *Tensor {
	checkShape(shape)
	if numel(shape) != buf.Len() {
		panicf("buffer of %d elements cannot hold shape %v", buf.Len(), shape)
	}
	return wrap(c, buf, buf.DType(), shape)
}

// Empty allocates a tensor whose contents are zero (backends zero new memory).
func (c *Context) Empty(dev device.Device, dtype DType, shape ...int) *Tensor {
	checkShape(shape)
	c.checkOpen()
	buf, err := dev.Alloc(dtype, numel(shape))
	if err != nil {
		panic(err)
	}
	return wrap(c, buf, dtype, shape)
}

// Uninit allocates a tensor whose contents are unspecified (device.AllocUninit): for the
// outputs of primitives that write every element, where Empty's zero fill is wasted work (a
// memset launch per tensor on the CUDA backend). The caller must write every element before
// anything reads one; under the CUDA emulator the contents are NaN, so a read before a write
// shows.
func (c *Context) Uninit(dev device.Device, dtype DType, shape ...int) *Tensor {
	checkShape(shape)
	c.checkOpen()
	buf, err := device.AllocUninit(dev, dtype, numel(shape))
	if err != nil {
		panic(err)
	}
	return wrap(c, buf, dtype, shape)
}

// Zeros allocates a zero tensor.
func (c *Context) Zeros(dev device.Device, dtype DType, shape ...int) *Tensor {
	return c.Empty(dev, dtype, shape...)
}

// Full allocates a tensor filled with v.
func (c *Context) Full(dev device.Device, dtype DType, v float64, shape ...int) *Tensor {
	t := c.Empty(dev, dtype, shape...)
	if v != 0 && t.Len() > 0 {
		dev.Fill(t.buf(), 0, t.Len(), v)
	}
	return t
}

// Ones allocates a tensor of ones.
func (c *Context) Ones(dev device.Device, dtype DType, shape ...int) *Tensor {
	return c.Full(dev, dtype, 1, shape...)
}

// Scalar allocates a 0-dimensional tensor holding v.
func (c *Context) Scalar(dev device.Device, dtype DType, v float64) *Tensor {
	return c.Full(dev, dtype, v)
}

// FromFloat32 copies data into a new float32 tensor of the given shape (a 1-D tensor when
// no shape is given).
func (c *Context) FromFloat32(dev device.Device, data []float32, shape ...int) *Tensor {
	return c.fromHost(dev, Float32, data, len(data), shape)
}

// FromFloat64 copies data into a new float64 tensor.
func (c *Context) FromFloat64(dev device.Device, data []float64, shape ...int) *Tensor {
	return c.fromHost(dev, Float64, data, len(data), shape)
}

// FromInt32 copies indices into a new int32 tensor.
func (c *Context) FromInt32(dev device.Device, data []int32, shape ...int) *Tensor {
	return c.fromHost(dev, Int32, data, len(data), shape)
}

// FromFloat64As copies float64 data into a new tensor of dtype (converting to float32 when
// asked), the usual way to bring host data in at a model's precision.
func (c *Context) FromFloat64As(dev device.Device, dtype DType, data []float64, shape ...int) *Tensor {
	switch dtype {
	case Float64:
		return c.FromFloat64(dev, data, shape...)
	case Float32:
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		return c.FromFloat32(dev, f, shape...)
	}
	panicf("FromFloat64As: unsupported dtype %s", dtype)
	return nil
}

func (c *Context) fromHost(dev device.Device, dtype DType, data any, n int, shape []int) *Tensor {
	if len(shape) == 0 {
		shape = []int{n}
	}
	checkShape(shape)
	if numel(shape) != n {
		panicf("%d values cannot fill shape %v (%d elements)", n, shape, numel(shape))
	}
	t := c.Empty(dev, dtype, shape...)
	if n > 0 {
		if err := dev.CopyFromHost(t.buf(), data); err != nil {
			panic(err)
		}
	}
	return t
}

// FromBuffer wraps buf as a free tensor (see Context.FromBuffer).
func FromBuffer(buf device.Buffer, shape ...int) *Tensor {
	return (*Context)(nil).FromBuffer(buf, shape...)
}

// Empty allocates a free zero tensor (see Context.Empty).
func Empty(dev device.Device, dtype DType, shape ...int) *Tensor {
	return (*Context)(nil).Empty(dev, dtype, shape...)
}

// Uninit allocates a free tensor with unspecified contents (see Context.Uninit).
func Uninit(dev device.Device, dtype DType, shape ...int) *Tensor {
	return (*Context)(nil).Uninit(dev, dtype, shape...)
}

// Zeros allocates a free zero tensor.
func Zeros(dev device.Device, dtype DType, shape ...int) *Tensor {
	return (*Context)(nil).Empty(dev, dtype, shape...)
}

// Full allocates a free tensor filled with v.
func Full(dev device.Device, dtype DType, v float64, shape ...int) *Tensor {
	return (*Context)(nil).Full(dev, dtype, v, shape...)
}

// Ones allocates a free tensor of ones.
func Ones(dev device.Device, dtype DType, shape ...int) *Tensor {
	return (*Context)(nil).Full(dev, dtype, 1, shape...)
}

// Scalar allocates a free 0-dimensional tensor holding v.
func Scalar(dev device.Device, dtype DType, v float64) *Tensor {
	return (*Context)(nil).Full(dev, dtype, v)
}

// FromFloat32 copies data into a new free float32 tensor (a 1-D tensor when no shape is
// given).
func FromFloat32(dev device.Device, data []float32, shape ...int) *Tensor {
	return (*Context)(nil).FromFloat32(dev, data, shape...)
}

// FromFloat64 copies data into a new free float64 tensor.
func FromFloat64(dev device.Device, data []float64, shape ...int) *Tensor {
	return (*Context)(nil).FromFloat64(dev, data, shape...)
}

// FromInt32 copies indices into a new free int32 tensor.
func FromInt32(dev device.Device, data []int32, shape ...int) *Tensor {
	return (*Context)(nil).FromInt32(dev, data, shape...)
}

// FromFloat64As copies float64 data into a new free tensor of dtype.
func FromFloat64As(dev device.Device, dtype DType, data []float64, shape ...int) *Tensor {
	return (*Context)(nil).FromFloat64As(dev, dtype, data, shape...)
}

// Float32s copies the tensor to a new host slice (converting from float64 if needed).
func (t *Tensor) Float32s() []float32 {
	switch t.dtype {
	case Float32:
		out := make([]float32, t.Len())
		if len(out) > 0 {
			if err := t.Device().CopyToHost(out, t.buf()); err != nil {
				panic(err)
			}
		}
		return out
	case Float64:
		d := t.Float64s()
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(v)
		}
		return out
	}
	panicf("Float32s of a %s tensor", t.dtype)
	return nil
}

// Float64s copies the tensor to a new host slice (converting from float32 if needed).
func (t *Tensor) Float64s() []float64 {
	switch t.dtype {
	case Float64:
		out := make([]float64, t.Len())
		if len(out) > 0 {
			if err := t.Device().CopyToHost(out, t.buf()); err != nil {
				panic(err)
			}
		}
		return out
	case Float32:
		f := t.Float32s()
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	case Int32:
		idx := t.Int32s()
		out := make([]float64, len(idx))
		for i, v := range idx {
			out[i] = float64(v)
		}
		return out
	}
	panicf("Float64s of a %s tensor", t.dtype)
	return nil
}

// Int32s copies an int32 tensor to the host.
func (t *Tensor) Int32s() []int32 {
	if t.dtype != Int32 {
		panicf("Int32s of a %s tensor", t.dtype)
	}
	out := make([]int32, t.Len())
	if len(out) > 0 {
		if err := t.Device().CopyToHost(out, t.buf()); err != nil {
			panic(err)
		}
	}
	return out
}

// Item returns the single value of a one-element tensor.
func (t *Tensor) Item() float64 {
	if t.Len() != 1 {
		panicf("Item of a tensor with %d elements", t.Len())
	}
	return t.Float64s()[0]
}

// ---------------------------------------------------------------------------------------
// Autograd hooks (for package ops)

// RequiresGrad reports whether gradients flow to this tensor.
func (t *Tensor) RequiresGrad() bool { return t.requiresGrad }

// SetRequiresGrad marks a leaf tensor (a parameter) as needing gradients.
func (t *Tensor) SetRequiresGrad(v bool) *Tensor { t.requiresGrad = v; return t }

// Grad is the gradient accumulated by ops.Backward, or nil.
func (t *Tensor) Grad() *Tensor { return t.grad }

// SetGrad replaces the stored gradient (ops and optimizers use it).
func (t *Tensor) SetGrad(g *Tensor) { t.grad = g }

// Node is the autograd node that produced t (package ops's business).
func (t *Tensor) Node() any { return t.node }

// SetNode records the autograd node that produced t.
func (t *Tensor) SetNode(n any) { t.node = n }
