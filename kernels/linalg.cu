// linalg.cu: the pieces of tall-skinny QR and randomized SVD that run on the GPU (Gram matrix,
// a small Cholesky factorisation, a right triangular solve) and the BSR × dense product.
//
// CPU references (package linalg, which runs them through device primitives and gonum):
//   kiln_gram_*          G = AᵀA                 linalg.gram: Device.Gemm with TransA
//   kiln_cholesky_*      G = RᵀR in place        linalg.cholUpper: LAPACK dpotrf on the host
//   kiln_trsm_ru_*       B ← B·R⁻¹              linalg.applyInverse: R⁻¹ by dtrtri on the host,
//                                                 then Device.Gemm
//   kiln_bsr_mm_*        C = A_bsr·B             linalg.(*BSR).MulDense
//
// The linalg package's default CUDA path needs none of the first three: the Gram matrix and
// Q = A·R⁻¹ are GEMMs through Device.Gemm and the k×k Cholesky and inverse travel to the host.
// These kernels let a backend keep even the k×k work on the device (no host round trip per
// CholeskyQR pass), and trsm is the solve for callers that prefer it to the explicit inverse.
//
// Calling convention (common.cuh): every argument is 64 bits; pointers already include the
// element offsets; matrices are row-major with an explicit leading dimension. BSR indices are
// int32 (the device's index dtype).
#include "common.cuh"

#define LA_TILE 16

// ---------------------------------------------------------------------------------------
// Gram matrix G = AᵀA (n×n) of an m×n matrix A (row stride lda).
//
// Launch: grid (ceil(n/16), ceil(n/16), splits), block (16, 16); G must be zeroed first
// when splits > 1. Block (bx, by, z) computes the 16×16 tile G[by·16:, bx·16:] over the rows
// z, z+splits, … in chunks of 16 (split-K: a tall-skinny A has few output tiles, so the m
// rows are divided among gridDim.z blocks that accumulate with atomicAdd). Tiles strictly
// below the diagonal are skipped and filled by symmetry at the end of each tile's work.
// Each 16-row chunk of the two column panels is staged in shared memory (coalesced rows).
template <typename T>
__device__ void la_gram(const T *__restrict__ a, T *__restrict__ g, i64 m, i64 n, i64 lda) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  const i64 bi = blockIdx.y, bj = blockIdx.x;
  if (bj < bi) return;  // G is symmetric: only tiles on or above the diagonal
  __shared__ T pi[LA_TILE][LA_TILE + 1];  // A[r, bi·16 + c]
  __shared__ T pj[LA_TILE][LA_TILE + 1];  // A[r, bj·16 + c]
  const i64 ci = bi * LA_TILE + ty, cj = bj * LA_TILE + tx;
  const i64 chunks = (m + LA_TILE - 1) / LA_TILE;
  T acc = 0;
  for (i64 ch = blockIdx.z; ch < chunks; ch += gridDim.z) {
    const i64 r = ch * LA_TILE + ty;
    const i64 li = bi * LA_TILE + tx, lj = bj * LA_TILE + tx;
    pi[ty][tx] = (r < m && li < n) ? a[r * lda + li] : (T)0;
    pj[ty][tx] = (r < m && lj < n) ? a[r * lda + lj] : (T)0;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < LA_TILE; k++) acc += pi[k][ty] * pj[k][tx];
    __syncthreads();
  }
  if (ci < n && cj < n && ci <= cj) {
    if (gridDim.z == 1) {
      g[ci * n + cj] = acc;
      if (ci != cj) g[cj * n + ci] = acc;
    } else {
      atomicAdd(&g[ci * n + cj], acc);
      if (ci != cj) atomicAdd(&g[cj * n + ci], acc);
    }
  }
}

extern "C" __global__ void kiln_gram_f32(const float *a, float *g, i64 m, i64 n, i64 lda) {
  la_gram(a, g, m, n, lda);
}
extern "C" __global__ void kiln_gram_f64(const double *a, double *g, i64 m, i64 n, i64 lda) {
  la_gram(a, g, m, n, lda);
}

// ---------------------------------------------------------------------------------------
// Cholesky factorisation of a small symmetric positive definite n×n matrix, in place:
// on return the upper triangle holds R with G = RᵀR (the lower triangle is zeroed), and
// info[0] is 0, or j+1 when the pivot of column j was not positive (or not finite) — the
// breakdown that sends CholeskyQR to its fallback.
//
// Launch: grid (1), block (256); n up to a few hundred (k+p of a randomized SVD). One block
// runs the right-looking unblocked algorithm (LAPACK dpotf2 with uplo = 'U'): for each j,
// R[j,j] = √G[j,j]; R[j,j+1:] /= R[j,j]; G[i,k] −= R[j,i]·R[j,k] for j < i ≤ k. The n²/2
// trailing updates of each step are spread over the block's threads. Accumulation is in the
// matrix's own precision; the host path (float64 LAPACK) is the reference.
template <typename T> __device__ void la_cholesky(T *__restrict__ g, i64 n, i64 ld, i64 *info) {
  __shared__ int bad;
  if (threadIdx.x == 0) bad = 0;
  __syncthreads();
  for (i64 j = 0; j < n; j++) {
    if (threadIdx.x == 0) {
      const T d = g[j * ld + j];
      if (!(d > (T)0) || d != d || d == kinf<T>()) {
        bad = (int)(j + 1);
      } else {
        g[j * ld + j] = ksqrt(d);
      }
    }
    __syncthreads();
    if (bad) break;
    const T piv = g[j * ld + j];
    for (i64 k = j + 1 + threadIdx.x; k < n; k += blockDim.x) g[j * ld + k] /= piv;
    __syncthreads();
    // Trailing update of the upper triangle of rows j+1…n−1: the t×t square is linearised
    // (one division per element) and the half below the diagonal skipped.
    const i64 t = n - j - 1;
    for (i64 e = threadIdx.x; e < t * t; e += blockDim.x) {
      const i64 i = e / t, k = e % t;
      if (k < i) continue;
      const i64 gi = j + 1 + i, gk = j + 1 + k;
      g[gi * ld + gk] -= g[j * ld + gi] * g[j * ld + gk];
    }
    __syncthreads();
  }
  if (bad) {
    if (threadIdx.x == 0) info[0] = bad;
    return;
  }
  for (i64 e = threadIdx.x; e < n * n; e += blockDim.x) {
    const i64 i = e / n, k = e % n;
    if (k < i) g[i * ld + k] = (T)0;
  }
  if (threadIdx.x == 0) info[0] = 0;
}

extern "C" __global__ void kiln_cholesky_f32(float *g, i64 n, i64 ld, i64 *info) {
  la_cholesky(g, n, ld, info);
}
extern "C" __global__ void kiln_cholesky_f64(double *g, i64 n, i64 ld, i64 *info) {
  la_cholesky(g, n, ld, info);
}

// ---------------------------------------------------------------------------------------
// Right triangular solve B ← B·R⁻¹ for an upper triangular n×n R (row stride ldr) and an
// m×n B (row stride ldb): the Q = A·R⁻¹ step of CholeskyQR done as a solve.
//
// Launch: grid (ceil(m/8)), block (256) — one warp per row of B. Row x solves x·R = b by
// forward substitution over columns: x[k] = (b[k] − Σ_{j<k} x[j]·R[j,k]) / R[k,k]. The
// lanes split the sum (j ≡ lane mod 32) and combine it with a butterfly, so every lane
// has x[k]; lane 0 writes it back in place. O(n²/32) per row, no shared memory.
template <typename T>
__device__ void la_trsm_ru(const T *__restrict__ r, T *__restrict__ b, i64 m, i64 n, i64 ldr, i64 ldb) {
  const i64 row = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= m) return;  // whole warps exit together: row is uniform across a warp
  T *x = b + row * ldb;
  for (i64 k = 0; k < n; k++) {
    T part = 0;
    for (i64 j = lane; j < k; j += 32) part += x[j] * r[j * ldr + k];
    const T s = warp_sum(part);
    const T v = (x[k] - s) / r[k * ldr + k];
    __syncwarp();
    if (lane == 0) x[k] = v;
    __syncwarp();
  }
}

extern "C" __global__ void kiln_trsm_ru_f32(const float *r, float *b, i64 m, i64 n, i64 ldr, i64 ldb) {
  la_trsm_ru(r, b, m, n, ldr, ldb);
}
extern "C" __global__ void kiln_trsm_ru_f64(const double *r, double *b, i64 m, i64 n, i64 ldr, i64 ldb) {
  la_trsm_ru(r, b, m, n, ldr, ldb);
}

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
