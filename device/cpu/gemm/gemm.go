package gemm

import (
	"fmt"
	"runtime"
	"sync"
)

// parallelFlops is the problem size (2mnk) below which a GEMM runs on one
// goroutine, and the work each further worker must have: waking a worker
// and joining it costs a few microseconds per phase, while 2·96³ ≈ 1.8
// MFLOP is ~20 µs of work on one core.
const parallelFlops = 2 * 96 * 96 * 96

// batchSerialFlops is the per-matrix size under which a batched GEMM
// parallelises over the batch (one whole GEMM per worker, no
// synchronisation inside) instead of inside each matrix.
const batchSerialFlops = 2 * 256 * 256 * 256

// checkArgs validates a (batched) GEMM call the way reference BLAS does
// (xerbla): a bad argument is a programming error, reported with a message
// that names it.
func checkArgs[T Float](transA, transB bool, m, n, k int, a []T, lda, strideA int, b []T, ldb, strideB int, c []T, ldc, strideC int, batch int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	if batch < 0 {
		panic(fmt.Sprintf("gemm: negative batch %d", batch))
	}
	if strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("gemm: negative stride strideA=%d strideB=%d strideC=%d", strideA, strideB, strideC))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < max(1, ac) {
		panic(fmt.Sprintf("gemm: lda=%d < %d columns of A", lda, ac))
	}
	if ldb < max(1, bc) {
		panic(fmt.Sprintf("gemm: ldb=%d < %d columns of B", ldb, bc))
	}
	if ldc < max(1, n) {
		panic(fmt.Sprintf("gemm: ldc=%d < n=%d", ldc, n))
	}
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	need := func(rows, cols, ld, stride int) int {
		if rows == 0 || cols == 0 {
			return 0
		}
		return (batch-1)*stride + (rows-1)*ld + cols
	}
	if k > 0 {
		if l := need(ar, ac, lda, strideA); len(a) < l {
			panic(fmt.Sprintf("gemm: len(a)=%d, need %d", len(a), l))
		}
		if l := need(br, bc, ldb, strideB); len(b) < l {
			panic(fmt.Sprintf("gemm: len(b)=%d, need %d", len(b), l))
		}
	}
	if l := need(m, n, ldc, strideC); len(c) < l {
		panic(fmt.Sprintf("gemm: len(c)=%d, need %d", len(c), l))
	}
}

// batched runs batch independent GEMMs. Small matrices (attention-sized)
// are spread over the workers one whole GEMM at a time, which removes all
// per-matrix synchronisation; large ones run one after another, each using
// every worker. A zero strideC makes the products accumulate into the same
// C one after another, so that case always runs in order.
func batched[T Float](ks *kernelSet[T], transA, transB bool, m, n, k int, alpha T, a []T, lda, strideA int, b []T, ldb, strideB int, beta T, c []T, ldc, strideC int, batch int) {
	checkArgs(transA, transB, m, n, k, a, lda, strideA, b, ldb, strideB, c, ldc, strideC, batch)
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	one := func(i, workers int) {
		var ai, bi []T
		if k > 0 {
			ai, bi = a[i*strideA:], b[i*strideB:]
		}
		gemm(ks, workers, transA, transB, m, n, k, alpha, ai, lda, bi, ldb, beta, c[i*strideC:], ldc)
	}
	procs := runtime.GOMAXPROCS(0)
	if strideC == 0 || procs == 1 || 2*m*n*k >= batchSerialFlops || batch == 1 {
		for i := range batch {
			one(i, procs)
		}
		return
	}
	workers := min(procs, batch)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := batch*w/workers, batch*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				one(i, 1)
			}
		}()
	}
	wg.Wait()
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major float32
// matrices, op(X) = X or Xᵀ. A is m×k (k×m when transA), B is k×n (n×k
// when transB), C is m×n; lda, ldb and ldc are row strides in elements.
// beta == 0 overwrites C, so NaNs in C are not propagated. Invalid
// arguments panic with a message naming them, as in reference BLAS.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, 0, b, ldb, 0, c, ldc, 0, 1)
	gemm(sKernels, runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm for float64.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, 0, b, ldb, 0, c, ldc, 0, 1)
	gemm(dKernels, runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmBatched computes batch independent products C_i = alpha·op(A_i)·op(B_i)
// + beta·C_i where X_i starts at element i·strideX of x. A stride of 0
// broadcasts that operand to every product (for C: the products are applied
// to the same C in order). Distinct C_i must not overlap.
func SgemmBatched(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	batched(sKernels, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
}

// DgemmBatched is SgemmBatched for float64.
func DgemmBatched(transA, transB bool, m, n, k int, alpha float64, a []float64, lda, strideA int, b []float64, ldb, strideB int, beta float64, c []float64, ldc, strideC int, batch int) {
	batched(dKernels, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
}

// Kernel reports which micro-kernel family runs on this machine: "avx512",
// "avx2" or "generic".
func Kernel() string { return kernelName }
