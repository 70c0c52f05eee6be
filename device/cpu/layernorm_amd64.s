//go:build amd64 && !noasm

#include "textflag.h"

// The vector form of layerNorm's float32 rows (reduce.go, layernorm_amd64.go): eight float64
// lanes, lane l summing the elements l, l+8, l+16, … and the lanes combined as
// ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)), exactly as sum8 and sumSqDev8 do, and the
// affine map in the scalar loop's order of operations, so that both forms give the same
// bits.

// REDUCE8 sums the eight float64 lanes of Z0 into X0 in sum8's order; Z1 is scratch.
#define REDUCE8 \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPD Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPD X1, X0, X0; \
	VPERMILPD $1, X0, X1; \
	VADDSD X1, X0, X0

// func rowMomentsF32AVX512(x *float32, n int) (mu, ss float64)
// mu = sum8(x[0:n])/n and ss = sumSqDev8(x[0:n], mu), n a positive multiple of 8.
TEXT ·rowMomentsF32AVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ SI, DI
	MOVQ CX, DX
	VXORPD Z0, Z0, Z0

sum:
	VCVTPS2PD (SI), Z2
	VADDPD Z2, Z0, Z0
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  sum
	REDUCE8
	CVTSQ2SD DX, X2
	VDIVSD X2, X0, X0 // mu
	VBROADCASTSD X0, Z3
	MOVSD X0, mu+16(FP)
	VXORPD Z0, Z0, Z0

dev:
	VCVTPS2PD (DI), Z2
	VSUBPD Z3, Z2, Z2
	VMULPD Z2, Z2, Z2
	VADDPD Z2, Z0, Z0
	ADDQ $32, DI
	SUBQ $8, DX
	JNZ  dev
	REDUCE8
	MOVSD X0, ss+24(FP)
	VZEROUPPER
	RET

// func normAffineF32AVX512(y, x, gamma, beta *float32, n int, mu, rs float64)
// y[i] = float32(((x[i] − mu)·rs)·gamma[i] + beta[i]) in float64, n a multiple of 8.
TEXT ·normAffineF32AVX512(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ gamma+16(FP), R8
	MOVQ beta+24(FP), R9
	MOVQ n+32(FP), CX
	VBROADCASTSD mu+40(FP), Z3
	VBROADCASTSD rs+48(FP), Z4

affine:
	CMPQ CX, $8
	JLT  affinedone
	VCVTPS2PD (SI), Z0
	VSUBPD Z3, Z0, Z0
	VMULPD Z4, Z0, Z0
	VCVTPS2PD (R8), Z1
	VMULPD Z1, Z0, Z0
	VCVTPS2PD (R9), Z1
	VADDPD Z1, Z0, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  affine

affinedone:
	VZEROUPPER
	RET
