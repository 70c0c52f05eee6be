// Package cpu is kiln's pure-Go backend: every device primitive implemented over Go slices,
// parallelised over GOMAXPROCS goroutines when the work is large enough to pay for them.
// It builds with CGO_ENABLED=0 and is always registered as the device "cpu".
//
// Every matrix product, the attention tiles included, goes through one function per dtype
// (sgemm, dgemm in gemm.go) into kiln's packed GEMM (device/cpu/gemm: AVX-512 or AVX2
// micro-kernels in assembly on amd64, generic Go elsewhere and under the noasm tag). Other
// CPU-side code may read and write buffer contents without copies through Float32s,
// Float64s and Int32s.
package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/half"
)

func init() { device.Register(backend{}) }

// backend registers the single CPU device under the kind "cpu".
type backend struct{}

func (backend) Kind() string { return "cpu" }
func (backend) Count() int   { return 1 }
func (backend) Open(ordinal int) (device.Device, error) {
	if ordinal != 0 {
		return nil, fmt.Errorf("cpu: there is one CPU device (ordinal 0), not %d", ordinal)
	}
	return Default(), nil
}

var defaultDev = &Device{}

// Default returns the CPU device.
func Default() *Device { return defaultDev }

// Device is the CPU backend. Its zero value is ready to use; Default returns the instance the
// registry hands out. Allocation statistics are kept with atomics, so buffers may be freed
// from any goroutine.
type Device struct {
	liveBuffers, liveBytes, peakBytes, allocs, recycled atomic.Int64
	f32s                                                recycler[float32]
	f64s                                                recycler[float64]
}

var (
	_ device.Device          = (*Device)(nil)
	_ device.UninitAllocator = (*Device)(nil)
)

// Name is always "cpu".
func (d *Device) Name() string { return "cpu" }

// Info describes the host: logical cores and the GEMM kernel in use.
func (d *Device) Info() device.Info {
	return device.Info{
		Name:        "cpu",
		Kind:        "cpu",
		Description: fmt.Sprintf("pure-Go backend, %d worker goroutines (%s/%s)", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH),
		Cores:       runtime.NumCPU(),
		Kernel:      gemmKernel,
	}
}

// MemStats reports live and peak bytes held by buffers of this device, and in CacheHits the
// allocations served with recycled memory (see recycle.go). The recycled memory belongs to
// the garbage collector, which may drop it at any collection, so CachedBytes stays zero.
func (d *Device) MemStats() device.MemStats {
	return device.MemStats{
		LiveBuffers: d.liveBuffers.Load(),
		LiveBytes:   d.liveBytes.Load(),
		PeakBytes:   d.peakBytes.Load(),
		Allocs:      d.allocs.Load(),
		CacheHits:   d.recycled.Load(),
	}
}

// Sync is a no-op: CPU primitives complete before they return.
func (d *Device) Sync() error { return nil }

// buffer holds exactly one of the four slices, according to dtype (h16 holds the bits of
// bfloat16 or float16 elements).
type buffer struct {
	dev   *Device
	dtype device.DType
	n     int
	f32   []float32
	f64   []float64
	i32   []int32
	h16   []uint16
	freed atomic.Bool
}

func (b *buffer) Device() device.Device { return b.dev }
func (b *buffer) DType() device.DType   { return b.dtype }
func (b *buffer) Len() int              { return b.n }

// Free drops the slice so that any later use fails loudly (see get), and offers its memory
// for recycling. A second Free is a no-op.
func (b *buffer) Free() {
	if b.freed.Swap(true) {
		return
	}
	if b.f32 != nil {
		b.dev.f32s.put(b.f32)
	}
	if b.f64 != nil {
		b.dev.f64s.put(b.f64)
	}
	b.f32, b.f64, b.i32, b.h16 = nil, nil, nil, nil
	b.dev.liveBuffers.Add(-1)
	b.dev.liveBytes.Add(-int64(b.n * b.dtype.Size()))
}

func (b *buffer) String() string {
	return fmt.Sprintf("cpu buffer %s[%d]", b.dtype, b.n)
}

// Alloc returns a zeroed buffer of n elements.
func (d *Device) Alloc(dtype device.DType, n int) (device.Buffer, error) {
	return d.alloc(dtype, n, true)
}

// AllocUninit returns a buffer of n elements whose contents are unspecified: float32 and
// float64 buffers may reuse freed memory without zero-filling it (device.UninitAllocator).
func (d *Device) AllocUninit(dtype device.DType, n int) (device.Buffer, error) {
	return d.alloc(dtype, n, false)
}

func (d *Device) alloc(dtype device.DType, n int, zero bool) (device.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu: Alloc of %d elements", n)
	}
	b := &buffer{dev: d, dtype: dtype, n: n}
	var recycled bool
	switch dtype {
	case device.Float32:
		b.f32, recycled = d.f32s.get(n, zero)
	case device.Float64:
		b.f64, recycled = d.f64s.get(n, zero)
	case device.Int32:
		b.i32 = make([]int32, n)
	case device.BFloat16, device.Float16:
		b.h16 = make([]uint16, n)
	default:
		return nil, fmt.Errorf("cpu: Alloc of unknown dtype %s", dtype)
	}
	if recycled {
		d.recycled.Add(1)
	}
	bytes := int64(n * dtype.Size())
	d.allocs.Add(1)
	d.liveBuffers.Add(1)
	live := d.liveBytes.Add(bytes)
	for {
		p := d.peakBytes.Load()
		if live <= p || d.peakBytes.CompareAndSwap(p, live) {
			break
		}
	}
	return b, nil
}

// get unwraps a Buffer handed to primitive op, panicking on nil, foreign and freed buffers.
func get(b device.Buffer, op string) *buffer {
	if b == nil {
		device.Panicf(op, "nil buffer")
	}
	cb, ok := b.(*buffer)
	if !ok {
		device.Panicf(op, "buffer of device %s passed to the cpu device", b.Device().Name())
	}
	if cb.freed.Load() {
		device.Panicf(op, "use of a freed %s buffer of %d elements", cb.dtype, cb.n)
	}
	return cb
}

// getFloat is get plus a check that the buffer holds float32 or float64 of dtype want (0: any
// float type).
func getFloat(b device.Buffer, op, what string, want device.DType) *buffer {
	cb := get(b, op)
	if cb.dtype != device.Float32 && cb.dtype != device.Float64 {
		device.Panicf(op, "%s has dtype %s, want float32 or float64", what, cb.dtype)
	}
	if want != 0 && cb.dtype != want {
		device.Panicf(op, "%s has dtype %s, want %s like the other operands", what, cb.dtype, want)
	}
	return cb
}

// needLen panics unless buffer b holds at least n elements.
func needLen(b *buffer, n int, op, what string) {
	if b.n < n {
		device.Panicf(op, "%s has %d elements, need %d", what, b.n, n)
	}
}

// Float32s returns the memory of a CPU float32 buffer for zero-copy host access. It panics if b
// is not a live CPU buffer of dtype float32. The slice must not be used after b is freed: the
// memory may then belong to another buffer.
func Float32s(b device.Buffer) []float32 {
	cb := get(b, "Float32s")
	if cb.dtype != device.Float32 {
		device.Panicf("Float32s", "buffer has dtype %s", cb.dtype)
	}
	return cb.f32
}

// Float64s returns the memory of a CPU float64 buffer for zero-copy host access, under
// Float32s's rule.
func Float64s(b device.Buffer) []float64 {
	cb := get(b, "Float64s")
	if cb.dtype != device.Float64 {
		device.Panicf("Float64s", "buffer has dtype %s", cb.dtype)
	}
	return cb.f64
}

// Int32s returns the memory of a CPU int32 buffer for zero-copy host access.
func Int32s(b device.Buffer) []int32 {
	cb := get(b, "Int32s")
	if cb.dtype != device.Int32 {
		device.Panicf("Int32s", "buffer has dtype %s", cb.dtype)
	}
	return cb.i32
}

// CopyFromHost copies a host slice of matching dtype and length into dst.
func (d *Device) CopyFromHost(dst device.Buffer, src any) (err error) {
	defer recoverError(&err)
	b := get(dst, "CopyFromHost")
	switch s := src.(type) {
	case []float32:
		if b.dtype != device.Float32 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyFromHost of []float32[%d] into %v", len(s), b)
		}
		copy(b.f32, s)
	case []float64:
		if b.dtype != device.Float64 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyFromHost of []float64[%d] into %v", len(s), b)
		}
		copy(b.f64, s)
	case []int32:
		if b.dtype != device.Int32 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyFromHost of []int32[%d] into %v", len(s), b)
		}
		copy(b.i32, s)
	case []half.BFloat16:
		if b.dtype != device.BFloat16 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyFromHost of []half.BFloat16[%d] into %v", len(s), b)
		}
		for i, v := range s {
			b.h16[i] = uint16(v)
		}
	case []half.Float16:
		if b.dtype != device.Float16 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyFromHost of []half.Float16[%d] into %v", len(s), b)
		}
		for i, v := range s {
			b.h16[i] = uint16(v)
		}
	default:
		return fmt.Errorf("cpu: CopyFromHost from unsupported host type %T", src)
	}
	return nil
}

// CopyToHost copies src into a host slice of matching dtype and length.
func (d *Device) CopyToHost(dst any, src device.Buffer) (err error) {
	defer recoverError(&err)
	b := get(src, "CopyToHost")
	switch s := dst.(type) {
	case []float32:
		if b.dtype != device.Float32 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyToHost of %v into []float32[%d]", b, len(s))
		}
		copy(s, b.f32)
	case []float64:
		if b.dtype != device.Float64 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyToHost of %v into []float64[%d]", b, len(s))
		}
		copy(s, b.f64)
	case []int32:
		if b.dtype != device.Int32 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyToHost of %v into []int32[%d]", b, len(s))
		}
		copy(s, b.i32)
	case []half.BFloat16:
		if b.dtype != device.BFloat16 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyToHost of %v into []half.BFloat16[%d]", b, len(s))
		}
		for i, v := range b.h16 {
			s[i] = half.BFloat16(v)
		}
	case []half.Float16:
		if b.dtype != device.Float16 || len(s) != b.n {
			return fmt.Errorf("cpu: CopyToHost of %v into []half.Float16[%d]", b, len(s))
		}
		for i, v := range b.h16 {
			s[i] = half.Float16(v)
		}
	default:
		return fmt.Errorf("cpu: CopyToHost into unsupported host type %T", dst)
	}
	return nil
}

// recoverError turns a *device.Error panic (a freed or foreign buffer) into an error, for the
// two methods whose contract returns errors.
func recoverError(err *error) {
	if r := recover(); r != nil {
		if e, ok := r.(*device.Error); ok {
			*err = e
			return
		}
		panic(r)
	}
}

// Fill sets dst[offset:offset+n] to v (converted to dst's dtype; truncated toward zero for
// int32).
func (d *Device) Fill(dst device.Buffer, offset, n int, v float64) {
	b := get(dst, "Fill")
	if offset < 0 || n < 0 || offset+n > b.n {
		device.Panicf("Fill", "range [%d, %d) outside a buffer of %d elements", offset, offset+n, b.n)
	}
	switch b.dtype {
	case device.Float32:
		fill(b.f32[offset:offset+n], float32(v))
	case device.Float64:
		fill(b.f64[offset:offset+n], v)
	case device.Int32:
		fill(b.i32[offset:offset+n], int32(v))
	case device.BFloat16, device.Float16:
		fill(b.h16[offset:offset+n], halfBits(b.dtype, v))
	}
}

func fill[T float32 | float64 | int32 | uint16](s []T, v T) {
	parallelFor(len(s), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s[i] = v
		}
	})
}

// Convert copies n elements from src[so:] to dst[do:], converting the dtype as Go's numeric
// conversions do (float to int32 truncates toward zero), and as package half rounds to
// 16-bit floats.
func (d *Device) Convert(dst device.Buffer, do int, src device.Buffer, so int, n int) {
	db, sb := get(dst, "Convert"), get(src, "Convert")
	if n < 0 || do < 0 || so < 0 || do+n > db.n || so+n > sb.n {
		device.Panicf("Convert", "%d elements from offset %d of %v to offset %d of %v", n, so, sb, do, db)
	}
	if db.dtype.IsHalf() || sb.dtype.IsHalf() {
		convertHalf(db, do, sb, so, n)
		return
	}
	switch db.dtype {
	case device.Float32:
		convertFrom(db.f32[do:do+n], sb, so)
	case device.Float64:
		convertFrom(db.f64[do:do+n], sb, so)
	case device.Int32:
		convertFrom(db.i32[do:do+n], sb, so)
	}
}

func convertFrom[D float32 | float64 | int32](dst []D, sb *buffer, so int) {
	n := len(dst)
	switch sb.dtype {
	case device.Float32:
		convert(dst, sb.f32[so:so+n])
	case device.Float64:
		convert(dst, sb.f64[so:so+n])
	case device.Int32:
		convert(dst, sb.i32[so:so+n])
	}
}

func convert[D, S float32 | float64 | int32](dst []D, src []S) {
	parallelFor(len(dst), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = D(src[i])
		}
	})
}

// OptimizerStep runs a fused multi-tensor optimizer update (optim.go); kinds it does not
// fuse return device.ErrUnsupported and the optimizer falls back to composed ops.
func (d *Device) OptimizerStep(kind device.OptimKind, group []device.OptimTensor, h device.OptimHyper) error {
	if device.OptimizerGroupHasHalf(group) {
		return device.OptimizerStepInFloat32(d, group, func(g []device.OptimTensor) error { return optimizerStep(kind, g, h) })
	}
	return optimizerStep(kind, group, h)
}

// parallelThreshold is the amount of work (in rough element-operations) below which a
// primitive runs on the calling goroutine: starting goroutines costs about a microsecond,
// which a loop of 32k simple element operations amortises.
var parallelThreshold = 1 << 15

// parallelFor runs fn over [0, n) split into contiguous chunks on up to GOMAXPROCS goroutines
// when n·cost reaches parallelThreshold, and on the caller's goroutine otherwise. A panic in a
// worker is re-raised on the caller's goroutine, so that callers (the conformance suite, the
// public API boundaries) can recover it instead of the process dying.
func parallelFor(n, cost int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := runtime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	if w <= 1 || n*max(cost, 1) < parallelThreshold {
		fn(0, n)
		return
	}
	var (
		wg       sync.WaitGroup
		panicked atomic.Pointer[any]
	)
	for c := 0; c < w; c++ {
		lo, hi := c*n/w, (c+1)*n/w
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					panicked.CompareAndSwap(nil, &r)
				}
			}()
			fn(lo, hi)
		})
	}
	wg.Wait()
	if p := panicked.Load(); p != nil {
		panic(*p)
	}
}

// float is the element type of the floating-point primitives.
type float interface{ float32 | float64 }

// floats returns b's slice as []T; the caller has checked that b's dtype is T's.
func floats[T float](b *buffer) []T {
	var z T
	if _, ok := any(z).(float32); ok {
		return any(b.f32).([]T)
	}
	return any(b.f64).([]T)
}
