package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

var dims = []int{1, 2, 7, 16, 17, 33, 64, 130, 257}

func randSlice[T Float](r *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(r.Float64()*2 - 1)
	}
	return s
}

func eps[T Float]() float64 {
	var x T
	if _, ok := any(x).(float32); ok {
		return 0x1p-24
	}
	return 0x1p-53
}

// gemmCase is one GEMM call with its operands laid out with padded strides.
type gemmCase[T Float] struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	a, b, c        []T
	lda, ldb, ldc  int
}

func newCase[T Float](r *rand.Rand, transA, transB bool, m, n, k int, alpha, beta T) gemmCase[T] {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	// Strides wider than the matrices (by varying amounts) catch any code
	// that assumes a dense layout.
	cs := gemmCase[T]{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		lda: ac + 1 + r.IntN(5), ldb: max(1, bc+r.IntN(4)), ldc: n + 3}
	cs.a = randSlice[T](r, ar*cs.lda)
	cs.b = randSlice[T](r, br*cs.ldb)
	cs.c = randSlice[T](r, m*cs.ldc)
	if beta == 0 {
		for i := range cs.c {
			cs.c[i] = T(math.NaN())
		}
	}
	return cs
}

// check runs got (the code under test) against the float64-accumulating
// reference. The error bound is the classical one for a dot product of
// length k (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1):
// |ΔC_ij| ≤ γ_k |alpha| (|A||B|)_ij + rounding of the beta term, with
// γ_k ≈ k·eps; a factor 2 covers the rounding of alpha·A during packing and
// of the final addition.
func check[T Float](t *testing.T, name string, cs gemmCase[T], got func(c []T)) {
	t.Helper()
	want := append([]T(nil), cs.c...)
	ref(cs.transA, cs.transB, cs.m, cs.n, cs.k, cs.alpha, cs.a, cs.lda, cs.b, cs.ldb, cs.beta, want, cs.ldc)
	// |A||B| through the same reference on absolute values.
	abs := func(s []T) []T {
		o := make([]T, len(s))
		for i, v := range s {
			o[i] = T(math.Abs(float64(v)))
		}
		return o
	}
	mag := make([]T, len(cs.c))
	ref(cs.transA, cs.transB, cs.m, cs.n, cs.k, 1, abs(cs.a), cs.lda, abs(cs.b), cs.ldb, 0, mag, cs.ldc)
	c := append([]T(nil), cs.c...)
	got(c)
	e := eps[T]()
	for i := range cs.m {
		for j := range cs.ldc {
			idx := i*cs.ldc + j
			if j >= cs.n {
				// Padding between rows must be untouched.
				if math.Float64bits(float64(c[idx])) != math.Float64bits(float64(cs.c[idx])) {
					t.Fatalf("%s: wrote padding C[%d,%d]", name, i, j)
				}
				continue
			}
			bound := 2 * float64(cs.k+2) * e * math.Abs(float64(cs.alpha)) * float64(mag[idx])
			if cs.beta != 0 {
				bound += 2 * e * math.Abs(float64(cs.beta)*float64(cs.c[idx]))
			}
			bound += 1e-30
			if d := math.Abs(float64(c[idx]) - float64(want[idx])); !(d <= bound) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v (|diff| %.3g > bound %.3g)", name, i, j, c[idx], want[idx], d, bound)
			}
		}
	}
}

// shrink returns a copy of ks with tiny cache blocks, so that moderate
// shapes run every loop of the Goto algorithm several times with ragged
// remainders.
func shrink[T Float](ks *kernelSet[T]) *kernelSet[T] {
	return &kernelSet[T]{name: ks.name + "-tiny", mr: ks.mr, nr: ks.nr, kc: 20, mc: 2 * ks.mr, nc: 3 * ks.nr, kern: ks.kern, packT8: ks.packT8, packCols: ks.packCols}
}

func testShapes[T Float](t *testing.T, sets []*kernelSet[T]) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, ks := range sets {
		for _, ks := range []*kernelSet[T]{ks, shrink(ks)} {
			for tr := range 4 {
				transA, transB := tr&1 != 0, tr&2 != 0
				for i, m := range dims {
					for j, n := range dims {
						// Two k per (m, n) pair cover all of dims for every m
						// and every n without the full cube.
						for _, k := range []int{dims[(i+j)%len(dims)], dims[(2*i+j+4)%len(dims)]} {
							var alpha, beta T = 1, 0
							switch (i + j + k + tr) % 4 {
							case 1:
								alpha, beta = -0.75, 1
							case 2:
								alpha, beta = 1.5, -0.5
							case 3:
								alpha, beta = 1, 2
							}
							cs := newCase(r, transA, transB, m, n, k, alpha, beta)
							name := fmt.Sprintf("%s tA=%v tB=%v m=%d n=%d k=%d alpha=%v beta=%v", ks.name, transA, transB, m, n, k, alpha, beta)
							check(t, name, cs, func(c []T) {
								// maxWorkers 3 gives uneven splits on any machine.
								gemm(ks, 3, cs.transA, cs.transB, cs.m, cs.n, cs.k, cs.alpha, cs.a, cs.lda, cs.b, cs.ldb, cs.beta, c, cs.ldc)
							})
						}
					}
				}
			}
		}
	}
}

func TestSgemmShapes(t *testing.T) {
	s, _ := kernelVariants()
	testShapes(t, s)
}

func TestDgemmShapes(t *testing.T) {
	_, d := kernelVariants()
	testShapes(t, d)
}

func TestKernelName(t *testing.T) {
	k := Kernel()
	if k != "avx512" && k != "avx2" && k != "generic" {
		t.Fatalf("Kernel() = %q", k)
	}
	if sKernels.name != k || dKernels.name != k {
		t.Fatalf("Kernel() = %q but sets are %q/%q", k, sKernels.name, dKernels.name)
	}
	t.Logf("kernel %s on %s/%s", k, runtime.GOOS, runtime.GOARCH)
}

// TestPublicAPI goes through the exported entry points (argument checks,
// GOMAXPROCS workers) for both precisions, including alpha = 0 and k = 0,
// which must still apply beta.
func TestPublicAPI(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range [][3]int{{300, 200, 150}, {100, 400, 70}, {5, 6, 0}, {33, 17, 9}} {
		for _, ab := range [][2]float64{{1, 0}, {0, 0.5}, {-2, 1}, {0, 0}} {
			for tr := range 4 {
				m, n, k := sh[0], sh[1], sh[2]
				tA, tB := tr&1 != 0, tr&2 != 0
				name := fmt.Sprintf("m=%d n=%d k=%d tA=%v tB=%v alpha=%v beta=%v", m, n, k, tA, tB, ab[0], ab[1])
				cs := newCase(r, tA, tB, m, n, k, float32(ab[0]), float32(ab[1]))
				check(t, "Sgemm "+name, cs, func(c []float32) {
					Sgemm(tA, tB, m, n, k, cs.alpha, cs.a, cs.lda, cs.b, cs.ldb, cs.beta, c, cs.ldc)
				})
				cd := newCase(r, tA, tB, m, n, k, ab[0], ab[1])
				check(t, "Dgemm "+name, cd, func(c []float64) {
					Dgemm(tA, tB, m, n, k, cd.alpha, cd.a, cd.lda, cd.b, cd.ldb, cd.beta, c, cd.ldc)
				})
			}
		}
	}
}

// TestRefAgainstNaive checks the reference itself on a 2×2 product worked
// out by hand, so the other tests do not rest on an unchecked oracle.
func TestRefAgainstNaive(t *testing.T) {
	a := []float64{1, 2, 3, 4} // [[1 2] [3 4]]
	b := []float64{5, 6, 7, 8} // [[5 6] [7 8]]
	c := []float64{1, 1, 1, 1}
	DgemmRef(false, false, 2, 2, 2, 2, a, 2, b, 2, 3, c, 2)
	// 2·[[19 22] [43 50]] + 3
	want := []float64{41, 47, 89, 103}
	for i := range c {
		if c[i] != want[i] {
			t.Fatalf("DgemmRef = %v, want %v", c, want)
		}
	}
	c = []float64{1, 1, 1, 1}
	DgemmRef(true, true, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2)
	// Aᵀ·Bᵀ = (B·A)ᵀ; B·A = [[23 34] [31 46]]
	want = []float64{23, 31, 34, 46}
	for i := range c {
		if c[i] != want[i] {
			t.Fatalf("DgemmRef transposed = %v, want %v", c, want)
		}
	}
}

func testBatched[T Float](t *testing.T, run func(tA, tB bool, m, n, k int, alpha T, a []T, lda, sA int, b []T, ldb, sB int, beta T, c []T, ldc, sC, batch int)) {
	r := rand.New(rand.NewPCG(5, 6))
	type shape struct{ m, n, k, batch int }
	// Attention-like small matrices take the parallel-over-batch path; the
	// 300-sized ones take the one-GEMM-at-a-time path.
	for _, sh := range []shape{{17, 33, 7, 9}, {128, 128, 32, 6}, {300, 260, 270, 2}, {4, 5, 6, 1}} {
		for _, strides := range [][3]bool{{true, true, true}, {false, true, true}, {true, false, true}, {true, true, false}} {
			for tr := range 4 {
				tA, tB := tr&1 != 0, tr&2 != 0
				m, n, k, batch := sh.m, sh.n, sh.k, sh.batch
				// One case gives the per-matrix layout; the batch is laid out
				// with extra gaps (or stride 0 to broadcast).
				one := newCase[T](r, tA, tB, m, n, k, 0.5, 0)
				if tr%2 == 1 {
					one.beta = 1.25
				}
				sA, sB, sC := len(one.a)+3, len(one.b)+1, len(one.c)+2
				if !strides[0] {
					sA = 0
				}
				if !strides[1] {
					sB = 0
				}
				if !strides[2] {
					sC = 0
				}
				a := randSlice[T](r, sA*(batch-1)+len(one.a))
				b := randSlice[T](r, sB*(batch-1)+len(one.b))
				c := randSlice[T](r, sC*(batch-1)+len(one.c))
				want := append([]T(nil), c...)
				for i := range batch {
					ref(tA, tB, m, n, k, one.alpha, a[i*sA:], one.lda, b[i*sB:], one.ldb, one.beta, want[i*sC:], one.ldc)
				}
				got := append([]T(nil), c...)
				run(tA, tB, m, n, k, one.alpha, a, one.lda, sA, b, one.ldb, sB, one.beta, got, one.ldc, sC, batch)
				// With sC == 0 the batch accumulates, so the bound grows with
				// the batch as well as with k.
				bound := 8 * float64(batch*(k+2)) * eps[T]() * float64(k+4)
				for i := range got {
					if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= bound) {
						t.Fatalf("batched %+v strides=%v tA=%v tB=%v: element %d = %v, want %v", sh, strides, tA, tB, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func TestSgemmBatched(t *testing.T) { testBatched(t, SgemmBatched) }
func TestDgemmBatched(t *testing.T) { testBatched(t, DgemmBatched) }

func TestBadArguments(t *testing.T) {
	a := make([]float32, 12)
	cases := []struct {
		name string
		f    func()
		msg  string
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) }, "negative dimension"},
		{"small lda", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) }, "lda"},
		{"small ldb transposed", func() { Sgemm(false, true, 2, 2, 3, 1, a, 3, a, 2, 0, a, 2) }, "ldb"},
		{"small ldc", func() { Sgemm(false, false, 2, 3, 2, 1, a, 2, a, 3, 0, a, 2) }, "ldc"},
		{"short a", func() { Sgemm(false, false, 4, 2, 3, 1, a[:11], 3, a, 2, 0, a, 2) }, "len(a)"},
		{"short c", func() { Sgemm(false, false, 4, 3, 3, 1, a, 3, a, 3, 0, a[:11], 3) }, "len(c)"},
		{"short batch", func() { SgemmBatched(false, false, 2, 2, 2, 1, a, 2, 4, a, 2, 4, 0, a, 2, 4, 4) }, "len(a)"},
		{"negative stride", func() { SgemmBatched(false, false, 2, 2, 2, 1, a, 2, -4, a, 2, 4, 0, a, 2, 4, 2) }, "negative stride"},
	}
	for _, tc := range cases {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.msg) {
					t.Errorf("%s: panic %v, want one mentioning %q", tc.name, r, tc.msg)
				}
			}()
			tc.f()
		}()
	}
	// Empty problems are valid and touch nothing.
	Sgemm(false, false, 0, 0, 0, 1, nil, 1, nil, 1, 0, nil, 1)
	SgemmBatched(false, false, 3, 3, 3, 1, nil, 3, 9, nil, 3, 9, 0, nil, 3, 9, 0)
}
