package devicetest_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/devicetest"
)

// deviceInterfaces are the interfaces a backend implements: Device, and the optional ones a
// caller discovers by type assertion.
var deviceInterfaces = []reflect.Type{
	reflect.TypeFor[device.Device](),
	reflect.TypeFor[device.BSRMultiplier](),
	reflect.TypeFor[device.UninitAllocator](),
	reflect.TypeFor[device.Profiler](),
}

// notPrimitives are the methods without a conformance group of their own, and why. Every
// other method must be a name in devicetest.Primitives().
var notPrimitives = map[string]string{
	"Name":          "identification, no numeric result",
	"Info":          "description for `kiln devices`, no numeric result",
	"MemStats":      "allocator statistics; the suite's final MemStats case checks live buffers",
	"Sync":          "ordering only; every case calls it and fails on its error",
	"CopyFromHost":  "every case uploads its inputs with it (an error fails the case)",
	"CopyToHost":    "every case downloads its results with it",
	"AllocUninit":   "contents unspecified by contract: nothing to compare",
	"ProfileReport": "timing report, no numeric result",
}

// TestEveryPrimitiveHasAGroup: every method of the device interfaces has a conformance group
// or a stated reason not to, and every group names a method. A primitive added to package
// device without a group fails here, and so `kiln selftest`, which runs the suite's groups,
// cannot silently skip it.
func TestEveryPrimitiveHasAGroup(t *testing.T) {
	groups := devicetest.Primitives()
	methods := map[string]bool{}
	for _, it := range deviceInterfaces {
		for i := 0; i < it.NumMethod(); i++ {
			m := it.Method(i).Name
			methods[m] = true
			_, exempt := notPrimitives[m]
			has := slices.Contains(groups, m)
			switch {
			case has && exempt:
				t.Errorf("%s.%s has a conformance group and is also listed as not a primitive", it.Name(), m)
			case !has && !exempt:
				t.Errorf("%s.%s has no conformance group in devicetest (and is not listed as not a primitive)", it.Name(), m)
			}
		}
	}
	for _, g := range groups {
		if !methods[g] {
			t.Errorf("conformance group %q names no method of the device interfaces", g)
		}
	}
	for m := range notPrimitives {
		if !methods[m] {
			t.Errorf("notPrimitives lists %q, which no device interface has", m)
		}
	}
}

// TestDeviceInterfacesListed: package device declares no interface beyond those checked above
// and the two that are not implemented by devices (Buffer, Backend), so an optional primitive
// added as a new interface cannot escape TestEveryPrimitiveHasAGroup.
func TestDeviceInterfacesListed(t *testing.T) {
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, de := range entries {
		name := de.Name()
		if de.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join("..", name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "device" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatal("no source of package device found in ..")
	}
	var declared []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.IsExported() {
				if _, ok := ts.Type.(*ast.InterfaceType); ok {
					declared = append(declared, ts.Name.Name)
				}
			}
			return true
		})
	}
	sort.Strings(declared)
	want := []string{"Backend", "Buffer"}
	for _, it := range deviceInterfaces {
		want = append(want, it.Name())
	}
	sort.Strings(want)
	if !slices.Equal(declared, want) {
		t.Fatalf("package device declares the interfaces %v; this test knows %v: add the new one to deviceInterfaces", declared, want)
	}
}
