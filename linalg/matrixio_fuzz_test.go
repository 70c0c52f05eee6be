package linalg

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/kiln-ml/kiln/internal/alloctest"
	"github.com/kiln-ml/kiln/tensor"
)

// The fuzz targets run on their seed corpora (testdata/fuzz/<target>/) as ordinary tests; to
// fuzz one, run e.g. go test -run '^$' -fuzz '^FuzzReadNPY$' -fuzztime 2m ./linalg. Inputs that fail are
// written to the corpus by go test and stay there as regression cases.

// FuzzReadNPY reads arbitrary bytes as .npy. It must never panic, must allocate at most 2 MiB
// (a version 2 header may be 1 MiB) plus 4 bytes per input byte (the result grows by doubling
// with the data read), and an array it reads must have as many values as its shape says and
// write and read back bit for bit.
func FuzzReadNPY(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var a *Array
		var err error
		alloctest.Check(t, 2<<20+4*uint64(len(b)), fmt.Sprintf("%d input bytes", len(b)), func() { a, err = ReadNPY(bytes.NewReader(b)) })
		if err != nil {
			return
		}
		n := 1
		for _, d := range a.Shape {
			n *= d
		}
		if a.Len() != n || (a.F32 == nil) == (a.F64 == nil) && n > 0 {
			t.Fatalf("shape %v with %d values (f32 %v, f64 %v)", a.Shape, a.Len(), a.F32 != nil, a.F64 != nil)
		}
		var buf bytes.Buffer
		var data any = a.F64
		if a.DType == tensor.Float32 {
			data = a.F32
		}
		if err := WriteNPY(&buf, a.Shape, data); err != nil {
			t.Fatalf("writing it back: %v", err)
		}
		again, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("reading it back: %v", err)
		}
		if !slices.Equal(again.Shape, a.Shape) || again.DType != a.DType || again.Len() != a.Len() {
			t.Fatalf("read back shape %v %s, want %v %s", again.Shape, again.DType, a.Shape, a.DType)
		}
		for i := range a.Len() {
			if math.Float64bits(again.At(i)) != math.Float64bits(a.At(i)) {
				t.Fatalf("value %d read back as %v, want %v", i, again.At(i), a.At(i))
			}
		}
	})
}

// FuzzReadCSVMatrix reads arbitrary bytes as a CSV matrix. It must never panic, must allocate
// at most 1 MiB plus 64 bytes per input byte, and a matrix it reads must be finite, have rows ×
// columns values, and write and read back exactly.
func FuzzReadCSVMatrix(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var a *Array
		var err error
		alloctest.Check(t, 1<<20+64*uint64(len(b)), fmt.Sprintf("%d input bytes", len(b)), func() { a, err = ReadCSVMatrix(bytes.NewReader(b)) })
		if err != nil {
			return
		}
		if len(a.Shape) != 2 || a.Shape[0] < 1 || a.Shape[0]*a.Shape[1] != len(a.F64) {
			t.Fatalf("shape %v with %d values", a.Shape, len(a.F64))
		}
		if err := a.checkFinite(); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteCSVMatrix(&buf, a.F64, a.Shape[0], a.Shape[1]); err != nil {
			t.Fatal(err)
		}
		again, err := ReadCSVMatrix(&buf)
		if err != nil {
			t.Fatalf("reading %q back: %v", buf.Bytes(), err)
		}
		if !slices.Equal(again.Shape, a.Shape) || !slices.Equal(again.F64, a.F64) {
			t.Fatalf("read back %v %v, want %v %v", again.Shape, again.F64, a.Shape, a.F64)
		}
	})
}
