//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/half"
)

// driver is what the Device needs from CUDA: the driver API through gorgonia.org/cu in cuda
// builds (driver_cu.go), or the CPU emulation of the kernel module in cudaemu builds
// (driver_emu.go), which runs this package's Go code and the real kernel sources on a machine
// without a GPU. Addresses are device addresses as integers; every call runs between enter
// and leave, on one locked OS thread.
type driver interface {
	makeCurrent() error
	malloc(bytes int64) (uintptr, error)
	free(p uintptr) error
	memInfo() (free, total int64, err error)
	memsetD32(p uintptr, v uint32, n int64) error
	htod(dst uintptr, src unsafe.Pointer, bytes int64) error
	dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error
	dtod(dst, src uintptr, bytes int64) error
	// launch runs kernel name with one 64-bit slot per argument; sig is the kernel's
	// parameter type codes (kernels_gen.go), which the emulator checks.
	launch(name, sig string, grid, block dim3, smem int, slots []uint64) error
	sync() error
	record() (any, error)
	elapsed(start, end any) (float64, error)
}

// Device is one GPU. It implements device.Device.
type Device struct {
	mu      sync.Mutex
	ordinal int
	name    string
	drv     driver
	alloc   *allocator
	errWord uintptr // 8 bytes: first bad index position of Gather/ScatterAdd, or all ones
	sticky  error   // first asynchronous failure (a launch error), reported by Sync
	poison  bool    // AllocUninit fills with all ones (PoisonEnv, or the emulator)
	tf32    bool    // float32 GEMMs on the tensor cores with TF32 inputs (TF32Env, SetTF32)
	dmma    bool    // float64 GEMMs on the FP64 tensor cores (DMMAEnv, SetDMMA)
	bf16    bool    // bfloat16 GEMMs on the tensor cores instead of widened (BF16Env, SetBF16)
	faBF16  bool    // bfloat16 attention forward on the tensor cores (FABF16Env, SetFABF16)
	info    device.Info
	sms     int
}

var _ device.Device = (*Device)(nil)

// enter makes the device's context current on this goroutine's OS thread and holds the
// device until leave.
func (d *Device) enter() {
	d.mu.Lock()
	runtime.LockOSThread()
	if err := d.drv.makeCurrent(); err != nil {
		d.setSticky(fmt.Errorf("making the context current: %w", err))
	}
}

func (d *Device) leave() {
	runtime.UnlockOSThread()
	d.mu.Unlock()
}

func (d *Device) setSticky(err error) {
	if d.sticky == nil {
		d.sticky = fmt.Errorf("cuda: %s: %w", d.name, err)
	}
}

// dim3 is a launch extent.
type dim3 struct{ x, y, z int }

// gridFor sizes a grid-stride launch over n items with the given block size: enough blocks
// to fill every SM several times over, never more than the items need.
func (d *Device) gridFor(n int64, block int) int {
	b := (n + int64(block) - 1) / int64(block)
	if lim := int64(d.sms * 32); b > lim {
		b = lim
	}
	return int(b)
}

func (d *Device) Name() string { return d.name }

func (d *Device) Info() device.Info { return d.info }

func (d *Device) MemStats() device.MemStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.alloc.stats
}

// Ordinal is the GPU's number (N of cuda:N).
func (d *Device) Ordinal() int { return d.ordinal }

// EmptyCache returns every cached block to the driver.
func (d *Device) EmptyCache() {
	d.enter()
	defer d.leave()
	d.alloc.emptyCache()
}

// buffer is device memory holding Len elements of one dtype.
type buffer struct {
	dev   *Device
	ptr   uintptr
	dtype device.DType
	n     int
	size  int64 // bytes of the block (its size class)
	freed bool
}

func (b *buffer) Device() device.Device { return b.dev }
func (b *buffer) DType() device.DType   { return b.dtype }
func (b *buffer) Len() int              { return b.n }

// Free returns the block to the device's cache; a second call is a no-op.
func (b *buffer) Free() {
	d := b.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if b.freed {
		return
	}
	b.freed = true
	d.alloc.release(b.ptr, b.size)
}

// Ptr is the buffer's device address (for benchmarks and tests).
func (b *buffer) Ptr() uintptr { return b.ptr }

func (d *Device) Alloc(dtype device.DType, n int) (device.Buffer, error) {
	return d.allocFilled("Alloc", dtype, n, true, 0)
}

// PoisonEnv names the environment variable that makes AllocUninit fill new buffers with all
// one bits (NaN in float32 and float64, −1 in int32) instead of leaving them as they are, so
// that an op that reads an element it did not write shows up as NaN or a bad index. The
// emulator poisons unless it is set to 0.
const PoisonEnv = "KILN_CUDA_POISON"

// TF32Env names the environment variable that, set to 1 when a device opens, runs float32
// GEMMs on the tensor cores (kernels/gemm.cu's kiln_gemm_tf32: inputs rounded to TF32, a
// 10-bit mantissa, products accumulated in float32), as PyTorch does with
// torch.backends.cuda.matmul.allow_tf32. Results then differ from float32 by about 1e-3
// relative. Off by default.
const TF32Env = "KILN_CUDA_TF32"

// SetTF32 turns the TF32 tensor-core GEMM on or off for later launches (see TF32Env).
func (d *Device) SetTF32(on bool) {
	d.mu.Lock()
	d.tf32 = on
	d.mu.Unlock()
}

// DMMAEnv names the environment variable that, set to 1 when a device opens, runs float64
// GEMMs on the FP64 tensor cores (kernels/gemm.cu's kiln_gemm_dmma, mma.sync m8n8k4: full
// float64 products, summed in another order than the 16×16 kernel's). Off by default until
// measured on a GPU.
const DMMAEnv = "KILN_CUDA_DMMA"

// SetDMMA turns the FP64 tensor-core GEMM on or off for later launches (see DMMAEnv).
func (d *Device) SetDMMA(on bool) {
	d.mu.Lock()
	d.dmma = on
	d.mu.Unlock()
}

// BF16Env names the environment variable that, set to 1 when a device opens, runs GEMMs of
// bfloat16 operands on the tensor cores (kernels/gemm.cu's kiln_gemm_bf16: products summed in
// float32, each output rounded once) instead of on float32 copies. Off by default until
// measured on a GPU.
const BF16Env = "KILN_CUDA_BF16"

// SetBF16 turns the bfloat16 tensor-core GEMM on or off for later launches (see BF16Env).
func (d *Device) SetBF16(on bool) {
	d.mu.Lock()
	d.bf16 = on
	d.mu.Unlock()
}

// FABF16Env names the environment variable that, set to 1 when a device opens, runs attention
// with head dims ≤ 64 on the tensor cores (kernels/attention.cu's kiln_attn_*_fa_*,
// FlashAttention-2: mma.sync m16n8k16 with bfloat16 operands, float32 scores, softmax
// statistics and accumulation, the probabilities rounded to bfloat16 for P·V):
//   - the forward of bfloat16 Q, K and V, instead of on float32 copies (O and the
//     log-sum-exp are bfloat16 either way; its backward stays widened);
//   - the forward and the backward of float32 operands whose AttentionParams.Products is
//     BFloat16 (mixed-precision training), with float32 O, log-sum-exp and gradients.
//
// Off by default until a GPU has measured it.
const FABF16Env = "KILN_CUDA_FA_BF16"

// SetFABF16 turns the tensor-core attention kernels on or off for later launches (see
// FABF16Env).
func (d *Device) SetFABF16(on bool) {
	d.mu.Lock()
	d.faBF16 = on
	d.mu.Unlock()
}

// AllocUninit is Alloc without the zero fill (device.UninitAllocator): the memory holds
// whatever its last user left, or the poison pattern (see PoisonEnv).
func (d *Device) AllocUninit(dtype device.DType, n int) (device.Buffer, error) {
	return d.allocFilled("AllocUninit", dtype, n, d.poison, 0xFFFFFFFF)
}

// allocFilled takes n elements of dtype from the allocator and, if fill, sets every 32-bit
// word to word, ordered on the default stream before any later kernel.
func (d *Device) allocFilled(op string, dtype device.DType, n int, fill bool, word uint32) (device.Buffer, error) {
	if dtype.Size() == 0 {
		return nil, fmt.Errorf("cuda: %s: unknown dtype %v", op, dtype)
	}
	if n < 0 {
		return nil, fmt.Errorf("cuda: %s: negative length %d", op, n)
	}
	d.enter()
	defer d.leave()
	bytes := int64(n) * int64(dtype.Size())
	p, size, err := d.alloc.alloc(bytes)
	if err != nil {
		return nil, err
	}
	if bytes > 0 && fill {
		if err := d.drv.memsetD32(p, word, (bytes+3)/4); err != nil {
			d.alloc.release(p, size)
			return nil, fmt.Errorf("cuda: %s: filling a new buffer: %w", d.name, err)
		}
	}
	return &buffer{dev: d, ptr: p, dtype: dtype, n: n, size: size}, nil
}

// Poisons reports whether AllocUninit fills new buffers with the poison pattern.
func (d *Device) Poisons() bool { return d.poison }

// buf checks that b is a live buffer of this device and returns it.
func (d *Device) buf(op string, b device.Buffer) *buffer {
	cb, ok := b.(*buffer)
	if !ok || cb == nil {
		device.Panicf(op, "buffer %T is not a CUDA buffer", b)
	}
	if cb.dev != d {
		device.Panicf(op, "buffer belongs to %s, not %s", cb.dev.name, d.name)
	}
	if cb.freed {
		device.Panicf(op, "use of a freed buffer")
	}
	return cb
}

// at is the address of element off of b.
func (b *buffer) at(off int) uintptr {
	return b.ptr + uintptr(off*b.dtype.Size())
}

func hostSlice(v any) (unsafe.Pointer, device.DType, int, error) {
	switch s := v.(type) {
	case []float32:
		if len(s) == 0 {
			return nil, device.Float32, 0, nil
		}
		return unsafe.Pointer(&s[0]), device.Float32, len(s), nil
	case []float64:
		if len(s) == 0 {
			return nil, device.Float64, 0, nil
		}
		return unsafe.Pointer(&s[0]), device.Float64, len(s), nil
	case []int32:
		if len(s) == 0 {
			return nil, device.Int32, 0, nil
		}
		return unsafe.Pointer(&s[0]), device.Int32, len(s), nil
	case []half.BFloat16:
		if len(s) == 0 {
			return nil, device.BFloat16, 0, nil
		}
		return unsafe.Pointer(&s[0]), device.BFloat16, len(s), nil
	case []half.Float16:
		if len(s) == 0 {
			return nil, device.Float16, 0, nil
		}
		return unsafe.Pointer(&s[0]), device.Float16, len(s), nil
	}
	return nil, 0, 0, fmt.Errorf("cuda: host data must be []float32, []float64, []int32, []half.BFloat16 or []half.Float16, not %T", v)
}

func (d *Device) CopyFromHost(dst device.Buffer, src any) error {
	b := d.buf("CopyFromHost", dst)
	p, dt, n, err := hostSlice(src)
	if err != nil {
		return err
	}
	if dt != b.dtype || n != b.n {
		return fmt.Errorf("cuda: CopyFromHost: host %v[%d] does not match buffer %v[%d]", dt, n, b.dtype, b.n)
	}
	if n == 0 {
		return nil
	}
	d.enter()
	defer d.leave()
	if err := d.drv.htod(b.ptr, p, int64(n*dt.Size())); err != nil {
		return fmt.Errorf("cuda: %s: CopyFromHost: %w", d.name, err)
	}
	runtime.KeepAlive(src)
	return nil
}

func (d *Device) CopyToHost(dst any, src device.Buffer) error {
	b := d.buf("CopyToHost", src)
	p, dt, n, err := hostSlice(dst)
	if err != nil {
		return err
	}
	if dt != b.dtype || n != b.n {
		return fmt.Errorf("cuda: CopyToHost: host %v[%d] does not match buffer %v[%d]", dt, n, b.dtype, b.n)
	}
	d.enter()
	defer d.leave()
	if d.sticky != nil {
		return d.sticky
	}
	if n == 0 {
		return nil
	}
	// Synchronous on the legacy default stream: waits for every queued kernel first.
	if err := d.drv.dtoh(p, b.ptr, int64(n*dt.Size())); err != nil {
		return fmt.Errorf("cuda: %s: CopyToHost (or a kernel queued before it) failed: %w", d.name, err)
	}
	runtime.KeepAlive(dst)
	return nil
}

func (d *Device) Sync() error {
	d.enter()
	defer d.leave()
	if err := d.drv.sync(); err != nil {
		d.setSticky(fmt.Errorf("a queued kernel failed: %w", err))
	}
	return d.sticky
}

// CopyDeviceToDevice copies n elements between buffers of one dtype (bandwidth benchmarks).
func (d *Device) CopyDeviceToDevice(dst device.Buffer, do int, src device.Buffer, so int, n int) {
	db, sb := d.buf("CopyDeviceToDevice", dst), d.buf("CopyDeviceToDevice", src)
	if db.dtype != sb.dtype {
		device.Panicf("CopyDeviceToDevice", "dtype %v to %v", sb.dtype, db.dtype)
	}
	checkRange("CopyDeviceToDevice", db, do, n)
	checkRange("CopyDeviceToDevice", sb, so, n)
	d.enter()
	defer d.leave()
	if err := d.drv.dtod(db.at(do), sb.at(so), int64(n*db.dtype.Size())); err != nil {
		d.setSticky(fmt.Errorf("device-to-device copy: %w", err))
	}
}

// Event is a point in the device's queue, for timing regions (benchmarks).
type Event struct{ ev any }

// Record queues an event on the default stream and returns it.
func (d *Device) Record() (Event, error) {
	d.enter()
	defer d.leave()
	ev, err := d.drv.record()
	return Event{ev}, err
}

// Elapsed waits for end and returns the milliseconds between two recorded events, releasing both.
func (d *Device) Elapsed(start, end Event) (float64, error) {
	d.enter()
	defer d.leave()
	return d.drv.elapsed(start.ev, end.ev)
}

func ptrOf(p *uint64) unsafe.Pointer { return unsafe.Pointer(p) }

// newDevice finishes opening a device whose driver is ready: the error word and Info.
func newDevice(ordinal int, drv driver, info device.Info) (*Device, error) {
	if profileRequested() {
		drv = newProfDriver(drv)
	}
	d := &Device{ordinal: ordinal, name: fmt.Sprintf("cuda:%d", ordinal), drv: drv, info: info, sms: info.Cores}
	d.alloc = newAllocator(d.name, drv)
	switch os.Getenv(PoisonEnv) {
	case "1":
		d.poison = true
	case "0":
		d.poison = false // also under the emulator, to count the fills a GPU would make
	default:
		d.poison = emulated
	}
	d.tf32 = os.Getenv(TF32Env) == "1"
	d.dmma = os.Getenv(DMMAEnv) == "1"
	d.bf16 = os.Getenv(BF16Env) == "1"
	d.faBF16 = os.Getenv(FABF16Env) == "1"
	d.enter()
	defer d.leave()
	var err error
	if d.errWord, err = drv.malloc(8); err != nil {
		return nil, fmt.Errorf("cuda: %s: %w", d.name, err)
	}
	return d, d.sticky
}

// Open returns cuda:ordinal as the concrete type (for tests and benchmarks that need the
// backend's own methods); device.Get("cuda:N") returns the same device.
func Open(ordinal int) (*Device, error) {
	d, err := device.Get(fmt.Sprintf("cuda:%d", ordinal))
	if err != nil {
		return nil, err
	}
	return d.(*Device), nil
}
