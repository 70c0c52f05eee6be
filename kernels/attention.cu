// attention.cu: flash-style attention with the PFN context mask, forward and backward.
//
// CPU references: device/cpu (*Device).Attention and (*Device).AttentionBackward.
//
// Problem (per head b of Batch): Q Lq×D, K Lk×D, V Lk×Dv, O Lq×Dv, all contiguous; every
// query attends only to keys [0, NContext) (TabPFN: test and train items attend to the train
// items). lse[b,i] = log Σ_{j<NContext} exp(scale·qᵢ·kⱼ).
//
// Algorithm: FlashAttention (Dao, Fu, Ermon, Rudra and Ré, NeurIPS 2022; backward as in
// FlashAttention-2, Dao 2023, §3.2): key tiles are staged in shared memory and each query keeps
// a running maximum m, a running denominator l and an unnormalised output o, rescaled by
// exp(m_old − m_new) whenever the maximum grows (online softmax, Milakov and Gimelshein 2018).
// No Lq×Lk score matrix ever exists in global memory.
//
// fp32 SIMT layout (no tensor cores: the engine's fp32 contract forbids tf32 rounding):
// TPQ adjacent lanes share one query; lane c of the group owns the 4-element groups
// {c, c+TPQ, c+2·TPQ, ...} of the head dimension (interleaved, so the TPQ lanes read adjacent
// 16-byte words of a shared key row: no bank conflicts, and the whole warp reads one key row,
// a broadcast). A dot product is a per-lane partial of DMAX/TPQ FMAs plus log2(TPQ) xor
// shuffles. Templates fix DMAX (32, 64, 128: the head dimension rounded up, zero-padded) and
// TPQ so every per-lane array is indexed by compile-time constants and stays in registers.
//
// Backward, two kernels and no atomics:
//   attn_bwd_dq:   query-parallel like the forward; computes δᵢ = dOᵢ·Oᵢ, then for each key
//                  p = exp(scale·s − lse), dp = dOᵢ·vⱼ, ds = p(dp − δᵢ), dqᵢ += ds·kⱼ; writes
//                  dq·scale and δ (needed by the second kernel).
//   attn_bwd_dkdv: key-parallel: each key group loops over all queries (query and dO tiles
//                  with lse and δ in shared memory): dvⱼ += p·dOᵢ, dkⱼ += ds·qᵢ. Keys at or
//                  beyond NContext get exact zeros.
#include "common.cuh"
#include "half.cuh"
#include "mma.cuh"

#define ATT_THREADS 128
// log2(e) and ln(2) as doubles, cast to the kernel type where used (a float constant would
// perturb the float64 kernels' scale by 1e-8).
#define LOG2E 1.44269504088896340736
#define LN2 0.69314718055994530942

__device__ __forceinline__ void ld4(const float *p, float (&r)[4]) {
  const float4 v = *reinterpret_cast<const float4 *>(p);
  r[0] = v.x; r[1] = v.y; r[2] = v.z; r[3] = v.w;
}
__device__ __forceinline__ void ld4(const double *p, double (&r)[4]) {
  const double2 a = *reinterpret_cast<const double2 *>(p), b = *reinterpret_cast<const double2 *>(p + 2);
  r[0] = a.x; r[1] = a.y; r[2] = b.x; r[3] = b.y;
}

template <int TPQ, typename T> __device__ __forceinline__ T group_sum(T v) {
#pragma unroll
  for (int o = TPQ / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Loads rows [r0, r0+R) of a rows×cols matrix into a R×DMAX shared tile, zero-padding columns
// ≥ cols and rows ≥ nrows.
template <typename T, int DMAX, int R>
__device__ __forceinline__ void load_tile(T *__restrict__ s, const T *__restrict__ g, i64 r0, i64 nrows,
                                          i64 cols) {
  for (int e = threadIdx.x; e < R * DMAX; e += ATT_THREADS) {
    const int r = e / DMAX, d = e - r * DMAX;
    const i64 gr = r0 + r;
    s[e] = (gr < nrows && d < cols) ? g[gr * cols + d] : (T)0;
  }
}

// Loads this lane's share of row `row` (length cols) of g into reg, zero-padded.
template <typename T, int DMAX, int TPQ>
__device__ __forceinline__ void load_row(T (&reg)[DMAX / TPQ], const T *__restrict__ g, bool valid, i64 cols,
                                         int c) {
#pragma unroll
  for (int j = 0; j < DMAX / (4 * TPQ); ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int d = 4 * (c + TPQ * j) + e;
      reg[4 * j + e] = (valid && d < cols) ? g[d] : (T)0;
    }
}

template <typename T, int DMAX, int TPQ>
__device__ __forceinline__ void store_row(const T (&reg)[DMAX / TPQ], T *__restrict__ g, bool valid, i64 cols,
                                          int c, T mul) {
  if (!valid) return;
#pragma unroll
  for (int j = 0; j < DMAX / (4 * TPQ); ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int d = 4 * (c + TPQ * j) + e;
      if (d < cols) g[d] = reg[4 * j + e] * mul;
    }
}

// Partial dot product of this lane's share of a register row with a shared row.
template <typename T, int DMAX, int TPQ>
__device__ __forceinline__ T dot_part(const T (&reg)[DMAX / TPQ], const T *__restrict__ srow, int c) {
  T acc = 0;
#pragma unroll
  for (int j = 0; j < DMAX / (4 * TPQ); ++j) {
    T k4[4];
    ld4(srow + 4 * (c + TPQ * j), k4);
#pragma unroll
    for (int e = 0; e < 4; ++e) acc += reg[4 * j + e] * k4[e];
  }
  return acc;
}

template <typename T, int DMAX, int TPQ>
__device__ __forceinline__ void axpy_row(T (&reg)[DMAX / TPQ], T a, const T *__restrict__ srow, int c) {
#pragma unroll
  for (int j = 0; j < DMAX / (4 * TPQ); ++j) {
    T v4[4];
    ld4(srow + 4 * (c + TPQ * j), v4);
#pragma unroll
    for (int e = 0; e < 4; ++e) reg[4 * j + e] += a * v4[e];
  }
}

// ----------------------------------------------------------------------------------------
// Forward. Grid (ceil(Lq / (ATT_THREADS/TPQ)), Batch); BK keys per shared tile.
template <typename T, int DMAX, int TPQ, int BK>
__device__ __forceinline__ void attn_fwd(const T *__restrict__ Q, const T *__restrict__ K,
                                         const T *__restrict__ V, T *__restrict__ O, T *__restrict__ LSE,
                                         i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx, T scale) {
  constexpr int CH = DMAX / TPQ, KC = 8;
  __shared__ __align__(16) T Ks[BK * DMAX];
  __shared__ __align__(16) T Vs[BK * DMAX];
  const i64 b = blockIdx.y;
  const int c = threadIdx.x % TPQ;
  const i64 qi = (i64)blockIdx.x * (ATT_THREADS / TPQ) + threadIdx.x / TPQ;
  const bool valid = qi < Lq;
  const T *kb = K + b * Lk * D, *vb = V + b * Lk * Dv;
  const i64 nk = nctx < Lk ? nctx : Lk;

  T q[CH], o[CH];
  load_row<T, DMAX, TPQ>(q, Q + (b * Lq + qi) * D, valid, D, c);
#pragma unroll
  for (int i = 0; i < CH; ++i) o[i] = 0;
  T m = -kinf<T>(), l = 0;
  const T sl = scale * (T)LOG2E; // scores in the log2 domain: exp(x) = 2^(x·log2 e)

  for (i64 k0 = 0; k0 < nk; k0 += BK) {
    __syncthreads();
    load_tile<T, DMAX, BK>(Ks, kb, k0, nk, D);
    load_tile<T, DMAX, BK>(Vs, vb, k0, nk, Dv);
    __syncthreads();
    const int tk = (int)(nk - k0 < BK ? nk - k0 : BK);
    for (int kc = 0; kc < tk; kc += KC) {
      T s[KC];
      T mx = m;
#pragma unroll
      for (int kk = 0; kk < KC; ++kk) {
        const T d = group_sum<TPQ>(dot_part<T, DMAX, TPQ>(q, Ks + (kc + kk) * DMAX, c));
        s[kk] = (kc + kk < tk) ? d * sl : -kinf<T>();
        mx = kmax(mx, s[kk]);
      }
      const T corr = exp2(m - mx); // 0 on the first chunk (m = −inf)
      l *= corr;
#pragma unroll
      for (int i = 0; i < CH; ++i) o[i] *= corr;
#pragma unroll
      for (int kk = 0; kk < KC; ++kk) {
        const T p = exp2(s[kk] - mx);
        l += p;
        axpy_row<T, DMAX, TPQ>(o, p, Vs + (kc + kk) * DMAX, c);
      }
      m = mx;
    }
  }
  const T inv = l > (T)0 ? (T)1 / l : (T)0;
  store_row<T, DMAX, TPQ>(o, O + (b * Lq + qi) * Dv, valid, Dv, c, inv);
  if (valid && c == 0) LSE[b * Lq + qi] = l > (T)0 ? (m + log2(l)) * (T)LN2 : -kinf<T>();
}

// ----------------------------------------------------------------------------------------
// Backward, dq and δ. Same grid as the forward.
template <typename T, int DMAX, int TPQ, int BK>
__device__ __forceinline__ void attn_bwd_dq(const T *__restrict__ Q, const T *__restrict__ K,
                                            const T *__restrict__ V, const T *__restrict__ O,
                                            const T *__restrict__ LSE, const T *__restrict__ dO,
                                            T *__restrict__ dQ, T *__restrict__ Delta, i64 Lq, i64 Lk, i64 D,
                                            i64 Dv, i64 nctx, T scale) {
  constexpr int CH = DMAX / TPQ;
  __shared__ __align__(16) T Ks[BK * DMAX];
  __shared__ __align__(16) T Vs[BK * DMAX];
  const i64 b = blockIdx.y;
  const int c = threadIdx.x % TPQ;
  const i64 qi = (i64)blockIdx.x * (ATT_THREADS / TPQ) + threadIdx.x / TPQ;
  const bool valid = qi < Lq;
  const T *kb = K + b * Lk * D, *vb = V + b * Lk * Dv;
  const i64 nk = nctx < Lk ? nctx : Lk;
  const i64 row = b * Lq + (valid ? qi : 0);

  T q[CH], g[CH], dq[CH];
  // δ = dO·O, computed with dq as scratch for O.
  load_row<T, DMAX, TPQ>(g, dO + row * Dv, valid, Dv, c);
  load_row<T, DMAX, TPQ>(dq, O + row * Dv, valid, Dv, c);
  T delta = 0;
#pragma unroll
  for (int i = 0; i < CH; ++i) delta += g[i] * dq[i];
  delta = group_sum<TPQ>(delta);
  load_row<T, DMAX, TPQ>(q, Q + row * D, valid, D, c);
#pragma unroll
  for (int i = 0; i < CH; ++i) dq[i] = 0;
  const T lse = valid ? LSE[row] : (T)0;
  const bool live = lse > -kinf<T>();

  for (i64 k0 = 0; k0 < nk; k0 += BK) {
    __syncthreads();
    load_tile<T, DMAX, BK>(Ks, kb, k0, nk, D);
    load_tile<T, DMAX, BK>(Vs, vb, k0, nk, Dv);
    __syncthreads();
    const int tk = (int)(nk - k0 < BK ? nk - k0 : BK);
    for (int kk = 0; kk < tk; ++kk) {
      const T s = group_sum<TPQ>(dot_part<T, DMAX, TPQ>(q, Ks + kk * DMAX, c));
      const T dp = group_sum<TPQ>(dot_part<T, DMAX, TPQ>(g, Vs + kk * DMAX, c));
      const T p = live ? exp(s * scale - lse) : (T)0;
      axpy_row<T, DMAX, TPQ>(dq, p * (dp - delta), Ks + kk * DMAX, c);
    }
  }
  store_row<T, DMAX, TPQ>(dq, dQ + row * D, valid, D, c, scale);
  if (valid && c == 0) Delta[row] = delta;
}

// ----------------------------------------------------------------------------------------
// Backward, dk and dv. Grid (ceil(Lk / (ATT_THREADS/TPQ)), Batch); BQ queries per tile.
template <typename T, int DMAX, int TPQ, int BQ>
__device__ __forceinline__ void attn_bwd_dkdv(const T *__restrict__ Q, const T *__restrict__ K,
                                              const T *__restrict__ V, const T *__restrict__ LSE,
                                              const T *__restrict__ dO, const T *__restrict__ Delta,
                                              T *__restrict__ dK, T *__restrict__ dV, i64 Lq, i64 Lk, i64 D,
                                              i64 Dv, i64 nctx, T scale) {
  constexpr int CH = DMAX / TPQ;
  __shared__ __align__(16) T Qs[BQ * DMAX];
  __shared__ __align__(16) T Gs[BQ * DMAX];
  __shared__ T Ls[BQ], Ds[BQ];
  const i64 b = blockIdx.y;
  const int c = threadIdx.x % TPQ;
  const i64 kj = (i64)blockIdx.x * (ATT_THREADS / TPQ) + threadIdx.x / TPQ;
  const i64 nk = nctx < Lk ? nctx : Lk;
  const bool inrange = kj < Lk, live = kj < nk;
  const i64 row = b * Lk + (inrange ? kj : 0);
  const i64 first = (i64)blockIdx.x * (ATT_THREADS / TPQ); // block-uniform skip of masked keys

  T k[CH], v[CH], dk[CH], dv[CH];
  load_row<T, DMAX, TPQ>(k, K + row * D, live, D, c);
  load_row<T, DMAX, TPQ>(v, V + row * Dv, live, Dv, c);
#pragma unroll
  for (int i = 0; i < CH; ++i) dk[i] = dv[i] = 0;

  if (first < nk) {
    const T *qb = Q + b * Lq * D, *gb = dO + b * Lq * Dv;
    for (i64 q0 = 0; q0 < Lq; q0 += BQ) {
      __syncthreads();
      load_tile<T, DMAX, BQ>(Qs, qb, q0, Lq, D);
      load_tile<T, DMAX, BQ>(Gs, gb, q0, Lq, Dv);
      for (int e = threadIdx.x; e < BQ; e += ATT_THREADS) {
        const i64 i = q0 + e;
        Ls[e] = i < Lq ? LSE[b * Lq + i] : kinf<T>(); // +inf: p = 0 for padding rows
        Ds[e] = i < Lq ? Delta[b * Lq + i] : (T)0;
      }
      __syncthreads();
      const int tq = (int)(Lq - q0 < BQ ? Lq - q0 : BQ);
      for (int ii = 0; ii < tq; ++ii) {
        const T s = group_sum<TPQ>(dot_part<T, DMAX, TPQ>(k, Qs + ii * DMAX, c));
        const T dp = group_sum<TPQ>(dot_part<T, DMAX, TPQ>(v, Gs + ii * DMAX, c));
        const T lse = Ls[ii];
        // Masked keys (live false) hold zero k and v but must also get p = 0, or dv would
        // collect exp(−lse)·dO.
        const T p = (live && lse > -kinf<T>()) ? exp(s * scale - lse) : (T)0;
        axpy_row<T, DMAX, TPQ>(dv, p, Gs + ii * DMAX, c);
        axpy_row<T, DMAX, TPQ>(dk, p * (dp - Ds[ii]), Qs + ii * DMAX, c);
      }
    }
  }
  // Masked keys (live == false) write the zeros they hold.
  store_row<T, DMAX, TPQ>(dk, dK + row * D, inrange, D, c, scale);
  store_row<T, DMAX, TPQ>(dv, dV + row * Dv, inrange, Dv, c, (T)1);
}

// ----------------------------------------------------------------------------------------
// Forward, outer-product tiling (fp32, head dims ≤ 64: TabPFN's 32 and 64). The per-lane dot
// products above read 16 bytes of shared memory per 4 FMAs; here, as in a GEMM, each thread
// owns a 4×4 block of the 64-query × 32-key score tile with the head dimension as the inner
// loop (two float4 shared reads per 16 FMAs), and a 4-query × DH/8-column block of O for the
// P·V product (three float4 reads per 32 FMAs at DH = 64). Row statistics of the online
// softmax combine the 8 threads that share a row with xor shuffles (they are adjacent lanes
// of one warp); P goes through shared memory from the score layout to the P·V layout.
// Block 128 threads = 16 (ty: 4 queries each) × 8 (tx: 4 keys each, then DH/8 output columns).
// Shared (DH = 64): Q 64×68 + K 64×36 + V 32×68 + P 32×68 floats = 43 KB.
#define AT_BQ 64
#define AT_BK 32

template <int DH>
__device__ __forceinline__ void attn_fwd_tiled(const float *__restrict__ Q, const float *__restrict__ K,
                                               const float *__restrict__ V, float *__restrict__ O,
                                               float *__restrict__ LSE, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx,
                                               float scale) {
  constexpr int CO = DH / 8; // output columns per thread: quadrants of 4, DH/2 apart
  constexpr int QO = CO / 4;
  __shared__ __align__(16) float Qs[DH][AT_BQ + 4]; // d-major: 4 queries are one float4
  __shared__ __align__(16) float Ks[DH][AT_BK + 4]; // d-major: 4 keys are one float4
  __shared__ __align__(16) float Vs[AT_BK][DH + 4];
  __shared__ __align__(16) float Ps[AT_BK][AT_BQ + 4]; // key-major: 4 queries are one float4
  const int tid = threadIdx.x, tx = tid & 7, ty = tid >> 3;
  const i64 b = blockIdx.y, q0 = (i64)blockIdx.x * AT_BQ;
  const float *qb = Q + b * Lq * D, *kb = K + b * Lk * D, *vb = V + b * Lk * Dv;
  const i64 nk = nctx < Lk ? nctx : Lk;
  const float sl = scale * (float)LOG2E;

  for (int e = tid; e < AT_BQ * DH; e += ATT_THREADS) {
    const int q = e / DH, d = e - q * DH;
    Qs[d][q] = (q0 + q < Lq && d < D) ? qb[(q0 + q) * D + d] : 0.f;
  }
  float o[4][CO], m[4], l[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int c = 0; c < CO; ++c) o[i][c] = 0.f;
  }

  for (i64 k0 = 0; k0 < nk; k0 += AT_BK) {
    __syncthreads(); // the previous tile's P·V is done with Ks, Vs and Ps
    for (int e = tid; e < AT_BK * DH; e += ATT_THREADS) {
      const int k = e / DH, d = e - k * DH;
      const bool in = k0 + k < nk;
      Ks[d][k] = (in && d < D) ? kb[(k0 + k) * D + d] : 0.f;
      Vs[k][d] = (in && d < Dv) ? vb[(k0 + k) * Dv + d] : 0.f;
    }
    __syncthreads();
    // S = Q·Kᵀ for rows ty*4.., keys tx*4..
    float sc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) sc[i][j] = 0.f;
#pragma unroll 8
    for (int d = 0; d < DH; ++d) {
      const float4 qa = *reinterpret_cast<const float4 *>(&Qs[d][ty * 4]);
      const float4 ka = *reinterpret_cast<const float4 *>(&Ks[d][tx * 4]);
      const float qv[4] = {qa.x, qa.y, qa.z, qa.w}, kv[4] = {ka.x, ka.y, ka.z, ka.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) sc[i][j] = fmaf(qv[i], kv[j], sc[i][j]);
    }
    // Online softmax per row over this tile's keys.
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float mx = m[i];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        sc[i][j] = (k0 + tx * 4 + j < nk) ? sc[i][j] * sl : -INFINITY;
        mx = fmaxf(mx, sc[i][j]);
      }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 4));
      const float corr = exp2f(m[i] - mx); // 0 on the first tile (m = −inf)
      float rs = 0.f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        sc[i][j] = exp2f(sc[i][j] - mx);
        rs += sc[i][j];
      }
      rs += __shfl_xor_sync(0xffffffffu, rs, 1);
      rs += __shfl_xor_sync(0xffffffffu, rs, 2);
      rs += __shfl_xor_sync(0xffffffffu, rs, 4);
      l[i] = l[i] * corr + rs;
      m[i] = mx;
#pragma unroll
      for (int c = 0; c < CO; ++c) o[i][c] *= corr;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j)
      *reinterpret_cast<float4 *>(&Ps[tx * 4 + j][ty * 4]) = make_float4(sc[0][j], sc[1][j], sc[2][j], sc[3][j]);
    __syncthreads();
    // O += P·V for rows ty*4.., columns {h*DH/2 + tx*4 ..} (h < QO)
#pragma unroll 4
    for (int j = 0; j < AT_BK; ++j) {
      const float4 pa = *reinterpret_cast<const float4 *>(&Ps[j][ty * 4]);
      const float pv[4] = {pa.x, pa.y, pa.z, pa.w};
#pragma unroll
      for (int h = 0; h < QO; ++h) {
        const float4 va = *reinterpret_cast<const float4 *>(&Vs[j][h * (DH / 2) + tx * 4]);
        const float vv[4] = {va.x, va.y, va.z, va.w};
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int c = 0; c < 4; ++c) o[i][h * 4 + c] = fmaf(pv[i], vv[c], o[i][h * 4 + c]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const i64 q = q0 + ty * 4 + i;
    if (q >= Lq) continue;
    const float inv = l[i] > 0.f ? 1.f / l[i] : 0.f;
    float *orow = O + (b * Lq + q) * Dv;
#pragma unroll
    for (int h = 0; h < QO; ++h)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int col = h * (DH / 2) + tx * 4 + c;
        if (col < Dv) orow[col] = o[i][h * 4 + c] * inv;
      }
    if (tx == 0) LSE[b * Lq + q] = l[i] > 0.f ? (m[i] + log2f(l[i])) * (float)LN2 : -INFINITY;
  }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_fwd_tiled_f32_d32(const float *Q, const float *K, const float *V, float *O, float *LSE, i64 Lq, i64 Lk,
                            i64 D, i64 Dv, i64 nctx, double scale) {
  attn_fwd_tiled<32>(Q, K, V, O, LSE, Lq, Lk, D, Dv, nctx, (float)scale);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_fwd_tiled_f32_d64(const float *Q, const float *K, const float *V, float *O, float *LSE, i64 Lq, i64 Lk,
                            i64 D, i64 Dv, i64 nctx, double scale) {
  attn_fwd_tiled<64>(Q, K, V, O, LSE, Lq, Lk, D, Dv, nctx, (float)scale);
}

// ----------------------------------------------------------------------------------------
// Backward dK/dV, outer-product tiles (fp32, head dims ≤ 64). A block owns 32 keys and loops
// over the queries 32 at a time (FlashAttention-2's key-parallel backward without the dQ
// atomics: dQ comes from attn_bwd_dq, which also writes δ = rowsum(dO ⊙ O) first):
//   S = Q·Kᵀ and dP = dO·Vᵀ (32×32 tiles, each thread 4 queries × 2 keys, head dim inner),
//   P = exp(scale·S − lse), dS = P ⊙ (dP − δ), both through shared memory,
//   dV += Pᵀ·dO and dK += dSᵀ·Q (each thread 4 keys × DH/16 columns, queries inner).
// Keys at or beyond NContext get P = 0 and so exact zeros. 128 threads; shared (DH = 64):
// K and V d-major 2·64×36, Q and dO row-major 2·32×68, P and dS 2·32×36 floats = 45 KB.
#define AB_BQ 32
#define AB_BK 32

template <int DH>
__device__ __forceinline__ void attn_bwd_dkdv_tiled(const float *__restrict__ Q, const float *__restrict__ K,
                                                    const float *__restrict__ V, const float *__restrict__ LSE,
                                                    const float *__restrict__ dO, const float *__restrict__ Delta,
                                                    float *__restrict__ dK, float *__restrict__ dV, i64 Lq, i64 Lk,
                                                    i64 D, i64 Dv, i64 nctx, float scale) {
  constexpr int CW = DH / 16; // dK/dV columns per thread
  __shared__ __align__(16) float Kd[DH][AB_BK + 4];
  __shared__ __align__(16) float Vd[DH][AB_BK + 4];
  __shared__ __align__(16) float Qr[AB_BQ][DH + 4];
  __shared__ __align__(16) float Gr[AB_BQ][DH + 4];
  __shared__ __align__(16) float Ps[AB_BQ][AB_BK + 4];
  __shared__ __align__(16) float Ds[AB_BQ][AB_BK + 4];
  __shared__ float Ls[AB_BQ], Dl[AB_BQ];
  const int tid = threadIdx.x;
  const int sq = tid >> 4, sk = tid & 15; // score layout: queries sq*4.., keys sk*2..
  const int kq = tid >> 4, kc = tid & 15; // gradient layout: keys kq*4.., columns kc*CW..
  const i64 b = blockIdx.y, k0 = (i64)blockIdx.x * AB_BK;
  const i64 nk = nctx < Lk ? nctx : Lk;
  const float *qb = Q + b * Lq * D, *gb = dO + b * Lq * Dv;

  float dk[4][CW], dv[4][CW];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int c = 0; c < CW; ++c) dk[i][c] = dv[i][c] = 0.f;

  if (k0 < nk) { // block-uniform: blocks of masked keys only write zeros
    for (int e = tid; e < AB_BK * DH; e += ATT_THREADS) {
      const int k = e / DH, d = e - k * DH;
      const bool in = k0 + k < nk;
      Kd[d][k] = (in && d < D) ? K[(b * Lk + k0 + k) * D + d] : 0.f;
      Vd[d][k] = (in && d < Dv) ? V[(b * Lk + k0 + k) * Dv + d] : 0.f;
    }
    for (i64 q0 = 0; q0 < Lq; q0 += AB_BQ) {
      __syncthreads(); // K, V loaded; the previous tile's gradient products are done
      for (int e = tid; e < AB_BQ * DH; e += ATT_THREADS) {
        const int q = e / DH, d = e - q * DH;
        const bool in = q0 + q < Lq;
        Qr[q][d] = (in && d < D) ? qb[(q0 + q) * D + d] : 0.f;
        Gr[q][d] = (in && d < Dv) ? gb[(q0 + q) * Dv + d] : 0.f;
      }
      if (tid < AB_BQ) {
        const bool in = q0 + tid < Lq;
        Ls[tid] = in ? LSE[b * Lq + q0 + tid] : -INFINITY;
        Dl[tid] = in ? Delta[b * Lq + q0 + tid] : 0.f;
      }
      __syncthreads();
      float s[4][2], dp[4][2];
#pragma unroll
      for (int i = 0; i < 4; ++i) s[i][0] = s[i][1] = dp[i][0] = dp[i][1] = 0.f;
#pragma unroll 2
      for (int d = 0; d < DH; d += 4) {
        float kx[4][2], vx[4][2];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float2 kk = *reinterpret_cast<const float2 *>(&Kd[d + e][sk * 2]);
          const float2 vv = *reinterpret_cast<const float2 *>(&Vd[d + e][sk * 2]);
          kx[e][0] = kk.x; kx[e][1] = kk.y;
          vx[e][0] = vv.x; vx[e][1] = vv.y;
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float4 qa = *reinterpret_cast<const float4 *>(&Qr[sq * 4 + i][d]);
          const float4 ga = *reinterpret_cast<const float4 *>(&Gr[sq * 4 + i][d]);
          const float qv[4] = {qa.x, qa.y, qa.z, qa.w}, gv[4] = {ga.x, ga.y, ga.z, ga.w};
#pragma unroll
          for (int e = 0; e < 4; ++e)
#pragma unroll
            for (int j = 0; j < 2; ++j) {
              s[i][j] = fmaf(qv[e], kx[e][j], s[i][j]);
              dp[i][j] = fmaf(gv[e], vx[e][j], dp[i][j]);
            }
        }
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int q = sq * 4 + i;
        const float lse = Ls[q], del = Dl[q];
        float p2[2], ds2[2];
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const bool live = k0 + sk * 2 + j < nk && lse > -INFINITY;
          const float p = live ? expf(s[i][j] * scale - lse) : 0.f;
          p2[j] = p;
          ds2[j] = p * (dp[i][j] - del);
        }
        *reinterpret_cast<float2 *>(&Ps[q][sk * 2]) = make_float2(p2[0], p2[1]);
        *reinterpret_cast<float2 *>(&Ds[q][sk * 2]) = make_float2(ds2[0], ds2[1]);
      }
      __syncthreads();
      const int tq = (int)(Lq - q0 < AB_BQ ? Lq - q0 : AB_BQ);
      for (int q = 0; q < tq; ++q) {
        const float4 pa = *reinterpret_cast<const float4 *>(&Ps[q][kq * 4]);
        const float4 da = *reinterpret_cast<const float4 *>(&Ds[q][kq * 4]);
        const float pv[4] = {pa.x, pa.y, pa.z, pa.w}, dv4[4] = {da.x, da.y, da.z, da.w};
        float gq[CW], qq[CW];
#pragma unroll
        for (int c = 0; c < CW; ++c) {
          gq[c] = Gr[q][kc * CW + c];
          qq[c] = Qr[q][kc * CW + c];
        }
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int c = 0; c < CW; ++c) {
            dv[i][c] = fmaf(pv[i], gq[c], dv[i][c]);
            dk[i][c] = fmaf(dv4[i], qq[c], dk[i][c]);
          }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const i64 k = k0 + kq * 4 + i;
    if (k >= Lk) continue;
#pragma unroll
    for (int c = 0; c < CW; ++c) {
      const int col = kc * CW + c;
      if (col < D) dK[(b * Lk + k) * D + col] = dk[i][c] * scale;
      if (col < Dv) dV[(b * Lk + k) * Dv + col] = dv[i][c];
    }
  }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_bwd_dkdv_tiled_f32_d32(const float *Q, const float *K, const float *V, const float *LSE, const float *dO,
                                 const float *Delta, float *dK, float *dV, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx,
                                 double scale) {
  attn_bwd_dkdv_tiled<32>(Q, K, V, LSE, dO, Delta, dK, dV, Lq, Lk, D, Dv, nctx, (float)scale);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_bwd_dkdv_tiled_f32_d64(const float *Q, const float *K, const float *V, const float *LSE, const float *dO,
                                 const float *Delta, float *dK, float *dV, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx,
                                 double scale) {
  attn_bwd_dkdv_tiled<64>(Q, K, V, LSE, dO, Delta, dK, dV, Lq, Lk, D, Dv, nctx, (float)scale);
}

// ----------------------------------------------------------------------------------------
// Backward dQ (and δ), outer-product tiles (fp32, head dims ≤ 64). A block owns 32 queries
// and loops over the context keys 32 at a time: S = Q·Kᵀ and dP = dO·Vᵀ (each thread 4
// queries × 2 keys, head dim inner), dS = P ⊙ (dP − δ) stored key-major in shared memory,
// then dQ += dS·K (each thread 4 queries × DH/16 columns, keys inner). δ = rowsum(dO ⊙ O)
// is computed here first and written out for the dK/dV kernel that runs next.
// 128 threads; shared (DH = 64): Q, dO, K, V row-major 4·32×68 + dSᵀ 32×36 floats = 40 KB.
template <int DH>
__device__ __forceinline__ void attn_bwd_dq_tiled(const float *__restrict__ Q, const float *__restrict__ K,
                                                  const float *__restrict__ V, const float *__restrict__ O,
                                                  const float *__restrict__ LSE, const float *__restrict__ dO,
                                                  float *__restrict__ dQ, float *__restrict__ Delta, i64 Lq, i64 Lk,
                                                  i64 D, i64 Dv, i64 nctx, float scale) {
  constexpr int CW = DH / 16;
  __shared__ __align__(16) float Qr[AB_BQ][DH + 4];
  __shared__ __align__(16) float Gr[AB_BQ][DH + 4];
  __shared__ __align__(16) float Kr[AB_BK][DH + 4];
  __shared__ __align__(16) float Vr[AB_BK][DH + 4];
  __shared__ __align__(16) float DsT[AB_BK][AB_BQ + 4];
  __shared__ float Ls[AB_BQ], Dl[AB_BQ];
  const int tid = threadIdx.x;
  const int sq = tid >> 4, sk = tid & 15; // score layout: queries sq*4.., keys sk*2..
  const int kc = tid & 15;                // gradient layout: queries sq*4.., columns kc*CW..
  const i64 b = blockIdx.y, q0 = (i64)blockIdx.x * AB_BQ;
  const i64 nk = nctx < Lk ? nctx : Lk;
  const float *kb = K + b * Lk * D, *vb = V + b * Lk * Dv;

  for (int e = tid; e < AB_BQ * DH; e += ATT_THREADS) {
    const int q = e / DH, d = e - q * DH;
    const bool in = q0 + q < Lq;
    Qr[q][d] = (in && d < D) ? Q[(b * Lq + q0 + q) * D + d] : 0.f;
    Gr[q][d] = (in && d < Dv) ? dO[(b * Lq + q0 + q) * Dv + d] : 0.f;
  }
  if (tid < AB_BQ) {
    const i64 q = q0 + tid;
    float del = 0.f, lse = -INFINITY;
    if (q < Lq) {
      const float *orow = O + (b * Lq + q) * Dv, *grow = dO + (b * Lq + q) * Dv;
      for (i64 c = 0; c < Dv; ++c) del = fmaf(grow[c], orow[c], del);
      lse = LSE[b * Lq + q];
      Delta[b * Lq + q] = del;
    }
    Dl[tid] = del;
    Ls[tid] = lse;
  }
  float dq[4][CW];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int c = 0; c < CW; ++c) dq[i][c] = 0.f;

  for (i64 k0 = 0; k0 < nk; k0 += AB_BK) {
    __syncthreads(); // Q, dO, δ ready; the previous tile's dQ product is done
    for (int e = tid; e < AB_BK * DH; e += ATT_THREADS) {
      const int k = e / DH, d = e - k * DH;
      const bool in = k0 + k < nk;
      Kr[k][d] = (in && d < D) ? kb[(k0 + k) * D + d] : 0.f;
      Vr[k][d] = (in && d < Dv) ? vb[(k0 + k) * Dv + d] : 0.f;
    }
    __syncthreads();
    float s[4][2], dp[4][2];
#pragma unroll
    for (int i = 0; i < 4; ++i) s[i][0] = s[i][1] = dp[i][0] = dp[i][1] = 0.f;
#pragma unroll 2
    for (int d = 0; d < DH; d += 4) {
      float kx[2][4], vx[2][4];
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const float4 kk = *reinterpret_cast<const float4 *>(&Kr[sk * 2 + j][d]);
        const float4 vv = *reinterpret_cast<const float4 *>(&Vr[sk * 2 + j][d]);
        kx[j][0] = kk.x; kx[j][1] = kk.y; kx[j][2] = kk.z; kx[j][3] = kk.w;
        vx[j][0] = vv.x; vx[j][1] = vv.y; vx[j][2] = vv.z; vx[j][3] = vv.w;
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float4 qa = *reinterpret_cast<const float4 *>(&Qr[sq * 4 + i][d]);
        const float4 ga = *reinterpret_cast<const float4 *>(&Gr[sq * 4 + i][d]);
        const float qv[4] = {qa.x, qa.y, qa.z, qa.w}, gv[4] = {ga.x, ga.y, ga.z, ga.w};
#pragma unroll
        for (int e = 0; e < 4; ++e)
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            s[i][j] = fmaf(qv[e], kx[j][e], s[i][j]);
            dp[i][j] = fmaf(gv[e], vx[j][e], dp[i][j]);
          }
      }
    }
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      float ds4[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float lse = Ls[sq * 4 + i];
        const bool live = k0 + sk * 2 + j < nk && lse > -INFINITY;
        const float p = live ? expf(s[i][j] * scale - lse) : 0.f;
        ds4[i] = p * (dp[i][j] - Dl[sq * 4 + i]);
      }
      *reinterpret_cast<float4 *>(&DsT[sk * 2 + j][sq * 4]) = make_float4(ds4[0], ds4[1], ds4[2], ds4[3]);
    }
    __syncthreads();
    const int tk = (int)(nk - k0 < AB_BK ? nk - k0 : AB_BK);
    for (int k = 0; k < tk; ++k) {
      const float4 da = *reinterpret_cast<const float4 *>(&DsT[k][sq * 4]);
      const float dsv[4] = {da.x, da.y, da.z, da.w};
      float kv[CW];
#pragma unroll
      for (int c = 0; c < CW; ++c) kv[c] = Kr[k][kc * CW + c];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int c = 0; c < CW; ++c) dq[i][c] = fmaf(dsv[i], kv[c], dq[i][c]);
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const i64 q = q0 + sq * 4 + i;
    if (q >= Lq) continue;
#pragma unroll
    for (int c = 0; c < CW; ++c) {
      const int col = kc * CW + c;
      if (col < D) dQ[(b * Lq + q) * D + col] = dq[i][c] * scale;
    }
  }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_bwd_dq_tiled_f32_d32(const float *Q, const float *K, const float *V, const float *O, const float *LSE,
                               const float *dO, float *dQ, float *Delta, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx,
                               double scale) {
  attn_bwd_dq_tiled<32>(Q, K, V, O, LSE, dO, dQ, Delta, Lq, Lk, D, Dv, nctx, (float)scale);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_bwd_dq_tiled_f32_d64(const float *Q, const float *K, const float *V, const float *O, const float *LSE,
                               const float *dO, float *dQ, float *Delta, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx,
                               double scale) {
  attn_bwd_dq_tiled<64>(Q, K, V, O, LSE, dO, dQ, Delta, Lq, Lk, D, Dv, nctx, (float)scale);
}

#define ATT_ARGS_FWD(T)                                                            \
  const T *Q, const T *K, const T *V, T *O, T *LSE, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx, double scale
#define DEF_ATT(sfx, T, DMAX, TPQ, BK)                                             \
  extern "C" __global__ void __launch_bounds__(ATT_THREADS) kiln_attn_fwd_##sfx(ATT_ARGS_FWD(T)) { \
    attn_fwd<T, DMAX, TPQ, BK>(Q, K, V, O, LSE, Lq, Lk, D, Dv, nctx, (T)scale);   \
  }                                                                                \
  extern "C" __global__ void __launch_bounds__(ATT_THREADS)                        \
  kiln_attn_bwd_dq_##sfx(const T *Q, const T *K, const T *V, const T *O, const T *LSE, const T *dO, T *dQ, \
                         T *Delta, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx, double scale) { \
    attn_bwd_dq<T, DMAX, TPQ, BK>(Q, K, V, O, LSE, dO, dQ, Delta, Lq, Lk, D, Dv, nctx, (T)scale); \
  }                                                                                \
  extern "C" __global__ void __launch_bounds__(ATT_THREADS)                        \
  kiln_attn_bwd_dkdv_##sfx(const T *Q, const T *K, const T *V, const T *LSE, const T *dO, const T *Delta, \
                           T *dK, T *dV, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx, double scale) { \
    attn_bwd_dkdv<T, DMAX, TPQ, BK>(Q, K, V, LSE, dO, Delta, dK, dV, Lq, Lk, D, Dv, nctx, (T)scale); \
  }
// Shared memory per block: 2·BK·DMAX·sizeof(T) = 32 KiB in every instantiation.
DEF_ATT(f32_d32, float, 32, 1, 128)
DEF_ATT(f32_d64, float, 64, 2, 64)
DEF_ATT(f32_d128, float, 128, 4, 32)
DEF_ATT(f64_d32, double, 32, 2, 64)
DEF_ATT(f64_d64, double, 64, 4, 32)
DEF_ATT(f64_d128, double, 128, 8, 16)

// ----------------------------------------------------------------------------------------
// Forward on the tensor cores (FlashAttention-2: Dao, "FlashAttention-2: Faster Attention
// with Better Parallelism and Work Partitioning", 2023, Algorithm 1, §3.1-3.3), in two element
// types with the same bfloat16 products:
//   kiln_attn_fwd_fa_bf16_d*: bfloat16 Q, K, V; O and LSE stored in bfloat16, the dtype of
//     the operands, as the Attention interface requires;
//   kiln_attn_fwd_fa_f32_d*: float32 Q, K, V rounded to bfloat16 as they are staged (mixed
//     precision, AttentionParams.Products = BFloat16); O and LSE stored in float32, so that
//     the backward below recomputes P from an exact float32 log-sum-exp.
// Off unless enabled (device/cuda's FABF16Env). Head dims ≤ 32 and ≤ 64 (DH), zero-padded.
//
// Block 128 threads = 4 warps, 64 queries (16 per warp: FA2's split of Q, not of K, across
// warps, so that the softmax statistics never leave a warp); key tiles of 64. Per key tile,
// each warp computes S = Q·Kᵀ (16×64) with mma.sync m16n8k16 (bf16 in, fp32 accumulate), its
// Q fragments held in registers for the whole kernel; applies the context mask (score −inf
// for keys ≥ nContext, whose K and V rows are also zero) and the online softmax in fp32 (each
// query row lives in the 4 lanes of a quad: row maxima by two xor shuffles; the running
// denominator l stays a per-lane partial, rescaled with the shared maximum and summed across
// the quad once at the end, FA2 §3.1); then rounds P to bfloat16 and computes O += P·V. The
// m16n8k16 accumulator of two adjacent 8-key score tiles is exactly the A fragment of one
// 16-key step of P·V (mma.cuh's fragment tables), so P never goes through shared memory.
// l sums the fp32 probabilities (before rounding); O is divided by l once, at the end.
// Shared memory (bf16 as unsigned short, rows padded by 8 halves so that each fragment read
// touches 32 distinct banks): Q 64×(DH+8), K 64×(DH+8) as [key][d] (B of Q·Kᵀ), V transposed
// to [d][key] DH×72 (B of P·V): 27 KiB at DH = 64. Tiles are loaded element by element
// through registers, one buffer: a first version to be measured (no cp.async, no ldmatrix).
#define FA_BQ 64
#define FA_BK 64

__device__ __forceinline__ unsigned fa_word(const unsigned short *p) { return *(const unsigned *)p; }

// fa_a_frag loads this lane's m16n8k16 A fragment (mma.cuh's table) of rows r and r + 8 and
// columns c.. c + 15 of a bfloat16 tile in shared memory, r = 16·warp + lane/4, t = lane%4.
template <int W>
__device__ __forceinline__ void fa_a_frag(unsigned (&a)[4], unsigned short (*s)[W], int r, int c, int t) {
  a[0] = fa_word(&s[r][c + 2 * t]);
  a[1] = fa_word(&s[r + 8][c + 2 * t]);
  a[2] = fa_word(&s[r][c + 2 * t + 8]);
  a[3] = fa_word(&s[r + 8][c + 2 * t + 8]);
}

// fa_acc_frag rounds the float32 accumulators of two adjacent 16×8 tiles (columns 8j.. and
// 8j + 8..) to the bfloat16 A fragment of the 16-deep step over those 16 columns: the
// accumulator's layout is the A fragment's, so scores become the next product's operand
// without leaving registers.
__device__ __forceinline__ void fa_acc_frag(unsigned (&a)[4], const float (&x)[4], const float (&y)[4]) {
  a[0] = pack_bf16x2(x[0], x[1]);
  a[1] = pack_bf16x2(x[2], x[3]);
  a[2] = pack_bf16x2(y[0], y[1]);
  a[3] = pack_bf16x2(y[2], y[3]);
}

// fa_mma_rows sets a warp's 16×8·NS accumulator acc to A·Bᵀ: A is 16 rows of the head
// dimension held as KS A fragments (fa_a_frag), B the NS·8 rows of a bfloat16 tile in shared
// memory stored [row][d] (so that a B fragment's consecutive k are adjacent halves); the
// fp32 scores S = Q·Kᵀ, or dP = dO·Vᵀ.
template <int NS, int KS, int W>
__device__ __forceinline__ void fa_mma_rows(float (&acc)[NS][4], const unsigned (&a)[KS][4], unsigned short (*b)[W],
                                            int g, int t) {
#pragma unroll
  for (int j = 0; j < NS; ++j) {
#pragma unroll
    for (int r = 0; r < 4; ++r) acc[j][r] = 0.f;
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
      const unsigned bf[2] = {fa_word(&b[8 * j + g][16 * ks + 2 * t]), fa_word(&b[8 * j + g][16 * ks + 2 * t + 8])};
      mma_bf16_16x8x16(acc[j], a[ks], bf);
    }
  }
}

// fa_mma_acc adds to a warp's 16×8·NO accumulator acc the product of the A fragment made of x
// and y (fa_acc_frag: its 16 rows by 16 columns 16·kk..) and rows 16·kk.. of a tile stored
// transposed in shared memory (bt[column][row], so that a B fragment's consecutive k are
// adjacent halves).
template <int NO, int W>
__device__ __forceinline__ void fa_mma_acc(float (&acc)[NO][4], const float (&x)[4], const float (&y)[4],
                                           unsigned short (*bt)[W], int kk, int g, int t) {
  unsigned a[4];
  fa_acc_frag(a, x, y);
#pragma unroll
  for (int n = 0; n < NO; ++n) {
    const unsigned b[2] = {fa_word(&bt[8 * n + g][16 * kk + 2 * t]), fa_word(&bt[8 * n + g][16 * kk + 2 * t + 8])};
    mma_bf16_16x8x16(acc[n], a, b);
  }
}

// fa_in gives an operand's bfloat16 bits (a float32 operand rounded to nearest, ties to
// even); fa_out stores a float32 result in the element type.
__device__ __forceinline__ unsigned short fa_in(kbf16 x) { return x.bits; }
__device__ __forceinline__ unsigned short fa_in(float x) { return bf16_from_f32(x); }
__device__ __forceinline__ void fa_out(kbf16 &y, float v) { y.bits = bf16_from_f32(v); }
__device__ __forceinline__ void fa_out(float &y, float v) { y = v; }

template <int DH, typename T>
__device__ __forceinline__ void attn_fwd_fa(const T *__restrict__ Q, const T *__restrict__ K,
                                            const T *__restrict__ V, T *__restrict__ O, T *__restrict__ LSE,
                                            i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx, float scale) {
  constexpr int KS = DH / 16;    // 16-wide k steps of Q·Kᵀ
  constexpr int NO = DH / 8;     // 8-wide column tiles of O
  constexpr int NS = FA_BK / 8;  // 8-wide key tiles of S
  __shared__ __align__(16) unsigned short Qs[FA_BQ][DH + 8];
  __shared__ __align__(16) unsigned short Ks[FA_BK][DH + 8];
  __shared__ __align__(16) unsigned short Vt[DH][FA_BK + 8];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4;
  const i64 b = blockIdx.y, q0 = (i64)blockIdx.x * FA_BQ;
  const T *qb = Q + b * Lq * D, *kb = K + b * Lk * D, *vb = V + b * Lk * Dv;
  const i64 nk = nctx < Lk ? nctx : Lk;
  const float sl = scale * (float)LOG2E; // scores in the log2 domain

  for (int e = tid; e < FA_BQ * DH; e += ATT_THREADS) {
    const int r = e / DH, d = e - r * DH;
    Qs[r][d] = (q0 + r < Lq && d < D) ? fa_in(qb[(q0 + r) * D + d]) : (unsigned short)0;
  }
  __syncthreads();
  const int wr = warp * 16 + g; // this lane's rows: wr and wr + 8 of the block
  unsigned qf[KS][4];
#pragma unroll
  for (int ks = 0; ks < KS; ++ks) {
    fa_a_frag(qf[ks], Qs, wr, 16 * ks, t);
  }
  float o[NO][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
  for (int n = 0; n < NO; ++n)
#pragma unroll
    for (int r = 0; r < 4; ++r) o[n][r] = 0.f;

  for (i64 k0 = 0; k0 < nk; k0 += FA_BK) {
    __syncthreads(); // every warp is done with the previous tile
    for (int e = tid; e < FA_BK * DH; e += ATT_THREADS) {
      const int k = e / DH, d = e - k * DH;
      const bool in = k0 + k < nk;
      Ks[k][d] = (in && d < D) ? fa_in(kb[(k0 + k) * D + d]) : (unsigned short)0;
      Vt[d][k] = (in && d < Dv) ? fa_in(vb[(k0 + k) * Dv + d]) : (unsigned short)0;
    }
    __syncthreads();
    float s[NS][4];
    fa_mma_rows(s, qf, Ks, g, t);
    // The context mask, then the new row maxima (s[j][r] is row wr + 8·(r/2), key 8j + 2t + r%2).
    const int tk = (int)(nk - k0 < FA_BK ? nk - k0 : FA_BK);
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const float v = (8 * j + 2 * t + r % 2 < tk) ? s[j][r] * sl : -INFINITY;
        s[j][r] = v;
        mx[r / 2] = fmaxf(mx[r / 2], v);
      }
    float corr[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      corr[h] = exp2f(m[h] - mx[h]); // 0 on the first tile (m = −inf; every tile has a live key)
      m[h] = mx[h];
      l[h] *= corr[h];
    }
#pragma unroll
    for (int n = 0; n < NO; ++n)
#pragma unroll
      for (int r = 0; r < 4; ++r) o[n][r] *= corr[r / 2];
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const float p = exp2f(s[j][r] - mx[r / 2]);
        s[j][r] = p;
        l[r / 2] += p;
      }
    // O += P·V, 16 keys per step: score tiles 2kk and 2kk+1 are the A fragment.
#pragma unroll
    for (int kk = 0; kk < FA_BK / 16; ++kk) {
      fa_mma_acc(o, s[2 * kk], s[2 * kk + 1], Vt, kk, g, t);
    }
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    const i64 q = q0 + wr + 8 * h;
    if (q >= Lq) continue;
    const float inv = l[h] > 0.f ? 1.f / l[h] : 0.f;
    T *orow = O + (b * Lq + q) * Dv;
#pragma unroll
    for (int n = 0; n < NO; ++n)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int col = 8 * n + 2 * t + c;
        if (col < Dv) fa_out(orow[col], o[n][2 * h + c] * inv);
      }
    if (t == 0) fa_out(LSE[b * Lq + q], l[h] > 0.f ? (m[h] + log2f(l[h])) * (float)LN2 : -INFINITY);
  }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_fwd_fa_bf16_d32(const kbf16 *Q, const kbf16 *K, const kbf16 *V, kbf16 *O, kbf16 *LSE, i64 Lq, i64 Lk, i64 D,
                          i64 Dv, i64 nctx, double scale) {
  attn_fwd_fa<32>(Q, K, V, O, LSE, Lq, Lk, D, Dv, nctx, (float)scale);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_fwd_fa_bf16_d64(const kbf16 *Q, const kbf16 *K, const kbf16 *V, kbf16 *O, kbf16 *LSE, i64 Lq, i64 Lk, i64 D,
                          i64 Dv, i64 nctx, double scale) {
  attn_fwd_fa<64>(Q, K, V, O, LSE, Lq, Lk, D, Dv, nctx, (float)scale);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_fwd_fa_f32_d32(const float *Q, const float *K, const float *V, float *O, float *LSE, i64 Lq, i64 Lk, i64 D,
                         i64 Dv, i64 nctx, double scale) {
  attn_fwd_fa<32>(Q, K, V, O, LSE, Lq, Lk, D, Dv, nctx, (float)scale);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_fwd_fa_f32_d64(const float *Q, const float *K, const float *V, float *O, float *LSE, i64 Lq, i64 Lk, i64 D,
                         i64 Dv, i64 nctx, double scale) {
  attn_fwd_fa<64>(Q, K, V, O, LSE, Lq, Lk, D, Dv, nctx, (float)scale);
}

// ----------------------------------------------------------------------------------------
// Backward on the tensor cores, mixed precision (FlashAttention-2, Algorithm 2, with dQ
// computed by its own query-parallel kernel instead of atomics, as the float32 kernels above
// do). Float32 Q, K, V, O, dO and LSE (the forward's, exact in float32); the operands of the
// five products (S = Q·Kᵀ, dP = dO·Vᵀ, dV = Pᵀ·dO, dK = dSᵀ·Q, dQ = dS·K) are rounded to
// bfloat16 and multiplied by mma.sync m16n8k16 with float32 accumulation; P = exp(S·scale −
// lse), δ = rowsum(dO ⊙ O) and dS = P ⊙ (dP − δ) are float32 (Micikevicius et al., "Mixed
// Precision Training", ICLR 2018: 16-bit products, 32-bit softmax statistics). Gradients are
// float32. δ takes dO as rounded for the products, so that Σⱼ dSᵢⱼ stays the exact softmax
// Jacobian's zero for the rounded dO.
//
// Both kernels use 128 threads = 4 warps of 16 rows (queries for dQ, keys for dK/dV), 64 rows
// per block, and loop over the other side in tiles of 64. The row side's operands are A
// fragments held in registers for the whole kernel (staged through the shared tiles once);
// the accumulator of two adjacent 8-column score tiles is the A fragment of one 16-deep step
// of the second product (as P in the forward), so P and dS never leave registers. The second
// products' B operands need the looped side transposed ([d][row]); it is stored both ways
// in shared memory (padded by 8 halves: conflict-free fragment reads).
//
// attn_bwd_dq_fa: per key tile, S = Q·Kᵀ and dP = dO·Vᵀ (16×64 per warp), P and dS, then
//   dQ += dS·K. Writes dQ·scale and δ. Shared (DH = 64): K and V [key][d], Kᵀ [d][key]:
//   3·64·72 halves = 27 KiB.
// attn_bwd_dkdv_fa: per query tile, Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ (16 keys × 64 queries per
//   warp), Pᵀ and dSᵀ, then dV += Pᵀ·dO and dK += dSᵀ·Q. Keys at or beyond NContext get
//   P = 0 and so exact zeros. Shared (DH = 64): Q and dO [q][d] and [d][q], lse and δ:
//   36.5 KiB.
template <int DH>
__device__ __forceinline__ void attn_bwd_dq_fa(const float *__restrict__ Q, const float *__restrict__ K,
                                               const float *__restrict__ V, const float *__restrict__ O,
                                               const float *__restrict__ LSE, const float *__restrict__ dO,
                                               float *__restrict__ dQ, float *__restrict__ Delta, i64 Lq, i64 Lk,
                                               i64 D, i64 Dv, i64 nctx, float scale) {
  constexpr int KS = DH / 16;   // 16-deep steps over the head dimension
  constexpr int NO = DH / 8;    // 8-wide column tiles of dQ
  constexpr int NS = FA_BK / 8; // 8-wide key tiles of S and dP
  __shared__ __align__(16) unsigned short Ks[FA_BK][DH + 8]; // first Q, then key tiles
  __shared__ __align__(16) unsigned short Vs[FA_BK][DH + 8]; // first dO, then value tiles
  __shared__ __align__(16) unsigned short Kt[DH][FA_BK + 8];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4;
  const i64 b = blockIdx.y, q0 = (i64)blockIdx.x * FA_BQ;
  const float *qb = Q + b * Lq * D, *gb = dO + b * Lq * Dv, *ob = O + b * Lq * Dv;
  const float *kb = K + b * Lk * D, *vb = V + b * Lk * Dv;
  const i64 nk = nctx < Lk ? nctx : Lk;
  const float sl = scale * (float)LOG2E;

  for (int e = tid; e < FA_BQ * DH; e += ATT_THREADS) {
    const int r = e / DH, d = e - r * DH;
    const bool in = q0 + r < Lq;
    Ks[r][d] = (in && d < D) ? bf16_from_f32(qb[(q0 + r) * D + d]) : (unsigned short)0;
    Vs[r][d] = (in && d < Dv) ? bf16_from_f32(gb[(q0 + r) * Dv + d]) : (unsigned short)0;
  }
  __syncthreads();
  const int wr = warp * 16 + g; // this lane's rows: wr and wr + 8 of the block
  unsigned qf[KS][4], gf[KS][4];
#pragma unroll
  for (int ks = 0; ks < KS; ++ks) {
    fa_a_frag(qf[ks], Ks, wr, 16 * ks, t);
    fa_a_frag(gf[ks], Vs, wr, 16 * ks, t);
  }
  // δ and lse (log2 domain) of rows wr and wr + 8; the quad's 4 lanes split the columns.
  float del[2], lse2[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const i64 q = q0 + wr + 8 * h;
    float acc = 0.f;
#pragma unroll
    for (int c = t; c < DH; c += 4)
      if (q < Lq && c < Dv) acc = fmaf(bf16_to_f32(Vs[wr + 8 * h][c]), ob[q * Dv + c], acc);
    acc += __shfl_xor_sync(0xffffffffu, acc, 1);
    acc += __shfl_xor_sync(0xffffffffu, acc, 2);
    del[h] = acc;
    lse2[h] = q < Lq ? LSE[b * Lq + q] * (float)LOG2E : -INFINITY;
    if (q < Lq && t == 0) Delta[b * Lq + q] = acc;
  }
  float dq[NO][4];
#pragma unroll
  for (int n = 0; n < NO; ++n)
#pragma unroll
    for (int r = 0; r < 4; ++r) dq[n][r] = 0.f;

  for (i64 k0 = 0; k0 < nk; k0 += FA_BK) {
    __syncthreads(); // the fragments are loaded; every warp is done with the previous tile
    for (int e = tid; e < FA_BK * DH; e += ATT_THREADS) {
      const int k = e / DH, d = e - k * DH;
      const bool in = k0 + k < nk;
      const unsigned short kv = (in && d < D) ? bf16_from_f32(kb[(k0 + k) * D + d]) : (unsigned short)0;
      Ks[k][d] = kv;
      Kt[d][k] = kv;
      Vs[k][d] = (in && d < Dv) ? bf16_from_f32(vb[(k0 + k) * Dv + d]) : (unsigned short)0;
    }
    __syncthreads();
    float s[NS][4], dp[NS][4];
    fa_mma_rows(s, qf, Ks, g, t);
    fa_mma_rows(dp, gf, Vs, g, t);
    // P and dS in place of S (s[j][r]: row wr + 8·(r/2), key 8j + 2t + r%2).
    const int tk = (int)(nk - k0 < FA_BK ? nk - k0 : FA_BK);
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const bool live = 8 * j + 2 * t + r % 2 < tk && lse2[r / 2] > -INFINITY;
        const float p = live ? exp2f(s[j][r] * sl - lse2[r / 2]) : 0.f;
        s[j][r] = p * (dp[j][r] - del[r / 2]);
      }
    // dQ += dS·K, 16 keys per step.
#pragma unroll
    for (int kk = 0; kk < FA_BK / 16; ++kk) {
      fa_mma_acc(dq, s[2 * kk], s[2 * kk + 1], Kt, kk, g, t);
    }
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const i64 q = q0 + wr + 8 * h;
    if (q >= Lq) continue;
    float *row = dQ + (b * Lq + q) * D;
#pragma unroll
    for (int n = 0; n < NO; ++n)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int col = 8 * n + 2 * t + c;
        if (col < D) row[col] = dq[n][2 * h + c] * scale;
      }
  }
}

template <int DH>
__device__ __forceinline__ void attn_bwd_dkdv_fa(const float *__restrict__ Q, const float *__restrict__ K,
                                                 const float *__restrict__ V, const float *__restrict__ LSE,
                                                 const float *__restrict__ dO, const float *__restrict__ Delta,
                                                 float *__restrict__ dK, float *__restrict__ dV, i64 Lq, i64 Lk,
                                                 i64 D, i64 Dv, i64 nctx, float scale) {
  constexpr int KS = DH / 16;
  constexpr int NO = DH / 8;    // 8-wide column tiles of dK and dV
  constexpr int NS = FA_BQ / 8; // 8-wide query tiles of Sᵀ and dPᵀ
  __shared__ __align__(16) unsigned short Qs[FA_BQ][DH + 8]; // first K, then query tiles
  __shared__ __align__(16) unsigned short Gs[FA_BQ][DH + 8]; // first V, then dO tiles
  __shared__ __align__(16) unsigned short Qt[DH][FA_BQ + 8];
  __shared__ __align__(16) unsigned short Gt[DH][FA_BQ + 8];
  __shared__ float Ls[FA_BQ], Dl[FA_BQ];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4;
  const i64 b = blockIdx.y, k0 = (i64)blockIdx.x * FA_BK;
  const float *qb = Q + b * Lq * D, *gb = dO + b * Lq * Dv;
  const float *kb = K + b * Lk * D, *vb = V + b * Lk * Dv;
  const i64 nk = nctx < Lk ? nctx : Lk;
  const float sl = scale * (float)LOG2E;
  const int wk = warp * 16 + g; // this lane's keys: wk and wk + 8 of the block

  float dk[NO][4], dv[NO][4];
#pragma unroll
  for (int n = 0; n < NO; ++n)
#pragma unroll
    for (int r = 0; r < 4; ++r) dk[n][r] = dv[n][r] = 0.f;

  if (k0 < nk) { // block-uniform: blocks of masked keys only write zeros
    for (int e = tid; e < FA_BK * DH; e += ATT_THREADS) {
      const int k = e / DH, d = e - k * DH;
      const bool in = k0 + k < nk;
      Qs[k][d] = (in && d < D) ? bf16_from_f32(kb[(k0 + k) * D + d]) : (unsigned short)0;
      Gs[k][d] = (in && d < Dv) ? bf16_from_f32(vb[(k0 + k) * Dv + d]) : (unsigned short)0;
    }
    __syncthreads();
    unsigned kf[KS][4], vf[KS][4];
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
      fa_a_frag(kf[ks], Qs, wk, 16 * ks, t);
      fa_a_frag(vf[ks], Gs, wk, 16 * ks, t);
    }
    const bool live0 = k0 + wk < nk, live1 = k0 + wk + 8 < nk; // rows r/2 = 0, 1
    for (i64 q0 = 0; q0 < Lq; q0 += FA_BQ) {
      __syncthreads(); // the fragments are loaded; every warp is done with the previous tile
      for (int e = tid; e < FA_BQ * DH; e += ATT_THREADS) {
        const int q = e / DH, d = e - q * DH;
        const bool in = q0 + q < Lq;
        const unsigned short qv = (in && d < D) ? bf16_from_f32(qb[(q0 + q) * D + d]) : (unsigned short)0;
        const unsigned short gv = (in && d < Dv) ? bf16_from_f32(gb[(q0 + q) * Dv + d]) : (unsigned short)0;
        Qs[q][d] = qv;
        Qt[d][q] = qv;
        Gs[q][d] = gv;
        Gt[d][q] = gv;
      }
      if (tid < FA_BQ) {
        const bool in = q0 + tid < Lq;
        Ls[tid] = in ? LSE[b * Lq + q0 + tid] * (float)LOG2E : -INFINITY;
        Dl[tid] = in ? Delta[b * Lq + q0 + tid] : 0.f;
      }
      __syncthreads();
      float s[NS][4], dp[NS][4];
      fa_mma_rows(s, kf, Qs, g, t);
      fa_mma_rows(dp, vf, Gs, g, t);
      // Pᵀ into s and dSᵀ into dp (s[j][r]: key wk + 8·(r/2), query 8j + 2t + r%2).
#pragma unroll
      for (int j = 0; j < NS; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const int q = 8 * j + 2 * t + r % 2;
          const float lse = Ls[q];
          const bool live = (r < 2 ? live0 : live1) && lse > -INFINITY;
          const float p = live ? exp2f(s[j][r] * sl - lse) : 0.f;
          s[j][r] = p;
          dp[j][r] = p * (dp[j][r] - Dl[q]);
        }
      // dV += Pᵀ·dO and dK += dSᵀ·Q, 16 queries per step.
#pragma unroll
      for (int kk = 0; kk < FA_BQ / 16; ++kk) {
        fa_mma_acc(dv, s[2 * kk], s[2 * kk + 1], Gt, kk, g, t);
        fa_mma_acc(dk, dp[2 * kk], dp[2 * kk + 1], Qt, kk, g, t);
      }
    }
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const i64 k = k0 + wk + 8 * h;
    if (k >= Lk) continue;
    float *krow = dK + (b * Lk + k) * D, *vrow = dV + (b * Lk + k) * Dv;
#pragma unroll
    for (int n = 0; n < NO; ++n)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int col = 8 * n + 2 * t + c;
        if (col < D) krow[col] = dk[n][2 * h + c] * scale;
        if (col < Dv) vrow[col] = dv[n][2 * h + c];
      }
  }
}

extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_bwd_dq_fa_f32_d32(const float *Q, const float *K, const float *V, const float *O, const float *LSE,
                            const float *dO, float *dQ, float *Delta, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx,
                            double scale) {
  attn_bwd_dq_fa<32>(Q, K, V, O, LSE, dO, dQ, Delta, Lq, Lk, D, Dv, nctx, (float)scale);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_bwd_dq_fa_f32_d64(const float *Q, const float *K, const float *V, const float *O, const float *LSE,
                            const float *dO, float *dQ, float *Delta, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx,
                            double scale) {
  attn_bwd_dq_fa<64>(Q, K, V, O, LSE, dO, dQ, Delta, Lq, Lk, D, Dv, nctx, (float)scale);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_bwd_dkdv_fa_f32_d32(const float *Q, const float *K, const float *V, const float *LSE, const float *dO,
                              const float *Delta, float *dK, float *dV, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx,
                              double scale) {
  attn_bwd_dkdv_fa<32>(Q, K, V, LSE, dO, Delta, dK, dV, Lq, Lk, D, Dv, nctx, (float)scale);
}
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
kiln_attn_bwd_dkdv_fa_f32_d64(const float *Q, const float *K, const float *V, const float *LSE, const float *dO,
                              const float *Delta, float *dK, float *dV, i64 Lq, i64 Lk, i64 D, i64 Dv, i64 nctx,
                              double scale) {
  attn_bwd_dkdv_fa<64>(Q, K, V, LSE, dO, Delta, dK, dV, Lq, Lk, D, Dv, nctx, (float)scale);
}
