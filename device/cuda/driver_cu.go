//go:build cuda && !cudaemu

package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/kernels"
)

// emulated is false on the real driver: AllocUninit poisons only with KILN_CUDA_POISON=1.
const emulated = false

// The real driver: gorgonia.org/cu over libcuda. Every device uses its GPU's primary context
// and the legacy default stream (cu.Stream{}), which orders kernels, memsets and copies.

func init() { device.Register(&backend{devs: map[int]*Device{}}) }

// backend opens one Device per GPU ordinal, on first use, and keeps it for the process.
type backend struct {
	mu   sync.Mutex
	devs map[int]*Device
}

func (*backend) Kind() string { return "cuda" }

// Count is the number of GPUs the driver reports (0 if it reports an error).
func (*backend) Count() int {
	n, err := cu.NumDevices()
	if err != nil {
		return 0
	}
	return n
}

func (b *backend) Open(ordinal int) (device.Device, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d, ok := b.devs[ordinal]; ok {
		return d, nil
	}
	d, err := openCU(ordinal)
	if err != nil {
		return nil, err
	}
	b.devs[ordinal] = d
	return d, nil
}

type cuDriver struct {
	ctx cu.CUContext
	mod cu.Module
	fns map[string]cu.Function
}

func openCU(ordinal int) (*Device, error) {
	name := fmt.Sprintf("cuda:%d", ordinal)
	cd, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda: %s: %w", name, err)
	}
	ctx, err := cd.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("cuda: %s: retaining its primary context: %w", name, err)
	}
	drv := &cuDriver{ctx: ctx, fns: map[string]cu.Function{}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := drv.makeCurrent(); err != nil {
		return nil, fmt.Errorf("cuda: %s: making its context current: %w", name, err)
	}
	if len(kernels.Fatbin) == 0 {
		return nil, errors.New("cuda: the embedded kernel fatbin is empty (run `make kernels` and rebuild)")
	}
	// cu.LoadData copies the image into C memory (C.CString copies every byte, NULs included).
	if drv.mod, err = cu.LoadData(string(kernels.Fatbin)); err != nil {
		return nil, fmt.Errorf("cuda: %s: loading the kernel module (needs a driver for CUDA 11.8 or later and an sm_80+ GPU): %w", name, err)
	}
	info, err := deviceInfo(name, cd)
	if err != nil {
		return nil, err
	}
	return newDevice(ordinal, drv, info)
}

func deviceInfo(name string, cd cu.Device) (device.Info, error) {
	model, err := cd.Name()
	if err != nil {
		return device.Info{}, fmt.Errorf("cuda: %s: %w", name, err)
	}
	mem, err := cd.TotalMem()
	if err != nil {
		return device.Info{}, fmt.Errorf("cuda: %s: %w", name, err)
	}
	major, minor, err := cd.ComputeCapability()
	if err != nil {
		return device.Info{}, fmt.Errorf("cuda: %s: %w", name, err)
	}
	sms, err := cd.Attribute(cu.MultiprocessorCount)
	if err != nil {
		return device.Info{}, fmt.Errorf("cuda: %s: %w", name, err)
	}
	return device.Info{
		Name:              name,
		Kind:              "cuda",
		Description:       fmt.Sprintf("%s (sm_%d%d, %d SMs, driver API %d)", model, major, minor, sms, cu.Version()),
		Cores:             sms,
		MemoryBytes:       mem,
		ComputeCapability: fmt.Sprintf("%d.%d", major, minor),
		Kernel:            "kiln fatbin: sm_80 and sm_90 SASS, compute_80 PTX; fp32 SIMT GEMM 128x128x8",
	}, nil
}

func (c *cuDriver) makeCurrent() error { return cu.SetCurrentContext(c.ctx) }

func (c *cuDriver) malloc(n int64) (uintptr, error) {
	p, err := cu.MemAlloc(n)
	return uintptr(p), err
}

func (c *cuDriver) free(p uintptr) error { return cu.MemFree(cu.DevicePtr(p)) }

func (c *cuDriver) memInfo() (free, total int64, err error) { return cu.MemInfo() }

func (c *cuDriver) memsetD32(p uintptr, v uint32, n int64) error {
	return cu.MemsetD32Async(cu.DevicePtr(p), uint(v), n, cu.Stream{})
}

func (c *cuDriver) htod(dst uintptr, src unsafe.Pointer, bytes int64) error {
	return cu.MemcpyHtoD(cu.DevicePtr(dst), src, bytes)
}

// dtoh is synchronous on the legacy default stream: it waits for every queued kernel first.
func (c *cuDriver) dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error {
	return cu.MemcpyDtoH(dst, cu.DevicePtr(src), bytes)
}

func (c *cuDriver) dtod(dst, src uintptr, bytes int64) error {
	return cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), bytes, cu.Stream{})
}

// launch runs a kernel on the default stream. gorgonia.org/cu copies exactly 8 bytes per
// argument from each pointer it is given, which the 64-bit slots satisfy.
func (c *cuDriver) launch(name, _ string, grid, block dim3, smem int, slots []uint64) error {
	f, ok := c.fns[name]
	if !ok {
		var err error
		if f, err = c.mod.Function(name); err != nil {
			return fmt.Errorf("kernel %s not found in the fatbin (stale kernels/build? run make kernels): %w", name, err)
		}
		c.fns[name] = f
	}
	ptrs := make([]unsafe.Pointer, len(slots))
	for i := range slots {
		ptrs[i] = unsafe.Pointer(&slots[i])
	}
	err := f.Launch(grid.x, grid.y, grid.z, block.x, block.y, block.z, smem, cu.Stream{}, ptrs)
	runtime.KeepAlive(slots)
	return err
}

func (c *cuDriver) sync() error { return cu.Synchronize() }

func (c *cuDriver) record() (any, error) {
	ev, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		return nil, err
	}
	return ev, ev.Record(cu.Stream{})
}

func (c *cuDriver) elapsed(start, end any) (float64, error) {
	s, ok1 := start.(cu.Event)
	e, ok2 := end.(cu.Event)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("cuda: Elapsed: not events of this device")
	}
	defer cu.DestroyEvent(&s)
	defer cu.DestroyEvent(&e)
	if err := e.Synchronize(); err != nil {
		return 0, err
	}
	return s.Elapsed(e)
}
