//go:build amd64 && !noasm

#include "textflag.h"

// func packT8F32AVX2(n int, src *float32, lds int, dst *float32, ldd int, alpha float32)
// Transposes 8 rows × 8n columns of a row-major matrix (row stride lds) into
// dst with row stride ldd: dst[p*ldd+i] = alpha*src[i*lds+p]. This packs an
// 8-row micro-panel of A (ldd = 8) or 8 columns of a micro-panel of a
// transposed B (ldd = nr). Each 8×8 block is
// transposed in registers with the unpack/shuffle/lane-permute sequence
// (Intel optimization manual, "8x8 matrix transpose"), so loads and stores
// are full 32-byte vectors instead of scalar strided stores.
TEXT ·packT8F32AVX2(SB), NOSPLIT, $0-44
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	MOVQ dst+24(FP), DI
	MOVQ ldd+32(FP), R12
	VBROADCASTSS alpha+40(FP), Y15
	SHLQ $2, R8
	SHLQ $2, R12
	LEAQ (R8)(R8*2), R10  // 3·lds
	LEAQ (R12)(R12*2), R13 // 3·ldd
	TESTQ CX, CX
	JEQ done32
loop32:
	LEAQ (SI)(R8*4), R11 // row 4
	VMULPS (SI), Y15, Y0
	VMULPS (SI)(R8*1), Y15, Y1
	VMULPS (SI)(R8*2), Y15, Y2
	VMULPS (SI)(R10*1), Y15, Y3
	VMULPS (R11), Y15, Y4
	VMULPS (R11)(R8*1), Y15, Y5
	VMULPS (R11)(R8*2), Y15, Y6
	VMULPS (R11)(R10*1), Y15, Y7
	VUNPCKLPS Y1, Y0, Y8  // t0 = a0 b0 a1 b1 | a4 b4 a5 b5
	VUNPCKHPS Y1, Y0, Y9  // t1 = a2 b2 a3 b3 | a6 b6 a7 b7
	VUNPCKLPS Y3, Y2, Y10 // t2 = c0 d0 c1 d1 | ...
	VUNPCKHPS Y3, Y2, Y11 // t3
	VUNPCKLPS Y5, Y4, Y0  // t4 = e0 f0 e1 f1 | ...
	VUNPCKHPS Y5, Y4, Y1  // t5
	VUNPCKLPS Y7, Y6, Y2  // t6 = g0 h0 g1 h1 | ...
	VUNPCKHPS Y7, Y6, Y3  // t7
	VSHUFPS $0x44, Y10, Y8, Y4  // s0 = a0 b0 c0 d0 | a4 b4 c4 d4
	VSHUFPS $0xEE, Y10, Y8, Y5  // s1 = a1 b1 c1 d1 | a5 ...
	VSHUFPS $0x44, Y11, Y9, Y6  // s2 = a2 .. | a6 ..
	VSHUFPS $0xEE, Y11, Y9, Y7  // s3 = a3 .. | a7 ..
	VSHUFPS $0x44, Y2, Y0, Y8   // s4 = e0 f0 g0 h0 | e4 ..
	VSHUFPS $0xEE, Y2, Y0, Y10  // s5
	VSHUFPS $0x44, Y3, Y1, Y9   // s6
	VSHUFPS $0xEE, Y3, Y1, Y11  // s7
	LEAQ (DI)(R12*4), R14         // column 4 of dst
	VPERM2F128 $0x20, Y8, Y4, Y0  // column 0
	VPERM2F128 $0x31, Y8, Y4, Y1  // column 4
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, (R14)
	VPERM2F128 $0x20, Y10, Y5, Y2 // column 1
	VPERM2F128 $0x31, Y10, Y5, Y3 // column 5
	VMOVUPS Y2, (DI)(R12*1)
	VMOVUPS Y3, (R14)(R12*1)
	VPERM2F128 $0x20, Y9, Y6, Y12 // column 2
	VPERM2F128 $0x31, Y9, Y6, Y13 // column 6
	VMOVUPS Y12, (DI)(R12*2)
	VMOVUPS Y13, (R14)(R12*2)
	VPERM2F128 $0x20, Y11, Y7, Y14 // column 3
	VPERM2F128 $0x31, Y11, Y7, Y4  // column 7
	VMOVUPS Y14, (DI)(R13*1)
	VMOVUPS Y4, (R14)(R13*1)
	ADDQ $32, SI
	LEAQ (R14)(R12*4), DI
	DECQ CX
	JNE loop32
done32:
	VZEROUPPER
	RET

// func packT8F64AVX2(n int, src *float64, lds int, dst *float64, ldd int, alpha float64)
// The float64 version: 8 rows × 4n columns, dst[p*ldd+i] =
// alpha*src[i*lds+p], as two 4×4 register transposes per 4 columns.
TEXT ·packT8F64AVX2(SB), NOSPLIT, $0-48
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	MOVQ dst+24(FP), DI
	MOVQ ldd+32(FP), R12
	VBROADCASTSD alpha+40(FP), Y15
	SHLQ $3, R8
	SHLQ $3, R12
	LEAQ (R8)(R8*2), R10   // 3·lds
	LEAQ (R12)(R12*2), R13 // 3·ldd
	TESTQ CX, CX
	JEQ done64
loop64:
	LEAQ (SI)(R8*4), R11 // row 4
	VMULPD (SI), Y15, Y0
	VMULPD (SI)(R8*1), Y15, Y1
	VMULPD (SI)(R8*2), Y15, Y2
	VMULPD (SI)(R10*1), Y15, Y3
	VMULPD (R11), Y15, Y4
	VMULPD (R11)(R8*1), Y15, Y5
	VMULPD (R11)(R8*2), Y15, Y6
	VMULPD (R11)(R10*1), Y15, Y7
	VUNPCKLPD Y1, Y0, Y8  // a0 b0 | a2 b2
	VUNPCKHPD Y1, Y0, Y9  // a1 b1 | a3 b3
	VUNPCKLPD Y3, Y2, Y10 // c0 d0 | c2 d2
	VUNPCKHPD Y3, Y2, Y11 // c1 d1 | c3 d3
	VUNPCKLPD Y5, Y4, Y12 // e0 f0 | e2 f2
	VUNPCKHPD Y5, Y4, Y13
	VUNPCKLPD Y7, Y6, Y14 // g0 h0 | g2 h2
	VUNPCKHPD Y7, Y6, Y0
	VPERM2F128 $0x20, Y10, Y8, Y1 // rows 0-3, column 0
	VPERM2F128 $0x31, Y10, Y8, Y2 // rows 0-3, column 2
	VPERM2F128 $0x20, Y11, Y9, Y3 // rows 0-3, column 1
	VPERM2F128 $0x31, Y11, Y9, Y4 // rows 0-3, column 3
	VMOVUPD Y1, (DI)
	VMOVUPD Y3, (DI)(R12*1)
	VMOVUPD Y2, (DI)(R12*2)
	VMOVUPD Y4, (DI)(R13*1)
	VPERM2F128 $0x20, Y14, Y12, Y1 // rows 4-7, column 0
	VPERM2F128 $0x31, Y14, Y12, Y2 // rows 4-7, column 2
	VPERM2F128 $0x20, Y0, Y13, Y3  // rows 4-7, column 1
	VPERM2F128 $0x31, Y0, Y13, Y4  // rows 4-7, column 3
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y3, 32(DI)(R12*1)
	VMOVUPD Y2, 32(DI)(R12*2)
	VMOVUPD Y4, 32(DI)(R13*1)
	ADDQ $32, SI
	LEAQ (DI)(R12*4), DI
	DECQ CX
	JNE loop64
done64:
	VZEROUPPER
	RET
