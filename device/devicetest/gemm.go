package devicetest

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
)

type gemmCase struct {
	m, n, k     int
	batch       int
	alpha, beta float64
	bcastA      bool // StrideA = 0
	bcastB      bool // StrideB = 0
	pad         int  // extra elements per row (Ld = cols + pad)
	off         int  // OffA/OffB/OffC
	nanC        bool // C starts as NaN (beta must be 0)
}

func gemmCases(s *suite, dt device.DType) {
	shapes := pick(s,
		[][3]int{{1, 1, 1}, {7, 33, 13}, {33, 7, 130}, {65, 70, 33}},
		[][3]int{{1, 1, 1}, {1, 130, 7}, {7, 33, 13}, {33, 7, 130}, {65, 70, 33}, {130, 129, 257}, {257, 1, 64}, {100, 200, 300}})
	var cases []gemmCase
	for _, sh := range shapes {
		cases = append(cases, gemmCase{m: sh[0], n: sh[1], k: sh[2], batch: 1, alpha: 1})
	}
	// Batching, broadcasting, alpha/beta, padding and offsets on awkward shapes.
	cases = append(cases,
		gemmCase{m: 7, n: 33, k: 13, batch: 3, alpha: 0.5, beta: -1.5, pad: 2, off: 5},
		gemmCase{m: 33, n: 7, k: 130, batch: 4, alpha: 1, bcastA: true, off: 3},
		gemmCase{m: 13, n: 17, k: 9, batch: 5, alpha: -2, beta: 1, bcastB: true, pad: 1},
		gemmCase{m: 7, n: 7, k: 7, batch: 2, alpha: 1, nanC: true, pad: 3, off: 1},
		gemmCase{m: 7, n: 9, k: 0, batch: 2, alpha: 1, beta: 0.25},
		gemmCase{m: 9, n: 7, k: 11, batch: 1, alpha: 0, beta: 2},
		gemmCase{m: 33, n: 33, k: 33, batch: 40, alpha: 1, beta: 0.5, bcastB: true}, // many small products, spread over goroutines
		// Few output tiles and a long K (weight gradients): the CUDA backend's split-K path,
		// with K a multiple of the slices and not, β = 0 and β = 1, and an offset.
		gemmCase{m: 64, n: 64, k: 5000, batch: 1, alpha: 0.5},
		gemmCase{m: 64, n: 100, k: 4099, batch: 1, alpha: 1, beta: 1, off: 4},
		// The same below the tiled kernel's 64×64: TabPFN's cell-embedding weight gradient
		// (2 inputs × width, K = every cell of a step) and a classifier head's (width × classes).
		gemmCase{m: 2, n: 128, k: 6001, batch: 1, alpha: 1},
		gemmCase{m: 100, n: 10, k: 4100, batch: 1, alpha: 0.5, beta: 1, off: 2},
	)
	for _, c := range cases {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			name := fmt.Sprintf("%d×%d×%d %s batch=%d α=%g β=%g", c.m, c.n, c.k, transName(tr), c.batch, c.alpha, c.beta)
			if c.bcastA {
				name += " strideA=0"
			}
			if c.bcastB {
				name += " strideB=0"
			}
			if c.pad > 0 {
				name += fmt.Sprintf(" ld+%d", c.pad)
			}
			if c.off > 0 {
				name += fmt.Sprintf(" off=%d", c.off)
			}
			if c.nanC {
				name += " C=NaN"
			}
			s.run("Gemm", dt, name, func(e *env) float64 { return runGemm(e, c, tr[0], tr[1]) })
		}
	}
	s.run("Gemm", dt, "short A panics", func(e *env) float64 {
		a, b, c := e.alloc(dt, 5), e.alloc(dt, 6), e.alloc(dt, 6)
		e.expectPanic("Gemm with a 5-element A for 2×3", func() {
			e.dev.Gemm(device.GemmParams{M: 2, N: 3, K: 3, Alpha: 1, LdA: 3, LdB: 3, LdC: 3, Batch: 1}, a, b, c)
		})
		return 0
	})
}

func transName(tr [2]bool) string {
	n := []byte("NN")
	if tr[0] {
		n[0] = 'T'
	}
	if tr[1] {
		n[1] = 'T'
	}
	return string(n)
}

func runGemm(e *env, c gemmCase, tA, tB bool) float64 {
	ar, ac := c.m, c.k
	if tA {
		ar, ac = ac, ar
	}
	br, bc := c.k, c.n
	if tB {
		br, bc = bc, br
	}
	lda, ldb, ldc := ac+c.pad, bc+c.pad, c.n+c.pad
	span := func(rows, ld int) int { return rows * ld }
	strideA, strideB, strideC := span(ar, lda)+1, span(br, ldb)+2, span(c.m, ldc)+3
	if c.bcastA {
		strideA = 0
	}
	if c.bcastB {
		strideB = 0
	}
	lenA := c.off + (c.batch-1)*strideA + span(ar, lda) + 1
	lenB := c.off + (c.batch-1)*strideB + span(br, ldb) + 1
	lenC := c.off + (c.batch-1)*strideC + span(c.m, ldc) + 1
	A, B := e.normal(lenA, 0, 1), e.normal(lenB, 0, 1)
	C := e.normal(lenC, 0, 1)
	if c.nanC {
		for i := range C {
			C[i] = math.NaN()
		}
	}
	p := device.GemmParams{TransA: tA, TransB: tB, M: c.m, N: c.n, K: c.k, Alpha: c.alpha, Beta: c.beta,
		LdA: lda, LdB: ldb, LdC: ldc, StrideA: strideA, StrideB: strideB, StrideC: strideC,
		OffA: c.off, OffB: c.off, OffC: c.off, Batch: c.batch}
	cb := e.upload(C)
	e.dev.Gemm(p, e.upload(A), e.upload(B), cb)

	// Reference: elements outside every C_b must keep their old value.
	want, scale := make([]float64, lenC), plusOne(C)
	copy(want, C)
	at := func(x []float64, off, ld int, t bool, i, j int) float64 {
		if t {
			return x[off+j*ld+i]
		}
		return x[off+i*ld+j]
	}
	for b := 0; b < c.batch; b++ {
		oa, ob, oc := c.off+b*strideA, c.off+b*strideB, c.off+b*strideC
		for i := 0; i < c.m; i++ {
			for j := 0; j < c.n; j++ {
				sum, mag := 0.0, 0.0
				for k := 0; k < c.k; k++ {
					x := at(A, oa, lda, tA, i, k) * at(B, ob, ldb, tB, k, j)
					sum += x
					mag += math.Abs(x)
				}
				idx := oc + i*ldc + j
				w, sc := c.alpha*sum, math.Abs(c.alpha)*mag
				if c.beta != 0 {
					w += c.beta * C[idx]
					sc += math.Abs(c.beta * C[idx])
				}
				want[idx] = w
				scale[idx] = sc + math.SmallestNonzeroFloat64
			}
		}
	}
	e.compare(e.download(cb), want, scale)
	return e.tol(8, c.k+3)
}
