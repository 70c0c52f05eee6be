//go:build cudaemu && !cuda

package cuda

// The emulated driver: device memory is C heap memory and every launch runs the kernel's
// host-compiled source, its threads as fibers on the calling thread (kernels/emu, built by `make kernels-emu` into
// kernels/build/libkilnemu.a). It lets the conformance suite exercise this package and the
// kernels themselves without a GPU:
//
//	make kernels-emu && CGO_ENABLED=1 go test -tags cudaemu ./device/cuda/
//
// It checks indexing, masking, tiling, barriers, shuffles, and that every launch passes as
// many arguments as the kernel takes, of the types the compiled kernel declares (the
// generated binding's signature against the emulator's own); it says nothing about speed or about the GPU's own
// arithmetic (the host evaluates expf and friends in glibc).

// #cgo CFLAGS: -O2
// #cgo LDFLAGS: ${SRCDIR}/../../kernels/build/libkilnemu.a -lstdc++ -lm
// #include <stdint.h>
// #include <stdlib.h>
// #include <string.h>
// static void *kiln_emu_ptr(uintptr_t p) { return (void *)p; }
// int kiln_emu_launch(const char *name, const char *sig, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
//                     unsigned by, unsigned bz, const uint64_t *args, int nargs);
// const char *kiln_emu_signature(const char *name);
import "C"

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/kiln-ml/kiln/device"
)

// emuCapacity is the emulated device's memory, so the out-of-memory path can be tested.
const emuCapacity = 4 << 30

func init() { device.Register(&emuBackend{}) }

// emulated: AllocUninit always poisons under the emulator, whose runs are for correctness.
const emulated = true

type emuBackend struct {
	once sync.Once
	dev  *Device
	err  error
}

func (*emuBackend) Kind() string { return "cuda" }
func (*emuBackend) Count() int   { return 1 }

func (b *emuBackend) Open(ordinal int) (device.Device, error) {
	if ordinal != 0 {
		return nil, fmt.Errorf("cuda: the emulator has one device, not %d", ordinal+1)
	}
	b.once.Do(func() {
		b.dev, b.err = newDevice(0, &emuDriver{live: map[uintptr]int64{}}, device.Info{
			Name: "cuda:0", Kind: "cuda",
			Description: "CPU emulation of kiln's CUDA kernels (cudaemu build; for tests, not speed)",
			Cores:       4, MemoryBytes: emuCapacity, ComputeCapability: "emu",
			Kernel: "kernels/*.cu compiled as host C++",
		})
	})
	return b.dev, b.err
}

type emuDriver struct {
	used int64
	live map[uintptr]int64
}

func (e *emuDriver) makeCurrent() error { return nil }

func (e *emuDriver) malloc(n int64) (uintptr, error) {
	if e.used+n > emuCapacity {
		return 0, fmt.Errorf("CUDA_ERROR_OUT_OF_MEMORY (emulated)")
	}
	p := C.aligned_alloc(256, C.size_t((n+255)/256*256))
	if p == nil {
		return 0, fmt.Errorf("CUDA_ERROR_OUT_OF_MEMORY (host malloc failed)")
	}
	e.used += n
	e.live[uintptr(p)] = n
	return uintptr(p), nil
}

func (e *emuDriver) free(p uintptr) error {
	e.used -= e.live[p]
	delete(e.live, p)
	C.free(cptr(p))
	return nil
}

func (e *emuDriver) memInfo() (free, total int64, err error) {
	return emuCapacity - e.used, emuCapacity, nil
}

// cptr turns an emulated device address back into a C pointer (in C, so vet's unsafe.Pointer
// rules, which are about Go memory, are not bent: these addresses come from C.aligned_alloc).
func cptr(p uintptr) unsafe.Pointer { return C.kiln_emu_ptr(C.uintptr_t(p)) }

func (e *emuDriver) memsetD32(p uintptr, v uint32, n int64) error {
	w := unsafe.Slice((*uint32)(cptr(p)), n)
	for i := range w {
		w[i] = v
	}
	return nil
}

func (e *emuDriver) htod(dst uintptr, src unsafe.Pointer, bytes int64) error {
	C.memcpy(cptr(dst), src, C.size_t(bytes))
	return nil
}

func (e *emuDriver) dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error {
	C.memcpy(dst, cptr(src), C.size_t(bytes))
	return nil
}

func (e *emuDriver) dtod(dst, src uintptr, bytes int64) error {
	C.memmove(cptr(dst), cptr(src), C.size_t(bytes))
	return nil
}

func (e *emuDriver) launch(name, sig string, grid, block dim3, smem int, slots []uint64) error {
	cname, csig := C.CString(name), C.CString(sig)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(csig))
	var args *C.uint64_t
	if len(slots) > 0 {
		cs := (*C.uint64_t)(C.malloc(C.size_t(8 * len(slots))))
		defer C.free(unsafe.Pointer(cs))
		copy(unsafe.Slice((*uint64)(unsafe.Pointer(cs)), len(slots)), slots)
		args = cs
	}
	rc := C.kiln_emu_launch(cname, csig, C.uint(grid.x), C.uint(grid.y), C.uint(grid.z), C.uint(block.x), C.uint(block.y),
		C.uint(block.z), args, C.int(len(slots)))
	switch rc {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("emulator: no kernel %s", name)
	case 2:
		return fmt.Errorf("emulator: kernel %s launched with %d arguments, which is not its parameter count", name, len(slots))
	case 3:
		return fmt.Errorf("emulator: kernel %s: block %v is not a whole number of warps", name, block)
	case 4:
		return fmt.Errorf("emulator: kernel %s: deadlock (a barrier that not every thread of a block reaches)", name)
	case 5:
		return fmt.Errorf("emulator: kernel %s launched as (%s) but compiled as (%s): regenerate the bindings (go generate ./device/cuda/)",
			name, sig, C.GoString(C.kiln_emu_signature(cname)))
	}
	return fmt.Errorf("emulator: kernel %s: error %d", name, int(rc))
}

func (e *emuDriver) sync() error { return nil }

// Launches run synchronously, so a host clock times them.
func (e *emuDriver) record() (any, error) { return time.Now(), nil }

func (e *emuDriver) elapsed(start, end any) (float64, error) {
	s, _ := start.(time.Time)
	t, _ := end.(time.Time)
	return float64(t.Sub(s).Nanoseconds()) / 1e6, nil
}
