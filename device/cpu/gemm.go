package cpu

import (
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/cpu/gemm"
)

// gemmKernel names the GEMM implementation behind sgemm and dgemm, for Info and `kiln devices`:
// the packed Goto/BLIS-style GEMM of device/cpu/gemm and the micro-kernel family it picked
// for this CPU (avx512, avx2 or generic).
var gemmKernel = "kiln packed GEMM (" + gemm.Kernel() + ")"

// sgemm is the single float32 GEMM entry point of the backend (row-major, BLAS semantics:
// C = alpha·op(A)·op(B) + beta·C). Every float32 matrix product of the backend, including the
// attention tiles, goes through it.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	// kiln's GEMM gives beta == 0, k == 0 and alpha == 0 their BLAS meaning itself (the
	// first K block overwrites C, so NaN or Inf left in C never leaks into the result), so C
	// is not cleared here first: for attention scores that pass over C would cost about 4% of
	// a TabPFN prediction.
	gemm.Sgemm(transA, transB, m, n, k, alpha, a, max(lda, 1), b, max(ldb, 1), beta, c, ldc)
}

// dgemm is the float64 counterpart of sgemm.
func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	// As in sgemm, kiln's GEMM handles beta == 0 itself.
	gemm.Dgemm(transA, transB, m, n, k, alpha, a, max(lda, 1), b, max(ldb, 1), beta, c, ldc)
}

// gemmT dispatches the generic code to sgemm or dgemm.
func gemmT[T float](transA, transB bool, m, n, k int, alpha float64, a []T, lda int, b []T, ldb int, beta float64, c []T, ldc int) {
	switch av := any(a).(type) {
	case []float32:
		sgemm(transA, transB, m, n, k, float32(alpha), av, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		dgemm(transA, transB, m, n, k, alpha, av, lda, any(b).([]float64), ldb, beta, any(c).([]float64), ldc)
	}
}

// extent is the number of elements a rows×cols row-major matrix with row stride ld spans.
func extent(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// Gemm computes C_b = alpha·op(A_b)·op(B_b) + beta·C_b for every batch member b, where X_b
// starts at OffX + b·StrideX. A stride of 0 for A or B reuses one matrix for the whole batch;
// C's batch members must not overlap (they are computed concurrently).
func (d *Device) Gemm(p device.GemmParams, a, b, c device.Buffer) {
	const op = "Gemm"
	cb := getFloat(c, op, "C", 0)
	ab := getFloat(a, op, "A", cb.dtype)
	bb := getFloat(b, op, "B", cb.dtype)
	if p.M < 0 || p.N < 0 || p.K < 0 || p.Batch < 1 {
		device.Panicf(op, "bad sizes M=%d N=%d K=%d Batch=%d (Batch must be ≥ 1)", p.M, p.N, p.K, p.Batch)
	}
	ar, ac := p.M, p.K
	if p.TransA {
		ar, ac = ac, ar
	}
	br, bc := p.K, p.N
	if p.TransB {
		br, bc = bc, br
	}
	check := func(what string, buf *buffer, rows, cols, ld, stride, off int) int {
		if ld < cols {
			device.Panicf(op, "ld%s = %d is less than the %d columns of the stored %s", what, ld, cols, what)
		}
		if stride < 0 || off < 0 {
			device.Panicf(op, "negative stride %d or offset %d for %s", stride, off, what)
		}
		ext := extent(rows, cols, ld)
		if ext > 0 {
			needLen(buf, off+(p.Batch-1)*stride+ext, op, what)
		}
		return ext
	}
	aExt := check("A", ab, ar, ac, p.LdA, p.StrideA, p.OffA)
	bExt := check("B", bb, br, bc, p.LdB, p.StrideB, p.OffB)
	cExt := check("C", cb, p.M, p.N, p.LdC, p.StrideC, p.OffC)
	if p.Batch > 1 && cExt > 0 && p.StrideC < cExt {
		device.Panicf(op, "StrideC = %d makes the %d batch members of C overlap (each spans %d elements)", p.StrideC, p.Batch, cExt)
	}
	if cb.dtype == device.Float32 {
		gemmBatched(p, floats[float32](ab), floats[float32](bb), floats[float32](cb), aExt, bExt, cExt)
	} else {
		gemmBatched(p, floats[float64](ab), floats[float64](bb), floats[float64](cb), aExt, bExt, cExt)
	}
}

func gemmBatched[T float](p device.GemmParams, a, b, c []T, aExt, bExt, cExt int) {
	// An operand that spans nothing (K = 0) was not length-checked, so its offset may lie
	// anywhere: pass no slice at all rather than slicing at that offset.
	sub := func(x []T, off, ext int) []T {
		if ext == 0 {
			return nil
		}
		return x[off : off+ext]
	}
	one := func(i int) {
		oa, ob, oc := p.OffA+i*p.StrideA, p.OffB+i*p.StrideB, p.OffC+i*p.StrideC
		gemmT(p.TransA, p.TransB, p.M, p.N, p.K, p.Alpha, sub(a, oa, aExt), p.LdA, sub(b, ob, bExt), p.LdB, p.Beta, sub(c, oc, cExt), p.LdC)
	}
	work := p.M * p.N * max(p.K, 1)
	// gemm.Sgemm parallelises a single large product itself; small products of a batch are
	// spread over goroutines instead.
	if p.Batch > 1 && work < 1<<18 {
		parallelFor(p.Batch, work, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				one(i)
			}
		})
		return
	}
	for i := 0; i < p.Batch; i++ {
		one(i)
	}
}
