package gemm

import "unsafe"

// genericMR and genericNR are the tile of the pure-Go micro-kernel: 8
// accumulators, the 4 B values and the A value of a k step fit the 16
// SSE registers of amd64 (a 4×4 tile spills to the stack and runs at half
// the speed).
const (
	genericMR = 2
	genericNR = 4
)

// kernelGeneric is the portable micro-kernel: C[2×4] (+)= Ap·Bp.
func kernelGeneric[T Float](k int, a, b, c *T, ldc int, add int) {
	ap := unsafe.Slice(a, k*genericMR)
	bp := unsafe.Slice(b, k*genericNR)
	var c00, c01, c02, c03 T
	var c10, c11, c12, c13 T
	for len(ap) >= 2 && len(bp) >= 4 {
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		a0 := ap[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := ap[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		ap, bp = ap[2:], bp[4:]
	}
	cs := unsafe.Slice(c, ldc+genericNR)
	if add == 0 {
		r := cs[0:4:4]
		r[0], r[1], r[2], r[3] = c00, c01, c02, c03
		r = cs[ldc : ldc+4 : ldc+4]
		r[0], r[1], r[2], r[3] = c10, c11, c12, c13
		return
	}
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
}

// genericSet returns the pure-Go kernel set. kc·nr·sizeof(T) of the B
// micro-panel fits L1 comfortably; the A block mc×kc and the B panel kc×nc
// fit L2 and L3 of current x86 and ARM cores.
func genericSet[T Float](name string) *kernelSet[T] {
	return &kernelSet[T]{name: name, mr: genericMR, nr: genericNR, kc: 256, mc: 128, nc: 2048, kern: kernelGeneric[T]}
}
