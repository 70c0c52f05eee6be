//go:build cuda || cudaemu

package cuda

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/half"
)

// The kernels are launched through typed bindings generated from their extern "C"
// declarations (kernels_gen.go, by internal/kernelgen): one method of launcher per kernel
// family, so a wrong kernel name, argument count or argument kind fails to compile. These
// are the argument types and the launch path the bindings share.

// elemPtr is a device address of elements whose dtype is known only at run time: the
// argument of a kernel parameter whose element type follows the kernel family's dtype
// (the float *x of kiln_softmax_f32 and the double *x of kiln_softmax_f64). The binding
// picks the family member by it and checks that the family's other such pointers agree.
type elemPtr struct {
	addr  uintptr
	dtype device.DType
}

// plus is the address n elements further on.
func (e elemPtr) plus(n int) elemPtr {
	return elemPtr{addr: e.addr + uintptr(n*e.dtype.Size()), dtype: e.dtype}
}

// ptr is a device address of elements of type T: a parameter whose element type is the
// same in every member of its family (the int32 indices of a gather).
type ptr[T int32 | int64 | uint64 | float32 | float64 | half.BFloat16 | half.Float16] uintptr

// elems is b's address at element offset off, with b's dtype.
func (b *buffer) elems(off int) elemPtr { return elemPtr{addr: b.at(off), dtype: b.dtype} }

// b2i is a flag as a kernel's long long parameter.
func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// launcher is one launch's grid and block on a device; the generated bindings are its
// methods. It is used inside enter/leave.
type launcher struct {
	d           *Device
	grid, block dim3
}

// kernel starts a launch of grid blocks of block threads (zero y and z extents mean 1).
func (d *Device) kernel(grid, block dim3) launcher {
	return launcher{d: d, grid: grid, block: block}
}

// run launches kernel name, whose signature (parameter type codes, checked by the
// emulator) is sig, on the default stream with one 64-bit slot per argument (gorgonia.org/cu
// copies exactly 8 bytes per argument; the kernels take only 64-bit parameters to match).
// A grid with no blocks launches nothing.
func (l launcher) run(name, sig string, slots []uint64) {
	grid, block := l.grid, l.block
	for _, e := range []*int{&grid.y, &grid.z, &block.y, &block.z} {
		if *e == 0 {
			*e = 1
		}
	}
	if grid.x == 0 {
		return
	}
	if err := l.d.drv.launch(name, sig, grid, block, 0, slots); err != nil {
		l.d.setSticky(fmt.Errorf("launching %s (grid %v, block %v): %w", name, grid, block, err))
	}
}

// noKernel reports a dtype (or combination) that the kernel family has no member for.
func (l launcher) noKernel(family string, dtypes ...device.DType) {
	device.Panicf(family, "no kernel for dtype %v", dtypes)
}

// sameDType checks that the pointers that follow one dtype token agree with the first.
func (l launcher) sameDType(kernel string, want device.DType, others ...device.DType) {
	for _, dt := range others {
		if dt != want {
			device.Panicf(kernel, "mixed dtypes %v and %v", want, dt)
		}
	}
}

// widened runs op on float32 copies of its 16-bit float operands (device.InFloat32) and
// reports whether it did: the primitives call it before taking the device and return when
// it ran.
func (d *Device) widened(op string, operands, outputs []device.Buffer, run func(f32 func(device.Buffer) device.Buffer)) bool {
	if !device.AnyHalf(operands...) {
		return false
	}
	device.InFloat32(d, op, operands, outputs, run)
	return true
}
