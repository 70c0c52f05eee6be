package linalg

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/rng"
	"github.com/kiln-ml/kiln/tensor"
)

// Float is the element type of host-side sparse matrices.
type Float interface{ ~float32 | ~float64 }

// BSR is a sparse matrix in block compressed sparse row storage: the Rows×Cols matrix is
// tiled by BR×BC blocks, and only the blocks that hold a nonzero are stored. Block row i owns
// the stored blocks RowPtr[i] … RowPtr[i+1]−1; block b sits in block column ColIdx[b] (sorted
// within a block row) and its BR·BC values are Values[b·BR·BC:], row-major inside the block.
// This is the layout of scipy.sparse.bsr_matrix and cuSPARSE's BSR (with row-major blocks).
type BSR[T Float] struct {
	Rows, Cols int
	BR, BC     int
	RowPtr     []int
	ColIdx     []int
	Values     []T
}

// NNZBlocks is the number of stored blocks.
func (a *BSR[T]) NNZBlocks() int { return len(a.ColIdx) }

// Density is the fraction of the matrix's entries that lie in stored blocks.
func (a *BSR[T]) Density() float64 {
	if a.Rows == 0 || a.Cols == 0 {
		return 0
	}
	return float64(a.NNZBlocks()*a.BR*a.BC) / (float64(a.Rows) * float64(a.Cols))
}

// Bytes is the storage of the BSR arrays (values plus 64-bit indices).
func (a *BSR[T]) Bytes() int {
	var z T
	return len(a.Values)*sizeOf(z) + 8*(len(a.RowPtr)+len(a.ColIdx))
}

func sizeOf[T Float](z T) int {
	if _, ok := any(z).(float32); ok {
		return 4
	}
	return 8
}

// Validate checks the structural invariants, for BSR matrices built by hand.
func (a *BSR[T]) Validate() error {
	if a.BR < 1 || a.BC < 1 || a.Rows < 0 || a.Cols < 0 || a.Rows%a.BR != 0 || a.Cols%a.BC != 0 {
		return fmt.Errorf("linalg: BSR %d×%d with %d×%d blocks: the block size must divide the matrix size", a.Rows, a.Cols, a.BR, a.BC)
	}
	nbr, nbc := a.Rows/a.BR, a.Cols/a.BC
	if len(a.RowPtr) != nbr+1 || a.RowPtr[0] != 0 || a.RowPtr[nbr] != len(a.ColIdx) {
		return fmt.Errorf("linalg: BSR row pointers of length %d for %d block rows and %d blocks", len(a.RowPtr), nbr, len(a.ColIdx))
	}
	if len(a.Values) != len(a.ColIdx)*a.BR*a.BC {
		return fmt.Errorf("linalg: BSR with %d blocks of %d×%d holds %d values", len(a.ColIdx), a.BR, a.BC, len(a.Values))
	}
	for i := 0; i < nbr; i++ {
		if a.RowPtr[i] > a.RowPtr[i+1] {
			return fmt.Errorf("linalg: BSR row pointers decrease at block row %d", i)
		}
		for b := a.RowPtr[i]; b < a.RowPtr[i+1]; b++ {
			c := a.ColIdx[b]
			if c < 0 || c >= nbc || (b > a.RowPtr[i] && c <= a.ColIdx[b-1]) {
				return fmt.Errorf("linalg: BSR block row %d: block columns must be in [0, %d) and increasing", i, nbc)
			}
		}
	}
	return nil
}

// DenseToBSR converts a row-major rows×cols matrix to BSR with br×bc blocks, storing every
// block that holds a nonzero entry.
func DenseToBSR[T Float](dense []T, rows, cols, br, bc int) (*BSR[T], error) {
	if len(dense) != rows*cols {
		return nil, fmt.Errorf("linalg: %d values for a %d×%d matrix", len(dense), rows, cols)
	}
	a := &BSR[T]{Rows: rows, Cols: cols, BR: br, BC: bc}
	if br < 1 || bc < 1 || rows%br != 0 || cols%bc != 0 {
		return nil, fmt.Errorf("linalg: %d×%d blocks do not tile a %d×%d matrix", br, bc, rows, cols)
	}
	nbr, nbc := rows/br, cols/bc
	a.RowPtr = make([]int, nbr+1)
	for i := 0; i < nbr; i++ {
		for j := 0; j < nbc; j++ {
			nz := false
			for r := 0; r < br && !nz; r++ {
				row := dense[(i*br+r)*cols+j*bc : (i*br+r)*cols+(j+1)*bc]
				for _, v := range row {
					if v != 0 {
						nz = true
						break
					}
				}
			}
			if !nz {
				continue
			}
			a.ColIdx = append(a.ColIdx, j)
			for r := 0; r < br; r++ {
				a.Values = append(a.Values, dense[(i*br+r)*cols+j*bc:(i*br+r)*cols+(j+1)*bc]...)
			}
		}
		a.RowPtr[i+1] = len(a.ColIdx)
	}
	return a, nil
}

// ToDense expands the matrix to a row-major slice.
func (a *BSR[T]) ToDense() []T {
	out := make([]T, a.Rows*a.Cols)
	bs := a.BR * a.BC
	for i := 0; i+1 < len(a.RowPtr); i++ {
		for b := a.RowPtr[i]; b < a.RowPtr[i+1]; b++ {
			j := a.ColIdx[b]
			for r := 0; r < a.BR; r++ {
				copy(out[(i*a.BR+r)*a.Cols+j*a.BC:], a.Values[b*bs+r*a.BC:b*bs+(r+1)*a.BC])
			}
		}
	}
	return out
}

// MulDense returns C = A·B for a row-major Cols×n matrix B, as a row-major Rows×n slice.
// Block rows are independent (each writes its own BR rows of C), so they are spread over
// GOMAXPROCS goroutines; within a block, row r of C accumulates A[r, c]·B[c, :] over the
// contiguous rows of B, four rows of B at a time.
func (a *BSR[T]) MulDense(b []T, n int) ([]T, error) {
	if n < 0 || len(b) != a.Cols*n {
		return nil, fmt.Errorf("linalg: BSR %d×%d times %d values (want %d×%d)", a.Rows, a.Cols, len(b), a.Cols, n)
	}
	c := make([]T, a.Rows*n)
	nbr := len(a.RowPtr) - 1
	workers := min(runtime.GOMAXPROCS(0), nbr)
	if workers < 1 {
		return c, nil
	}
	var wg sync.WaitGroup
	next := make(chan int, nbr)
	for i := 0; i < nbr; i++ {
		next <- i
	}
	close(next)
	bs := a.BR * a.BC
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				for blk := a.RowPtr[i]; blk < a.RowPtr[i+1]; blk++ {
					j := a.ColIdx[blk]
					vals := a.Values[blk*bs : (blk+1)*bs]
					for r := 0; r < a.BR; r++ {
						crow := c[(i*a.BR+r)*n : (i*a.BR+r+1)*n]
						vr := vals[r*a.BC : (r+1)*a.BC]
						q := 0
						// Four rows of B per pass over the row of C: a quarter of the loads
						// and stores of C that one axpy per value would cost.
						for ; q+4 <= a.BC; q += 4 {
							v0, v1, v2, v3 := vr[q], vr[q+1], vr[q+2], vr[q+3]
							base := (j*a.BC + q) * n
							b0 := b[base : base+n]
							b1 := b[base+n : base+2*n]
							b2 := b[base+2*n : base+3*n]
							b3 := b[base+3*n : base+4*n]
							b0, b1, b2, b3 = b0[:len(crow)], b1[:len(crow)], b2[:len(crow)], b3[:len(crow)]
							for x := range crow {
								crow[x] += v0*b0[x] + v1*b1[x] + v2*b2[x] + v3*b3[x]
							}
						}
						for ; q < a.BC; q++ {
							v := vr[q]
							brow := b[(j*a.BC+q)*n : (j*a.BC+q+1)*n]
							for x := range crow {
								crow[x] += v * brow[x]
							}
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	return c, nil
}

// BSRDevice is a backend with a native BSR × dense product: device.BSRMultiplier, which the
// CPU backend and the CUDA backend (kiln_bsr_mm_f32/f64 in kernels/linalg.cu) implement and
// the conformance suite checks. MulTensor uses it when B's device has it and otherwise
// multiplies on the host.
type BSRDevice = device.BSRMultiplier

// MulTensor returns A·B for a Cols×n tensor B of the same precision as A, on B's device:
// through BSRDevice when the device implements it, else on the host (MulDense, with B
// copied down and C up).
func (a *BSR[T]) MulTensor(b *tensor.Tensor) (c *tensor.Tensor, err error) {
	if b.Rank() != 2 || b.Dim(0) != a.Cols {
		return nil, fmt.Errorf("linalg: BSR %d×%d times a tensor of shape %v", a.Rows, a.Cols, b.Shape())
	}
	var z T
	want := tensor.Float64
	if _, ok := any(z).(float32); ok {
		want = tensor.Float32
	}
	if b.DType() != want {
		return nil, fmt.Errorf("linalg: %s BSR times a %s tensor", want, b.DType())
	}
	n := b.Dim(1)
	err = tensor.Catch(func() error {
		dev := b.Device()
		if bd, ok := dev.(BSRDevice); ok {
			c = a.mulOnDevice(bd, b, n)
			return nil
		}
		switch v := any(a).(type) {
		case *BSR[float32]:
			out, err := v.MulDense(b.Float32s(), n)
			if err != nil {
				return err
			}
			c = tensor.FromFloat32(dev, out, a.Rows, n)
		case *BSR[float64]:
			out, err := v.MulDense(b.Float64s(), n)
			if err != nil {
				return err
			}
			c = tensor.FromFloat64(dev, out, a.Rows, n)
		}
		return nil
	})
	return c, err
}

// mulOnDevice uploads the BSR arrays (indices as int32) and calls the backend's kernel.
func (a *BSR[T]) mulOnDevice(bd BSRDevice, b *tensor.Tensor, n int) *tensor.Tensor {
	dev := b.Device()
	if len(a.ColIdx) > math.MaxInt32 || a.Rows/a.BR > math.MaxInt32 {
		panic(fmt.Errorf("linalg: BSR too large for int32 block indices"))
	}
	rp := make([]int32, len(a.RowPtr))
	for i, v := range a.RowPtr {
		rp[i] = int32(v)
	}
	ci := make([]int32, len(a.ColIdx))
	for i, v := range a.ColIdx {
		ci[i] = int32(v)
	}
	rowptr := tensor.FromInt32(dev, rp)
	defer rowptr.Release()
	// An empty index slice would make a zero-length tensor; keep one dummy element.
	if len(ci) == 0 {
		ci = []int32{0}
	}
	colidx := tensor.FromInt32(dev, ci)
	defer colidx.Release()
	var vals *tensor.Tensor
	switch v := any(a.Values).(type) {
	case []float32:
		vals = tensor.FromFloat32(dev, append(v, 0)[:max(len(v), 1)])
	case []float64:
		vals = tensor.FromFloat64(dev, append(v, 0)[:max(len(v), 1)])
	}
	defer vals.Release()
	c := tensor.Zeros(dev, b.DType(), a.Rows, n)
	bd.BSRMatMul(rowptr.Buffer(), colidx.Buffer(), vals.Buffer(), b.Buffer(), c.Buffer(), a.Rows/a.BR, a.BR, a.BC, n)
	return c
}

// ---------------------------------------------------------------------------------------
// Generators

// SparseKind names a sparsity generator.
type SparseKind string

const (
	// SparseBlock scatters blocks uniformly at random.
	SparseBlock SparseKind = "block"
	// SparseHierarchical places blocks by a quad-tree (see RandomHierarchical).
	SparseHierarchical SparseKind = "hierarchical"
)

// RandomSparse dispatches to RandomBlockSparse or RandomHierarchical.
func RandomSparse[T Float](kind SparseKind, n, block int, density float64, seed uint64) (*BSR[T], error) {
	switch kind {
	case SparseBlock:
		return RandomBlockSparse[T](n, block, density, seed)
	case SparseHierarchical:
		return RandomHierarchical[T](n, block, density, seed)
	}
	return nil, fmt.Errorf("linalg: unknown sparsity kind %q (want block or hierarchical)", kind)
}

func checkGen(n, block int, density float64) (int, int, error) {
	if n < 1 || block < 1 {
		return 0, 0, fmt.Errorf("linalg: matrix size %d and block size %d must be ≥ 1", n, block)
	}
	if n%block != 0 {
		return 0, 0, fmt.Errorf("linalg: block size %d does not divide the matrix size %d", block, n)
	}
	if !(density > 0 && density <= 1) {
		return 0, 0, fmt.Errorf("linalg: density %v must lie in (0, 1]", density)
	}
	nb := n / block
	// The number of stored blocks is the requested density rounded to whole blocks (at
	// least one), so the achieved density is within half a block of the request.
	k := int(math.Round(density * float64(nb*nb)))
	return nb, max(k, 1), nil
}

// RandomBlockSparse returns an n×n BSR matrix with block×block blocks of which exactly
// round(density·(n/block)²) are stored, chosen uniformly without replacement (a partial
// Fisher–Yates shuffle) and filled with N(0, 1) values, all from the Philox stream of seed.
func RandomBlockSparse[T Float](n, block int, density float64, seed uint64) (*BSR[T], error) {
	nb, k, err := checkGen(n, block, density)
	if err != nil {
		return nil, err
	}
	s := &rng.Stream{Seed: seed}
	cells := make([]int, nb*nb)
	for i := range cells {
		cells[i] = i
	}
	off := s.Next(k)
	for i := 0; i < k; i++ {
		j := i + int(rng.UniformAt(seed, off, i, 0, 1)*float64(len(cells)-i))
		j = min(j, len(cells)-1)
		cells[i], cells[j] = cells[j], cells[i]
	}
	return fromCells[T](n, block, cells[:k], s), nil
}

// RandomHierarchical returns an n×n BSR matrix whose stored blocks follow a quad-tree, the
// pattern of hierarchical (H-) matrices: a region of the block grid that must receive k
// blocks is empty when k = 0, full when k equals its size, and otherwise split into four
// quadrants that share k in proportion to their size times a random log-normal weight
// (σ = 1), with the two diagonal quadrants weighted twice. The result is clustered at every
// scale and denser near the diagonal, and it stores exactly round(density·(n/block)²)
// blocks. This generator is kiln's own design; its randomness is the Philox stream of seed.
func RandomHierarchical[T Float](n, block int, density float64, seed uint64) (*BSR[T], error) {
	nb, k, err := checkGen(n, block, density)
	if err != nil {
		return nil, err
	}
	s := &rng.Stream{Seed: seed}
	var cells []int
	var fill func(r0, r1, c0, c1, k int)
	fill = func(r0, r1, c0, c1, k int) {
		area := (r1 - r0) * (c1 - c0)
		if k <= 0 {
			return
		}
		if k >= area {
			for r := r0; r < r1; r++ {
				for c := c0; c < c1; c++ {
					cells = append(cells, r*nb+c)
				}
			}
			return
		}
		rm, cm := (r0+r1+1)/2, (c0+c1+1)/2
		type quad struct {
			r0, r1, c0, c1 int
			diag           bool
		}
		var qs []quad
		for _, q := range []quad{{r0, rm, c0, cm, true}, {r0, rm, cm, c1, false}, {rm, r1, c0, cm, false}, {rm, r1, cm, c1, true}} {
			if q.r1 > q.r0 && q.c1 > q.c0 {
				qs = append(qs, q)
			}
		}
		off := s.Next(len(qs))
		w := make([]float64, len(qs))
		caps := make([]int, len(qs))
		var wsum float64
		for i, q := range qs {
			caps[i] = (q.r1 - q.r0) * (q.c1 - q.c0)
			w[i] = float64(caps[i]) * math.Exp(rng.NormalAt(seed, off, i, 0, 1))
			if q.diag && r0 == c0 && r1 == c1 {
				w[i] *= 2
			}
			wsum += w[i]
		}
		share := allocate(k, w, wsum, caps)
		for i, q := range qs {
			fill(q.r0, q.r1, q.c0, q.c1, share[i])
		}
	}
	fill(0, nb, 0, nb, k)
	return fromCells[T](n, block, cells, s), nil
}

// allocate splits k items over bins with weights w and capacities caps: each bin gets its
// proportional share rounded down, capped at its capacity, and the remainder goes one at a
// time to the bins with spare room, largest weight first. Σ caps ≥ k is assumed.
func allocate(k int, w []float64, wsum float64, caps []int) []int {
	out := make([]int, len(w))
	left := k
	for i := range w {
		out[i] = min(int(float64(k)*w[i]/wsum), caps[i])
		left -= out[i]
	}
	order := make([]int, len(w))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return w[order[a]] > w[order[b]] })
	for left > 0 {
		for _, i := range order {
			if left > 0 && out[i] < caps[i] {
				out[i]++
				left--
			}
		}
	}
	return out
}

// fromCells builds the BSR matrix whose stored blocks are the given cells (r·nb + c) with
// N(0, 1) values drawn from the stream.
func fromCells[T Float](n, block int, cells []int, s *rng.Stream) *BSR[T] {
	nb := n / block
	sort.Ints(cells)
	a := &BSR[T]{Rows: n, Cols: n, BR: block, BC: block, RowPtr: make([]int, nb+1)}
	a.ColIdx = make([]int, len(cells))
	for i, c := range cells {
		a.ColIdx[i] = c % nb
		a.RowPtr[c/nb+1]++
	}
	for i := 0; i < nb; i++ {
		a.RowPtr[i+1] += a.RowPtr[i]
	}
	vals := make([]float64, len(cells)*block*block)
	rng.FillNormal(vals, s.Seed, s.Next(len(vals)), 0, 0, 1)
	a.Values = make([]T, len(vals))
	for i, v := range vals {
		a.Values[i] = T(v)
	}
	return a
}
