package main

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParseParam(t *testing.T) {
	for _, c := range []struct {
		in, name, code string
	}{
		{"const float *__restrict x", "x", "f32*"},
		{"double* y", "y", "f64*"},
		{"i64 n", "n", "i64"},
		{"long long n", "n", "i64"},
		{"double scale", "scale", "f64"},
		{"const int *idx", "idx", "i32*"},
		{"unsigned long long *err", "err", "u64*"},
		{"const i64* desc", "desc", "i64*"},
	} {
		p, err := parseParam(c.in)
		if err != nil || p.name != c.name || p.typ.code() != c.code {
			t.Errorf("parseParam(%q) = %s %s, %v; want %s %s", c.in, p.typ.code(), p.name, err, c.code, c.name)
		}
	}
	for _, bad := range []string{"int n", "float v", "float **pp", "char *s", "float *"} {
		if p, err := parseParam(bad); err == nil {
			t.Errorf("parseParam(%q) = %+v, want an error", bad, p)
		}
	}
}

// sample is preprocessed kernel source in the shape the generator reads.
const sample = `
static inline float helper(float x) { return x; }
extern "C" KILN_KERNEL_ENTRY void kiln_fill_f32(float *p, i64 n, double v) { }
extern "C" KILN_KERNEL_ENTRY void kiln_fill_f64(double *p, i64 n, double v) { }
extern "C" KILN_KERNEL_ENTRY void kiln_fill_i32(int *p, i64 n, double v) { }
extern "C" KILN_KERNEL_ENTRY void kiln_convert_f32_f64(const float *src, double *dst, i64 n) { }
extern "C" KILN_KERNEL_ENTRY void kiln_convert_f64_f32(const double *src, float *dst, i64 n) { }
extern "C" KILN_KERNEL_ENTRY void kiln_step_f32 (const i64* desc, double* partial, double lr) { }
extern "C" KILN_KERNEL_ENTRY void kiln_step_f64 (const i64* desc, double* partial, double lr) { }
extern "C" KILN_KERNEL_ENTRY void kiln_gather_f32(const float *table, const int *idx, float *out, i64 s0, i64 s1, i64 s2, i64 s3, i64 s4, i64 s5, i64 s6, i64 s7) { }
extern "C" KILN_KERNEL_ENTRY void kiln_gather_f64(const double *table, const int *idx, double *out, i64 s0, i64 s1, i64 s2, i64 s3, i64 s4, i64 s5, i64 s6, i64 s7) { }
extern "C" KILN_KERNEL_ENTRY void kiln_sgemm64_nt(const float *A, i64 func) { }
`

func TestFamilies(t *testing.T) {
	ks, err := parseKernels(sample)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 10 {
		t.Fatalf("found %d kernels, want 10", len(ks))
	}
	fams, err := groupFamilies(ks)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*family{}
	for _, f := range fams {
		got[f.pattern] = f
	}
	check := func(pattern string, members int, tie []int, explicit []int) {
		t.Helper()
		f := got[pattern]
		if f == nil {
			t.Fatalf("no family %s", pattern)
		}
		if len(f.members) != members || !equal(f.tie, tie) || !equal(f.explicit, explicit) {
			t.Errorf("%s: %d members, tie %v, explicit %v; want %d, %v, %v", pattern, len(f.members), f.tie, f.explicit, members, tie, explicit)
		}
	}
	check("kiln_fill_*", 3, []int{0, -1, -1}, nil)
	check("kiln_convert_*_*", 2, []int{0, 1, -1}, nil)
	check("kiln_step_*", 2, []int{-1, -1, -1}, []int{0}) // no pointer follows the dtype
	check("kiln_gather_*", 2, []int{0, -1, 0, -1, -1, -1, -1, -1, -1, -1, -1}, nil)
	check("kiln_sgemm64_nt", 1, []int{-1, -1}, nil)
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFamilyErrors(t *testing.T) {
	for name, src := range map[string]string{
		"arity":      `extern "C" KILN_KERNEL_ENTRY void kiln_a_f32(float *x, i64 n) {} extern "C" KILN_KERNEL_ENTRY void kiln_a_f64(double *x) {}`,
		"names":      `extern "C" KILN_KERNEL_ENTRY void kiln_a_f32(float *x) {} extern "C" KILN_KERNEL_ENTRY void kiln_a_f64(double *y) {}`,
		"mixed elem": `extern "C" KILN_KERNEL_ENTRY void kiln_a_f32(float *x, int *i) {} extern "C" KILN_KERNEL_ENTRY void kiln_a_f64(double *x, i64 *i) {}`,
		"duplicate":  `extern "C" KILN_KERNEL_ENTRY void kiln_a(float *x) {} extern "C" KILN_KERNEL_ENTRY void kiln_a(float *x) {}`,
		"none":       `static void f() {}`,
	} {
		ks, err := parseKernels(src)
		if err == nil {
			_, err = groupFamilies(ks)
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestGenerate(t *testing.T) {
	ks, err := parseKernels(sample)
	if err != nil {
		t.Fatal(err)
	}
	fams, err := groupFamilies(ks)
	if err != nil {
		t.Fatal(err)
	}
	code, err := generate(fams, "sample.cu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "gen.go", code, 0); err != nil {
		t.Fatalf("generated code does not parse: %v\n%s", err, code)
	}
	src := string(code)
	for _, want := range []string{
		"func (l launcher) fill(p elemPtr, n int, v float64) {",
		"case device.Int32:\n\t\tname, sig = \"kiln_fill_i32\", \"i32*,i64,f64\"",
		"func (l launcher) convert(src, dst elemPtr, n int) {",
		"switch [2]device.DType{src.dtype, dst.dtype} {",
		"case [2]device.DType{device.Float64, device.Float32}:\n\t\tname, sig = \"kiln_convert_f64_f32\", \"f64*,f32*,i64\"",
		"func (l launcher) step(dtype device.DType, desc ptr[int64], partial ptr[float64], lr float64) {",
		"func (l launcher) gather(table elemPtr, idx ptr[int32], out elemPtr, s [8]int) {",
		"l.sameDType(name, table.dtype, out.dtype)",
		"func (l launcher) sgemm64Nt(A ptr[float32], funcArg int) {",
		"l.noKernel(\"kiln_convert_*_*\", src.dtype, dst.dtype)",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("generated code lacks %q\n%s", want, src)
		}
	}
}

// TestBindingsUpToDate regenerates the bindings from kernels/kiln.cu and compares them
// with the committed kernels_gen.go (where a C++ preprocessor is installed).
func TestBindingsUpToDate(t *testing.T) {
	if _, err := exec.LookPath(compiler()); err != nil {
		t.Skipf("no %s to preprocess the kernels: %v", compiler(), err)
	}
	code, err := bindings("../../../../kernels/kiln.cu")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../../kernels_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code, committed) {
		t.Errorf("device/cuda/kernels_gen.go is stale: run go generate ./device/cuda/")
	}
}
