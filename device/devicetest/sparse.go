package devicetest

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
)

// bsrCase is one block-sparse × dense product: a (blockRows·br)×(blockCols·bc) matrix A in
// BSR storage times a dense (blockCols·bc)×n matrix B.
type bsrCase struct {
	blockRows, blockCols, br, bc, n int
	// pattern: "random" (about 40% of the blocks, block row 1 left empty), "empty" (no
	// stored block at all) or "full" (every block stored).
	pattern string
}

func bsrCases(s *suite, dt device.DType) {
	bm, ok := s.dev.(device.BSRMultiplier)
	if !ok {
		// The interface is optional: package linalg multiplies on the host instead.
		s.run("BSRMatMul", dt, "not implemented by this backend (linalg multiplies on the host)", func(*env) float64 { return 0 })
		return
	}
	cases := pick(s,
		[]bsrCase{
			{3, 4, 1, 1, 7, "random"}, {5, 3, 2, 3, 33, "random"}, {7, 5, 3, 4, 45, "random"},
			{4, 6, 4, 4, 130, "random"}, {3, 2, 3, 5, 1, "empty"}, {2, 3, 5, 2, 9, "full"},
		},
		[]bsrCase{
			{1, 1, 1, 1, 1, "full"}, {3, 4, 1, 1, 7, "random"}, {5, 3, 2, 3, 33, "random"},
			{7, 5, 3, 4, 45, "random"}, {4, 6, 4, 4, 130, "random"}, {3, 2, 3, 5, 1, "empty"},
			{2, 3, 5, 2, 9, "full"}, {16, 16, 16, 16, 64, "random"}, {33, 9, 1, 7, 130, "random"},
			{2, 40, 8, 2, 257, "random"}, {9, 9, 7, 7, 100, "full"},
		})
	for _, c := range cases {
		name := fmt.Sprintf("%d×%d blocks of %d×%d, n=%d, %s", c.blockRows, c.blockCols, c.br, c.bc, c.n, c.pattern)
		s.run("BSRMatMul", dt, name, func(e *env) float64 { return runBSR(e, bm, c) })
	}
	s.run("BSRMatMul", dt, "float32 row pointers panics", func(e *env) float64 {
		rp, ci := e.alloc(device.Float32, 3), e.uploadIdx([]int32{0})
		vals, b, c := e.alloc(dt, 4), e.alloc(dt, 2*3), e.alloc(dt, 4*3)
		e.expectPanic("BSRMatMul with float32 rowptr", func() { bm.BSRMatMul(rp, ci, vals, b, c, 2, 2, 2, 3) })
		return 0
	})
	s.run("BSRMatMul", dt, "short c panics", func(e *env) float64 {
		rp, ci := e.uploadIdx([]int32{0, 1, 1}), e.uploadIdx([]int32{0})
		vals, b, c := e.alloc(dt, 4), e.alloc(dt, 2*3), e.alloc(dt, 4*3-1)
		e.expectPanic("BSRMatMul with an 11-element C for 4×3", func() { bm.BSRMatMul(rp, ci, vals, b, c, 2, 2, 2, 3) })
		return 0
	})
	s.run("BSRMatMul", dt, "values of another dtype panics", func(e *env) float64 {
		other := device.Float64
		if dt == device.Float64 {
			other = device.Float32
		}
		rp, ci := e.uploadIdx([]int32{0, 1, 1}), e.uploadIdx([]int32{0})
		vals, b, c := e.alloc(other, 4), e.alloc(dt, 2*3), e.alloc(dt, 4*3)
		e.expectPanic("BSRMatMul with values of another dtype", func() { bm.BSRMatMul(rp, ci, vals, b, c, 2, 2, 2, 3) })
		return 0
	})
}

// runBSR builds the matrix on the host, multiplies on the device into a NaN-filled C with a
// guard element after it, and compares with the dense float64 product. The scale of C[i,j]
// is Σ|a_iq·b_qj| over the stored entries; the tolerance grows with the longest row's terms.
func runBSR(e *env, bm device.BSRMultiplier, c bsrCase) float64 {
	bs := c.br * c.bc
	rowptr := []int32{0}
	var colidx []int32
	var vals []float64
	longest := 0
	for i := 0; i < c.blockRows; i++ {
		draw := e.uniform(c.blockCols, 0, 1)
		stored := 0
		for j := 0; j < c.blockCols; j++ {
			keep := c.pattern == "full" || (c.pattern == "random" && i != 1 && draw[j] < 0.4)
			if !keep {
				continue
			}
			colidx = append(colidx, int32(j))
			vals = append(vals, e.normal(bs, 0, 1)...)
			stored++
		}
		longest = max(longest, stored)
		rowptr = append(rowptr, int32(len(colidx)))
	}
	rows, inner := c.blockRows*c.br, c.blockCols*c.bc
	B := e.normal(inner*c.n, 0, 1)
	// Dense A for the reference: the stored blocks, zeros elsewhere.
	A := make([]float64, rows*inner)
	for i := 0; i < c.blockRows; i++ {
		for k := rowptr[i]; k < rowptr[i+1]; k++ {
			j := int(colidx[k])
			for r := 0; r < c.br; r++ {
				for q := 0; q < c.bc; q++ {
					at := r*c.bc + q
					if e.s.opts.mutation == "bsr-column-major-blocks" {
						at = q*c.br + r
					}
					A[(i*c.br+r)*inner+j*c.bc+q] = vals[int(k)*bs+at]
				}
			}
		}
	}
	if e.s.opts.mutation == "bsr-drop-last-block" {
		for i := 0; i < c.blockRows; i++ {
			if k := rowptr[i+1] - 1; k >= rowptr[i] {
				j := int(colidx[k])
				for r := 0; r < c.br; r++ {
					clear(A[(i*c.br+r)*inner+j*c.bc : (i*c.br+r)*inner+(j+1)*c.bc])
				}
			}
		}
	}
	// Index and value buffers are never empty: a matrix without stored blocks gets one
	// unused element, as package linalg uploads it.
	ci := colidx
	if len(ci) == 0 {
		ci = []int32{0}
	}
	vs := vals
	if len(vs) == 0 {
		vs = []float64{0}
	}
	C := make([]float64, rows*c.n+1)
	for i := range C {
		C[i] = math.NaN()
	}
	C[len(C)-1] = 0.5
	cb := e.upload(C)
	bm.BSRMatMul(e.uploadIdx(rowptr), e.uploadIdx(ci), e.upload(vs), e.upload(B), cb, c.blockRows, c.br, c.bc, c.n)

	want, scale := make([]float64, len(C)), make([]float64, len(C))
	want[len(C)-1], scale[len(C)-1] = C[len(C)-1], 1+math.Abs(C[len(C)-1])
	for i := 0; i < rows; i++ {
		for j := 0; j < c.n; j++ {
			sum, mag := 0.0, 0.0
			for q := 0; q < inner; q++ {
				x := A[i*inner+q] * B[q*c.n+j]
				sum += x
				mag += math.Abs(x)
			}
			want[i*c.n+j] = sum
			scale[i*c.n+j] = mag + math.SmallestNonzeroFloat64
		}
	}
	e.compare(e.download(cb), want, scale)
	return e.tol(8, longest*c.bc+2)
}
