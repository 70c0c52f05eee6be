package gemm

import "unsafe"

// genericMR and genericNR are the tile of the pure-Go micro-kernel: 16
// accumulators is as many as the 16 SSE registers of amd64 (and fewer than
// arm64's 32) hold, so the compiler keeps most of them out of memory.
const (
	genericMR = 4
	genericNR = 4
)

// kernelGeneric is the portable micro-kernel: C[4×4] += Ap·Bp.
func kernelGeneric[T Float](k int, a, b, c *T, ldc int) {
	if k == 0 {
		return
	}
	ap := unsafe.Slice(a, k*genericMR)
	bp := unsafe.Slice(b, k*genericNR)
	var c00, c01, c02, c03 T
	var c10, c11, c12, c13 T
	var c20, c21, c22, c23 T
	var c30, c31, c32, c33 T
	for p := range k {
		av := ap[p*genericMR : p*genericMR+genericMR : p*genericMR+genericMR]
		bv := bp[p*genericNR : p*genericNR+genericNR : p*genericNR+genericNR]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		a0 := av[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := av[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := av[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := av[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+genericNR)
	r := cs[0:4:4]
	r[0] += c00
	r[1] += c01
	r[2] += c02
	r[3] += c03
	r = cs[ldc : ldc+4 : ldc+4]
	r[0] += c10
	r[1] += c11
	r[2] += c12
	r[3] += c13
	r = cs[2*ldc : 2*ldc+4 : 2*ldc+4]
	r[0] += c20
	r[1] += c21
	r[2] += c22
	r[3] += c23
	r = cs[3*ldc : 3*ldc+4 : 3*ldc+4]
	r[0] += c30
	r[1] += c31
	r[2] += c32
	r[3] += c33
}

// genericSet returns the pure-Go kernel set. kc·nr·sizeof(T) of the B
// micro-panel fits L1 comfortably; the A block mc×kc and the B panel kc×nc
// fit L2 and L3 of current x86 and ARM cores.
func genericSet[T Float](name string) *kernelSet[T] {
	return &kernelSet[T]{name: name, mr: genericMR, nr: genericNR, kc: 256, mc: 128, nc: 2048, kern: kernelGeneric[T]}
}
