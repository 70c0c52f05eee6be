package gemm

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// Float is the element type of the generic driver.
type Float interface{ ~float32 | ~float64 }

// microKernel computes C[0:mr, 0:nr] += Ap·Bp (add != 0) or C[0:mr, 0:nr] =
// Ap·Bp (add == 0) for a packed mr-row micro-panel of A and a packed
// nr-column micro-panel of B, both k steps long; C has a row stride of ldc
// elements.
type microKernel[T Float] func(k int, a, b, c *T, ldc int, add int)

// kernelSet is one micro-kernel together with the cache blocking tuned for
// it (Goto & van de Geijn 2008, section 6): a kc×nc panel of B is packed to
// stay in the L3 cache, an mc×kc block of A in the L2 cache, and the kc×nr
// micro-panel of B is reused by the inner loop mc/mr times. Goto keeps that
// micro-panel in L1; on Zen 4 a kc of 512 (so the micro-panel streams from
// L2) measured faster than an L1-sized kc, because each C tile is then
// loaded and stored half as often (docs/cpu-gemm-design.md).
type kernelSet[T Float] struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	kern       microKernel[T]
	// packT8, when set, transposes 8 rows × packCols·n columns with SIMD:
	// dst[p*ldd+i] = alpha*src[i*lds+p]. It packs A when mr == 8 and a
	// transposed B when nr is a multiple of 8.
	packT8   func(n int, src *T, lds int, dst *T, ldd int, alpha T)
	packCols int
	// alt, when set, is a kernel with another nr for the widths n that it
	// pads less (edge tiles waste their padded columns).
	alt  *kernelSet[T]
	pool sync.Pool // *job[T]
}

// pick returns the kernel set that pads n the least.
func (ks *kernelSet[T]) pick(n int) *kernelSet[T] {
	if ks.alt != nil && roundUp(n, ks.alt.nr) < roundUp(n, ks.nr) {
		return ks.alt
	}
	return ks
}

// job is the state of one GEMM call: its arguments, the packing buffers and
// the current phase that the workers are executing. Jobs (with their
// buffers) are recycled through kernelSet.pool: a large GEMM needs a few MiB
// of packing space, and a per-call allocation of closures and buffers would
// cost small GEMMs (attention heads) more than their arithmetic.
type job[T Float] struct {
	ks             *kernelSet[T]
	transA, transB bool
	alpha, beta    T
	a, b, c        []T
	lda, ldb, ldc  int
	workers        int

	bufA, bufB []T
	tiles      []T // one mr×nr edge-tile scratch per worker

	// The phase being run and its loop indices.
	phase                     int
	tasks                     int
	next                      atomic.Int64
	wg                        sync.WaitGroup
	jc, nb, pc, kb, is, ms    int
	bTasks                    int
	rowStep, colStep, colCols int
}

const (
	phasePack = iota
	phaseCompute
)

func (ks *kernelSet[T]) getJob(na, nb, workers int) *job[T] {
	j, _ := ks.pool.Get().(*job[T])
	if j == nil {
		j = &job[T]{ks: ks}
	}
	if cap(j.bufA) < na {
		j.bufA = make([]T, na)
	}
	if cap(j.bufB) < nb {
		j.bufB = make([]T, nb)
	}
	if nt := workers * ks.mr * ks.nr; cap(j.tiles) < nt {
		j.tiles = make([]T, nt)
	}
	j.bufA, j.bufB = j.bufA[:na], j.bufB[:nb]
	return j
}

// slabBytes caps the packed A slab (the rows of op(A) packed per k block):
// all of m is packed at once up to this size, so that the workers share one
// packing of each operand, while slab and B panel stay well inside L3.
const slabBytes = 4 << 20

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
// and, for each, the ir loop walks the A block.
func gemm[T Float](ks *kernelSet[T], maxWorkers int, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ks = ks.pick(n)
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
	slab := max(ks.mc, slabBytes/int(unsafe.Sizeof(alpha))/kcMax/ks.mc*ks.mc)
	msMax := roundUp(min(slab, m), mr)
	j := ks.getJob(msMax*kcMax, ncMax*kcMax, workers)
	j.transA, j.transB = transA, transB
	j.alpha, j.beta, j.a, j.b, j.c = alpha, beta, a, b, c
	j.lda, j.ldb, j.ldc, j.workers = lda, ldb, ldc, workers

	for jc := 0; jc < n; jc += ks.nc {
		j.jc, j.nb = jc, min(ks.nc, n-jc)
		nbp := ceilDiv(j.nb, nr) // B micro-panels
		for pc := 0; pc < k; pc += ks.kc {
			j.pc, j.kb = pc, min(ks.kc, k-pc)
			for is := 0; is < m; is += slab {
				j.is, j.ms = is, min(slab, m-is)
				// Packing phase: chunks of B micro-panels (first slab only),
				// then chunks of A micro-panels.
				j.bTasks = 0
				if is == 0 {
					j.bTasks = ceilDiv(nbp, packChunk)
				}
				j.run(phasePack, j.bTasks+ceilDiv(ceilDiv(j.ms, mr), packChunk))
				// Compute phase over a grid of C tiles: row blocks of at most
				// mc rows, and enough column chunks for ~3 tiles per worker.
				rowBlocks := ceilDiv(j.ms, ks.mc)
				j.rowStep = roundUp(ceilDiv(j.ms, rowBlocks), mr)
				rowBlocks = ceilDiv(j.ms, j.rowStep)
				colChunks := 1
				if workers > 1 {
					colChunks = min(nbp, max(1, ceilDiv(3*workers, rowBlocks)))
				}
				j.colStep = ceilDiv(nbp, colChunks) * nr
				j.colCols = ceilDiv(j.nb, j.colStep)
				j.run(phaseCompute, rowBlocks*j.colCols)
			}
		}
	}
	// Drop the references to the caller's matrices before pooling.
	j.a, j.b, j.c = nil, nil, nil
	ks.pool.Put(j)
}

// run executes tasks 0..tasks-1 of a phase on up to j.workers goroutines
// (the calling one included) and returns when all are done.
func (j *job[T]) run(phase, tasks int) {
	j.phase, j.tasks = phase, tasks
	j.next.Store(0)
	w := min(j.workers, tasks)
	if w <= 1 {
		for t := range tasks {
			j.do(t, 0)
		}
		return
	}
	j.wg.Add(w - 1)
	for i := 1; i < w; i++ {
		go j.worker(i)
	}
	j.loop(0)
	j.wg.Wait()
}

func (j *job[T]) worker(w int) {
	defer j.wg.Done()
	j.loop(w)
}

func (j *job[T]) loop(w int) {
	for {
		t := int(j.next.Add(1) - 1)
		if t >= j.tasks {
			return
		}
		j.do(t, w)
	}
}

// do runs task t of the current phase on worker w.
func (j *job[T]) do(t, w int) {
	ks := j.ks
	mr, nr, kb := ks.mr, ks.nr, j.kb
	if j.phase == phasePack {
		if t < j.bTasks {
			q0 := t * packChunk * nr
			cols := min(packChunk*nr, j.nb-q0)
			packB(ks, j.bufB[q0*kb:], j.transB, j.b, j.ldb, j.pc, j.jc+q0, kb, cols, nr)
			return
		}
		q0 := (t - j.bTasks) * packChunk * mr
		rows := min(packChunk*mr, j.ms-q0)
		packA(ks, j.bufA[q0*kb:], j.transA, j.a, j.lda, j.is+q0, j.pc, rows, kb, j.alpha)
		return
	}
	r0 := t / j.colCols * j.rowStep
	c0 := t % j.colCols * j.colStep
	rows, cols := min(j.rowStep, j.ms-r0), min(j.colStep, j.nb-c0)
	cOff := (j.is+r0)*j.ldc + j.jc + c0
	add := 1
	if j.pc == 0 {
		// First k block of this tile: beta == 0 lets the kernel overwrite
		// C (NaNs in C never reach the result), otherwise C is scaled
		// first and accumulated into.
		if j.beta == 0 {
			add = 0
		} else {
			scaleC(rows, cols, j.beta, j.c[cOff:], j.ldc)
		}
	}
	macroKernel(ks, kb, rows, cols, j.bufA[r0*kb:], j.bufB[c0*kb:], j.c[cOff:], j.ldc, j.tiles[w*mr*nr:(w+1)*mr*nr], add)
}

// macroKernel multiplies a packed rows×kb block of A by a packed kb×cols
// panel of B into C: the jr and ir loops of the Goto algorithm.
func macroKernel[T Float](ks *kernelSet[T], kb, rows, cols int, ap, bp, c []T, ldc int, tile []T, add int) {
	mr, nr := ks.mr, ks.nr
	for jr := 0; jr < cols; jr += nr {
		nrr := min(nr, cols-jr)
		b := &bp[jr*kb]
		for ir := 0; ir < rows; ir += mr {
			mrr := min(mr, rows-ir)
			a := &ap[ir*kb]
			ci := ir*ldc + jr
			if mrr == mr && nrr == nr {
				ks.kern(kb, a, b, &c[ci], ldc, add)
				continue
			}
			// Edge tile: the packed panels are zero-padded, so the kernel
			// writes a full tile into scratch and only the valid part goes
			// to C.
			ks.kern(kb, a, b, &tile[0], nr, 0)
			for i := range mrr {
				crow := c[ci+i*ldc : ci+i*ldc+nrr]
				trow := tile[i*nr : i*nr+nrr]
				if add == 0 {
					copy(crow, trow)
					continue
				}
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
			if ks.packT8 != nil && mr == 8 && rows == 8 {
				// Whole 8-row panel: SIMD transposes for the full column
				// blocks, the scalar loops below for the rest of k.
				if nblk := kb / ks.packCols; nblk > 0 {
					ks.packT8(nblk, &a[(ic+q)*lda+pc], lda, &panel[0], 8, alpha)
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
func packB[T Float](ks *kernelSet[T], dst []T, trans bool, b []T, ldb, pc, jc, kb, nb, nr int) {
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
			// panel along a contiguous row of b. Groups of 8 columns go
			// through the SIMD transpose where there is one.
			j0 := 0
			if ks.packT8 != nil && nr%8 == 0 {
				done := kb / ks.packCols * ks.packCols
				for ; j0+8 <= cols && done > 0; j0 += 8 {
					ks.packT8(done/ks.packCols, &b[(jc+q+j0)*ldb+pc], ldb, &panel[j0], nr, 1)
					for j := j0; j < j0+8; j++ {
						src := b[(jc+q+j)*ldb+pc+done : (jc+q+j)*ldb+pc+kb]
						for p, v := range src {
							panel[(done+p)*nr+j] = v
						}
					}
				}
			}
			for j := j0; j < cols; j++ {
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
