//go:build cuda || cudaemu

package cuda

import "github.com/kiln-ml/kiln/device"

var _ device.BSRMultiplier = (*Device)(nil)

// BSRMatMul overwrites the (blockRows·br)×n matrix c with A·b, A in block compressed sparse
// row form (rowptr: blockRows+1 int32, colidx: int32 per stored block, vals: br·bc per block,
// row-major) and b dense row-major with n columns, through kernels/linalg.cu's kiln_bsr_mm.
// It makes the device a device.BSRMultiplier, which package linalg uses and the
// conformance suite checks.
//
// CPU reference: device/cpu (*Device).BSRMatMul.
func (d *Device) BSRMatMul(rowptr, colidx, vals, b, c device.Buffer, blockRows, br, bc, n int) {
	const op = "BSRMatMul"
	rp, ci, vb, bb, cb := d.buf(op, rowptr), d.buf(op, colidx), d.buf(op, vals), d.buf(op, b), d.buf(op, c)
	if rp.dtype != device.Int32 || ci.dtype != device.Int32 {
		device.Panicf(op, "rowptr and colidx must be int32, not %v and %v", rp.dtype, ci.dtype)
	}
	sameDType(op, vb, bb, cb)
	s := sfx(op, vb.dtype)
	if blockRows < 0 || br <= 0 || bc <= 0 || n < 0 {
		device.Panicf(op, "bad sizes blockRows=%d br=%d bc=%d n=%d", blockRows, br, bc, n)
	}
	checkLen(op, "rowptr", rp, blockRows+1)
	checkLen(op, "c", cb, blockRows*br*n)
	if n > 0 && bb.n%n != 0 {
		device.Panicf(op, "b has %d elements, not a whole number of %d-column rows", bb.n, n)
	}
	if blockRows == 0 || n == 0 {
		return
	}
	d.enter()
	defer d.leave()
	// Block rows go to grid.y, at most 65535 per launch.
	for i0 := 0; i0 < blockRows; i0 += 65535 {
		nb := min(blockRows-i0, 65535)
		d.launch("kiln_bsr_mm_"+s, dim3{x: (n + 31) / 32, y: nb}, dim3{x: 32, y: 8}, 0,
			rp.at(i0), ci.ptr, vb.ptr, bb.ptr, cb.at(i0*br*n), br, bc, n, n, n)
	}
}
