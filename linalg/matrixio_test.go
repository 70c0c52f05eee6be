package linalg

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/tensor"
)

// fixture is the matrix numpy wrote into testdata (see testdata/README.md).
func fixture() []float64 {
	v := make([]float64, 12)
	for i := range v {
		v[i] = float64(i)/8 - 0.5
	}
	return v
}

func TestReadNumpyFiles(t *testing.T) {
	want := fixture()
	for _, name := range []string{"f8_3x4.npy", "f4_3x4.npy", "bigendian_f8_3x4.npy", "v2_f8_3x4.npy"} {
		a, err := LoadArray(filepath.Join("testdata", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(a.Shape) != 2 || a.Shape[0] != 3 || a.Shape[1] != 4 {
			t.Fatalf("%s: shape %v", name, a.Shape)
		}
		wantDT := tensor.Float64
		if strings.HasPrefix(name, "f4") {
			wantDT = tensor.Float32
		}
		if a.DType != wantDT {
			t.Errorf("%s: dtype %s", name, a.DType)
		}
		for i, w := range want {
			if a.At(i) != w {
				t.Fatalf("%s: element %d = %v, want %v", name, i, a.At(i), w)
			}
		}
	}
	a, err := LoadArray("testdata/f8_2x3x2.npy")
	if err != nil || len(a.Shape) != 3 || a.Shape[2] != 2 || a.At(11) != 11 {
		t.Errorf("3-way array: %v %v", a, err)
	}
	m, err := LoadMatrix("testdata/f4_3x4.npy", cpu(t))
	if err != nil || m.DType() != tensor.Float32 || m.Dim(0) != 3 {
		t.Errorf("LoadMatrix float32: %v %v", m, err)
	}
}

// Our writer produces the same bytes numpy does, header padding included.
func TestWriteNPYMatchesNumpy(t *testing.T) {
	ref, err := os.ReadFile("testdata/f8_3x4.npy")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteNPY(&buf, []int{3, 4}, fixture()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), ref) {
		t.Errorf("WriteNPY output differs from numpy's:\n%q\n%q", buf.Bytes()[:80], ref[:80])
	}
	ref, _ = os.ReadFile("testdata/f8_vector.npy")
	buf.Reset()
	WriteNPY(&buf, []int{5}, []float64{0, 1, 2, 3, 4})
	if !bytes.Equal(buf.Bytes(), ref) {
		t.Errorf("1-D header differs from numpy's: %q vs %q", buf.Bytes()[:64], ref[:64])
	}
}

func TestNPYRoundTrip(t *testing.T) {
	for _, shape := range [][]int{{3, 4}, {7}, {2, 3, 5}, {0, 3}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		f64 := make([]float64, n)
		f32 := make([]float32, n)
		for i := range f64 {
			f64[i] = math.Sin(float64(i)) * 1e3
			f32[i] = float32(f64[i])
		}
		for _, data := range []any{f64, f32} {
			var buf bytes.Buffer
			if err := WriteNPY(&buf, shape, data); err != nil {
				t.Fatal(err)
			}
			a, err := ReadNPY(&buf)
			if err != nil {
				t.Fatalf("%v: %v", shape, err)
			}
			if len(a.Shape) != len(shape) || a.Len() != n {
				t.Fatalf("shape %v read back as %v", shape, a.Shape)
			}
			for i := 0; i < n; i++ {
				w := f64[i]
				if _, ok := data.([]float32); ok {
					w = float64(f32[i])
				}
				if a.At(i) != w {
					t.Fatalf("%v: element %d = %v, want %v", shape, i, a.At(i), w)
				}
			}
		}
	}
}

func TestNPYBadInput(t *testing.T) {
	cases := map[string]string{
		"fortran_3x4.npy":    "Fortran",
		"int64_3x4.npy":      "unsupported dtype",
		"structured.npy":     "structured",
		"nan_3x4.npy":        "non-finite entry NaN at index [1 2]",
		"does_not_exist.npy": "no such file",
	}
	for name, want := range cases {
		_, err := LoadArray(filepath.Join("testdata", name))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, want)
		}
	}
	if _, err := LoadMatrix("testdata/f8_vector.npy", cpu(t)); err == nil || !strings.Contains(err.Error(), "want a matrix") {
		t.Errorf("1-D array as a matrix: %v", err)
	}
	good, _ := os.ReadFile("testdata/f8_3x4.npy")
	streams := map[string][]byte{
		"magic":            append([]byte("NOTNPY\x01\x00"), good[8:]...),
		"too short":        good[:4],
		"truncated header": good[:40],
		"truncated data":   good[:len(good)-3],
		"version":          append(append([]byte{}, good[:6]...), append([]byte{9, 0}, good[8:]...)...),
		"header syntax":    bytes.Replace(good, []byte("'shape': (3, 4)"), []byte("'shape': [3; 4]"), 1),
		"negative shape":   bytes.Replace(good, []byte("(3, 4), "), []byte("(3, -4),"), 1),
		"missing key":      bytes.Replace(good, []byte("'fortran_order'"), []byte("'fortran_ordex'"), 1),
		"huge shape":       npyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999, 99999999), }", good[128:]),
		"huge v2 header":   append([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"), good[12:]...),
	}
	for what, b := range streams {
		if _, err := ReadNPY(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: no error", what)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}
	if err := WriteNPY(&bytes.Buffer{}, []int{2, 2}, []int{1, 2, 3, 4}); err == nil {
		t.Error("writing []int accepted")
	}
	if err := WriteNPY(&bytes.Buffer{}, []int{2, 2}, []float64{1}); err == nil {
		t.Error("writing a short slice accepted")
	}
}

func TestCSVRoundTripAndErrors(t *testing.T) {
	data := []float64{1, -2.5, 1e-300, math.Pi, 0, 6.02214076e23}
	var buf bytes.Buffer
	if err := WriteCSVMatrix(&buf, data, 2, 3); err != nil {
		t.Fatal(err)
	}
	a, err := ReadCSVMatrix(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if a.Shape[0] != 2 || a.Shape[1] != 3 {
		t.Fatalf("shape %v", a.Shape)
	}
	for i, v := range data {
		if a.F64[i] != v {
			t.Errorf("element %d = %v, want %v", i, a.F64[i], v)
		}
	}
	if a, err := ReadCSVMatrix(strings.NewReader(" 1, 2\n\n3 ,4\n")); err != nil || a.F64[3] != 4 {
		t.Errorf("spaces and blank lines: %v %v", a, err)
	}
	bad := map[string]string{
		"1,2,3\n4,5\n":   "line 2 has 2 fields, the first row has 3",
		"a,b\n1,2\n":     "no header",
		"1,2\n3,x\n":     "line 2, column 2",
		"1,NaN\n":        "non-finite",
		"1,2\n-Inf,3\n":  "non-finite",
		"":               "no rows",
		"1,\"2\n":        "csv:",
		"1,2\n3,4,\n":    "ragged",
		"1,2\n3,1e999\n": "not a number",
	}
	for in, want := range bad {
		_, err := ReadCSVMatrix(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "m.csv")
	os.WriteFile(p, []byte("1,2\n3,4\n5,6\n"), 0o644)
	m, err := LoadMatrix(p, cpu(t))
	if err != nil || m.Dim(0) != 3 || m.Dim(1) != 2 || m.Float64s()[5] != 6 {
		t.Errorf("LoadMatrix csv: %v %v", m, err)
	}
	os.WriteFile(filepath.Join(dir, "m.txt"), []byte("1"), 0o644)
	if _, err := LoadMatrix(filepath.Join(dir, "m.txt"), cpu(t)); err == nil || !strings.Contains(err.Error(), ".npy or .csv") {
		t.Errorf("unknown extension: %v", err)
	}
}

// npyWithHeader builds a version 1.0 stream with an arbitrary header.
func npyWithHeader(hdr string, data []byte) []byte {
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)+1), byte((len(hdr)+1)>>8))
	b = append(b, hdr+"\n"...)
	return append(b, data...)
}
