// linalg.cu: the BSR × dense product, device.BSRMultiplier on CUDA.
//
//   kiln_bsr_mm_*        C = A_bsr·B             CPU reference: device/cpu (*Device).BSRMatMul
//
// Package linalg's QR and randomized SVD need no kernels of their own: the Gram matrix and
// Q = A·R⁻¹ are GEMMs through Device.Gemm, and the small Cholesky factorisation and inverse
// run on the host.
//
// Calling convention (common.cuh): every argument is 64 bits; pointers already include the
// element offsets; matrices are row-major with an explicit leading dimension. BSR indices are
// int32 (the device's index dtype).
#include "common.cuh"

// ---------------------------------------------------------------------------------------
// BSR × dense: C = A·B with A in block compressed sparse row storage (nbrows block rows of
// br×bc blocks; block row i owns blocks rowptr[i] … rowptr[i+1]−1, block b sits in block
// column colidx[b] with its values row-major at vals[b·br·bc]), B a dense (ncols_blocks·bc)×n
// matrix (row stride ldb) and C a dense (nbrows·br)×n matrix (row stride ldc), overwritten.
//
// Launch: grid (ceil(n/32), nbrows), block (32, 8). Block (x, i) owns block row i and the 32
// columns x·32 … of C; thread (tx, ty) accumulates rows r = ty, ty+8, … < br of the block row
// in column x·32+tx, so the reads of B and the writes of C are coalesced across tx and each
// value of A is a broadcast. Rows of C whose block row stores nothing become zeros.
template <typename T>
__device__ void la_bsr_mm(const int *__restrict__ rowptr, const int *__restrict__ colidx,
                          const T *__restrict__ vals, const T *__restrict__ bm, T *__restrict__ c,
                          i64 br, i64 bc, i64 n, i64 ldb, i64 ldc) {
  const i64 i = blockIdx.y;
  const i64 col = (i64)blockIdx.x * 32 + threadIdx.x;
  if (col >= n) return;
  const i64 b0 = rowptr[i], b1 = rowptr[i + 1];
  for (i64 r = threadIdx.y; r < br; r += blockDim.y) {
    T acc = 0;
    for (i64 blk = b0; blk < b1; blk++) {
      const T *v = vals + blk * br * bc + r * bc;
      const T *bp = bm + (i64)colidx[blk] * bc * ldb + col;
      for (i64 q = 0; q < bc; q++) acc += v[q] * bp[q * ldb];
    }
    c[(i * br + r) * ldc + col] = acc;
  }
}

extern "C" __global__ void kiln_bsr_mm_f32(const int *rowptr, const int *colidx, const float *vals,
                                           const float *b, float *c, i64 br, i64 bc, i64 n, i64 ldb,
                                           i64 ldc) {
  la_bsr_mm(rowptr, colidx, vals, b, c, br, bc, n, ldb, ldc);
}
extern "C" __global__ void kiln_bsr_mm_f64(const int *rowptr, const int *colidx, const double *vals,
                                           const double *b, double *c, i64 br, i64 bc, i64 n, i64 ldb,
                                           i64 ldc) {
  la_bsr_mm(rowptr, colidx, vals, b, c, br, bc, n, ldb, ldc);
}
