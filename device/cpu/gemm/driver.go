package gemm

import (
	"sync"
	"sync/atomic"
)

// Float is the element type of the generic driver.
type Float interface{ ~float32 | ~float64 }

// microKernel computes C[0:mr, 0:nr] += Ap·Bp for a packed mr-row micro-panel
// of A and a packed nr-column micro-panel of B, both k steps long; C has a row
// stride of ldc elements.
type microKernel[T Float] func(k int, a, b, c *T, ldc int)

// maxTile bounds mr·nr of every kernel, so that edge tiles fit a stack array.
const maxTile = 512

// kernelSet is one micro-kernel together with the cache blocking tuned for
// it (Goto & van de Geijn 2008, section 6): a kc×nc panel of B is packed to
// stay in the L3 cache, an mc×kc block of A in the L2 cache, and the kc×nr
// micro-panel of B that the inner loop reuses mc/mr times sits in L1.
type kernelSet[T Float] struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	kern       microKernel[T]
	// packA8, when set (mr == 8), packs 8 rows × packCols·n columns of a
	// non-transposed A with SIMD transposes.
	packA8   func(n int, src *T, lda int, dst *T, alpha T)
	packCols int
	pool     sync.Pool // *packBuf[T]
}

// packBuf holds the packed B panel and A slab of one GEMM call. Buffers are
// recycled through kernelSet.pool because a large GEMM needs a few MiB of
// them and the garbage collector should not see a new allocation per call.
type packBuf[T Float] struct {
	a, b []T
}

func (ks *kernelSet[T]) getBuf(na, nb int) *packBuf[T] {
	buf, _ := ks.pool.Get().(*packBuf[T])
	if buf == nil {
		buf = new(packBuf[T])
	}
	if cap(buf.a) < na {
		buf.a = make([]T, na)
	}
	if cap(buf.b) < nb {
		buf.b = make([]T, nb)
	}
	buf.a, buf.b = buf.a[:na], buf.b[:nb]
	return buf
}

// slabElems caps the packed A slab (the rows of op(A) packed per k block):
// all of m is packed at once up to this many elements, so that the workers
// share one packing of each operand.
const slabElems = 1 << 20

// packChunk is how many micro-panels one packing task copies.
const packChunk = 8

// gemm is the full driver: C = alpha·op(A)·op(B) + beta·C on up to
// maxWorkers goroutines. It runs the loops around the micro-kernel of Goto &
// van de Geijn (2008, figure 8) and BLIS (Van Zee & van de Geijn 2015,
// figure 2): jc over nc-wide panels of B, pc over kc-deep slices of k, then
// for each slab of rows of A a packing phase and a compute phase. The
// workers pack the shared B panel and A slab together (so neither operand is
// packed twice), then take (mc-row block × column chunk) tiles of C from an
// atomic counter, which keeps them balanced when the machine's cores are
// also busy with other work. Within a tile the jr loop walks B micro-panels
// (each stays in L1 while ir walks the A block, which stays in L2).
func gemm[T Float](ks *kernelSet[T], maxWorkers int, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	workers := 1
	if flops := 2 * m * n * k; flops >= parallelFlops {
		workers = max(1, min(maxWorkers, flops/parallelFlops))
	}
	mr, nr := ks.mr, ks.nr
	kcMax := min(ks.kc, k)
	ncMax := roundUp(min(ks.nc, n), nr)
	slab := max(ks.mc, slabElems/kcMax/ks.mc*ks.mc)
	msMax := roundUp(min(slab, m), mr)
	buf := ks.getBuf(msMax*kcMax, ncMax*kcMax)
	defer ks.pool.Put(buf)

	var next atomic.Int64
	run := func(tasks int, do func(t int)) {
		next.Store(0)
		work := func() {
			for {
				t := int(next.Add(1) - 1)
				if t >= tasks {
					return
				}
				do(t)
			}
		}
		w := min(workers, tasks)
		if w <= 1 {
			for t := range tasks {
				do(t)
			}
			return
		}
		var wg sync.WaitGroup
		for range w - 1 {
			wg.Go(work)
		}
		work()
		wg.Wait()
	}

	for jc := 0; jc < n; jc += ks.nc {
		nb := min(ks.nc, n-jc)
		nbp := ceilDiv(nb, nr) // B micro-panels
		for pc := 0; pc < k; pc += ks.kc {
			kb := min(ks.kc, k-pc)
			for is := 0; is < m; is += slab {
				ms := min(slab, m-is)
				nap := ceilDiv(ms, mr) // A micro-panels
				// Packing phase: chunks of B micro-panels (first slab only),
				// then chunks of A micro-panels.
				bTasks := 0
				if is == 0 {
					bTasks = ceilDiv(nbp, packChunk)
				}
				run(bTasks+ceilDiv(nap, packChunk), func(t int) {
					if t < bTasks {
						q0 := t * packChunk * nr
						cols := min(packChunk*nr, nb-q0)
						packB(buf.b[q0*kb:], transB, b, ldb, pc, jc+q0, kb, cols, nr)
						return
					}
					q0 := (t - bTasks) * packChunk * mr
					rows := min(packChunk*mr, ms-q0)
					packA(ks, buf.a[q0*kb:], transA, a, lda, is+q0, pc, rows, kb, alpha)
				})
				// Compute phase over a grid of C tiles: row blocks of at most
				// mc rows, and enough column chunks for ~3 tiles per worker.
				rowBlocks := ceilDiv(ms, ks.mc)
				rowStep := roundUp(ceilDiv(ms, rowBlocks), mr)
				rowBlocks = ceilDiv(ms, rowStep)
				colChunks := 1
				if workers > 1 {
					colChunks = min(nbp, max(1, ceilDiv(3*workers, rowBlocks)))
				}
				colStep := ceilDiv(nbp, colChunks) * nr
				colChunks = ceilDiv(nb, colStep)
				run(rowBlocks*colChunks, func(t int) {
					r0 := t / colChunks * rowStep
					c0 := t % colChunks * colStep
					rows, cols := min(rowStep, ms-r0), min(colStep, nb-c0)
					cOff := (is+r0)*ldc + jc + c0
					if pc == 0 {
						scaleC(rows, cols, beta, c[cOff:], ldc)
					}
					macroKernel(ks, kb, rows, cols, buf.a[r0*kb:], buf.b[c0*kb:], c[cOff:], ldc)
				})
			}
		}
	}
}

// macroKernel multiplies a packed rows×kb block of A by a packed kb×cols
// panel of B into C: the jr and ir loops of the Goto algorithm.
func macroKernel[T Float](ks *kernelSet[T], kb, rows, cols int, ap, bp, c []T, ldc int) {
	mr, nr := ks.mr, ks.nr
	var tile [maxTile]T
	for jr := 0; jr < cols; jr += nr {
		nrr := min(nr, cols-jr)
		b := &bp[jr*kb]
		for ir := 0; ir < rows; ir += mr {
			mrr := min(mr, rows-ir)
			a := &ap[ir*kb]
			ci := ir*ldc + jr
			if mrr == mr && nrr == nr {
				ks.kern(kb, a, b, &c[ci], ldc)
				continue
			}
			// Edge tile: the packed panels are zero-padded, so the kernel
			// runs a full tile into scratch and only the valid part is
			// added to C.
			t := tile[:mr*nr]
			clear(t)
			ks.kern(kb, a, b, &t[0], nr)
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

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

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

// packA copies the mb×kb block of op(A) starting at (ic, pc), times alpha,
// into micro-panels of mr rows: panel q holds, for each p, the mr elements
// op(A)[ic+q·mr+i, pc+p] contiguously, so the kernel reads A with unit
// stride. Rows past mb are zero.
func packA[T Float](ks *kernelSet[T], dst []T, trans bool, a []T, lda, ic, pc, mb, kb int, alpha T) {
	mr := ks.mr
	for q := 0; q < mb; q += mr {
		rows := min(mr, mb-q)
		panel := dst[q*kb : q*kb+mr*kb]
		if !trans {
			// op(A) = A: the panel is a transpose of rows×kb of a. Reading
			// four rows at once and writing four adjacent elements per k
			// step keeps the stores within a cache line per step (one row
			// at a time scattered stores at stride mr, 2.5 GB/s here).
			i := 0
			if ks.packA8 != nil && rows == 8 {
				// Whole 8-row panel: SIMD transposes for the full column
				// blocks, the scalar loops below for the rest of k.
				if nblk := kb / ks.packCols; nblk > 0 {
					ks.packA8(nblk, &a[(ic+q)*lda+pc], lda, &panel[0], alpha)
				}
				done := kb / ks.packCols * ks.packCols
				for i := range 8 {
					src := a[(ic+q+i)*lda+pc+done : (ic+q+i)*lda+pc+kb]
					for p, v := range src {
						panel[(done+p)*8+i] = alpha * v
					}
				}
				i = rows
			}
			for ; i+4 <= rows; i += 4 {
				base := (ic+q+i)*lda + pc
				r0 := a[base : base+kb]
				r1 := a[base+lda : base+lda+kb]
				r2 := a[base+2*lda : base+2*lda+kb]
				r3 := a[base+3*lda : base+3*lda+kb]
				r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
				d := panel[i:]
				if alpha == 1 {
					for p := range r0 {
						d4 := d[:4:4]
						d4[0], d4[1], d4[2], d4[3] = r0[p], r1[p], r2[p], r3[p]
						if p+1 < len(r0) {
							d = d[mr:]
						}
					}
				} else {
					for p := range r0 {
						d4 := d[:4:4]
						d4[0], d4[1], d4[2], d4[3] = alpha*r0[p], alpha*r1[p], alpha*r2[p], alpha*r3[p]
						if p+1 < len(r0) {
							d = d[mr:]
						}
					}
				}
			}
			for ; i < rows; i++ {
				src := a[(ic+q+i)*lda+pc:]
				src = src[:kb]
				for p, v := range src {
					panel[p*mr+i] = alpha * v
				}
			}
		} else {
			// op(A) = Aᵀ: op(A)[i, p] = a[p*lda+i], so each k step of the
			// panel is a contiguous run of a row of a.
			for p := range kb {
				src := a[(pc+p)*lda+ic+q:]
				src = src[:rows]
				d := panel[p*mr : p*mr+rows]
				if alpha == 1 && rows == 8 {
					// A fixed-size array copy compiles to two vector moves
					// instead of a memmove call per k step.
					*(*[8]T)(d) = *(*[8]T)(src)
				} else if alpha == 1 {
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
