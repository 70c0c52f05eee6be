// gemm.cu: batched, strided GEMM  C_b = alpha·op(A_b)·op(B_b) + beta·C_b  (row-major).
//
// CPU reference: device/cpu (*Device).Gemm (device/cpu/gemm's reference loop in ref.go).
//
// Operand addressing (all in elements, offsets already applied to the pointers):
//   A is M×K, or K×M when ta: element (m,k) at m·lda+k, or k·lda+m;
//   B is K×N, or N×K when tb: element (k,n) at k·ldb+n, or n·ldb+k;
//   C is M×N at m·ldc+n; batch member b adds b·stride (stride 0 broadcasts an operand).
// beta == 0 means C is not read (BLAS convention), so NaN in an uninitialised C is ignored.
//
// Two kernels:
//   gemm_tile16<T>  the simple correct kernel, float and double: 16×16 output tile per block,
//                   one output per thread, 16×16 shared tiles of A and B loaded coalesced
//                   whatever the transposes. Used for DGEMM and for small SGEMMs.
//   sgemm_128x128   the fast SGEMM: 128×128 block tile, BK = 8, 256 threads each owning an
//                   8×8 register tile (two 4×4 quadrants 64 apart so that the shared-memory
//                   fragment reads are 16-byte and conflict-free), 16-byte vectorised global
//                   loads where the operand is aligned and the tile lies inside the matrix
//                   (scalar loads with bounds checks on the edges), A stored k-major in shared
//                   memory, and double buffering: the next tile's global loads are issued into
//                   registers before computing on the current shared tile, then written to the
//                   other shared buffer, one barrier per k-step. The structure follows the
//                   classic register-blocked SGEMM (Volkov and Demmel, "Benchmarking GPUs to
//                   tune dense linear algebra", SC 2008; the CUTLASS SIMT design).
#include "common.cuh"

// ---------------------------------------------------------------------------------------
// Simple kernel. Block (16,16); grid (ceil(N/16), ceil(M/16), min(batch, 65535)).
template <typename T>
__device__ void gemm_tile16(i64 ta, i64 tb, i64 M, i64 N, i64 K, T alpha, const T *__restrict__ A,
                            i64 lda, i64 sA, const T *__restrict__ B, i64 ldb, i64 sB, T beta,
                            T *__restrict__ C, i64 ldc, i64 sC, i64 batch) {
  __shared__ T As[16][17]; // As[m][k]
  __shared__ T Bs[16][17]; // Bs[k][n]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const i64 row = (i64)blockIdx.y * 16 + ty, col = (i64)blockIdx.x * 16 + tx;
  for (i64 b = blockIdx.z; b < batch; b += gridDim.z) {
    const T *a = A + b * sA, *bb = B + b * sB;
    T acc = 0;
    for (i64 k0 = 0; k0 < K; k0 += 16) {
      if (!ta) { // (m = row, k = k0+tx): contiguous along tx
        const i64 k = k0 + tx;
        As[ty][tx] = (row < M && k < K) ? a[row * lda + k] : (T)0;
      } else { // (m = by*16+tx, k = k0+ty): contiguous along tx
        const i64 m = (i64)blockIdx.y * 16 + tx, k = k0 + ty;
        As[tx][ty] = (m < M && k < K) ? a[k * lda + m] : (T)0;
      }
      if (!tb) { // (k = k0+ty, n = col)
        const i64 k = k0 + ty;
        Bs[ty][tx] = (k < K && col < N) ? bb[k * ldb + col] : (T)0;
      } else { // (n = bx*16+ty, k = k0+tx)
        const i64 n = (i64)blockIdx.x * 16 + ty, k = k0 + tx;
        Bs[tx][ty] = (n < N && k < K) ? bb[n * ldb + k] : (T)0;
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < 16; ++kk) acc += As[ty][kk] * Bs[kk][tx];
      __syncthreads();
    }
    if (row < M && col < N) {
      T *c = C + b * sC + row * ldc + col;
      *c = beta == (T)0 ? alpha * acc : alpha * acc + beta * *c;
    }
  }
}

extern "C" __global__ void __launch_bounds__(256)
kiln_gemm_simple_f32(i64 ta, i64 tb, i64 M, i64 N, i64 K, double alpha, const float *A, i64 lda, i64 sA,
                     const float *B, i64 ldb, i64 sB, double beta, float *C, i64 ldc, i64 sC, i64 batch) {
  gemm_tile16<float>(ta, tb, M, N, K, (float)alpha, A, lda, sA, B, ldb, sB, (float)beta, C, ldc, sC, batch);
}
extern "C" __global__ void __launch_bounds__(256)
kiln_gemm_simple_f64(i64 ta, i64 tb, i64 M, i64 N, i64 K, double alpha, const double *A, i64 lda, i64 sA,
                     const double *B, i64 ldb, i64 sB, double beta, double *C, i64 ldc, i64 sC, i64 batch) {
  gemm_tile16<double>(ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batch);
}

// ---------------------------------------------------------------------------------------
// Fast SGEMM. Block 256 threads; grid (ceil(N/128), ceil(M/128), min(batch, 65535)).
#define SG_BM 128
#define SG_BN 128
#define SG_BK 8
#define SG_PAD 4 // keeps float4 alignment and spreads the transposed stores over all banks

template <bool TA, bool TB>
__device__ __forceinline__ void sg_load(const float *__restrict__ a, const float *__restrict__ b, i64 M,
                                        i64 N, i64 K, i64 lda, i64 ldb, i64 m0, i64 n0, i64 k0,
                                        bool vecA, bool vecB, int tid, float4 &ra, float4 &rb) {
  // A: 128×8 tile, 4 elements per thread.
  if (!TA) { // contiguous along k: row tid/2, k chunk (tid%2)*4
    const i64 m = m0 + (tid >> 1), k = k0 + ((tid & 1) << 2);
    if (vecA && m < M && k + 3 < K) {
      ra = *reinterpret_cast<const float4 *>(a + m * lda + k);
    } else {
      ra.x = (m < M && k < K) ? a[m * lda + k] : 0.f;
      ra.y = (m < M && k + 1 < K) ? a[m * lda + k + 1] : 0.f;
      ra.z = (m < M && k + 2 < K) ? a[m * lda + k + 2] : 0.f;
      ra.w = (m < M && k + 3 < K) ? a[m * lda + k + 3] : 0.f;
    }
  } else { // contiguous along m: k = tid/32, m chunk (tid%32)*4
    const i64 k = k0 + (tid >> 5), m = m0 + ((tid & 31) << 2);
    if (vecA && k < K && m + 3 < M) {
      ra = *reinterpret_cast<const float4 *>(a + k * lda + m);
    } else {
      ra.x = (k < K && m < M) ? a[k * lda + m] : 0.f;
      ra.y = (k < K && m + 1 < M) ? a[k * lda + m + 1] : 0.f;
      ra.z = (k < K && m + 2 < M) ? a[k * lda + m + 2] : 0.f;
      ra.w = (k < K && m + 3 < M) ? a[k * lda + m + 3] : 0.f;
    }
  }
  // B: 8×128 tile.
  if (!TB) { // contiguous along n: k = tid/32, n chunk (tid%32)*4
    const i64 k = k0 + (tid >> 5), n = n0 + ((tid & 31) << 2);
    if (vecB && k < K && n + 3 < N) {
      rb = *reinterpret_cast<const float4 *>(b + k * ldb + n);
    } else {
      rb.x = (k < K && n < N) ? b[k * ldb + n] : 0.f;
      rb.y = (k < K && n + 1 < N) ? b[k * ldb + n + 1] : 0.f;
      rb.z = (k < K && n + 2 < N) ? b[k * ldb + n + 2] : 0.f;
      rb.w = (k < K && n + 3 < N) ? b[k * ldb + n + 3] : 0.f;
    }
  } else { // contiguous along k: n = tid/2, k chunk (tid%2)*4
    const i64 n = n0 + (tid >> 1), k = k0 + ((tid & 1) << 2);
    if (vecB && n < N && k + 3 < K) {
      rb = *reinterpret_cast<const float4 *>(b + n * ldb + k);
    } else {
      rb.x = (n < N && k < K) ? b[n * ldb + k] : 0.f;
      rb.y = (n < N && k + 1 < K) ? b[n * ldb + k + 1] : 0.f;
      rb.z = (n < N && k + 2 < K) ? b[n * ldb + k + 2] : 0.f;
      rb.w = (n < N && k + 3 < K) ? b[n * ldb + k + 3] : 0.f;
    }
  }
}

template <bool TA, bool TB>
__device__ __forceinline__ void sg_store(float (*As)[SG_BM + SG_PAD], float (*Bs)[SG_BN + SG_PAD], int tid,
                                         const float4 &ra, const float4 &rb) {
  if (!TA) {
    const int m = tid >> 1, k = (tid & 1) << 2;
    As[k][m] = ra.x;
    As[k + 1][m] = ra.y;
    As[k + 2][m] = ra.z;
    As[k + 3][m] = ra.w;
  } else {
    *reinterpret_cast<float4 *>(&As[tid >> 5][(tid & 31) << 2]) = ra;
  }
  if (!TB) {
    *reinterpret_cast<float4 *>(&Bs[tid >> 5][(tid & 31) << 2]) = rb;
  } else {
    const int n = tid >> 1, k = (tid & 1) << 2;
    Bs[k][n] = rb.x;
    Bs[k + 1][n] = rb.y;
    Bs[k + 2][n] = rb.z;
    Bs[k + 3][n] = rb.w;
  }
}

template <bool TA, bool TB>
__device__ __forceinline__ void sgemm_128(i64 M, i64 N, i64 K, float alpha, const float *__restrict__ A,
                                          i64 lda, i64 sA, const float *__restrict__ B, i64 ldb, i64 sB,
                                          float beta, float *__restrict__ C, i64 ldc, i64 sC, i64 batch,
                                          bool vecA, bool vecB, bool vecC) {
  __shared__ __align__(16) float As[2][SG_BK][SG_BM + SG_PAD];
  __shared__ __align__(16) float Bs[2][SG_BK][SG_BN + SG_PAD];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const i64 m0 = (i64)blockIdx.y * SG_BM, n0 = (i64)blockIdx.x * SG_BN;
  const int nk = (int)((K + SG_BK - 1) / SG_BK);

  for (i64 bz = blockIdx.z; bz < batch; bz += gridDim.z) {
    const float *a = A + bz * sA, *b = B + bz * sB;
    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

    float4 ra, rb;
    if (nk > 0) {
      sg_load<TA, TB>(a, b, M, N, K, lda, ldb, m0, n0, 0, vecA, vecB, tid, ra, rb);
      sg_store<TA, TB>(As[0], Bs[0], tid, ra, rb);
    }
    __syncthreads();
    for (int kt = 0; kt < nk; ++kt) {
      const int cur = kt & 1;
      const bool more = kt + 1 < nk;
      if (more) // issue the next tile's global loads before the math that hides them
        sg_load<TA, TB>(a, b, M, N, K, lda, ldb, m0, n0, (i64)(kt + 1) * SG_BK, vecA, vecB, tid, ra, rb);
#pragma unroll
      for (int kk = 0; kk < SG_BK; ++kk) {
        float af[8], bf[8];
        const float4 a0 = *reinterpret_cast<const float4 *>(&As[cur][kk][ty * 4]);
        const float4 a1 = *reinterpret_cast<const float4 *>(&As[cur][kk][64 + ty * 4]);
        const float4 b0 = *reinterpret_cast<const float4 *>(&Bs[cur][kk][tx * 4]);
        const float4 b1 = *reinterpret_cast<const float4 *>(&Bs[cur][kk][64 + tx * 4]);
        af[0] = a0.x; af[1] = a0.y; af[2] = a0.z; af[3] = a0.w;
        af[4] = a1.x; af[5] = a1.y; af[6] = a1.z; af[7] = a1.w;
        bf[0] = b0.x; bf[1] = b0.y; bf[2] = b0.z; bf[3] = b0.w;
        bf[4] = b1.x; bf[5] = b1.y; bf[6] = b1.z; bf[7] = b1.w;
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(af[i], bf[j], acc[i][j]);
      }
      if (more) sg_store<TA, TB>(As[cur ^ 1], Bs[cur ^ 1], tid, ra, rb);
      __syncthreads();
    }

    float *c = C + bz * sC;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const i64 m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
      if (m >= M) continue;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const i64 n = n0 + h * 64 + tx * 4;
        float *p = c + m * ldc + n;
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = alpha * acc[i][h * 4 + j];
        if (vecC && n + 3 < N) {
          if (beta != 0.f) {
            const float4 o = *reinterpret_cast<const float4 *>(p);
            v[0] = fmaf(beta, o.x, v[0]);
            v[1] = fmaf(beta, o.y, v[1]);
            v[2] = fmaf(beta, o.z, v[2]);
            v[3] = fmaf(beta, o.w, v[3]);
          }
          *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j)
            if (n + j < N) p[j] = beta != 0.f ? fmaf(beta, p[j], v[j]) : v[j];
        }
      }
    }
  }
}

#define DEF_SGEMM(name, TA, TB)                                                    \
  extern "C" __global__ void __launch_bounds__(256)                                \
  name(i64 M, i64 N, i64 K, double alpha, const float *A, i64 lda, i64 sA, const float *B, i64 ldb, \
       i64 sB, double beta, float *C, i64 ldc, i64 sC, i64 batch, i64 vecA, i64 vecB, i64 vecC) { \
    sgemm_128<TA, TB>(M, N, K, (float)alpha, A, lda, sA, B, ldb, sB, (float)beta, C, ldc, sC, batch, \
                      vecA != 0, vecB != 0, vecC != 0);                            \
  }
DEF_SGEMM(kiln_sgemm128_nn, false, false)
DEF_SGEMM(kiln_sgemm128_nt, false, true)
DEF_SGEMM(kiln_sgemm128_tn, true, false)
DEF_SGEMM(kiln_sgemm128_tt, true, true)
