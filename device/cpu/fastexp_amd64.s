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
// and x > 89 gives +Inf as in the scalar form (in the sum as well). One rounding to float32
// (VCVTPD2PS) gives the result; the float64 values are summed before that rounding.

// EXP512_CONSTS loads the exponential's constants into Z17–Z20 and Z22–Z28 (log2 e, ln2hi,
// ln2lo, −1000, then 1/7! … 1/2! and 1). AX is scratch.
#define EXP512_CONSTS \
	MOVQ $0x3ff71547652b82fe, AX; VPBROADCASTQ AX, Z17; \
	MOVQ $0x3fe62e42fee00000, AX; VPBROADCASTQ AX, Z18; \
	MOVQ $0x3dea39ef35793c76, AX; VPBROADCASTQ AX, Z19; \
	MOVQ $0xc08f400000000000, AX; VPBROADCASTQ AX, Z20; \
	MOVQ $0x3f2a01a01a01a01a, AX; VPBROADCASTQ AX, Z22; \
	MOVQ $0x3f56c16c16c16c17, AX; VPBROADCASTQ AX, Z23; \
	MOVQ $0x3f81111111111111, AX; VPBROADCASTQ AX, Z24; \
	MOVQ $0x3fa5555555555555, AX; VPBROADCASTQ AX, Z25; \
	MOVQ $0x3fc5555555555555, AX; VPBROADCASTQ AX, Z26; \
	MOVQ $0x3fe0000000000000, AX; VPBROADCASTQ AX, Z27; \
	MOVQ $0x3ff0000000000000, AX; VPBROADCASTQ AX, Z28

// EXP512(x, n, r, p) sets p = e^x for eight float64 lanes of x ≥ −1000 (EXP512_CONSTS
// loaded): n = round(x·log2 e), r = x − n·ln2hi − n·ln2lo, the Taylor polynomial by Horner,
// then p·2^n by VSCALEFPD. n and r are scratch.
#define EXP512(x, n, r, p) \
	VMULPD Z17, x, n; VRNDSCALEPD $0, n, n; \
	VMOVAPD x, r; VFNMADD231PD Z18, n, r; VFNMADD231PD Z19, n, r; \
	VMOVAPD Z22, p; VFMADD213PD Z23, r, p; VFMADD213PD Z24, r, p; VFMADD213PD Z25, r, p; \
	VFMADD213PD Z26, r, p; VFMADD213PD Z27, r, p; VFMADD213PD Z28, r, p; VFMADD213PD Z28, r, p; \
	VSCALEFPD n, p, p

// EXPSHIFT8(off, x, n, r, p, k, acc, y) is one 8-lane step of expShift32AVX512 at byte offset
// off of SI and DI: x = src − shift (Z16), k = x > 89 (ordered), x clamped to [−1000, 1000]
// with a NaN kept (VMINPD/VMAXPD return their second source on NaN), p = e^x with +Inf
// where k, added to acc, rounded to float32 through y and stored.
#define EXPSHIFT8(off, x, n, r, p, k, acc, y) \
	VCVTPS2PD off(SI), x; VSUBPD Z16, x, x; \
	VCMPPD $0x1e, Z29, x, k; VMINPD x, Z21, x; VMAXPD x, Z20, x; \
	EXP512(x, n, r, p); \
	VMOVAPD Z30, k, p; VADDPD p, acc, acc; \
	VCVTPD2PS p, y; VMOVUPS y, off(DI)

// SUM4PD_Y0 leaves the sum of Y0's four float64 lanes in the low lane of X0 (X1 clobbered)
// and clears the upper halves (VZEROUPPER). The MOVSD to the result and the RET stay at each
// use, where go vet's frame check can see them.
#define SUM4PD_Y0 \
	VEXTRACTF128 $1, Y0, X1; VADDPD X1, X0, X0; \
	VPERMILPD $1, X0, X1; VADDSD X1, X0, X0; \
	VZEROUPPER

// func expShift32AVX512(dst, src *float32, n int, shift float64) float64
TEXT ·expShift32AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD shift+24(FP), Z16
	EXP512_CONSTS
	MOVQ $0x408f400000000000, AX // 1000
	VPBROADCASTQ AX, Z21
	MOVQ $0x4056400000000000, AX // 89: above it the scalar form gives +Inf
	VPBROADCASTQ AX, Z29
	MOVQ $0x7ff0000000000000, AX // +Inf
	VPBROADCASTQ AX, Z30
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1

loop16: // two independent chains, summed apart
	CMPQ CX, $16
	JLT  tail8
	EXPSHIFT8(0, Z2, Z3, Z4, Z5, K1, Z0, Y6)
	EXPSHIFT8(32, Z8, Z9, Z10, Z11, K2, Z1, Y12)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  loop16

tail8:
	CMPQ CX, $8
	JLT  done
	EXPSHIFT8(0, Z2, Z3, Z4, Z5, K1, Z0, Y6)

done:
	VADDPD Z1, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD Y1, Y0, Y0
	SUM4PD_Y0
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

// func gelu32AVX512(dst, src *float32, n int)
// The erf GELU of gelu32 (fastexp.go: erfc from the Numerical Recipes Chebyshev form,
// t = 1/(1 + z/2), z = |x|/√2) eight lanes at a time in float64, with e^(P(t) − z²) from the
// exponential above, n a multiple of 8. x ≥ 0 gives x·(1 − ½t·e), x < 0 gives x·½t·e, as the
// scalar form does (±Inf and NaN included).
TEXT ·gelu32AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ $0xbff43f89c0889bc5, AX // P(t) = c0 + c1·t + … + c9·t⁹
	VPBROADCASTQ AX, Z5
	MOVQ $0x3ff00018d48d3588, AX
	VPBROADCASTQ AX, Z6
	MOVQ $0x3fd7f11f677960ea, AX
	VPBROADCASTQ AX, Z7
	MOVQ $0x3fb8c6d917dec3f0, AX
	VPBROADCASTQ AX, Z8
	MOVQ $0xbfc7d84982aaeaa5, AX
	VPBROADCASTQ AX, Z9
	MOVQ $0x3fd1d8f976231ce6, AX
	VPBROADCASTQ AX, Z10
	MOVQ $0xbff229cba6063980, AX
	VPBROADCASTQ AX, Z11
	MOVQ $0x3ff7d0f60453a1be, AX
	VPBROADCASTQ AX, Z12
	MOVQ $0xbfea4f123185defd, AX
	VPBROADCASTQ AX, Z13
	MOVQ $0x3fc5df28af76a5a4, AX
	VPBROADCASTQ AX, Z14
	MOVQ $0x7fffffffffffffff, AX // |·|
	VPBROADCASTQ AX, Z15
	MOVQ $0x3fe6a09e667f3bcd, AX // 1/√2
	VPBROADCASTQ AX, Z16
	EXP512_CONSTS
	VXORPD Z21, Z21, Z21 // 0

gelu8:
	CMPQ CX, $8
	JLT  geludone
	VCVTPS2PD (SI), Z0   // x
	VPANDQ Z15, Z0, Z1   // |x|
	VMULPD Z16, Z1, Z1   // z
	VMOVAPD Z1, Z2
	VFMADD213PD Z28, Z27, Z2 // 1 + z/2
	VDIVPD Z2, Z28, Z2   // t
	VMOVAPD Z14, Z3
	VFMADD213PD Z13, Z2, Z3 // P(t) by Horner
	VFMADD213PD Z12, Z2, Z3
	VFMADD213PD Z11, Z2, Z3
	VFMADD213PD Z10, Z2, Z3
	VFMADD213PD Z9, Z2, Z3
	VFMADD213PD Z8, Z2, Z3
	VFMADD213PD Z7, Z2, Z3
	VFMADD213PD Z6, Z2, Z3
	VFMADD213PD Z5, Z2, Z3
	VFNMADD231PD Z1, Z1, Z3 // a = P(t) − z² ≤ 0
	VMAXPD Z3, Z20, Z3   // clamp at −1000 (NaN stays)
	EXP512(Z3, Z29, Z30, Z31) // e^a
	VMULPD Z2, Z31, Z31
	VMULPD Z27, Z31, Z31 // e = ½t·e^a = ½erfc(z)
	VMULPD Z31, Z0, Z4   // x·e (x < 0)
	VSUBPD Z31, Z28, Z3
	VMULPD Z3, Z0, Z3    // x·(1 − e) (x ≥ 0)
	VCMPPD $0x1d, Z21, Z0, K1 // x ≥ 0, ordered
	VMOVAPD Z3, K1, Z4
	VCVTPD2PS Z4, Y4
	VMOVUPS Y4, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  gelu8

geludone:
	VZEROUPPER
	RET

// AVX2+FMA forms of expShift32 and gelu32 for machines without AVX-512 (most laptops): four
// float64 lanes, the same reduction and polynomials as the AVX-512 forms above, but 2^n
// enters the exponent bits by an integer add (no VSCALEFPD), so x is clamped to [−104, 89]
// where every e^r·2^n is a normal float64; below −104 the float32 result is 0 either way
// (e^−104 < 2^−150), above 89 a mask gives +Inf as in the scalar form. Constants come from
// memory (sixteen registers are too few to hold them).

DATA avx2c<>+0(SB)/8, $0x3ff71547652b82fe
DATA avx2c<>+8(SB)/8, $0x3ff71547652b82fe
DATA avx2c<>+16(SB)/8, $0x3ff71547652b82fe
DATA avx2c<>+24(SB)/8, $0x3ff71547652b82fe
DATA avx2c<>+32(SB)/8, $0x3fe62e42fee00000
DATA avx2c<>+40(SB)/8, $0x3fe62e42fee00000
DATA avx2c<>+48(SB)/8, $0x3fe62e42fee00000
DATA avx2c<>+56(SB)/8, $0x3fe62e42fee00000
DATA avx2c<>+64(SB)/8, $0x3dea39ef35793c76
DATA avx2c<>+72(SB)/8, $0x3dea39ef35793c76
DATA avx2c<>+80(SB)/8, $0x3dea39ef35793c76
DATA avx2c<>+88(SB)/8, $0x3dea39ef35793c76
DATA avx2c<>+96(SB)/8, $0xc05a000000000000
DATA avx2c<>+104(SB)/8, $0xc05a000000000000
DATA avx2c<>+112(SB)/8, $0xc05a000000000000
DATA avx2c<>+120(SB)/8, $0xc05a000000000000
DATA avx2c<>+128(SB)/8, $0x4056400000000000
DATA avx2c<>+136(SB)/8, $0x4056400000000000
DATA avx2c<>+144(SB)/8, $0x4056400000000000
DATA avx2c<>+152(SB)/8, $0x4056400000000000
DATA avx2c<>+160(SB)/8, $0x4338000000000000
DATA avx2c<>+168(SB)/8, $0x4338000000000000
DATA avx2c<>+176(SB)/8, $0x4338000000000000
DATA avx2c<>+184(SB)/8, $0x4338000000000000
DATA avx2c<>+192(SB)/8, $0x3f2a01a01a01a01a
DATA avx2c<>+200(SB)/8, $0x3f2a01a01a01a01a
DATA avx2c<>+208(SB)/8, $0x3f2a01a01a01a01a
DATA avx2c<>+216(SB)/8, $0x3f2a01a01a01a01a
DATA avx2c<>+224(SB)/8, $0x3f56c16c16c16c17
DATA avx2c<>+232(SB)/8, $0x3f56c16c16c16c17
DATA avx2c<>+240(SB)/8, $0x3f56c16c16c16c17
DATA avx2c<>+248(SB)/8, $0x3f56c16c16c16c17
DATA avx2c<>+256(SB)/8, $0x3f81111111111111
DATA avx2c<>+264(SB)/8, $0x3f81111111111111
DATA avx2c<>+272(SB)/8, $0x3f81111111111111
DATA avx2c<>+280(SB)/8, $0x3f81111111111111
DATA avx2c<>+288(SB)/8, $0x3fa5555555555555
DATA avx2c<>+296(SB)/8, $0x3fa5555555555555
DATA avx2c<>+304(SB)/8, $0x3fa5555555555555
DATA avx2c<>+312(SB)/8, $0x3fa5555555555555
DATA avx2c<>+320(SB)/8, $0x3fc5555555555555
DATA avx2c<>+328(SB)/8, $0x3fc5555555555555
DATA avx2c<>+336(SB)/8, $0x3fc5555555555555
DATA avx2c<>+344(SB)/8, $0x3fc5555555555555
DATA avx2c<>+352(SB)/8, $0x3fe0000000000000
DATA avx2c<>+360(SB)/8, $0x3fe0000000000000
DATA avx2c<>+368(SB)/8, $0x3fe0000000000000
DATA avx2c<>+376(SB)/8, $0x3fe0000000000000
DATA avx2c<>+384(SB)/8, $0x3ff0000000000000
DATA avx2c<>+392(SB)/8, $0x3ff0000000000000
DATA avx2c<>+400(SB)/8, $0x3ff0000000000000
DATA avx2c<>+408(SB)/8, $0x3ff0000000000000
DATA avx2c<>+416(SB)/8, $0x7ff0000000000000
DATA avx2c<>+424(SB)/8, $0x7ff0000000000000
DATA avx2c<>+432(SB)/8, $0x7ff0000000000000
DATA avx2c<>+440(SB)/8, $0x7ff0000000000000
DATA avx2c<>+448(SB)/8, $0x7fffffffffffffff
DATA avx2c<>+456(SB)/8, $0x7fffffffffffffff
DATA avx2c<>+464(SB)/8, $0x7fffffffffffffff
DATA avx2c<>+472(SB)/8, $0x7fffffffffffffff
DATA avx2c<>+480(SB)/8, $0x3fe6a09e667f3bcd
DATA avx2c<>+488(SB)/8, $0x3fe6a09e667f3bcd
DATA avx2c<>+496(SB)/8, $0x3fe6a09e667f3bcd
DATA avx2c<>+504(SB)/8, $0x3fe6a09e667f3bcd
DATA avx2c<>+512(SB)/8, $0xbff43f89c0889bc5
DATA avx2c<>+520(SB)/8, $0xbff43f89c0889bc5
DATA avx2c<>+528(SB)/8, $0xbff43f89c0889bc5
DATA avx2c<>+536(SB)/8, $0xbff43f89c0889bc5
DATA avx2c<>+544(SB)/8, $0x3ff00018d48d3588
DATA avx2c<>+552(SB)/8, $0x3ff00018d48d3588
DATA avx2c<>+560(SB)/8, $0x3ff00018d48d3588
DATA avx2c<>+568(SB)/8, $0x3ff00018d48d3588
DATA avx2c<>+576(SB)/8, $0x3fd7f11f677960ea
DATA avx2c<>+584(SB)/8, $0x3fd7f11f677960ea
DATA avx2c<>+592(SB)/8, $0x3fd7f11f677960ea
DATA avx2c<>+600(SB)/8, $0x3fd7f11f677960ea
DATA avx2c<>+608(SB)/8, $0x3fb8c6d917dec3f0
DATA avx2c<>+616(SB)/8, $0x3fb8c6d917dec3f0
DATA avx2c<>+624(SB)/8, $0x3fb8c6d917dec3f0
DATA avx2c<>+632(SB)/8, $0x3fb8c6d917dec3f0
DATA avx2c<>+640(SB)/8, $0xbfc7d84982aaeaa5
DATA avx2c<>+648(SB)/8, $0xbfc7d84982aaeaa5
DATA avx2c<>+656(SB)/8, $0xbfc7d84982aaeaa5
DATA avx2c<>+664(SB)/8, $0xbfc7d84982aaeaa5
DATA avx2c<>+672(SB)/8, $0x3fd1d8f976231ce6
DATA avx2c<>+680(SB)/8, $0x3fd1d8f976231ce6
DATA avx2c<>+688(SB)/8, $0x3fd1d8f976231ce6
DATA avx2c<>+696(SB)/8, $0x3fd1d8f976231ce6
DATA avx2c<>+704(SB)/8, $0xbff229cba6063980
DATA avx2c<>+712(SB)/8, $0xbff229cba6063980
DATA avx2c<>+720(SB)/8, $0xbff229cba6063980
DATA avx2c<>+728(SB)/8, $0xbff229cba6063980
DATA avx2c<>+736(SB)/8, $0x3ff7d0f60453a1be
DATA avx2c<>+744(SB)/8, $0x3ff7d0f60453a1be
DATA avx2c<>+752(SB)/8, $0x3ff7d0f60453a1be
DATA avx2c<>+760(SB)/8, $0x3ff7d0f60453a1be
DATA avx2c<>+768(SB)/8, $0xbfea4f123185defd
DATA avx2c<>+776(SB)/8, $0xbfea4f123185defd
DATA avx2c<>+784(SB)/8, $0xbfea4f123185defd
DATA avx2c<>+792(SB)/8, $0xbfea4f123185defd
DATA avx2c<>+800(SB)/8, $0x3fc5df28af76a5a4
DATA avx2c<>+808(SB)/8, $0x3fc5df28af76a5a4
DATA avx2c<>+816(SB)/8, $0x3fc5df28af76a5a4
DATA avx2c<>+824(SB)/8, $0x3fc5df28af76a5a4
GLOBL avx2c<>(SB), RODATA|NOPTR, $832

// EXP256(x, p) sets p = e^x for four float64 lanes of x in [−104, 89]: n = round(x·log2 e)
// by the 1.5·2^52 shifter (Y9), r = x − n·ln2hi − n·ln2lo, the Taylor polynomial by Horner,
// then 2^n added into p's exponent bits (n·2^52 by VPSLLQ, VPADDQ): e^r·2^n stays normal
// over that range. Y14 log2 e, Y13 ln2hi and Y12 ln2lo are loaded; Y3, Y4 and Y6 are scratch.
#define EXP256(x, p) \
	VMULPD Y14, x, Y3; \
	VADDPD Y9, Y3, Y3; \
	VSUBPD Y9, Y3, Y4; \
	VMOVAPD x, Y6; \
	VFNMADD231PD Y13, Y4, Y6; \
	VFNMADD231PD Y12, Y4, Y6; \
	VMOVUPD avx2c<>+192(SB), p; \
	VFMADD213PD avx2c<>+224(SB), Y6, p; \
	VFMADD213PD avx2c<>+256(SB), Y6, p; \
	VFMADD213PD avx2c<>+288(SB), Y6, p; \
	VFMADD213PD avx2c<>+320(SB), Y6, p; \
	VFMADD213PD avx2c<>+352(SB), Y6, p; \
	VFMADD213PD avx2c<>+384(SB), Y6, p; \
	VFMADD213PD avx2c<>+384(SB), Y6, p; \
	VPSLLQ $52, Y3, Y3; \
	VPADDQ Y3, p, p

// EXP256_CONSTS loads EXP256's register constants: Y14 log2 e, Y13 ln2hi, Y12 ln2lo,
// Y11 the lower clamp −104 and Y9 the 1.5·2^52 shifter.
#define EXP256_CONSTS \
	VMOVUPD avx2c<>+0(SB), Y14; VMOVUPD avx2c<>+32(SB), Y13; VMOVUPD avx2c<>+64(SB), Y12; \
	VMOVUPD avx2c<>+96(SB), Y11; VMOVUPD avx2c<>+160(SB), Y9

// func expShift32AVX2(dst, src *float32, n int, shift float64) float64
// n a multiple of 4.
TEXT ·expShift32AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD shift+24(FP), Y15
	EXP256_CONSTS
	VMOVUPD avx2c<>+128(SB), Y10 // 89
	VMOVUPD avx2c<>+416(SB), Y8
	VXORPD Y0, Y0, Y0

exp4:
	CMPQ CX, $4
	JLT  exp4done
	VCVTPS2PD (SI), Y2
	VSUBPD Y15, Y2, Y2 // x = v − shift
	VCMPPD $0x1e, Y10, Y2, Y7 // x > 89 (ordered)
	VMINPD Y2, Y10, Y2 // a NaN in Y2 stays
	VMAXPD Y2, Y11, Y2
	EXP256(Y2, Y5)
	VBLENDVPD Y7, Y8, Y5, Y5 // +Inf where x > 89
	VADDPD Y5, Y0, Y0
	VCVTPD2PSY Y5, X6
	VMOVUPS X6, (DI)
	ADDQ $16, SI
	ADDQ $16, DI
	SUBQ $4, CX
	JMP  exp4

exp4done:
	SUM4PD_Y0
	MOVSD X0, ret+32(FP)
	RET

// func gelu32AVX2(dst, src *float32, n int)
// n a multiple of 4.
TEXT ·gelu32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	EXP256_CONSTS

gelu4:
	CMPQ CX, $4
	JLT  gelu4done
	VCVTPS2PD (SI), Y0 // x
	VANDPD avx2c<>+448(SB), Y0, Y1
	VMULPD avx2c<>+480(SB), Y1, Y1 // z = |x|/√2
	VMULPD avx2c<>+352(SB), Y1, Y2
	VADDPD avx2c<>+384(SB), Y2, Y2
	VMOVUPD avx2c<>+384(SB), Y4
	VDIVPD Y2, Y4, Y2 // t = 1/(1 + z/2)
	VMOVUPD avx2c<>+800(SB), Y10
	VFMADD213PD avx2c<>+768(SB), Y2, Y10
	VFMADD213PD avx2c<>+736(SB), Y2, Y10
	VFMADD213PD avx2c<>+704(SB), Y2, Y10
	VFMADD213PD avx2c<>+672(SB), Y2, Y10
	VFMADD213PD avx2c<>+640(SB), Y2, Y10
	VFMADD213PD avx2c<>+608(SB), Y2, Y10
	VFMADD213PD avx2c<>+576(SB), Y2, Y10
	VFMADD213PD avx2c<>+544(SB), Y2, Y10
	VFMADD213PD avx2c<>+512(SB), Y2, Y10
	VFNMADD231PD Y1, Y1, Y10 // a = P(t) − z² ≤ 0
	VMAXPD Y10, Y11, Y10 // clamp at −104 (NaN stays)
	EXP256(Y10, Y5)
	VMULPD Y2, Y5, Y5
	VMULPD avx2c<>+352(SB), Y5, Y5 // e = ½erfc(z)
	VMULPD Y5, Y0, Y6 // x·e (x < 0)
	VMOVUPD avx2c<>+384(SB), Y7
	VSUBPD Y5, Y7, Y7
	VMULPD Y7, Y0, Y7 // x·(1 − e) (x ≥ 0)
	VXORPD Y4, Y4, Y4
	VCMPPD $0x1d, Y4, Y0, Y4 // x ≥ 0, ordered
	VBLENDVPD Y4, Y7, Y6, Y6
	VCVTPD2PSY Y6, X6
	VMOVUPS X6, (DI)
	ADDQ $16, SI
	ADDQ $16, DI
	SUBQ $4, CX
	JMP  gelu4

gelu4done:
	VZEROUPPER
	RET
