package gemm

import (
	"fmt"
	"runtime"
	"sync"
)

// Float is the element type of the generic driver.
type Float interface{ ~float32 | ~float64 }

// microKernel computes C[0:mr, 0:nr] += Ap·Bp for a packed mr-row micro-panel
// of A and a packed nr-column micro-panel of B, both k steps long; C has a row
// stride of ldc elements.
type microKernel[T Float] func(k int, a, b, c *T, ldc int)

// kernelSet is one micro-kernel together with the cache blocking tuned for
// it (Goto & van de Geijn 2008, section 6): a kc×nc panel of B is packed to
// stay in the L3 cache, an mc×kc block of A in the L2 cache, and the kc×nr
// micro-panel of B that the inner loop reuses mc/mr times sits in L1.
type kernelSet[T Float] struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	kern       microKernel[T]
	pool       sync.Pool // *packBuf[T]
}

// packBuf holds the packed A block, packed B panel and the edge-tile scratch
// of one worker. Buffers are recycled through kernelSet.pool because a large
// GEMM needs a few MiB of them and the garbage collector should not see a new
// allocation per call.
type packBuf[T Float] struct {
	a, b, tile []T
}

func (ks *kernelSet[T]) getBuf() *packBuf[T] {
	if v := ks.pool.Get(); v != nil {
		return v.(*packBuf[T])
	}
	return &packBuf[T]{
		a:    make([]T, ks.mc*ks.kc+ks.mr*ks.kc),
		b:    make([]T, ks.kc*ks.nc+ks.nr*ks.kc),
		tile: make([]T, ks.mr*ks.nr),
	}
}

// parallelFlops is the problem size (2mnk) below which a GEMM runs on one
// goroutine: starting and joining workers costs a few microseconds, which is
// what ~0.5 MFLOP of work takes on one core.
var parallelFlops = 2 * 96 * 96 * 96

// batchSerialFlops is the per-matrix size under which a batched GEMM
// parallelises over the batch instead of inside each matrix.
var batchSerialFlops = 2 * 256 * 256 * 256

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

// gemm is the full driver: C = alpha·op(A)·op(B) + beta·C, using up to
// maxWorkers goroutines.
func gemm[T Float](ks *kernelSet[T], maxWorkers int, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	workers := 1
	if flops := 2 * m * n * k; flops >= parallelFlops && alpha != 0 {
		workers = min(maxWorkers, flops/parallelFlops)
	}
	// Split the larger of m and n into workers contiguous slabs (rounded to
	// whole micro-tiles) and run the serial Goto algorithm on each: with a
	// handful of cores each slab is large, so the duplicated packing of the
	// shared operand costs O(1/slab) of the work and the workers never have
	// to synchronise.
	splitM := m >= n
	total, unit := n, ks.nr
	if splitM {
		total, unit = m, ks.mr
	}
	tiles := (total + unit - 1) / unit
	workers = max(1, min(workers, tiles))
	if workers == 1 {
		gemmSerial(ks, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo := tiles * w / workers * unit
		hi := min(total, tiles*(w+1)/workers*unit)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			if splitM {
				aoff := lo * lda
				if transA {
					aoff = lo
				}
				gemmSerial(ks, transA, transB, hi-lo, n, k, alpha, a[aoff:], lda, b, ldb, beta, c[lo*ldc:], ldc)
			} else {
				boff := lo
				if transB {
					boff = lo * ldb
				}
				gemmSerial(ks, transA, transB, m, hi-lo, k, alpha, a, lda, b[boff:], ldb, beta, c[lo:], ldc)
			}
		}(lo, hi)
	}
	wg.Wait()
}

// scaleC applies beta to the m×n matrix C. beta == 0 overwrites C with
// zeros, so NaNs and Infs already in C do not propagate (BLAS semantics).
func scaleC[T Float](m, n int, beta T, c []T, ldc int) {
	switch beta {
	case 1:
	case 0:
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
	default:
		for i := range m {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// gemmSerial runs the five loops around the micro-kernel of Goto & van de
// Geijn (2008), figure 8 / BLIS (Van Zee & van de Geijn 2015, figure 2) on
// one goroutine: jc over nc-wide panels of B, pc over kc-deep slices of the
// k dimension (B panel packed here), ic over mc-tall blocks of A (packed
// here, alpha folded in), then jr and ir over micro-tiles.
func gemmSerial[T Float](ks *kernelSet[T], transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	scaleC(m, n, beta, c, ldc)
	if k == 0 || alpha == 0 {
		return
	}
	buf := ks.getBuf()
	defer ks.pool.Put(buf)
	mr, nr := ks.mr, ks.nr
	for jc := 0; jc < n; jc += ks.nc {
		nb := min(ks.nc, n-jc)
		for pc := 0; pc < k; pc += ks.kc {
			kb := min(ks.kc, k-pc)
			packB(buf.b, transB, b, ldb, pc, jc, kb, nb, nr)
			for ic := 0; ic < m; ic += ks.mc {
				mb := min(ks.mc, m-ic)
				packA(buf.a, transA, a, lda, ic, pc, mb, kb, mr, alpha)
				for jr := 0; jr < nb; jr += nr {
					nrr := min(nr, nb-jr)
					bp := &buf.b[jr*kb]
					for ir := 0; ir < mb; ir += mr {
						mrr := min(mr, mb-ir)
						ap := &buf.a[ir*kb]
						ci := (ic+ir)*ldc + jc + jr
						if mrr == mr && nrr == nr {
							ks.kern(kb, ap, bp, &c[ci], ldc)
							continue
						}
						// Edge tile: the packed panels are zero-padded, so the
						// kernel runs a full tile into scratch and only the
						// valid part is added to C.
						t := buf.tile
						clear(t)
						ks.kern(kb, ap, bp, &t[0], nr)
						for i := range mrr {
							crow := c[ci+i*ldc : ci+i*ldc+nrr]
							trow := t[i*nr : i*nr+nrr]
							for j := range crow {
								crow[j] += trow[j]
							}
						}
					}
				}
			}
		}
	}
}

// packA copies the mb×kb block of op(A) starting at (ic, pc), times alpha,
// into micro-panels of mr rows: panel q holds, for each p, the mr elements
// op(A)[ic+q·mr+i, pc+p] contiguously, so the kernel reads A with unit
// stride. Rows past mb are zero.
func packA[T Float](dst []T, trans bool, a []T, lda, ic, pc, mb, kb, mr int, alpha T) {
	for q := 0; q < mb; q += mr {
		rows := min(mr, mb-q)
		panel := dst[q*kb : q*kb+mr*kb]
		if !trans {
			// op(A) = A: row i of the panel is contiguous in a.
			for i := range rows {
				src := a[(ic+q+i)*lda+pc:]
				src = src[:kb]
				if alpha == 1 {
					for p, v := range src {
						panel[p*mr+i] = v
					}
				} else {
					for p, v := range src {
						panel[p*mr+i] = alpha * v
					}
				}
			}
		} else {
			// op(A) = Aᵀ: op(A)[i, p] = a[p*lda+i], so each k step of the
			// panel is a contiguous run of a row of a.
			for p := range kb {
				src := a[(pc+p)*lda+ic+q:]
				src = src[:rows]
				d := panel[p*mr : p*mr+rows]
				if alpha == 1 {
					copy(d, src)
				} else {
					for i, v := range src {
						d[i] = alpha * v
					}
				}
			}
		}
		if rows < mr {
			for p := range kb {
				clear(panel[p*mr+rows : p*mr+mr])
			}
		}
	}
}

// packB copies the kb×nb panel of op(B) starting at (pc, jc) into
// micro-panels of nr columns: micro-panel q holds, for each p, the nr
// elements op(B)[pc+p, jc+q·nr+j] contiguously. Columns past nb are zero.
func packB[T Float](dst []T, trans bool, b []T, ldb, pc, jc, kb, nb, nr int) {
	for q := 0; q < nb; q += nr {
		cols := min(nr, nb-q)
		panel := dst[q*kb : q*kb+nr*kb]
		if !trans {
			for p := range kb {
				src := b[(pc+p)*ldb+jc+q:]
				copy(panel[p*nr:p*nr+cols], src[:cols])
				if cols < nr {
					clear(panel[p*nr+cols : p*nr+nr])
				}
			}
		} else {
			// op(B) = Bᵀ: op(B)[p, j] = b[j*ldb+p]; walk each column of the
			// panel along a contiguous row of b.
			for j := range cols {
				src := b[(jc+q+j)*ldb+pc:]
				src = src[:kb]
				for p, v := range src {
					panel[p*nr+j] = v
				}
			}
			if cols < nr {
				for p := range kb {
					clear(panel[p*nr+cols : p*nr+nr])
				}
			}
		}
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
