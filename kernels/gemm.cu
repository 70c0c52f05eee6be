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
// The kernels:
//   gemm_tile16<T>  the simple correct kernel, float and double: 16×16 output tile per block,
//                   one output per thread, 16×16 shared tiles of A and B loaded coalesced
//                   whatever the transposes. Used for DGEMM and for small SGEMMs.
//   sgemm_tiled     the fast SGEMM (sgemm128: 128×128 block tile, BK = 8, 256 threads each
//                   owning an 8×8 register tile; sgemm64: 64×64, BK = 16, 4×4 per thread, for
//                   problems too small to fill the GPU with 128-tiles) (4×4 quadrants so that the shared-memory
//                   fragment reads are 16-byte and conflict-free), 16-byte vectorised global
//                   loads where the operand is aligned and the tile lies inside the matrix
//                   (scalar loads with bounds checks on the edges), A stored k-major in shared
//                   memory, and double buffering: the next tile's global loads are issued into
//                   registers before computing on the current shared tile, then written to the
//                   other shared buffer, one barrier per k-step. The structure follows the
//                   classic register-blocked SGEMM (Volkov and Demmel, "Benchmarking GPUs to
//                   tune dense linear algebra", SC 2008; the CUTLASS SIMT design).
//   hgemm_bf16     the tensor-core GEMM of bfloat16 operands (below; off unless enabled).
//   gemm_tf32      the tensor-core SGEMM (sm_80+, off unless enabled: device/cuda's TF32Env):
//                  128×128 block tile, BK = 16, 8 warps each owning 64×32 of C as 4×4
//                  m16n8k8 TF32 products (mma.sync, fragments in mma.cuh) accumulated in fp32;
//                  A and B staged in shared memory by cp.async, double-buffered (the next
//                  k-tile's copies are in flight while the current one is multiplied). Inputs
//                  are rounded to TF32 (10-bit mantissa) as PyTorch's allow_tf32 does, so
//                  results differ from fp32 by about 1e-3 relative. Shared rows are padded
//                  (A: 20 floats, B: 136) so that each fragment read hits 32 distinct banks.
#include "common.cuh"
#include "half.cuh"
#include "mma.cuh"

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
// Fast SGEMM, templated on the block tile: BM×BN outputs per block of 256 threads laid out
// 16×16, each thread owning a TM×TN register tile made of 4×4 quadrants spaced BM/QM rows and
// BN/QN columns apart (QM = TM/4, QN = TN/4), so its shared-memory fragment reads are float4
// and a warp's reads hit distinct banks. BK is chosen so that one tile of A (BM×BK) and one of
// B (BK×BN) are each exactly 4 elements (one float4) per thread:
//   sgemm128: BM = BN = 128, BK = 8,  TM = TN = 8  (64 accumulators; large problems)
//   sgemm64:  BM = BN = 64,  BK = 16, TM = TN = 4  (16 accumulators; problems whose 128-tile
//             grid would leave SMs idle, e.g. 1024×1024 has only 64 tiles of 128 for 132 SMs)
// Grid (ceil(N/BN), ceil(M/BM), batch ≤ 65535).
#define SG_PAD 4 // keeps float4 alignment and spreads the transposed stores over all banks

// One operand's share of a tile load: each thread loads 4 consecutive elements (one float4
// when aligned and inside the matrix) per k-step through a pointer that advances by a fixed
// step, so the loop carries one pointer and a few 32-bit ints per operand instead of 64-bit
// index arithmetic (which pushed the 128-tile kernels past 128 registers into spills).
//   contigK (A not transposed, B transposed): the 4 elements run along k; the thread's row or
//     column (`fixed`) is constant, koff is its k offset within the tile.
//   otherwise: the 4 elements run along m (or n); koff is the thread's k row within the tile
//     and vlim how many of the 4 lie inside the matrix.
struct SgLoader {
  const float *p;
  i64 step;
  int koff, vlim;
  bool ok, vec, contigK;

  __device__ __forceinline__ float4 next(int k0, int K) {
    int nv;
    if (contigK) {
      nv = ok ? min(max(K - (k0 + koff), 0), 4) : 0;
    } else {
      nv = (k0 + koff < K) ? vlim : 0;
    }
    float4 r;
    if (vec && nv == 4) {
      r = *reinterpret_cast<const float4 *>(p);
    } else {
      r.x = nv > 0 ? p[0] : 0.f;
      r.y = nv > 1 ? p[1] : 0.f;
      r.z = nv > 2 ? p[2] : 0.f;
      r.w = nv > 3 ? p[3] : 0.f;
    }
    p += step;
    return r;
  }
};

// loaderFor sets up the loader of one operand. rows×cols is the operand's tile extent in its
// own storage order: the thread takes row tid/(cols/4) and columns (tid%(cols/4))*4 .. +3.
// contigK says whether those columns are the k dimension.
template <int TCOLS>
__device__ __forceinline__ SgLoader loaderFor(const float *base, i64 ld, int tid, bool contigK, i64 fix0,
                                              i64 fixN, i64 var0, i64 varN, int BK, bool vec) {
  SgLoader l;
  const int r = tid / (TCOLS / 4), c = (tid % (TCOLS / 4)) * 4;
  l.contigK = contigK;
  l.vec = vec;
  if (contigK) { // rows are m (or n), columns are k
    const i64 f = fix0 + r;
    l.ok = f < fixN;
    l.koff = c;
    l.vlim = 0;
    l.p = base + (l.ok ? f : 0) * ld + c;
    l.step = BK;
  } else { // rows are k, columns are m (or n)
    const i64 v = var0 + c;
    l.ok = true;
    l.koff = r;
    l.vlim = (int)min(max(varN - v, (i64)0), (i64)4);
    l.p = base + (i64)r * ld + (l.vlim > 0 ? v : 0);
    l.step = (i64)BK * ld;
  }
  return l;
}

template <int BM, int BN, int BK, bool TA, bool TB>
__device__ __forceinline__ void sg_store(float (*As)[BM + SG_PAD], float (*Bs)[BN + SG_PAD], int tid,
                                         const float4 &ra, const float4 &rb) {
  if (!TA) {
    const int m = tid / (BK / 4), k = (tid % (BK / 4)) * 4;
    As[k][m] = ra.x;
    As[k + 1][m] = ra.y;
    As[k + 2][m] = ra.z;
    As[k + 3][m] = ra.w;
  } else {
    *reinterpret_cast<float4 *>(&As[tid / (BM / 4)][(tid % (BM / 4)) * 4]) = ra;
  }
  if (!TB) {
    *reinterpret_cast<float4 *>(&Bs[tid / (BN / 4)][(tid % (BN / 4)) * 4]) = rb;
  } else {
    const int n = tid / (BK / 4), k = (tid % (BK / 4)) * 4;
    Bs[k][n] = rb.x;
    Bs[k + 1][n] = rb.y;
    Bs[k + 2][n] = rb.z;
    Bs[k + 3][n] = rb.w;
  }
}

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__device__ __forceinline__ void sgemm_tiled(i64 M, i64 N, i64 K, float alpha, const float *__restrict__ A,
                                            i64 lda, i64 sA, const float *__restrict__ B, i64 ldb, i64 sB,
                                            float beta, float *__restrict__ C, i64 ldc, i64 sC, i64 batch,
                                            bool vecA, bool vecB, bool vecC) {
  static_assert(BM == 16 * TM && BN == 16 * TN, "16×16 threads cover the block tile");
  constexpr int QM = TM / 4, QN = TN / 4; // 4×4 quadrants per thread
  __shared__ __align__(16) float As[2][BK][BM + SG_PAD];
  __shared__ __align__(16) float Bs[2][BK][BN + SG_PAD];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const i64 m0 = (i64)blockIdx.y * BM, n0 = (i64)blockIdx.x * BN;
  const int nk = (int)((K + BK - 1) / BK);

  // One batch member per blockIdx.z (the host launches batches above 65535 in chunks): no
  // loop-carried batch state competes with the accumulators for registers.
  {
    const i64 bz = blockIdx.z;
    if (bz >= batch) return;
    const float *a = A + bz * sA, *b = B + bz * sB;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

    // A tile: BM×BK (stored BK×BM when TA); B tile: BK×BN (stored BN×BK when TB).
    SgLoader la = TA ? loaderFor<BM>(a, lda, tid, false, 0, 0, m0, M, BK, vecA)
                     : loaderFor<BK>(a, lda, tid, true, m0, M, 0, 0, BK, vecA);
    SgLoader lb = TB ? loaderFor<BK>(b, ldb, tid, true, n0, N, 0, 0, BK, vecB)
                     : loaderFor<BN>(b, ldb, tid, false, 0, 0, n0, N, BK, vecB);
    const int Ki = (int)K;
    float4 ra, rb;
    if (nk > 0) {
      ra = la.next(0, Ki);
      rb = lb.next(0, Ki);
      sg_store<BM, BN, BK, TA, TB>(As[0], Bs[0], tid, ra, rb);
    }
    __syncthreads();
    for (int kt = 0; kt < nk; ++kt) {
      const int cur = kt & 1;
      const bool more = kt + 1 < nk;
      if (more) { // issue the next tile's global loads before the math that hides them
        ra = la.next((kt + 1) * BK, Ki);
        rb = lb.next((kt + 1) * BK, Ki);
      }
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        float af[TM], bf[TN];
#pragma unroll
        for (int q = 0; q < QM; ++q) {
          const float4 v = *reinterpret_cast<const float4 *>(&As[cur][kk][q * (BM / QM) + ty * 4]);
          af[4 * q] = v.x; af[4 * q + 1] = v.y; af[4 * q + 2] = v.z; af[4 * q + 3] = v.w;
        }
#pragma unroll
        for (int q = 0; q < QN; ++q) {
          const float4 v = *reinterpret_cast<const float4 *>(&Bs[cur][kk][q * (BN / QN) + tx * 4]);
          bf[4 * q] = v.x; bf[4 * q + 1] = v.y; bf[4 * q + 2] = v.z; bf[4 * q + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(af[i], bf[j], acc[i][j]);
      }
      if (more) sg_store<BM, BN, BK, TA, TB>(As[cur ^ 1], Bs[cur ^ 1], tid, ra, rb);
      __syncthreads();
    }

    float *c = C + bz * sC;
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const i64 m = m0 + (i / 4) * (BM / QM) + ty * 4 + (i % 4);
      if (m >= M) continue;
#pragma unroll
      for (int h = 0; h < QN; ++h) {
        const i64 n = n0 + h * (BN / QN) + tx * 4;
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

// __launch_bounds__(256, MINB): the 128-tile kernels are capped at 128 registers so two blocks
// (16 warps) fit on an SM; uncapped, ptxas used 139-147 and only one block fitted.
#define DEF_SGEMM(name, BM, BK, TM, TA, TB, MINB)                                  \
  extern "C" __global__ void __launch_bounds__(256, MINB)                          \
  name(i64 M, i64 N, i64 K, double alpha, const float *A, i64 lda, i64 sA, const float *B, i64 ldb, \
       i64 sB, double beta, float *C, i64 ldc, i64 sC, i64 batch, i64 vecA, i64 vecB, i64 vecC) { \
    sgemm_tiled<BM, BM, BK, TM, TM, TA, TB>(M, N, K, (float)alpha, A, lda, sA, B, ldb, sB, (float)beta, C, \
                                            ldc, sC, batch, vecA != 0, vecB != 0, vecC != 0); \
  }
DEF_SGEMM(kiln_sgemm128_nn, 128, 8, 8, false, false, 2)
DEF_SGEMM(kiln_sgemm128_nt, 128, 8, 8, false, true, 2)
DEF_SGEMM(kiln_sgemm128_tn, 128, 8, 8, true, false, 2)
DEF_SGEMM(kiln_sgemm128_tt, 128, 8, 8, true, true, 2)
DEF_SGEMM(kiln_sgemm64_nn, 64, 16, 4, false, false, 1)
DEF_SGEMM(kiln_sgemm64_nt, 64, 16, 4, false, true, 1)
DEF_SGEMM(kiln_sgemm64_tn, 64, 16, 4, true, false, 1)
DEF_SGEMM(kiln_sgemm64_tt, 64, 16, 4, true, true, 1)

// ---------------------------------------------------------------------------------------
// Tensor-core SGEMM (TF32 inputs, fp32 accumulation). Block 256 threads; grid
// (ceil(N/128), ceil(M/128), min(batch, 65535)). Any transposes, sizes and leading
// dimensions: tiles are loaded element by element (4-byte cp.async, zero-filled outside the
// matrix).
#define TC_BM 128
#define TC_BN 128
#define TC_BK 16
#define TC_APAD 20  // As row length: 16 k values + 4
#define TC_BPAD 136 // Bs row length: 128 n values + 8

// tc_loader copies one operand's k-tiles (ROWS rows of the operand along M or N, BK values of
// k) into shared memory with THREADS threads, each owning 8 elements r = 0..7 at global offset
// base + r·rstep + k0·kstep and shared offset dst + r·dstep. Element r lies inside the matrix
// when bit r of rowsIn says its row does and its k (k0 + kpos + r·kr) is below K. Consecutive
// threads walk the operand's contiguous dimension: along k (16 threads per row) when k is
// contiguous in memory, along the rows (ROWS threads per k) otherwise. The shared tile is
// row-major (A: [row][k], rows pad elements long) or k-major (B: [k][row]).
template <typename T, int THREADS, int ROWS, int BK> struct tc_loader {
  static_assert(ROWS * BK == 8 * THREADS, "8 elements per thread");
  const T *base;
  i64 rstep, kstep;
  unsigned rowsIn;
  int kpos, kr, dst, dstep;

  __device__ void init(const T *p, i64 ld, i64 row0, i64 rows, bool kContiguous, bool kmajorShared, int pad) {
    const int tid = threadIdx.x;
    i64 mpos;
    int mstep;
    if (kContiguous) {
      const int row = tid / BK, k = tid % BK;
      base = p + (row0 + row) * ld + k, rstep = (i64)(THREADS / BK) * ld, kstep = 1;
      mpos = row0 + row, mstep = THREADS / BK, kpos = k, kr = 0;
      dst = kmajorShared ? k * pad + row : row * pad + k;
      dstep = kmajorShared ? THREADS / BK : (THREADS / BK) * pad;
    } else {
      const int row = tid % ROWS, k = tid / ROWS;
      base = p + (i64)k * ld + row0 + row, rstep = (i64)(THREADS / ROWS) * ld, kstep = ld;
      mpos = row0 + row, mstep = 0, kpos = k, kr = THREADS / ROWS;
      dst = kmajorShared ? k * pad + row : row * pad + k;
      dstep = kmajorShared ? (THREADS / ROWS) * pad : THREADS / ROWS;
    }
    rowsIn = 0;
    for (int r = 0; r < 8; ++r)
      if (mpos + r * mstep < rows) rowsIn |= 1u << r;
  }

  __device__ __forceinline__ void load(T *shared, i64 K, i64 k0) const {
    const T *g = base + k0 * kstep;
#pragma unroll
    for (int r = 0; r < 8; ++r) {
      const bool ok = ((rowsIn >> r) & 1u) && k0 + kpos + r * kr < K;
      cp_async_elem(shared + dst + r * dstep, ok ? g + r * rstep : base, ok);
    }
  }
};

extern "C" __global__ void __launch_bounds__(256, 1)
kiln_gemm_tf32(i64 ta, i64 tb, i64 M, i64 N, i64 K, double alpha, const float *A, i64 lda, i64 sA, const float *B,
               i64 ldb, i64 sB, double beta, float *C, i64 ldc, i64 sC, i64 batch) {
  __shared__ __align__(16) float As[2][TC_BM][TC_APAD];
  __shared__ __align__(16) float Bs[2][TC_BK][TC_BPAD];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, t = lane % 4;
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32; // this warp's 64×32 of the block tile
  const i64 m0 = (i64)blockIdx.y * TC_BM, n0 = (i64)blockIdx.x * TC_BN;
  const i64 ktiles = (K + TC_BK - 1) / TC_BK;
  for (i64 bt = blockIdx.z; bt < batch; bt += gridDim.z) {
    tc_loader<float, 256, TC_BM, TC_BK> la, lb;
    la.init(A + bt * sA, lda, m0, M, !ta, false, TC_APAD);
    lb.init(B + bt * sB, ldb, n0, N, tb != 0, true, TC_BPAD);
    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
    if (ktiles > 0) {
      la.load(&As[0][0][0], K, 0);
      lb.load(&Bs[0][0][0], K, 0);
    }
    cp_async_commit();
    for (i64 kt = 0; kt < ktiles; ++kt) {
      const int cur = (int)(kt & 1);
      if (kt + 1 < ktiles) {
        la.load(&As[cur ^ 1][0][0], K, (kt + 1) * TC_BK);
        lb.load(&Bs[cur ^ 1][0][0], K, (kt + 1) * TC_BK);
        cp_async_commit();
        cp_async_wait<1>(); // this tile's group has landed; the next one may still be in flight
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
#pragma unroll
      for (int k8 = 0; k8 < TC_BK; k8 += 8) {
        unsigned bf[4][2];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int c = wn + j * 8 + g;
          bf[j][0] = to_tf32(Bs[cur][k8 + t][c]);
          bf[j][1] = to_tf32(Bs[cur][k8 + t + 4][c]);
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) { // one A fragment live at a time
          const int r = wm + i * 16 + g;
          const unsigned af[4] = {to_tf32(As[cur][r][k8 + t]), to_tf32(As[cur][r + 8][k8 + t]),
                                  to_tf32(As[cur][r][k8 + t + 4]), to_tf32(As[cur][r + 8][k8 + t + 4])};
#pragma unroll
          for (int j = 0; j < 4; ++j) mma_tf32_16x8x8(acc[i][j], af, bf[j]);
        }
      }
      __syncthreads(); // every warp is done with this buffer before it is refilled
    }
    float *c = C + bt * sC;
    const float al = (float)alpha, be = (float)beta;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const i64 m = m0 + wm + i * 16 + g + 8 * (r / 2), n = n0 + wn + j * 8 + 2 * t + r % 2;
          if (m < M && n < N) {
            float *p = c + m * ldc + n;
            *p = be == 0.0f ? al * acc[i][j][r] : al * acc[i][j][r] + be * *p;
          }
        }
  }
}

// ---------------------------------------------------------------------------------------
// Tensor-core DGEMM (DMMA, sm_80+; off unless enabled: device/cuda's DMMAEnv). Block 128
// threads, 4 warps each owning 32×32 of a 64×64 block tile as 4×4 m8n8k4 products; BK = 16,
// cp.async double buffering as in kiln_gemm_tf32. Rows padded to 20 (A) and 68 (B) doubles so
// that each half-warp's 8-byte fragment reads hit distinct banks. Grid (ceil(N/64),
// ceil(M/64), min(batch, 65535)).
#define DM_BM 64
#define DM_BN 64
#define DM_BK 16
#define DM_APAD 20
#define DM_BPAD 68

extern "C" __global__ void __launch_bounds__(128)
kiln_gemm_dmma(i64 ta, i64 tb, i64 M, i64 N, i64 K, double alpha, const double *A, i64 lda, i64 sA,
               const double *B, i64 ldb, i64 sB, double beta, double *C, i64 ldc, i64 sC, i64 batch) {
  __shared__ __align__(16) double As[2][DM_BM][DM_APAD];
  __shared__ __align__(16) double Bs[2][DM_BK][DM_BPAD];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, t = lane % 4;
  const int wm = (warp / 2) * 32, wn = (warp % 2) * 32; // this warp's 32×32 of the block tile
  const i64 m0 = (i64)blockIdx.y * DM_BM, n0 = (i64)blockIdx.x * DM_BN;
  const i64 ktiles = (K + DM_BK - 1) / DM_BK;
  for (i64 bt = blockIdx.z; bt < batch; bt += gridDim.z) {
    tc_loader<double, 128, DM_BM, DM_BK> la, lb;
    la.init(A + bt * sA, lda, m0, M, !ta, false, DM_APAD);
    lb.init(B + bt * sB, ldb, n0, N, tb != 0, true, DM_BPAD);
    double acc[4][4][2];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j][0] = acc[i][j][1] = 0.0;
    if (ktiles > 0) {
      la.load(&As[0][0][0], K, 0);
      lb.load(&Bs[0][0][0], K, 0);
    }
    cp_async_commit();
    for (i64 kt = 0; kt < ktiles; ++kt) {
      const int cur = (int)(kt & 1);
      if (kt + 1 < ktiles) {
        la.load(&As[cur ^ 1][0][0], K, (kt + 1) * DM_BK);
        lb.load(&Bs[cur ^ 1][0][0], K, (kt + 1) * DM_BK);
        cp_async_commit();
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
#pragma unroll
      for (int k4 = 0; k4 < DM_BK; k4 += 4) {
        double bf[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) bf[j] = Bs[cur][k4 + t][wn + j * 8 + g];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const double af = As[cur][wm + i * 8 + g][k4 + t];
#pragma unroll
          for (int j = 0; j < 4; ++j) mma_f64_8x8x4(acc[i][j], af, bf[j]);
        }
      }
      __syncthreads();
    }
    double *c = C + bt * sC;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const i64 m = m0 + wm + i * 8 + g, n = n0 + wn + j * 8 + 2 * t + r;
          if (m < M && n < N) {
            double *p = c + m * ldc + n;
            *p = beta == 0.0 ? alpha * acc[i][j][r] : alpha * acc[i][j][r] + beta * *p;
          }
        }
  }
}

// ---------------------------------------------------------------------------------------
// Tensor-core BF16 GEMM (sm_80+; off unless enabled: device/cuda's BF16Env): A, B and C in
// bfloat16, products accumulated in fp32 and each output rounded once to bfloat16 (α, β
// applied in fp32). Block 256 threads, 128×128×32 tiles, 8 warps each owning 64×32 of C as 4×4
// m16n8k16 products per 16 of k. A is staged [m][k] and B [n][k] in shared memory, rows of
// 40 halves, so that a fragment register is one aligned 32-bit word of two consecutive k and
// each fragment read hits 32 distinct banks. Tiles are loaded element by element (zero
// outside the matrix) through registers, one buffer: a first version to be measured.
#define BT_BM 128
#define BT_BN 128
#define BT_BK 32
#define BT_PAD 40

// bt_load copies one operand's ROWS×32 tile (rows along M or N, 32 values of k) into a
// [row][k] shared tile; each of 256 threads copies 16 elements, walking the operand's
// contiguous dimension.
__device__ __forceinline__ void bt_load(unsigned short (*s)[BT_PAD], const kbf16 *p, i64 ld, i64 row0, i64 rows,
                                        i64 k0, i64 K, bool kContiguous) {
  const int tid = threadIdx.x;
#pragma unroll
  for (int r = 0; r < 16; ++r) {
    int row, k;
    if (kContiguous) {
      row = tid / BT_BK + 8 * r, k = tid % BT_BK;
    } else {
      row = tid % BT_BM, k = tid / BT_BM + 2 * r;
    }
    const i64 gr = row0 + row, gk = k0 + k;
    s[row][k] = (gr < rows && gk < K) ? (kContiguous ? p[gr * ld + gk] : p[gk * ld + gr]).bits : (unsigned short)0;
  }
}

__device__ __forceinline__ unsigned bt_word(const unsigned short *p) { return *(const unsigned *)p; }

extern "C" __global__ void __launch_bounds__(256, 1)
kiln_hgemm_bf16(i64 ta, i64 tb, i64 M, i64 N, i64 K, double alpha, const kbf16 *A, i64 lda, i64 sA, const kbf16 *B,
               i64 ldb, i64 sB, double beta, kbf16 *C, i64 ldc, i64 sC, i64 batch) {
  __shared__ __align__(16) unsigned short As[BT_BM][BT_PAD];
  __shared__ __align__(16) unsigned short Bs[BT_BN][BT_PAD];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, t = lane % 4;
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
  const i64 m0 = (i64)blockIdx.y * BT_BM, n0 = (i64)blockIdx.x * BT_BN;
  for (i64 bt = blockIdx.z; bt < batch; bt += gridDim.z) {
    const kbf16 *a = A + bt * sA, *b = B + bt * sB;
    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
    for (i64 k0 = 0; k0 < K; k0 += BT_BK) {
      bt_load(As, a, lda, m0, M, k0, K, !ta);
      bt_load(Bs, b, ldb, n0, N, k0, K, tb != 0);
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < BT_BK; kk += 16) {
        unsigned bf[4][2];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int c = wn + j * 8 + g;
          bf[j][0] = bt_word(&Bs[c][kk + 2 * t]);
          bf[j][1] = bt_word(&Bs[c][kk + 2 * t + 8]);
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int r = wm + i * 16 + g;
          const unsigned af[4] = {bt_word(&As[r][kk + 2 * t]), bt_word(&As[r + 8][kk + 2 * t]),
                                  bt_word(&As[r][kk + 2 * t + 8]), bt_word(&As[r + 8][kk + 2 * t + 8])};
#pragma unroll
          for (int j = 0; j < 4; ++j) mma_bf16_16x8x16(acc[i][j], af, bf[j]);
        }
      }
      __syncthreads();
    }
    kbf16 *c = C + bt * sC;
    const float al = (float)alpha, be = (float)beta;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const i64 m = m0 + wm + i * 16 + g + 8 * (r / 2), n = n0 + wn + j * 8 + 2 * t + r % 2;
          if (m < M && n < N) {
            kbf16 *p = c + m * ldc + n;
            const float v = be == 0.0f ? al * acc[i][j][r] : al * acc[i][j][r] + be * bf16_to_f32(p->bits);
            p->bits = bf16_from_f32(v);
          }
        }
  }
}
