package linalg

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

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
		"deep header":      npyWithHeader(strings.Repeat("[", 30000), nil),
		"long descr":       npyWithHeader("{'descr': '"+strings.Repeat("f", 100)+"', 'fortran_order': False, 'shape': (3, 4), }", good[128:]),
	}
	want := map[string]string{
		"magic":            `npy: not a .npy file (missing the \x93NUMPY magic string)`,
		"too short":        "npy: file too short for the magic string: unexpected EOF",
		"truncated header": "npy: truncated header (want 118 bytes): unexpected EOF",
		"truncated data":   "npy: truncated data: the file has 93 bytes of it (shape [3 4] needs 96 bytes)",
		"version":          "npy: unsupported format version 9.0 (want 1.0, 2.0 or 3.0)",
		"header syntax":    `npy: malformed header "{'descr': '<f8', 'fortran_order': False, 'shape': [3; 4], }": expected ',' or ']'`,
		"negative shape":   `npy: malformed header "{'descr': '<f8', 'fortran_order': False, 'shape': (3, -4),}": unexpected "-4),}"`,
		"missing key":      `npy: header "{'descr': '<f8', 'fortran_ordex': False, 'shape': (3, 4), }" has no boolean 'fortran_order'`,
		"huge shape":       "npy: shape [99999999 99999999] is too large",
		"huge v2 header":   "npy: header of 2147483647 bytes is implausibly long",
		"deep header":      `npy: malformed header "` + strings.Repeat("[", 160) + `"… (30000 bytes): brackets nested more than 16 deep`,
		"long descr":       `npy: unsupported dtype "` + strings.Repeat("f", 40) + `"… (100 bytes): want float32 or float64 ('<f4', '<f8')`,
	}
	for what, b := range streams {
		_, err := ReadNPY(bytes.NewReader(b))
		if err == nil || err.Error() != want[what] {
			t.Errorf("%s: error %v\nwant %s", what, err, want[what])
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
	long := strings.Repeat("7", 30) + strings.Repeat("x", 70)
	bad := map[string]string{
		"1,2,3\n4,5\n":       "csv: ragged rows: line 2 has 2 fields, the first row has 3",
		"a,b\n1,2\n":         `csv: line 1, column 1: "a" is not a number (matrix CSV files have no header line)`,
		"1,2\n3,x\n":         `csv: line 2, column 2: "x" is not a number`,
		"1,NaN\n":            `csv: line 1, column 2: non-finite value "NaN" (matrix entries must be finite numbers)`,
		"1,2\n-Inf,3\n":      `csv: line 2, column 1: non-finite value "-Inf" (matrix entries must be finite numbers)`,
		"1,2\n+infinity,3\n": `csv: line 2, column 1: non-finite value "+infinity" (matrix entries must be finite numbers)`,
		"":                   "csv: no rows",
		"1,\"2\n":            `csv: parse error on line 1, column 6: extraneous or missing " in quoted-field`,
		"1,2\n3,4,\n":        "csv: ragged rows: line 2 has 3 fields, the first row has 2",
		"1,2\n3,1e999\n":     `csv: line 2, column 2: "1e999" is beyond the float64 range`,
		// Go's float syntax beyond plain decimals is not a number here.
		"1,0x1p3\n":         `csv: line 1, column 2: "0x1p3" is not a number (matrix CSV files have no header line)`,
		"1_000,2\n1,2\n":    `csv: line 1, column 1: "1_000" is not a number (matrix CSV files have no header line)`,
		"1,2\n3,\n":         `csv: line 2, column 2: "" is not a number`,
		"1\n" + long + "\n": `csv: line 2, column 1: "` + long[:40] + `"… (100 bytes) is not a number`,
	}
	for in, want := range bad {
		_, err := ReadCSVMatrix(strings.NewReader(in))
		if err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %s", in, err, want)
		}
	}
	// The decimal forms all read, with a byte order mark before the first.
	a, err = ReadCSVMatrix(strings.NewReader("\ufeff.5,5.,+3\n-2.5e+1,007,1E-2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0.5, 5, 3, -25, 7, 0.01}; !slices.Equal(a.F64, want) || !slices.Equal(a.Shape, []int{2, 3}) {
		t.Errorf("decimal forms read as %v %v, want %v [2 3]", a.F64, a.Shape, want)
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

// Data spanning many read chunks decodes in order, from a reader that returns a byte at a time.
func TestNPYLargeAndSlowReaders(t *testing.T) {
	n := 3*npyChunk/8 + 5 // more than three chunks of float64, and a partial one
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i)*0.5 - 7
	}
	var buf bytes.Buffer
	if err := WriteNPY(&buf, []int{n}, v); err != nil {
		t.Fatal(err)
	}
	a, err := ReadNPY(iotest.OneByteReader(bytes.NewReader(buf.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.F64, v) {
		t.Error("multi-chunk float64 data read back differently")
	}
	// Cut inside the third chunk: the count of bytes present is exact.
	cut := buf.Len() - 8*(n-2*npyChunk/8) + 100
	_, err = ReadNPY(bytes.NewReader(buf.Bytes()[:cut]))
	if want := fmt.Sprintf("npy: truncated data: the file has %d bytes of it (shape [%d] needs %d bytes)", 2*npyChunk+100, n, 8*n); err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// A header announcing far more data than the stream holds costs about what the stream holds,
// not what the header claims.
func TestNPYHeaderClaimsDoNotAllocate(t *testing.T) {
	stream := npyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1073741824,), }", make([]byte, 800))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadNPY(bytes.NewReader(stream))
	runtime.ReadMemStats(&after)
	if want := "npy: truncated data: the file has 800 bytes of it (shape [1073741824] needs 8589934592 bytes)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("reading an 8 GiB claim backed by 800 bytes allocated %d bytes", got)
	}
}
