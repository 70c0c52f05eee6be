//go:build cudaemu && !cuda

package cuda

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/kiln-ml/kiln/device"
)

// TestEmulatorChecksSignatures launches a kernel through the emulated driver with its
// generated binding's signature, then with signatures that disagree with the compiled
// kernel in a pointer's element type, a scalar's type and the argument count: the first
// runs, the others are refused with the compiled signature named.
func TestEmulatorChecksSignatures(t *testing.T) {
	e := &emuDriver{live: map[uintptr]int64{}}
	p, err := e.malloc(4 * 32)
	if err != nil {
		t.Fatal(err)
	}
	defer e.free(p)
	d := &Device{drv: e, name: "emu"}
	d.kernel(dim3{x: 1}, dim3{x: 32}).fill(elemPtr{addr: p, dtype: device.Float32}, 32, 2.5)
	if d.sticky != nil {
		t.Fatalf("the generated binding's launch failed: %v", d.sticky)
	}
	var got [32]float32
	if err := e.dtoh(unsafe.Pointer(&got[0]), p, 4*32); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 2.5 {
			t.Fatalf("element %d = %v after the fill, want 2.5", i, v)
		}
	}
	slots := []uint64{uint64(p), 32, 0}
	for _, c := range []struct{ sig, want string }{
		{"f64*,i64,f64", "compiled as (f32*,i64,f64)"},
		{"f32*,i64,i64", "compiled as (f32*,i64,f64)"},
	} {
		err := e.launch("kiln_fill_f32", c.sig, dim3{1, 1, 1}, dim3{32, 1, 1}, 0, slots)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("launch as (%s): error %v, want one saying %q", c.sig, err, c.want)
		}
	}
	if err := e.launch("kiln_fill_f32", "f32*,i64", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, slots[:2]); err == nil {
		t.Error("a launch with too few arguments was accepted")
	}
	if err := e.launch("kiln_fill_f16", "f32*,i64,f64", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, slots); err == nil {
		t.Error("a launch of an unknown kernel was accepted")
	}
}
