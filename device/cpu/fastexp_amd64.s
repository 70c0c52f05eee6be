//go:build amd64 && !noasm

#include "textflag.h"

// The vector forms of expShift32 and the attention row maximum (fastexp.go, fastexp_amd64.go).
//
// expShift32AVX512 evaluates e^(src[i]−shift) eight lanes at a time in float64, the same
// method as the scalar exp32 but without its table: n = round(x·log2 e), r = x − n·ln2 with
// ln2 in fdlibm's two parts (n·ln2hi exact for |n| < 2^21), e^r from its degree-7 Taylor
// polynomial (|r| ≤ ln2/2, truncation error below 5.2e-9 relative, 0.04 float32 ulp), and
// 2^n applied by VSCALEFPD, which over- and underflows exactly as the float64 product would.
// x is clamped to [−1000, 1000] first (a NaN passes through the clamps), so −Inf gives 0,
// and x > 89 gives +Inf as in the scalar form (in the sum as well). One rounding to float32 (VCVTPD2PS) gives the result. The float64
// values are summed before that rounding.

// func expShift32AVX512(dst, src *float32, n int, shift float64) float64
TEXT ·expShift32AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD shift+24(FP), Z16
	MOVQ $0x3ff71547652b82fe, AX // log2 e
	VPBROADCASTQ AX, Z17
	MOVQ $0x3fe62e42fee00000, AX // ln2hi
	VPBROADCASTQ AX, Z18
	MOVQ $0x3dea39ef35793c76, AX // ln2lo
	VPBROADCASTQ AX, Z19
	MOVQ $0xc08f400000000000, AX // -1000
	VPBROADCASTQ AX, Z20
	MOVQ $0x408f400000000000, AX // 1000
	VPBROADCASTQ AX, Z21
	MOVQ $0x3f2a01a01a01a01a, AX // 1/7!
	VPBROADCASTQ AX, Z22
	MOVQ $0x3f56c16c16c16c17, AX // 1/6!
	VPBROADCASTQ AX, Z23
	MOVQ $0x3f81111111111111, AX // 1/5!
	VPBROADCASTQ AX, Z24
	MOVQ $0x3fa5555555555555, AX // 1/4!
	VPBROADCASTQ AX, Z25
	MOVQ $0x3fc5555555555555, AX // 1/3!
	VPBROADCASTQ AX, Z26
	MOVQ $0x3fe0000000000000, AX // 1/2
	VPBROADCASTQ AX, Z27
	MOVQ $0x3ff0000000000000, AX // 1
	VPBROADCASTQ AX, Z28
	MOVQ $0x4056400000000000, AX // 89: above it the scalar form gives +Inf
	VPBROADCASTQ AX, Z29
	MOVQ $0x7ff0000000000000, AX // +Inf
	VPBROADCASTQ AX, Z30
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1

loop16:
	CMPQ CX, $16
	JLT  tail8
	VCVTPS2PD (SI), Z2
	VCVTPS2PD 32(SI), Z8
	VSUBPD Z16, Z2, Z2
	VSUBPD Z16, Z8, Z8
	VCMPPD $0x1e, Z29, Z2, K1 // x > 89 (ordered)
	VCMPPD $0x1e, Z29, Z8, K2
	VMINPD Z2, Z21, Z2 // NaN in Z2 stays (the second source is returned)
	VMINPD Z8, Z21, Z8
	VMAXPD Z2, Z20, Z2
	VMAXPD Z8, Z20, Z8
	VMULPD Z17, Z2, Z3
	VMULPD Z17, Z8, Z9
	VRNDSCALEPD $0, Z3, Z3 // round to nearest even
	VRNDSCALEPD $0, Z9, Z9
	VMOVAPD Z2, Z4
	VMOVAPD Z8, Z10
	VFNMADD231PD Z18, Z3, Z4 // r = x − n·ln2hi
	VFNMADD231PD Z18, Z9, Z10
	VFNMADD231PD Z19, Z3, Z4 // r −= n·ln2lo
	VFNMADD231PD Z19, Z9, Z10
	VMOVAPD Z22, Z5
	VMOVAPD Z22, Z11
	VFMADD213PD Z23, Z4, Z5 // p = p·r + c
	VFMADD213PD Z23, Z10, Z11
	VFMADD213PD Z24, Z4, Z5
	VFMADD213PD Z24, Z10, Z11
	VFMADD213PD Z25, Z4, Z5
	VFMADD213PD Z25, Z10, Z11
	VFMADD213PD Z26, Z4, Z5
	VFMADD213PD Z26, Z10, Z11
	VFMADD213PD Z27, Z4, Z5
	VFMADD213PD Z27, Z10, Z11
	VFMADD213PD Z28, Z4, Z5
	VFMADD213PD Z28, Z10, Z11
	VFMADD213PD Z28, Z4, Z5
	VFMADD213PD Z28, Z10, Z11
	VSCALEFPD Z3, Z5, Z5 // p·2^n
	VSCALEFPD Z9, Z11, Z11
	VMOVAPD Z30, K1, Z5 // +Inf where the scalar form overflows, in the sum too
	VMOVAPD Z30, K2, Z11
	VADDPD Z5, Z0, Z0
	VADDPD Z11, Z1, Z1
	VCVTPD2PS Z5, Y6
	VCVTPD2PS Z11, Y12
	VMOVUPS Y6, (DI)
	VMOVUPS Y12, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  loop16

tail8:
	CMPQ CX, $8
	JLT  done
	VCVTPS2PD (SI), Z2
	VSUBPD Z16, Z2, Z2
	VCMPPD $0x1e, Z29, Z2, K1
	VMINPD Z2, Z21, Z2
	VMAXPD Z2, Z20, Z2
	VMULPD Z17, Z2, Z3
	VRNDSCALEPD $0, Z3, Z3
	VMOVAPD Z2, Z4
	VFNMADD231PD Z18, Z3, Z4
	VFNMADD231PD Z19, Z3, Z4
	VMOVAPD Z22, Z5
	VFMADD213PD Z23, Z4, Z5
	VFMADD213PD Z24, Z4, Z5
	VFMADD213PD Z25, Z4, Z5
	VFMADD213PD Z26, Z4, Z5
	VFMADD213PD Z27, Z4, Z5
	VFMADD213PD Z28, Z4, Z5
	VFMADD213PD Z28, Z4, Z5
	VSCALEFPD Z3, Z5, Z5
	VMOVAPD Z30, K1, Z5
	VADDPD Z5, Z0, Z0
	VCVTPD2PS Z5, Y6
	VMOVUPS Y6, (DI)

done:
	VADDPD Z1, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	VZEROUPPER
	MOVSD X0, ret+32(FP)
	RET

// func maxF32AVX512(src *float32, n int, init float32) float32
// The largest of init and src[0:n] (n a multiple of 16), NaNs skipped: VMAXPS returns its
// second source when either is NaN, and the running maximum is that operand.
TEXT ·maxF32AVX512(SB), NOSPLIT, $0-28
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS init+16(FP), Z0
	VMOVAPS Z0, Z1

max32:
	CMPQ CX, $32
	JLT  max16
	VMOVUPS (SI), Z2
	VMOVUPS 64(SI), Z3
	VMAXPS Z0, Z2, Z0
	VMAXPS Z1, Z3, Z1
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  max32

max16:
	CMPQ CX, $16
	JLT  maxdone
	VMOVUPS (SI), Z2
	VMAXPS Z0, Z2, Z0

maxdone:
	VMAXPS Z1, Z0, Z0
	VEXTRACTF32X8 $1, Z0, Y1
	VMAXPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET
