//go:build amd64 && !noasm

#include "textflag.h"

// The vector forms of the contiguous float32 sums and products of elementwise.go
// (arith_amd64.go). IEEE addition and multiplication are correctly rounded in every lane,
// so they give the scalar loops' results bit for bit.

// ARITH_F32 defines name(y, a, b *float32, n int): y[i] = a[i] op b[i] for n a multiple of
// 8, 32 lanes an iteration while 32 remain, then 8.
#define ARITH_F32(name, op) \
TEXT name(SB), NOSPLIT, $0-32; \
	MOVQ y+0(FP), DI; \
	MOVQ a+8(FP), SI; \
	MOVQ b+16(FP), DX; \
	MOVQ n+24(FP), CX; \
loop32: \
	CMPQ CX, $32; \
	JLT  loop8; \
	VMOVUPS (SI), Y0; \
	VMOVUPS 32(SI), Y1; \
	VMOVUPS 64(SI), Y2; \
	VMOVUPS 96(SI), Y3; \
	op (DX), Y0, Y0; \
	op 32(DX), Y1, Y1; \
	op 64(DX), Y2, Y2; \
	op 96(DX), Y3, Y3; \
	VMOVUPS Y0, (DI); \
	VMOVUPS Y1, 32(DI); \
	VMOVUPS Y2, 64(DI); \
	VMOVUPS Y3, 96(DI); \
	ADDQ $128, SI; \
	ADDQ $128, DX; \
	ADDQ $128, DI; \
	SUBQ $32, CX; \
	JMP  loop32; \
loop8: \
	CMPQ CX, $8; \
	JLT  done; \
	VMOVUPS (SI), Y0; \
	op (DX), Y0, Y0; \
	VMOVUPS Y0, (DI); \
	ADDQ $32, SI; \
	ADDQ $32, DX; \
	ADDQ $32, DI; \
	SUBQ $8, CX; \
	JMP  loop8; \
done: \
	VZEROUPPER; \
	RET

// func addF32AVX(y, a, b *float32, n int)
ARITH_F32(·addF32AVX, VADDPS)

// func mulF32AVX(y, a, b *float32, n int)
ARITH_F32(·mulF32AVX, VMULPS)
