package cpu

import "github.com/kiln-ml/kiln/device"

var _ device.BSRMultiplier = (*Device)(nil)

// BSRMatMul overwrites the (blockRows·br)×n matrix c with A·b, A in block compressed sparse
// row storage (see device.BSRMultiplier). The structure is checked before anything is
// written: row pointers that decrease or run past colidx, block columns outside b, and short
// vals panic with a *device.Error. Block rows are independent (each writes its own br rows
// of c), so they are spread over GOMAXPROCS goroutines; within a block, row r of c
// accumulates A[r, q]·b[q, :] over the contiguous rows of b, four rows of b at a time.
func (d *Device) BSRMatMul(rowptr, colidx, vals, b, c device.Buffer, blockRows, br, bc, n int) {
	const op = "BSRMatMul"
	rp, ci := get(rowptr, op), get(colidx, op)
	if rp.dtype != device.Int32 || ci.dtype != device.Int32 {
		device.Panicf(op, "rowptr and colidx must be int32, not %s and %s", rp.dtype, ci.dtype)
	}
	cb := getFloat(c, op, "c", 0)
	vb := getFloat(vals, op, "vals", cb.dtype)
	bb := getFloat(b, op, "b", cb.dtype)
	if blockRows < 0 || br <= 0 || bc <= 0 || n < 0 {
		device.Panicf(op, "bad sizes blockRows=%d br=%d bc=%d n=%d", blockRows, br, bc, n)
	}
	needLen(rp, blockRows+1, op, "rowptr")
	needLen(cb, blockRows*br*n, op, "c")
	if n > 0 && bb.n%n != 0 {
		device.Panicf(op, "b has %d elements, not a whole number of %d-column rows", bb.n, n)
	}
	if blockRows == 0 || n == 0 {
		return
	}
	ptr := rp.i32[:blockRows+1]
	if ptr[0] < 0 {
		device.Panicf(op, "rowptr[0] = %d is negative", ptr[0])
	}
	for i := 0; i < blockRows; i++ {
		if ptr[i+1] < ptr[i] {
			device.Panicf(op, "rowptr decreases at block row %d (%d → %d)", i, ptr[i], ptr[i+1])
		}
	}
	last := int(ptr[blockRows])
	needLen(ci, last, op, "colidx")
	needLen(vb, last*br*bc, op, "vals")
	blockCols := bb.n / n / bc
	for k, j := range ci.i32[ptr[0]:last] {
		if j < 0 || int(j) >= blockCols {
			device.Panicf(op, "block %d has block column %d; b has %d block columns of %d rows", int(ptr[0])+k, j, blockCols, bc)
		}
	}
	if cb.dtype == device.Float32 {
		bsrMatMul(ptr, ci.i32, floats[float32](vb), floats[float32](bb), floats[float32](cb), br, bc, n)
	} else {
		bsrMatMul(ptr, ci.i32, floats[float64](vb), floats[float64](bb), floats[float64](cb), br, bc, n)
	}
}

func bsrMatMul[T float](ptr, colidx []int32, vals, b, c []T, br, bc, n int) {
	blockRows := len(ptr) - 1
	bs := br * bc
	// The cost of a block row is its stored blocks' multiply-adds; the average guides the
	// decision to go parallel.
	cost := max(1, int(ptr[blockRows]-ptr[0])*bs*n/blockRows)
	parallelFor(blockRows, cost, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rows := c[i*br*n : (i+1)*br*n]
			clear(rows)
			for blk := int(ptr[i]); blk < int(ptr[i+1]); blk++ {
				j := int(colidx[blk])
				v := vals[blk*bs : (blk+1)*bs]
				for r := 0; r < br; r++ {
					crow := rows[r*n : (r+1)*n]
					vr := v[r*bc : (r+1)*bc]
					q := 0
					// Four rows of b per pass over the row of c: a quarter of the loads and
					// stores of c that one axpy per value would cost.
					for ; q+4 <= bc; q += 4 {
						v0, v1, v2, v3 := vr[q], vr[q+1], vr[q+2], vr[q+3]
						base := (j*bc + q) * n
						b0 := b[base : base+n][:len(crow)]
						b1 := b[base+n : base+2*n][:len(crow)]
						b2 := b[base+2*n : base+3*n][:len(crow)]
						b3 := b[base+3*n : base+4*n][:len(crow)]
						for x := range crow {
							crow[x] += v0*b0[x] + v1*b1[x] + v2*b2[x] + v3*b3[x]
						}
					}
					for ; q < bc; q++ {
						w := vr[q]
						brow := b[(j*bc+q)*n : (j*bc+q+1)*n][:len(crow)]
						for x := range crow {
							crow[x] += w * brow[x]
						}
					}
				}
			}
		}
	})
}
