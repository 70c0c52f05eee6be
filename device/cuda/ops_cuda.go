//go:build cuda || cudaemu

package cuda

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
)

// Each primitive validates its arguments on the host (a kernel reading out of bounds would
// corrupt the context rather than panic), then launches the kernels of kernels/*.cu. Offsets
// are applied to the device pointers here; the kernels receive pointers to element 0.

const block256 = 256

func sfx(op string, dt device.DType) string {
	switch dt {
	case device.Float32:
		return "f32"
	case device.Float64:
		return "f64"
	}
	device.Panicf(op, "dtype %v is not supported (float32 or float64)", dt)
	return ""
}

func dtSfx(dt device.DType) string {
	switch dt {
	case device.Float32:
		return "f32"
	case device.Float64:
		return "f64"
	case device.Int32:
		return "i32"
	}
	return "?"
}

func checkRange(op string, b *buffer, off, n int) {
	if off < 0 || n < 0 || off+n > b.n {
		device.Panicf(op, "elements [%d, %d) out of a buffer of %d", off, off+n, b.n)
	}
}

func sameDType(op string, bs ...*buffer) {
	for _, b := range bs[1:] {
		if b.dtype != bs[0].dtype {
			device.Panicf(op, "dtype mismatch: %v and %v", bs[0].dtype, b.dtype)
		}
	}
}

func checkLen(op, what string, b *buffer, n int) {
	if b.n < n {
		device.Panicf(op, "%s has %d elements, needs %d", what, b.n, n)
	}
}

// ptrOrNil is the device address of an optional buffer (0 when absent).
func (d *Device) ptrOrNil(op string, b device.Buffer, dt device.DType, n int) uintptr {
	if b == nil {
		return 0
	}
	cb := d.buf(op, b)
	if cb.dtype != dt {
		device.Panicf(op, "dtype mismatch: %v and %v", dt, cb.dtype)
	}
	checkLen(op, "optional operand", cb, n)
	return cb.ptr
}

// Fill: kernels/elementwise.cu kiln_fill_*.
func (d *Device) Fill(dst device.Buffer, offset, n int, v float64) {
	b := d.buf("Fill", dst)
	checkRange("Fill", b, offset, n)
	if n == 0 {
		return
	}
	d.enter()
	defer d.leave()
	d.launch("kiln_fill_"+dtSfx(b.dtype), dim3{x: d.gridFor(int64(n), block256)}, dim3{x: block256}, 0,
		b.at(offset), n, v)
}

// Convert: kernels/elementwise.cu kiln_convert_*.
func (d *Device) Convert(dst device.Buffer, do int, src device.Buffer, so int, n int) {
	db, sb := d.buf("Convert", dst), d.buf("Convert", src)
	checkRange("Convert", db, do, n)
	checkRange("Convert", sb, so, n)
	if n == 0 {
		return
	}
	d.enter()
	defer d.leave()
	d.launch("kiln_convert_"+dtSfx(sb.dtype)+"_"+dtSfx(db.dtype), dim3{x: d.gridFor(int64(n), block256)},
		dim3{x: block256}, 0, sb.at(so), db.at(do), n)
}

// Gemm: kernels/gemm.cu. float32 problems of at least 64×64 take a register-blocked tiled
// kernel (see sgemmTile); the rest (and float64) the 16×16 shared-tile kernel. A float32
// product with few output tiles and a long K is split along K first (gemmSplits), whichever
// kernel computes the slices.
func (d *Device) Gemm(p device.GemmParams, a, b, c device.Buffer) {
	const op = "Gemm"
	ab, bb, cb := d.buf(op, a), d.buf(op, b), d.buf(op, c)
	sameDType(op, ab, bb, cb)
	s := sfx(op, ab.dtype)
	if p.M < 0 || p.N < 0 || p.K < 0 || p.Batch < 0 {
		device.Panicf(op, "negative size M=%d N=%d K=%d batch=%d", p.M, p.N, p.K, p.Batch)
	}
	if p.M == 0 || p.N == 0 || p.Batch == 0 {
		return
	}
	ar, ac := p.M, p.K
	if p.TransA {
		ar, ac = p.K, p.M
	}
	br, bc := p.K, p.N
	if p.TransB {
		br, bc = p.N, p.K
	}
	if p.LdA < ac || p.LdB < bc || p.LdC < p.N {
		device.Panicf(op, "leading dimensions lda=%d ldb=%d ldc=%d below the row lengths %d, %d, %d", p.LdA, p.LdB, p.LdC, ac, bc, p.N)
	}
	if p.OffA < 0 || p.OffB < 0 || p.OffC < 0 || p.StrideA < 0 || p.StrideB < 0 || p.StrideC < 0 {
		device.Panicf(op, "negative offset or batch stride")
	}
	if p.K > 0 {
		if r := gemmReach(ar, ac, p.LdA, p.StrideA, p.OffA, p.Batch); r > ab.n {
			device.Panicf(op, "A needs %d elements, buffer has %d", r, ab.n)
		}
		if r := gemmReach(br, bc, p.LdB, p.StrideB, p.OffB, p.Batch); r > bb.n {
			device.Panicf(op, "B needs %d elements, buffer has %d", r, bb.n)
		}
	}
	if r := gemmReach(p.M, p.N, p.LdC, p.StrideC, p.OffC, p.Batch); r > cb.n {
		device.Panicf(op, "C needs %d elements, buffer has %d", r, cb.n)
	}
	if p.Batch > 1 && p.StrideC == 0 {
		device.Panicf(op, "batched GEMM with StrideC 0 would race on C")
	}
	d.enter()
	defer d.leave()
	pa, pb, pc := ab.at(p.OffA), bb.at(p.OffB), cb.at(p.OffC)
	if ab.dtype == device.Float32 {
		if splits := d.gemmSplits(p); splits > 1 {
			d.sgemmSplitK(p, splits, pa, pb, pc)
			return
		}
	}
	d.gemmOne(p, s, pa, pb, pc)
}

// gemmOne launches one kernel for p (matrices at pa, pb, pc, p's offsets applied): the
// register-blocked float32 kernel where sgemmTile allows, else the 16×16 shared-tile kernel.
func (d *Device) gemmOne(p device.GemmParams, s string, pa, pb, pc uintptr) {
	if s == "f32" && d.sgemmTile(p) > 0 {
		d.sgemm(p, pa, pb, pc)
		return
	}
	gz := min(p.Batch, 65535) // the kernel loops over the rest of the batch
	d.launch("kiln_gemm_simple_"+s, dim3{x: (p.N + 15) / 16, y: (p.M + 15) / 16, z: gz}, dim3{x: 16, y: 16}, 0,
		p.TransA, p.TransB, p.M, p.N, p.K, p.Alpha, pa, p.LdA, p.StrideA, pb, p.LdB, p.StrideB, p.Beta, pc,
		p.LdC, p.StrideC, p.Batch)
}

// sgemm launches the register-blocked float32 kernel on p, whose matrices start at pa, pb, pc
// (p's offsets already applied).
func (d *Device) sgemm(p device.GemmParams, pa, pb, pc uintptr) {
	tile := d.sgemmTile(p)
	name := fmt.Sprintf("kiln_sgemm%d_%s%s", tile, map[bool]string{false: "n", true: "t"}[p.TransA], map[bool]string{false: "n", true: "t"}[p.TransB])
	va, vb, vc := vec4(p.LdA, p.StrideA, p.OffA), vec4(p.LdB, p.StrideB, p.OffB), vec4(p.LdC, p.StrideC, p.OffC)
	// One batch member per blockIdx.z: batches beyond the grid's 65535 go in chunks.
	for b0 := 0; b0 < p.Batch; b0 += 65535 {
		nb := min(p.Batch-b0, 65535)
		d.launch(name, dim3{x: (p.N + tile - 1) / tile, y: (p.M + tile - 1) / tile, z: nb}, dim3{x: 256}, 0,
			p.M, p.N, p.K, p.Alpha, pa+uintptr(b0*p.StrideA*4), p.LdA, p.StrideA, pb+uintptr(b0*p.StrideB*4), p.LdB,
			p.StrideB, p.Beta, pc+uintptr(b0*p.StrideC*4), p.LdC, p.StrideC, nb, va, vb, vc)
	}
}

// gemmSplits says into how many slices to cut K. A weight gradient (Xᵀ·dY: M and N the layer's
// widths, K the ~10^5 tokens of a step) has a handful of output tiles, so the plain launch
// keeps a handful of SMs busy, each walking all of K. Split-K instead runs K/splits-long
// products of every tile as a batch and sums the partials in a second pass. Only single
// products with β ∈ {0, 1} and a dense C are split: β = 1 (gradient accumulation) folds C in
// as one more partial. Products under 64×64 are split too, their slices computed by the
// 16×16 kernel: the cell-embedding weight gradient (2 × width, K = every cell of a TabPFN
// step) would otherwise run on 8 thread blocks (measured in
// bench/results/gpu-h200-2026-11-27b.md; docs/kernels-design.md).
func (d *Device) gemmSplits(p device.GemmParams) int {
	if p.Batch != 1 || p.LdC != p.N || (p.Beta != 0 && p.Beta != 1) || p.K < 2048 {
		return 1
	}
	tiles := ((p.M + 63) / 64) * ((p.N + 63) / 64)
	if tiles >= d.sms {
		return 1
	}
	return max(1, min((2*d.sms+tiles-1)/tiles, p.K/512, 256))
}

// sgemmSplitK computes C = α·op(A)·op(B) + β·C (β ∈ {0, 1}) as splits partial products over
// K/splits-long slices (and one more for the remainder of K), written to scratch, then summed
// into C in slice order: deterministic.
func (d *Device) sgemmSplitK(p device.GemmParams, splits int, pa, pb, pc uintptr) {
	kc := p.K / splits
	rem := p.K - splits*kc
	// Element steps from one K slice to the next in A and B.
	stepA, stepB := 1, p.LdB
	if p.TransA {
		stepA = p.LdA
	}
	if p.TransB {
		stepB = 1
	}
	mn := p.M * p.N
	parts := splits
	if rem > 0 {
		parts++
	}
	if p.Beta == 1 {
		parts++ // C itself, summed last
	}
	scratch, release := d.scratch("Gemm (split-K)", int64(parts*mn*4))
	if scratch == 0 {
		return
	}
	defer release()
	q := p
	q.K, q.Beta, q.LdC, q.OffC = kc, 0, p.N, 0
	q.Batch, q.StrideA, q.StrideB, q.StrideC = splits, kc*stepA, kc*stepB, mn
	d.gemmOne(q, "f32", pa, pb, scratch)
	next := splits
	if rem > 0 {
		r := p
		r.K, r.Beta, r.LdC, r.OffC, r.Batch = rem, 0, p.N, 0, 1
		r.OffA, r.OffB = p.OffA+splits*kc*stepA, p.OffB+splits*kc*stepB
		d.gemmOne(r, "f32", pa+uintptr(splits*kc*stepA*4), pb+uintptr(splits*kc*stepB*4), scratch+uintptr(next*mn*4))
		next++
	}
	if p.Beta == 1 {
		if err := d.drv.dtod(scratch+uintptr(next*mn*4), pc, int64(mn*4)); err != nil {
			d.setSticky(fmt.Errorf("Gemm: split-K copy of C: %w", err))
			return
		}
	}
	d.reduce("f32", device.ReduceSum, scratch, 1, parts, mn, 1, pc)
}

// shapeArgs appends the 8 slots of a packed shape or stride array to args.
func shapeArgs(args []any, v [maxRank]int64) []any {
	for _, x := range v {
		args = append(args, x)
	}
	return args
}

// Unary: kernels/elementwise.cu kiln_unary_*.
func (d *Device) Unary(op device.UnaryOp, x device.Buffer, xl device.Layout, y device.Buffer, yl device.Layout, alpha float64) {
	const name = "Unary"
	xb, yb := d.buf(name, x), d.buf(name, y)
	sameDType(name, xb, yb)
	s := sfx(name, xb.dtype)
	if int(op) >= len(device.UnaryOps()) {
		device.Panicf(name, "unknown op %v", op)
	}
	p := packLayouts(name, xl.Shape, xl, yl)
	if p.n == 0 {
		return
	}
	checkLayout(name, xl, xb.n)
	checkLayout(name, yl, yb.n)
	d.enter()
	defer d.leave()
	args := []any{int64(op), xb.at(xl.Offset), yb.at(yl.Offset), p.n, p.rank, alpha}
	args = shapeArgs(args, p.shape)
	args = shapeArgs(args, p.strides[0])
	args = shapeArgs(args, p.strides[1])
	d.launch("kiln_unary_"+s, dim3{x: d.gridFor(p.n, block256)}, dim3{x: block256}, 0, args...)
}

// Binary: kernels/elementwise.cu kiln_binary_*.
func (d *Device) Binary(op device.BinaryOp, a device.Buffer, al device.Layout, b device.Buffer, bl device.Layout, y device.Buffer, yl device.Layout) {
	const name = "Binary"
	ab, bb, yb := d.buf(name, a), d.buf(name, b), d.buf(name, y)
	sameDType(name, ab, bb, yb)
	s := sfx(name, ab.dtype)
	if int(op) >= len(device.BinaryOps()) {
		device.Panicf(name, "unknown op %v", op)
	}
	p := packLayouts(name, yl.Shape, al, bl, yl)
	if p.n == 0 {
		return
	}
	checkLayout(name, al, ab.n)
	checkLayout(name, bl, bb.n)
	checkLayout(name, yl, yb.n)
	d.enter()
	defer d.leave()
	args := []any{int64(op), ab.at(al.Offset), bb.at(bl.Offset), yb.at(yl.Offset), p.n, p.rank}
	args = shapeArgs(args, p.shape)
	for k := 0; k < 3; k++ {
		args = shapeArgs(args, p.strides[k])
	}
	d.launch("kiln_binary_"+s, dim3{x: d.gridFor(p.n, block256)}, dim3{x: block256}, 0, args...)
}

// Reduce: kernels/reduce.cu.
func (d *Device) Reduce(op device.ReduceOp, x device.Buffer, outer, n, inner int, y device.Buffer) {
	const name = "Reduce"
	xb, yb := d.buf(name, x), d.buf(name, y)
	sameDType(name, xb, yb)
	s := sfx(name, xb.dtype)
	if int(op) >= len(device.ReduceOps()) {
		device.Panicf(name, "unknown op %v", op)
	}
	if outer < 0 || n < 0 || inner < 0 {
		device.Panicf(name, "negative extent [%d, %d, %d]", outer, n, inner)
	}
	checkLen(name, "x", xb, outer*n*inner)
	checkLen(name, "y", yb, outer*inner)
	if outer*inner == 0 {
		return
	}
	d.enter()
	defer d.leave()
	splits := d.reduceSplits(outer, n, inner)
	if splits == 1 {
		d.reduce(s, op, xb.ptr, outer, n, inner, 1, yb.ptr)
		return
	}
	// Two passes through a scratch block of partials (see kernels/reduce.cu).
	part, release := d.scratch("Reduce", int64(outer*splits*inner*xb.dtype.Size()))
	if part == 0 {
		return
	}
	defer release()
	d.reduce(s, op, xb.ptr, outer, n, inner, splits, part)
	if op == device.ReduceSumSquares {
		op = device.ReduceSum // the partials are already squared
	}
	d.reduce(s, op, part, outer, splits, inner, 1, yb.ptr)
}

// reduce launches one pass of kernels/reduce.cu over [outer, n, inner], each output split into
// `splits` partials along n (y then holds outer·splits·inner values).
func (d *Device) reduce(s string, op device.ReduceOp, x uintptr, outer, n, inner, splits int, y uintptr) {
	if inner == 1 {
		d.launch("kiln_reduce_rows_"+s, dim3{x: d.gridFor(int64(outer*splits), 8)}, dim3{x: block256}, 0,
			int64(op), x, outer, n, splits, y)
		return
	}
	d.launch("kiln_reduce_cols_"+s, dim3{x: (inner + 31) / 32, y: min(outer*splits, 65535)}, dim3{x: 32, y: 8}, 0,
		int64(op), x, outer, n, inner, splits, y)
}

// scratch takes a temporary block of at least bytes from the caching allocator for a
// two-pass primitive, and the function that gives it back (stream order makes the reuse safe).
// On failure it records the error for Sync and returns 0.
func (d *Device) scratch(op string, bytes int64) (uintptr, func()) {
	p, size, err := d.alloc.alloc(bytes)
	if err != nil {
		d.setSticky(fmt.Errorf("%s: scratch of %d bytes: %w", op, bytes, err))
		return 0, nil
	}
	return p, func() { d.alloc.release(p, size) }
}

// reduceSplits says into how many chunks to cut a reduction's axis of length n: 1 when the
// plain kernels already have work for every SM (a warp per row, a 32×8 block per 32 columns),
// else enough chunks to give the GPU ~4 blocks per SM, each chunk still long enough (2048
// elements per warp, 256 rows per column block) that the second pass stays small.
func (d *Device) reduceSplits(outer, n, inner int) int {
	blocks, minChunk := (outer+7)/8, 2048 // rows: 8 warps per block
	if inner > 1 {
		blocks, minChunk = outer*((inner+31)/32), 256
	}
	want := 4 * d.sms
	if blocks >= want || n < 2*minChunk {
		return 1
	}
	return max(1, min((want+blocks-1)/blocks, n/minChunk, 1024))
}

// rowGrid sizes a warp-per-row launch (8 warps per 256-thread block).
func (d *Device) rowGrid(rows int) dim3 { return dim3{x: d.gridFor(int64(rows), 8)} }

// Softmax: kernels/softmax.cu kiln_softmax_*.
func (d *Device) Softmax(x, y device.Buffer, rows, cols int, log bool) {
	const name = "Softmax"
	xb, yb := d.buf(name, x), d.buf(name, y)
	sameDType(name, xb, yb)
	s := sfx(name, xb.dtype)
	checkLen(name, "x", xb, rows*cols)
	checkLen(name, "y", yb, rows*cols)
	if rows*cols == 0 {
		return
	}
	d.enter()
	defer d.leave()
	d.launch("kiln_softmax_"+s, d.rowGrid(rows), dim3{x: block256}, 0, xb.ptr, yb.ptr, rows, cols, log)
}

// SoftmaxBackward: kernels/softmax.cu kiln_softmax_bwd_*.
func (d *Device) SoftmaxBackward(y, dy, dx device.Buffer, rows, cols int, log bool) {
	const name = "SoftmaxBackward"
	yb, dyb, dxb := d.buf(name, y), d.buf(name, dy), d.buf(name, dx)
	sameDType(name, yb, dyb, dxb)
	s := sfx(name, yb.dtype)
	for _, b := range []*buffer{yb, dyb, dxb} {
		checkLen(name, "operand", b, rows*cols)
	}
	if rows*cols == 0 {
		return
	}
	d.enter()
	defer d.leave()
	d.launch("kiln_softmax_bwd_"+s, d.rowGrid(rows), dim3{x: block256}, 0, yb.ptr, dyb.ptr, dxb.ptr, rows, cols, log)
}

// LayerNorm: kernels/layernorm.cu kiln_layernorm_*.
func (d *Device) LayerNorm(x, gamma, beta, y, mean, rstd device.Buffer, rows, cols int, eps float64) {
	const name = "LayerNorm"
	xb, yb, mb, rb := d.buf(name, x), d.buf(name, y), d.buf(name, mean), d.buf(name, rstd)
	sameDType(name, xb, yb, mb, rb)
	s := sfx(name, xb.dtype)
	checkLen(name, "x", xb, rows*cols)
	checkLen(name, "y", yb, rows*cols)
	checkLen(name, "mean", mb, rows)
	checkLen(name, "rstd", rb, rows)
	g := d.ptrOrNil(name, gamma, xb.dtype, cols)
	bt := d.ptrOrNil(name, beta, xb.dtype, cols)
	if rows == 0 || cols == 0 {
		return
	}
	d.enter()
	defer d.leave()
	d.launch("kiln_layernorm_"+s, d.rowGrid(rows), dim3{x: block256}, 0, xb.ptr, g, bt, yb.ptr, mb.ptr, rb.ptr, rows, cols, eps)
}

// LayerNormBackward: kernels/layernorm.cu kiln_layernorm_bwd_dx_* and kiln_layernorm_bwd_params_*.
func (d *Device) LayerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta device.Buffer, rows, cols int) {
	const name = "LayerNormBackward"
	xb, mb, rb, dyb, dxb := d.buf(name, x), d.buf(name, mean), d.buf(name, rstd), d.buf(name, dy), d.buf(name, dx)
	sameDType(name, xb, mb, rb, dyb, dxb)
	s := sfx(name, xb.dtype)
	checkLen(name, "x", xb, rows*cols)
	checkLen(name, "dy", dyb, rows*cols)
	checkLen(name, "dx", dxb, rows*cols)
	checkLen(name, "mean", mb, rows)
	checkLen(name, "rstd", rb, rows)
	g := d.ptrOrNil(name, gamma, xb.dtype, cols)
	dg := d.ptrOrNil(name, dgamma, xb.dtype, cols)
	db := d.ptrOrNil(name, dbeta, xb.dtype, cols)
	if cols == 0 {
		return
	}
	d.enter()
	defer d.leave()
	if rows > 0 {
		d.launch("kiln_layernorm_bwd_dx_"+s, d.rowGrid(rows), dim3{x: block256}, 0,
			xb.ptr, g, mb.ptr, rb.ptr, dyb.ptr, dxb.ptr, rows, cols)
	}
	if dg == 0 && db == 0 {
		return
	}
	splits := d.reduceSplits(1, rows, cols)
	if splits == 1 {
		d.launch("kiln_layernorm_bwd_params_"+s, dim3{x: (cols + 31) / 32}, dim3{x: 32, y: 8}, 0,
			xb.ptr, mb.ptr, rb.ptr, dyb.ptr, dg, db, rows, cols, 1)
		return
	}
	// Partials per chunk of rows, then a column sum of them (see kernels/layernorm.cu).
	n := int64(splits * cols * xb.dtype.Size())
	part, release := d.scratch("LayerNormBackward", 2*n)
	if part == 0 {
		return
	}
	defer release()
	var pg, pb uintptr // null where that sum is not wanted, as the kernel expects
	if dg != 0 {
		pg = part
	}
	if db != 0 {
		pb = part + uintptr(n)
	}
	d.launch("kiln_layernorm_bwd_params_"+s, dim3{x: (cols + 31) / 32, y: splits}, dim3{x: 32, y: 8}, 0,
		xb.ptr, mb.ptr, rb.ptr, dyb.ptr, pg, pb, rows, cols, splits)
	if dg != 0 {
		d.reduce(s, device.ReduceSum, pg, 1, splits, cols, 1, dg)
	}
	if db != 0 {
		d.reduce(s, device.ReduceSum, pb, 1, splits, cols, 1, db)
	}
}

// attnVariant picks the attention instantiation for a head dimension: the padded width DMAX
// and the lanes per query TPQ (kernels/attention.cu's DEF_ATT lines).
func attnVariant(op string, dt device.DType, d, dv int) (suffix string, tpq int) {
	m := d
	if dv > m {
		m = dv
	}
	var dmax int
	switch {
	case m <= 32:
		dmax = 32
	case m <= 64:
		dmax = 64
	case m <= 128:
		dmax = 128
	default:
		device.Panicf(op, "head dimension %d (value dimension %d) above 128 is not supported by the CUDA kernels", d, dv)
	}
	if dt == device.Float32 {
		tpq = dmax / 32
	} else {
		tpq = dmax / 16
	}
	return fmt.Sprintf("%s_d%d", sfx(op, dt), dmax), tpq
}

func checkAttn(op string, p device.AttentionParams) {
	if p.Batch < 0 || p.Lq < 0 || p.Lk < 0 || p.D <= 0 || p.Dv <= 0 || p.NContext < 0 || p.NContext > p.Lk {
		device.Panicf(op, "bad sizes %+v (need D, Dv > 0 and 0 ≤ NContext ≤ Lk)", p)
	}
}

// Attention: kernels/attention.cu kiln_attn_fwd_*.
func (d *Device) Attention(p device.AttentionParams, q, k, v, o, lse device.Buffer) {
	const name = "Attention"
	checkAttn(name, p)
	qb, kb, vb, ob, lb := d.buf(name, q), d.buf(name, k), d.buf(name, v), d.buf(name, o), d.buf(name, lse)
	sameDType(name, qb, kb, vb, ob, lb)
	checkLen(name, "q", qb, p.Batch*p.Lq*p.D)
	checkLen(name, "k", kb, p.Batch*p.Lk*p.D)
	checkLen(name, "v", vb, p.Batch*p.Lk*p.Dv)
	checkLen(name, "o", ob, p.Batch*p.Lq*p.Dv)
	checkLen(name, "lse", lb, p.Batch*p.Lq)
	variant, tpq := attnVariant(name, qb.dtype, p.D, p.Dv)
	if p.Batch == 0 || p.Lq == 0 {
		return
	}
	d.enter()
	defer d.leave()
	// float32 with head dims ≤ 64 (TabPFN's) takes the outer-product tiled kernel: 64
	// queries per block; the rest the per-lane dot-product kernel.
	kname, per := "kiln_attn_fwd_"+variant, 128/tpq
	if qb.dtype == device.Float32 && max(p.D, p.Dv) <= 64 {
		kname, per = "kiln_attn_fwd_tiled_f32_d64", 64
		if max(p.D, p.Dv) <= 32 {
			kname = "kiln_attn_fwd_tiled_f32_d32"
		}
	}
	for b0 := 0; b0 < p.Batch; b0 += 65535 {
		nb := min(p.Batch-b0, 65535)
		d.launch(kname, dim3{x: (p.Lq + per - 1) / per, y: nb}, dim3{x: 128}, 0,
			qb.at(b0*p.Lq*p.D), kb.at(b0*p.Lk*p.D), vb.at(b0*p.Lk*p.Dv), ob.at(b0*p.Lq*p.Dv), lb.at(b0*p.Lq),
			p.Lq, p.Lk, p.D, p.Dv, p.NContext, p.Scale)
	}
}

// AttentionBackward: kernels/attention.cu kiln_attn_bwd_dq_* then kiln_attn_bwd_dkdv_*.
func (d *Device) AttentionBackward(p device.AttentionParams, q, k, v, o, lse, dO, dq, dk, dv device.Buffer) {
	const name = "AttentionBackward"
	checkAttn(name, p)
	qb, kb, vb, ob, lb := d.buf(name, q), d.buf(name, k), d.buf(name, v), d.buf(name, o), d.buf(name, lse)
	gb, dqb, dkb, dvb := d.buf(name, dO), d.buf(name, dq), d.buf(name, dk), d.buf(name, dv)
	sameDType(name, qb, kb, vb, ob, lb, gb, dqb, dkb, dvb)
	checkLen(name, "q", qb, p.Batch*p.Lq*p.D)
	checkLen(name, "k", kb, p.Batch*p.Lk*p.D)
	checkLen(name, "v", vb, p.Batch*p.Lk*p.Dv)
	checkLen(name, "o", ob, p.Batch*p.Lq*p.Dv)
	checkLen(name, "dO", gb, p.Batch*p.Lq*p.Dv)
	checkLen(name, "lse", lb, p.Batch*p.Lq)
	checkLen(name, "dq", dqb, p.Batch*p.Lq*p.D)
	checkLen(name, "dk", dkb, p.Batch*p.Lk*p.D)
	checkLen(name, "dv", dvb, p.Batch*p.Lk*p.Dv)
	variant, tpq := attnVariant(name, qb.dtype, p.D, p.Dv)
	if p.Batch == 0 {
		return
	}
	if p.Lq == 0 { // no queries: every key gradient is zero
		d.Fill(dkb, 0, p.Batch*p.Lk*p.D, 0)
		d.Fill(dvb, 0, p.Batch*p.Lk*p.Dv, 0)
		return
	}
	delta, err := d.Alloc(qb.dtype, p.Batch*p.Lq)
	if err != nil {
		panic(&device.Error{Op: name, Msg: err.Error()})
	}
	defer delta.Free() // stream-ordered: the block is reused only by later launches
	db := delta.(*buffer)
	d.enter()
	defer d.leave()
	per := 128 / tpq
	for b0 := 0; b0 < p.Batch; b0 += 65535 {
		nb := min(p.Batch-b0, 65535)
		oq, ok, ov := b0*p.Lq*p.D, b0*p.Lk*p.D, b0*p.Lk*p.Dv
		oo, ol := b0*p.Lq*p.Dv, b0*p.Lq
		// float32 with head dims ≤ 64 takes the outer-product tiled kernels (32 queries or 32
		// keys per block); the rest the per-lane ones.
		tiled := qb.dtype == device.Float32 && max(p.D, p.Dv) <= 64
		dh := "d64"
		if max(p.D, p.Dv) <= 32 {
			dh = "d32"
		}
		qname, qper := "kiln_attn_bwd_dq_"+variant, per
		if tiled {
			qname, qper = "kiln_attn_bwd_dq_tiled_f32_"+dh, 32
		}
		d.launch(qname, dim3{x: (p.Lq + qper - 1) / qper, y: nb}, dim3{x: 128}, 0,
			qb.at(oq), kb.at(ok), vb.at(ov), ob.at(oo), lb.at(ol), gb.at(oo), dqb.at(oq), db.at(ol),
			p.Lq, p.Lk, p.D, p.Dv, p.NContext, p.Scale)
		if p.Lk > 0 {
			kname, kper := "kiln_attn_bwd_dkdv_"+variant, per
			if tiled {
				kname, kper = "kiln_attn_bwd_dkdv_tiled_f32_"+dh, 32
			}
			d.launch(kname, dim3{x: (p.Lk + kper - 1) / kper, y: nb}, dim3{x: 128}, 0,
				qb.at(oq), kb.at(ok), vb.at(ov), lb.at(ol), gb.at(oo), db.at(ol), dkb.at(ok), dvb.at(ov),
				p.Lq, p.Lk, p.D, p.Dv, p.NContext, p.Scale)
		}
	}
}

// indexCheck resets the device's error word before a Gather/ScatterAdd launch.
func (d *Device) resetErrWord() {
	if err := d.drv.memsetD32(d.errWord, 0xFFFFFFFF, 2); err != nil {
		d.setSticky(fmt.Errorf("resetting the index error word: %w", err))
	}
}

// readErrWord waits for the launch and panics (as the CPU backend does) if an index was out
// of range. The read-back is a synchronisation point: index errors are programmer errors and
// must surface at the call that made them.
func (d *Device) readErrWord(op string, idx *buffer, rows int) {
	var w [1]uint64
	if err := d.drv.dtoh(ptrOf(&w[0]), d.errWord, 8); err != nil {
		d.setSticky(fmt.Errorf("%s: %w", op, err))
		return
	}
	if w[0] != ^uint64(0) {
		device.Panicf(op, "index at position %d is outside [0, %d)", w[0], rows)
	}
}

// Gather: kernels/gather.cu kiln_gather_*.
func (d *Device) Gather(table device.Buffer, rows, width int, idx device.Buffer, n int, out device.Buffer) {
	d.rowIndexed("Gather", "kiln_gather_", "out", table, rows, width, idx, n, out)
}

// ScatterAdd: kernels/gather.cu kiln_scatter_add_*.
func (d *Device) ScatterAdd(table device.Buffer, rows, width int, idx device.Buffer, n int, src device.Buffer) {
	d.rowIndexed("ScatterAdd", "kiln_scatter_add_", "src", table, rows, width, idx, n, src)
}

// rowIndexed checks and launches the two row-indexed kernels, which share their arguments
// (table, rows, width, idx, n, rows buffer, error word) and their out-of-range report.
func (d *Device) rowIndexed(name, kernel, rowsName string, table device.Buffer, rows, width int, idx device.Buffer, n int, other device.Buffer) {
	tb, ib, ob := d.buf(name, table), d.buf(name, idx), d.buf(name, other)
	sameDType(name, tb, ob)
	s := sfx(name, tb.dtype)
	if ib.dtype != device.Int32 {
		device.Panicf(name, "indices must be int32, not %v", ib.dtype)
	}
	checkLen(name, "table", tb, rows*width)
	checkLen(name, "idx", ib, n)
	checkLen(name, rowsName, ob, n*width)
	if n == 0 || width == 0 {
		return
	}
	d.enter()
	defer d.leave()
	d.resetErrWord()
	d.launch(kernel+s, dim3{x: d.gridFor(int64(n*width), block256)}, dim3{x: block256}, 0,
		tb.ptr, rows, width, ib.ptr, n, ob.ptr, d.errWord)
	d.readErrWord(name, ib, rows)
}

// RandomFill: kernels/rng.cu kiln_random_*.
func (d *Device) RandomFill(dst device.Buffer, dist device.Distribution, seed, offset uint64, a, b float64) {
	const name = "RandomFill"
	db := d.buf(name, dst)
	s := sfx(name, db.dtype)
	if dist != device.Uniform && dist != device.Normal {
		device.Panicf(name, "unknown distribution %d", dist)
	}
	if db.n == 0 {
		return
	}
	d.enter()
	defer d.leave()
	blocks := int64(db.n+3) / 4
	d.launch("kiln_random_"+s, dim3{x: d.gridFor(blocks, block256)}, dim3{x: block256}, 0,
		db.ptr, db.n, seed, offset, dist == device.Normal, a, b)
}

// sgemmTile picks the fast SGEMM's block tile for p: 128 when the 128-tile grid gives every
// SM at least one block, else 64 (four times the blocks, a quarter of the work each), or 0
// for problems below 64×64 or with extents past int32 (the tiled kernels index k in 32 bits),
// which take the simple kernel.
func (d *Device) sgemmTile(p device.GemmParams) int {
	const maxI32 = 1<<31 - 1
	if p.M < 64 || p.N < 64 || p.K > maxI32 || p.M > maxI32 || p.N > maxI32 {
		return 0
	}
	blocks128 := ((p.M + 127) / 128) * ((p.N + 127) / 128) * p.Batch
	if blocks128 >= d.sms {
		return 128
	}
	return 64
}
