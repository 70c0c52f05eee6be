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

// checkFloat panics unless dt is one of the floating-point dtypes the kernels compute in.
func checkFloat(op string, dt device.DType) {
	if dt != device.Float32 && dt != device.Float64 {
		device.Panicf(op, "dtype %v is not supported (float32 or float64)", dt)
	}
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
func (d *Device) ptrOrNil(op string, b device.Buffer, dt device.DType, n int) elemPtr {
	if b == nil {
		return elemPtr{dtype: dt}
	}
	cb := d.buf(op, b)
	if cb.dtype != dt {
		device.Panicf(op, "dtype mismatch: %v and %v", dt, cb.dtype)
	}
	checkLen(op, "optional operand", cb, n)
	return cb.elems(0)
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
	d.kernel(dim3{x: d.gridFor(int64(n), block256)}, dim3{x: block256}).fill(b.elems(offset), n, v)
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
	d.kernel(dim3{x: d.gridFor(int64(n), block256)}, dim3{x: block256}).convert(sb.elems(so), db.elems(do), n)
}

// Gemm: kernels/gemm.cu. float32 problems of at least 64×64 take a register-blocked tiled
// kernel (see sgemmTile); the rest (and float64) the 16×16 shared-tile kernel. A float32
// product with few output tiles and a long K is split along K first (gemmSplits), whichever
// kernel computes the slices.
func (d *Device) Gemm(p device.GemmParams, a, b, c device.Buffer) {
	direct := d.bf16 && a.DType() == device.BFloat16 && b.DType() == device.BFloat16 && c.DType() == device.BFloat16
	if !direct && d.widened("Gemm", []device.Buffer{a, b, c}, []device.Buffer{c}, func(f func(device.Buffer) device.Buffer) { d.Gemm(p, f(a), f(b), f(c)) }) {
		return
	}
	const op = "Gemm"
	ab, bb, cb := d.buf(op, a), d.buf(op, b), d.buf(op, c)
	sameDType(op, ab, bb, cb)
	if !direct {
		checkFloat(op, ab.dtype)
	}
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
	pa, pb, pc := ab.elems(p.OffA), bb.elems(p.OffB), cb.elems(p.OffC)
	if ab.dtype == device.Float32 {
		if splits := d.gemmSplits(p); splits > 1 {
			d.sgemmSplitK(p, splits, pa, pb, pc)
			return
		}
	}
	d.gemmOne(p, pa, pb, pc)
}

// gemmOne launches one kernel for p (matrices at pa, pb, pc, p's offsets applied): a
// tensor-core kernel where one is switched on (TF32Env, DMMAEnv, BF16Env), the register-blocked
// float32 kernel where sgemmTile allows, else the 16×16 shared-tile kernel.
func (d *Device) gemmOne(p device.GemmParams, pa, pb, pc elemPtr) {
	if pa.dtype == device.BFloat16 { // only with BF16Env (Gemm widens bfloat16 otherwise)
		d.kernel(dim3{x: (p.N + 127) / 128, y: (p.M + 127) / 128, z: min(p.Batch, 65535)}, dim3{x: 256}).hgemm(
			b2i(p.TransA), b2i(p.TransB), p.M, p.N, p.K, p.Alpha, pa, p.LdA, p.StrideA, pb, p.LdB, p.StrideB, p.Beta, pc,
			p.LdC, p.StrideC, p.Batch)
		return
	}
	if pa.dtype == device.Float32 && d.tf32 {
		d.kernel(dim3{x: (p.N + 127) / 128, y: (p.M + 127) / 128, z: min(p.Batch, 65535)}, dim3{x: 256}).gemmTf32(
			b2i(p.TransA), b2i(p.TransB), p.M, p.N, p.K, p.Alpha, f32s(pa), p.LdA, p.StrideA, f32s(pb), p.LdB, p.StrideB,
			p.Beta, f32s(pc), p.LdC, p.StrideC, p.Batch)
		return
	}
	if pa.dtype == device.Float64 && d.dmma {
		d.kernel(dim3{x: (p.N + 63) / 64, y: (p.M + 63) / 64, z: min(p.Batch, 65535)}, dim3{x: 128}).gemmDmma(
			b2i(p.TransA), b2i(p.TransB), p.M, p.N, p.K, p.Alpha, f64s(pa), p.LdA, p.StrideA, f64s(pb), p.LdB, p.StrideB,
			p.Beta, f64s(pc), p.LdC, p.StrideC, p.Batch)
		return
	}
	if pa.dtype == device.Float32 && d.sgemmTile(p) > 0 {
		d.sgemm(p, pa, pb, pc)
		return
	}
	gz := min(p.Batch, 65535) // the kernel loops over the rest of the batch
	d.kernel(dim3{x: (p.N + 15) / 16, y: (p.M + 15) / 16, z: gz}, dim3{x: 16, y: 16}).gemmSimple(
		b2i(p.TransA), b2i(p.TransB), p.M, p.N, p.K, p.Alpha, pa, p.LdA, p.StrideA, pb, p.LdB, p.StrideB, p.Beta, pc,
		p.LdC, p.StrideC, p.Batch)
}

// sgemm launches the register-blocked float32 kernel on p, whose matrices start at pa, pb, pc
// (p's offsets already applied).
func (d *Device) sgemm(p device.GemmParams, pa, pb, pc elemPtr) {
	tile := d.sgemmTile(p)
	kernel := sgemmKernels[b2i(tile == 128)][b2i(p.TransA)][b2i(p.TransB)]
	va, vb, vc := vec4(p.LdA, p.StrideA, p.OffA), vec4(p.LdB, p.StrideB, p.OffB), vec4(p.LdC, p.StrideC, p.OffC)
	// One batch member per blockIdx.z: batches beyond the grid's 65535 go in chunks.
	for b0 := 0; b0 < p.Batch; b0 += 65535 {
		nb := min(p.Batch-b0, 65535)
		l := d.kernel(dim3{x: (p.N + tile - 1) / tile, y: (p.M + tile - 1) / tile, z: nb}, dim3{x: 256})
		kernel(l, p.M, p.N, p.K, p.Alpha, f32s(pa.plus(b0*p.StrideA)), p.LdA, p.StrideA, f32s(pb.plus(b0*p.StrideB)), p.LdB,
			p.StrideB, p.Beta, f32s(pc.plus(b0*p.StrideC)), p.LdC, p.StrideC, nb, b2i(va), b2i(vb), b2i(vc))
	}
}

// sgemmKernels are the register-blocked SGEMM bindings by [128 tile][transposed A][transposed B].
var sgemmKernels = [2][2][2]func(l launcher, M, N, K int, alpha float64, A ptr[float32], lda, sA int, B ptr[float32], ldb, sB int,
	beta float64, C ptr[float32], ldc, sC, batch, vecA, vecB, vecC int){
	{{launcher.sgemm64Nn, launcher.sgemm64Nt}, {launcher.sgemm64Tn, launcher.sgemm64Tt}},
	{{launcher.sgemm128Nn, launcher.sgemm128Nt}, {launcher.sgemm128Tn, launcher.sgemm128Tt}},
}

// f64s is a float64 buffer's address as the DMMA kernel's fixed-type pointer.
func f64s(e elemPtr) ptr[float64] {
	if e.dtype != device.Float64 {
		device.Panicf("Gemm", "the FP64 tensor-core kernel takes float64, not %v", e.dtype)
	}
	return ptr[float64](e.addr)
}

// f32s is a float32 buffer's address as the register-blocked kernels' fixed-type pointer.
func f32s(e elemPtr) ptr[float32] {
	if e.dtype != device.Float32 {
		device.Panicf("Gemm", "the register-blocked kernel takes float32, not %v", e.dtype)
	}
	return ptr[float32](e.addr)
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
func (d *Device) sgemmSplitK(p device.GemmParams, splits int, pa, pb, pc elemPtr) {
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
	scratch, release := d.scratchOf("Gemm (split-K)", device.Float32, parts*mn)
	if scratch.addr == 0 {
		return
	}
	defer release()
	q := p
	q.K, q.Beta, q.LdC, q.OffC = kc, 0, p.N, 0
	q.Batch, q.StrideA, q.StrideB, q.StrideC = splits, kc*stepA, kc*stepB, mn
	d.gemmOne(q, pa, pb, scratch)
	next := splits
	if rem > 0 {
		r := p
		r.K, r.Beta, r.LdC, r.OffC, r.Batch = rem, 0, p.N, 0, 1
		r.OffA, r.OffB = p.OffA+splits*kc*stepA, p.OffB+splits*kc*stepB
		d.gemmOne(r, pa.plus(splits*kc*stepA), pb.plus(splits*kc*stepB), scratch.plus(next*mn))
		next++
	}
	if p.Beta == 1 {
		if err := d.drv.dtod(scratch.plus(next*mn).addr, pc.addr, int64(mn*4)); err != nil {
			d.setSticky(fmt.Errorf("Gemm: split-K copy of C: %w", err))
			return
		}
	}
	d.reduce(device.ReduceSum, scratch, 1, parts, mn, 1, pc)
}

// shapeArg is a packed shape or stride array as the kernels' eight scalars.
func shapeArg(v [maxRank]int64) (a [8]int) {
	for i, x := range v {
		a[i] = int(x)
	}
	return a
}

// Unary: kernels/elementwise.cu kiln_unary_*.
func (d *Device) Unary(op device.UnaryOp, x device.Buffer, xl device.Layout, y device.Buffer, yl device.Layout, alpha float64) {
	if d.widened("Unary", []device.Buffer{x, y}, []device.Buffer{y}, func(f func(device.Buffer) device.Buffer) { d.Unary(op, f(x), xl, f(y), yl, alpha) }) {
		return
	}
	const name = "Unary"
	xb, yb := d.buf(name, x), d.buf(name, y)
	sameDType(name, xb, yb)
	checkFloat(name, xb.dtype)
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
	d.kernel(dim3{x: d.gridFor(p.n, block256)}, dim3{x: block256}).unary(int(op), xb.elems(xl.Offset), yb.elems(yl.Offset),
		int(p.n), p.rank, alpha, shapeArg(p.shape), shapeArg(p.strides[0]), shapeArg(p.strides[1]))
}

// Binary: kernels/elementwise.cu kiln_binary_*.
func (d *Device) Binary(op device.BinaryOp, a device.Buffer, al device.Layout, b device.Buffer, bl device.Layout, y device.Buffer, yl device.Layout) {
	if d.widened("Binary", []device.Buffer{a, b, y}, []device.Buffer{y}, func(f func(device.Buffer) device.Buffer) { d.Binary(op, f(a), al, f(b), bl, f(y), yl) }) {
		return
	}
	const name = "Binary"
	ab, bb, yb := d.buf(name, a), d.buf(name, b), d.buf(name, y)
	sameDType(name, ab, bb, yb)
	checkFloat(name, ab.dtype)
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
	d.kernel(dim3{x: d.gridFor(p.n, block256)}, dim3{x: block256}).binary(int(op), ab.elems(al.Offset), bb.elems(bl.Offset),
		yb.elems(yl.Offset), int(p.n), p.rank, shapeArg(p.shape), shapeArg(p.strides[0]), shapeArg(p.strides[1]),
		shapeArg(p.strides[2]))
}

// Reduce: kernels/reduce.cu.
func (d *Device) Reduce(op device.ReduceOp, x device.Buffer, outer, n, inner int, y device.Buffer) {
	if d.widened("Reduce", []device.Buffer{x, y}, []device.Buffer{y}, func(f func(device.Buffer) device.Buffer) { d.Reduce(op, f(x), outer, n, inner, f(y)) }) {
		return
	}
	const name = "Reduce"
	xb, yb := d.buf(name, x), d.buf(name, y)
	sameDType(name, xb, yb)
	checkFloat(name, xb.dtype)
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
		d.reduce(op, xb.elems(0), outer, n, inner, 1, yb.elems(0))
		return
	}
	// Two passes through a scratch block of partials (see kernels/reduce.cu).
	part, release := d.scratchOf("Reduce", xb.dtype, outer*splits*inner)
	if part.addr == 0 {
		return
	}
	defer release()
	d.reduce(op, xb.elems(0), outer, n, inner, splits, part)
	if op == device.ReduceSumSquares {
		op = device.ReduceSum // the partials are already squared
	}
	d.reduce(op, part, outer, splits, inner, 1, yb.elems(0))
}

// reduce launches one pass of kernels/reduce.cu over [outer, n, inner], each output split into
// `splits` partials along n (y then holds outer·splits·inner values).
func (d *Device) reduce(op device.ReduceOp, x elemPtr, outer, n, inner, splits int, y elemPtr) {
	if inner == 1 {
		d.kernel(dim3{x: d.gridFor(int64(outer*splits), 8)}, dim3{x: block256}).reduceRows(int(op), x, outer, n, splits, y)
		return
	}
	d.kernel(dim3{x: (inner + 31) / 32, y: min(outer*splits, 65535)}, dim3{x: 32, y: 8}).reduceCols(int(op), x, outer, n,
		inner, splits, y)
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

// scratchOf is scratch for n elements of dt, as a typed address (addr 0 on failure).
func (d *Device) scratchOf(op string, dt device.DType, n int) (elemPtr, func()) {
	p, release := d.scratch(op, int64(n*dt.Size()))
	return elemPtr{addr: p, dtype: dt}, release
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
	if d.widened("Softmax", []device.Buffer{x, y}, []device.Buffer{y}, func(f func(device.Buffer) device.Buffer) { d.Softmax(f(x), f(y), rows, cols, log) }) {
		return
	}
	const name = "Softmax"
	xb, yb := d.buf(name, x), d.buf(name, y)
	sameDType(name, xb, yb)
	checkFloat(name, xb.dtype)
	checkLen(name, "x", xb, rows*cols)
	checkLen(name, "y", yb, rows*cols)
	if rows*cols == 0 {
		return
	}
	d.enter()
	defer d.leave()
	d.kernel(d.rowGrid(rows), dim3{x: block256}).softmax(xb.elems(0), yb.elems(0), rows, cols, b2i(log))
}

// SoftmaxBackward: kernels/softmax.cu kiln_softmax_bwd_*.
func (d *Device) SoftmaxBackward(y, dy, dx device.Buffer, rows, cols int, log bool) {
	if d.widened("SoftmaxBackward", []device.Buffer{y, dy, dx}, []device.Buffer{dx}, func(f func(device.Buffer) device.Buffer) { d.SoftmaxBackward(f(y), f(dy), f(dx), rows, cols, log) }) {
		return
	}
	const name = "SoftmaxBackward"
	yb, dyb, dxb := d.buf(name, y), d.buf(name, dy), d.buf(name, dx)
	sameDType(name, yb, dyb, dxb)
	checkFloat(name, yb.dtype)
	for _, b := range []*buffer{yb, dyb, dxb} {
		checkLen(name, "operand", b, rows*cols)
	}
	if rows*cols == 0 {
		return
	}
	d.enter()
	defer d.leave()
	d.kernel(d.rowGrid(rows), dim3{x: block256}).softmaxBwd(yb.elems(0), dyb.elems(0), dxb.elems(0), rows, cols, b2i(log))
}

// LayerNorm: kernels/layernorm.cu kiln_layernorm_*.
func (d *Device) LayerNorm(x, gamma, beta, y, mean, rstd device.Buffer, rows, cols int, eps float64) {
	if d.widened("LayerNorm", []device.Buffer{x, gamma, beta, y, mean, rstd}, []device.Buffer{y, mean, rstd}, func(f func(device.Buffer) device.Buffer) {
		d.LayerNorm(f(x), f(gamma), f(beta), f(y), f(mean), f(rstd), rows, cols, eps)
	}) {
		return
	}
	const name = "LayerNorm"
	xb, yb, mb, rb := d.buf(name, x), d.buf(name, y), d.buf(name, mean), d.buf(name, rstd)
	sameDType(name, xb, yb, mb, rb)
	checkFloat(name, xb.dtype)
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
	d.kernel(d.rowGrid(rows), dim3{x: block256}).layernorm(xb.elems(0), g, bt, yb.elems(0), mb.elems(0), rb.elems(0), rows, cols, eps)
}

// LayerNormBackward: kernels/layernorm.cu kiln_layernorm_bwd_dx_* and kiln_layernorm_bwd_params_*.
func (d *Device) LayerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta device.Buffer, rows, cols int) {
	if d.widened("LayerNormBackward", []device.Buffer{x, gamma, mean, rstd, dy, dx, dgamma, dbeta}, []device.Buffer{dx, dgamma, dbeta}, func(f func(device.Buffer) device.Buffer) {
		d.LayerNormBackward(f(x), f(gamma), f(mean), f(rstd), f(dy), f(dx), f(dgamma), f(dbeta), rows, cols)
	}) {
		return
	}
	const name = "LayerNormBackward"
	xb, mb, rb, dyb, dxb := d.buf(name, x), d.buf(name, mean), d.buf(name, rstd), d.buf(name, dy), d.buf(name, dx)
	sameDType(name, xb, mb, rb, dyb, dxb)
	checkFloat(name, xb.dtype)
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
		d.kernel(d.rowGrid(rows), dim3{x: block256}).layernormBwdDx(xb.elems(0), g, mb.elems(0), rb.elems(0), dyb.elems(0),
			dxb.elems(0), rows, cols)
	}
	if dg.addr == 0 && db.addr == 0 {
		return
	}
	splits := d.reduceSplits(1, rows, cols)
	if splits == 1 {
		d.kernel(dim3{x: (cols + 31) / 32}, dim3{x: 32, y: 8}).layernormBwdParams(xb.elems(0), mb.elems(0), rb.elems(0),
			dyb.elems(0), dg, db, rows, cols, 1)
		return
	}
	// Partials per chunk of rows, then a column sum of them (see kernels/layernorm.cu).
	n := splits * cols
	part, release := d.scratchOf("LayerNormBackward", xb.dtype, 2*n)
	if part.addr == 0 {
		return
	}
	defer release()
	pg, pb := elemPtr{dtype: xb.dtype}, elemPtr{dtype: xb.dtype} // null where that sum is not wanted, as the kernel expects
	if dg.addr != 0 {
		pg = part
	}
	if db.addr != 0 {
		pb = part.plus(n)
	}
	d.kernel(dim3{x: (cols + 31) / 32, y: splits}, dim3{x: 32, y: 8}).layernormBwdParams(xb.elems(0), mb.elems(0), rb.elems(0),
		dyb.elems(0), pg, pb, rows, cols, splits)
	if dg.addr != 0 {
		d.reduce(device.ReduceSum, pg, 1, splits, cols, 1, dg)
	}
	if db.addr != 0 {
		d.reduce(device.ReduceSum, pb, 1, splits, cols, 1, db)
	}
}

// attnVariant picks the attention instantiation for a head dimension: the padded width DMAX
// and the lanes per query TPQ (kernels/attention.cu's DEF_ATT lines).
func attnVariant(op string, dt device.DType, d, dv int) (dmax, tpq int) {
	m := d
	if dv > m {
		m = dv
	}
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
	checkFloat(op, dt)
	return dmax, tpq
}

// The attention bindings by padded head dimension (kernels/attention.cu's instantiations).
type (
	attnFwdKernel  = func(l launcher, Q, K, V, O, LSE elemPtr, Lq, Lk, D, Dv, nctx int, scale float64)
	attnDqKernel   = func(l launcher, Q, K, V, O, LSE, dO, dQ, Delta elemPtr, Lq, Lk, D, Dv, nctx int, scale float64)
	attnDkdvKernel = func(l launcher, Q, K, V, LSE, dO, Delta, dK, dV elemPtr, Lq, Lk, D, Dv, nctx int, scale float64)
)

var (
	attnFwdKernels          = map[int]attnFwdKernel{32: launcher.attnFwdD32, 64: launcher.attnFwdD64, 128: launcher.attnFwdD128}
	attnFwdTiledKernels     = map[int]attnFwdKernel{32: launcher.attnFwdTiledD32, 64: launcher.attnFwdTiledD64}
	attnBwdDqKernels        = map[int]attnDqKernel{32: launcher.attnBwdDqD32, 64: launcher.attnBwdDqD64, 128: launcher.attnBwdDqD128}
	attnBwdDqTiledKernels   = map[int]attnDqKernel{32: launcher.attnBwdDqTiledD32, 64: launcher.attnBwdDqTiledD64}
	attnBwdDkdvKernels      = map[int]attnDkdvKernel{32: launcher.attnBwdDkdvD32, 64: launcher.attnBwdDkdvD64, 128: launcher.attnBwdDkdvD128}
	attnBwdDkdvTiledKernels = map[int]attnDkdvKernel{32: launcher.attnBwdDkdvTiledD32, 64: launcher.attnBwdDkdvTiledD64}
)

func checkAttn(op string, p device.AttentionParams) {
	if p.Batch < 0 || p.Lq < 0 || p.Lk < 0 || p.D <= 0 || p.Dv <= 0 || p.NContext < 0 || p.NContext > p.Lk {
		device.Panicf(op, "bad sizes %+v (need D, Dv > 0 and 0 ≤ NContext ≤ Lk)", p)
	}
}

// checkAttnLens checks the lengths of attention's q, k, v, o and lse buffers.
func checkAttnLens(name string, p device.AttentionParams, qb, kb, vb, ob, lb *buffer) {
	checkLen(name, "q", qb, p.Batch*p.Lq*p.D)
	checkLen(name, "k", kb, p.Batch*p.Lk*p.D)
	checkLen(name, "v", vb, p.Batch*p.Lk*p.Dv)
	checkLen(name, "o", ob, p.Batch*p.Lq*p.Dv)
	checkLen(name, "lse", lb, p.Batch*p.Lq)
}

// Attention: kernels/attention.cu kiln_attn_fwd_*.
func (d *Device) Attention(p device.AttentionParams, q, k, v, o, lse device.Buffer) {
	if d.faBF16 && max(p.D, p.Dv) <= 64 && (allDType(device.BFloat16, q, k, v, o, lse) ||
		p.Products == device.BFloat16 && allDType(device.Float32, q, k, v, o, lse)) {
		d.attentionFA(p, q, k, v, o, lse)
		return
	}
	if d.widened("Attention", []device.Buffer{q, k, v, o, lse}, []device.Buffer{o, lse}, func(f func(device.Buffer) device.Buffer) { d.Attention(p, f(q), f(k), f(v), f(o), f(lse)) }) {
		return
	}
	const name = "Attention"
	checkAttn(name, p)
	qb, kb, vb, ob, lb := d.buf(name, q), d.buf(name, k), d.buf(name, v), d.buf(name, o), d.buf(name, lse)
	sameDType(name, qb, kb, vb, ob, lb)
	checkAttnLens(name, p, qb, kb, vb, ob, lb)
	dmax, tpq := attnVariant(name, qb.dtype, p.D, p.Dv)
	if p.Batch == 0 || p.Lq == 0 {
		return
	}
	d.enter()
	defer d.leave()
	// float32 with head dims ≤ 64 (TabPFN's) takes the outer-product tiled kernel: 64
	// queries per block; the rest the per-lane dot-product kernel.
	kernel, per := attnFwdKernels[dmax], 128/tpq
	if qb.dtype == device.Float32 && dmax <= 64 {
		kernel, per = attnFwdTiledKernels[dmax], 64
	}
	for b0 := 0; b0 < p.Batch; b0 += 65535 {
		nb := min(p.Batch-b0, 65535)
		kernel(d.kernel(dim3{x: (p.Lq + per - 1) / per, y: nb}, dim3{x: 128}),
			qb.elems(b0*p.Lq*p.D), kb.elems(b0*p.Lk*p.D), vb.elems(b0*p.Lk*p.Dv), ob.elems(b0*p.Lq*p.Dv), lb.elems(b0*p.Lq),
			p.Lq, p.Lk, p.D, p.Dv, p.NContext, p.Scale)
	}
}

// allDType reports whether every buffer holds dt.
func allDType(dt device.DType, bufs ...device.Buffer) bool {
	for _, b := range bufs {
		if b.DType() != dt {
			return false
		}
	}
	return true
}

// attentionFA is Attention with head dims ≤ 64 on the tensor cores (FABF16Env), 64 queries per
// block: kernels/attention.cu kiln_attn_fwd_fa_bf16_d{32,64} for bfloat16 operands, and
// kiln_attn_fwd_fa_f32_d{32,64} for float32 operands with bfloat16 products (mixed precision).
func (d *Device) attentionFA(p device.AttentionParams, q, k, v, o, lse device.Buffer) {
	const name = "Attention"
	checkAttn(name, p)
	qb, kb, vb, ob, lb := d.buf(name, q), d.buf(name, k), d.buf(name, v), d.buf(name, o), d.buf(name, lse)
	checkAttnLens(name, p, qb, kb, vb, ob, lb)
	if p.Batch == 0 || p.Lq == 0 {
		return
	}
	kernel := launcher.attnFwdFaD64
	if max(p.D, p.Dv) <= 32 {
		kernel = launcher.attnFwdFaD32
	}
	d.enter()
	defer d.leave()
	for b0 := 0; b0 < p.Batch; b0 += 65535 {
		nb := min(p.Batch-b0, 65535)
		kernel(d.kernel(dim3{x: (p.Lq + 63) / 64, y: nb}, dim3{x: 128}),
			qb.elems(b0*p.Lq*p.D), kb.elems(b0*p.Lk*p.D), vb.elems(b0*p.Lk*p.Dv), ob.elems(b0*p.Lq*p.Dv), lb.elems(b0*p.Lq),
			p.Lq, p.Lk, p.D, p.Dv, p.NContext, p.Scale)
	}
}

// AttentionBackward: kernels/attention.cu kiln_attn_bwd_dq_* then kiln_attn_bwd_dkdv_*.
func (d *Device) AttentionBackward(p device.AttentionParams, q, k, v, o, lse, dO, dq, dk, dv device.Buffer) {
	if d.faBF16 && p.Products == device.BFloat16 && max(p.D, p.Dv) <= 64 &&
		allDType(device.Float32, q, k, v, o, lse, dO, dq, dk, dv) {
		d.attentionBackwardFA(p, q, k, v, o, lse, dO, dq, dk, dv)
		return
	}
	if d.widened("AttentionBackward", []device.Buffer{q, k, v, o, lse, dO, dq, dk, dv}, []device.Buffer{dq, dk, dv}, func(f func(device.Buffer) device.Buffer) {
		d.AttentionBackward(p, f(q), f(k), f(v), f(o), f(lse), f(dO), f(dq), f(dk), f(dv))
	}) {
		return
	}
	const name = "AttentionBackward"
	checkAttn(name, p)
	qb, kb, vb, ob, lb := d.buf(name, q), d.buf(name, k), d.buf(name, v), d.buf(name, o), d.buf(name, lse)
	gb, dqb, dkb, dvb := d.buf(name, dO), d.buf(name, dq), d.buf(name, dk), d.buf(name, dv)
	sameDType(name, qb, kb, vb, ob, lb, gb, dqb, dkb, dvb)
	checkAttnLens(name, p, qb, kb, vb, ob, lb)
	checkLen(name, "dO", gb, p.Batch*p.Lq*p.Dv)
	checkLen(name, "dq", dqb, p.Batch*p.Lq*p.D)
	checkLen(name, "dk", dkb, p.Batch*p.Lk*p.D)
	checkLen(name, "dv", dvb, p.Batch*p.Lk*p.Dv)
	dmax, tpq := attnVariant(name, qb.dtype, p.D, p.Dv)
	db := d.attnBackwardDelta(name, p, qb.dtype, dkb, dvb)
	if db == nil {
		return
	}
	defer db.Free() // stream-ordered: the block is reused only by later launches
	d.enter()
	defer d.leave()
	per := 128 / tpq
	for b0 := 0; b0 < p.Batch; b0 += 65535 {
		nb := min(p.Batch-b0, 65535)
		oq, ok, ov := b0*p.Lq*p.D, b0*p.Lk*p.D, b0*p.Lk*p.Dv
		oo, ol := b0*p.Lq*p.Dv, b0*p.Lq
		// float32 with head dims ≤ 64 takes the outer-product tiled kernels (32 queries or 32
		// keys per block); the rest the per-lane ones.
		tiled := qb.dtype == device.Float32 && dmax <= 64
		dq, qper := attnBwdDqKernels[dmax], per
		if tiled {
			dq, qper = attnBwdDqTiledKernels[dmax], 32
		}
		dq(d.kernel(dim3{x: (p.Lq + qper - 1) / qper, y: nb}, dim3{x: 128}),
			qb.elems(oq), kb.elems(ok), vb.elems(ov), ob.elems(oo), lb.elems(ol), gb.elems(oo), dqb.elems(oq), db.elems(ol),
			p.Lq, p.Lk, p.D, p.Dv, p.NContext, p.Scale)
		if p.Lk > 0 {
			dkdv, kper := attnBwdDkdvKernels[dmax], per
			if tiled {
				dkdv, kper = attnBwdDkdvTiledKernels[dmax], 32
			}
			dkdv(d.kernel(dim3{x: (p.Lk + kper - 1) / kper, y: nb}, dim3{x: 128}),
				qb.elems(oq), kb.elems(ok), vb.elems(ov), lb.elems(ol), gb.elems(oo), db.elems(ol), dkb.elems(ok), dvb.elems(ov),
				p.Lq, p.Lk, p.D, p.Dv, p.NContext, p.Scale)
		}
	}
}

// attnBackwardDelta returns a new buffer of dtype dt for the backward's δ = rowsum(dO ⊙ O),
// or nil when there is nothing to launch: no heads, or no queries (then every key gradient
// is zero, written here).
func (d *Device) attnBackwardDelta(name string, p device.AttentionParams, dt device.DType, dkb, dvb *buffer) *buffer {
	if p.Batch == 0 {
		return nil
	}
	if p.Lq == 0 {
		d.Fill(dkb, 0, p.Batch*p.Lk*p.D, 0)
		d.Fill(dvb, 0, p.Batch*p.Lk*p.Dv, 0)
		return nil
	}
	delta, err := d.Alloc(dt, p.Batch*p.Lq)
	if err != nil {
		panic(&device.Error{Op: name, Msg: err.Error()})
	}
	return delta.(*buffer)
}

// attentionBackwardFA is AttentionBackward of float32 operands with bfloat16 products and head
// dims ≤ 64 on the tensor cores (FABF16Env): kernels/attention.cu kiln_attn_bwd_dq_fa_f32_d*
// (64 queries per block; it also writes δ) then kiln_attn_bwd_dkdv_fa_f32_d* (64 keys per block).
func (d *Device) attentionBackwardFA(p device.AttentionParams, q, k, v, o, lse, dO, dq, dk, dv device.Buffer) {
	const name = "AttentionBackward"
	checkAttn(name, p)
	qb, kb, vb, ob, lb := d.buf(name, q), d.buf(name, k), d.buf(name, v), d.buf(name, o), d.buf(name, lse)
	gb, dqb, dkb, dvb := d.buf(name, dO), d.buf(name, dq), d.buf(name, dk), d.buf(name, dv)
	checkAttnLens(name, p, qb, kb, vb, ob, lb)
	checkLen(name, "dO", gb, p.Batch*p.Lq*p.Dv)
	checkLen(name, "dq", dqb, p.Batch*p.Lq*p.D)
	checkLen(name, "dk", dkb, p.Batch*p.Lk*p.D)
	checkLen(name, "dv", dvb, p.Batch*p.Lk*p.Dv)
	db := d.attnBackwardDelta(name, p, device.Float32, dkb, dvb)
	if db == nil {
		return
	}
	defer db.Free() // stream-ordered: the block is reused only by later launches
	dqKernel, dkdvKernel := launcher.attnBwdDqFaD64, launcher.attnBwdDkdvFaD64
	if max(p.D, p.Dv) <= 32 {
		dqKernel, dkdvKernel = launcher.attnBwdDqFaD32, launcher.attnBwdDkdvFaD32
	}
	d.enter()
	defer d.leave()
	for b0 := 0; b0 < p.Batch; b0 += 65535 {
		nb := min(p.Batch-b0, 65535)
		oq, ok, ov := b0*p.Lq*p.D, b0*p.Lk*p.D, b0*p.Lk*p.Dv
		oo, ol := b0*p.Lq*p.Dv, b0*p.Lq
		dqKernel(d.kernel(dim3{x: (p.Lq + 63) / 64, y: nb}, dim3{x: 128}),
			qb.elems(oq), kb.elems(ok), vb.elems(ov), ob.elems(oo), lb.elems(ol), gb.elems(oo), dqb.elems(oq), db.elems(ol),
			p.Lq, p.Lk, p.D, p.Dv, p.NContext, p.Scale)
		if p.Lk > 0 {
			dkdvKernel(d.kernel(dim3{x: (p.Lk + 63) / 64, y: nb}, dim3{x: 128}),
				qb.elems(oq), kb.elems(ok), vb.elems(ov), lb.elems(ol), gb.elems(oo), db.elems(ol), dkb.elems(ok), dvb.elems(ov),
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
	if d.widened("Gather", []device.Buffer{table, idx, out}, []device.Buffer{out}, func(f func(device.Buffer) device.Buffer) { d.Gather(f(table), rows, width, idx, n, f(out)) }) {
		return
	}
	d.rowIndexed("Gather", launcher.gather, "out", table, rows, width, idx, n, out)
}

// ScatterAdd: kernels/gather.cu kiln_scatter_add_*.
func (d *Device) ScatterAdd(table device.Buffer, rows, width int, idx device.Buffer, n int, src device.Buffer) {
	if d.widened("ScatterAdd", []device.Buffer{table, idx, src}, []device.Buffer{table}, func(f func(device.Buffer) device.Buffer) { d.ScatterAdd(f(table), rows, width, idx, n, f(src)) }) {
		return
	}
	d.rowIndexed("ScatterAdd", launcher.scatterAdd, "src", table, rows, width, idx, n, src)
}

// rowIndexed checks and launches the two row-indexed kernels, which share their arguments
// (table, rows, width, idx, n, rows buffer, error word) and their out-of-range report.
func (d *Device) rowIndexed(name string, kernel func(l launcher, table elemPtr, rows, width int, idx ptr[int32], n int, rowsBuf elemPtr, err ptr[uint64]),
	rowsName string, table device.Buffer, rows, width int, idx device.Buffer, n int, other device.Buffer) {
	tb, ib, ob := d.buf(name, table), d.buf(name, idx), d.buf(name, other)
	sameDType(name, tb, ob)
	checkFloat(name, tb.dtype)
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
	kernel(d.kernel(dim3{x: d.gridFor(int64(n*width), block256)}, dim3{x: block256}),
		tb.elems(0), rows, width, ptr[int32](ib.ptr), n, ob.elems(0), ptr[uint64](d.errWord))
	d.readErrWord(name, ib, rows)
}

// RandomFill: kernels/rng.cu kiln_random_*.
func (d *Device) RandomFill(dst device.Buffer, dist device.Distribution, seed, offset uint64, a, b float64) {
	if d.widened("RandomFill", []device.Buffer{dst}, []device.Buffer{dst}, func(f func(device.Buffer) device.Buffer) { d.RandomFill(f(dst), dist, seed, offset, a, b) }) {
		return
	}
	const name = "RandomFill"
	db := d.buf(name, dst)
	checkFloat(name, db.dtype)
	if dist != device.Uniform && dist != device.Normal {
		device.Panicf(name, "unknown distribution %d", dist)
	}
	if db.n == 0 {
		return
	}
	d.enter()
	defer d.leave()
	blocks := int64(db.n+3) / 4
	d.kernel(dim3{x: d.gridFor(blocks, block256)}, dim3{x: block256}).random(db.elems(0), db.n, int(seed), int(offset),
		b2i(dist == device.Normal), a, b)
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
