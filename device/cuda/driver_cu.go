//go:build cuda

package cuda

import (
	"fmt"
	"runtime"
	"sync"

	"gorgonia.org/cu"

	"github.com/kiln-ml/kiln/device"
)

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
	d, err := open(ordinal)
	if err != nil {
		return nil, err
	}
	b.devs[ordinal] = d
	return d, nil
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

// cuMem adapts the driver's allocation calls to the allocator; it runs inside enter/leave.
type cuMem struct{}

func (cuMem) malloc(n int64) (uintptr, error) {
	p, err := cu.MemAlloc(n)
	return uintptr(p), err
}
func (cuMem) free(p uintptr) error                    { return cu.MemFree(cu.DevicePtr(p)) }
func (cuMem) memInfo() (free, total int64, err error) { return cu.MemInfo() }

func open(ordinal int) (*Device, error) {
	cd, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	ctx, err := cd.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: retaining its primary context: %w", ordinal, err)
	}
	d := &Device{ordinal: ordinal, dev: cd, ctx: ctx, fns: map[string]cu.Function{}}
	d.name = fmt.Sprintf("cuda:%d", ordinal)
	d.alloc = newAllocator(d.name, cuMem{})

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(ctx); err != nil {
		return nil, fmt.Errorf("cuda: %s: making its context current: %w", d.name, err)
	}
	if err := d.loadModule(); err != nil {
		return nil, err
	}
	if d.errWord, err = cu.MemAlloc(8); err != nil {
		return nil, fmt.Errorf("cuda: %s: %w", d.name, err)
	}
	d.info, err = deviceInfo(d.name, cd)
	if err != nil {
		return nil, err
	}
	d.sms = d.info.Cores
	return d, nil
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
