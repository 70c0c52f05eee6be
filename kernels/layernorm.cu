// layernorm.cu: layer normalisation forward and backward (Ba, Kiros and Hinton, "Layer
// Normalization", 2016).
//
// CPU references: device/cpu (*Device).LayerNorm and (*Device).LayerNormBackward.
//
// Forward: one warp per row. Two passes (mean, then Σ(x−μ)²) rather than Σx² − μ², which
// cancels catastrophically when |μ| ≫ σ. y = (x−μ)·rstd·γ + β; mean and rstd are stored.
// Backward, per row (warp), with x̂ = (x−μ)·rstd and g = dy·γ:
//   dx = rstd · (g − mean(g) − x̂ · mean(g·x̂))
// and per column (a separate kernel, deterministic, no atomics): dγ = Σ_rows dy·x̂,
// dβ = Σ_rows dy, computed by a 32×8 block per 32 columns and chunk of rows like reduce.cu's
// column reduction (split into partials when the rows are many and the columns few).
#include "common.cuh"

template <typename T>
__device__ void layernorm_fwd(const T *__restrict__ x, const T *__restrict__ gamma,
                              const T *__restrict__ beta, T *__restrict__ y, T *__restrict__ mean,
                              T *__restrict__ rstd, i64 rows, i64 cols, T eps) {
  const int lane = threadIdx.x & 31;
  const i64 warps = (i64)gridDim.x * (blockDim.x >> 5);
  for (i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    const T *p = x + r * cols;
    T *q = y + r * cols;
    T s = 0;
    for (i64 j = lane; j < cols; j += 32) s += p[j];
    const T mu = warp_sum(s) / (T)cols;
    T v = 0;
    for (i64 j = lane; j < cols; j += 32) {
      const T d = p[j] - mu;
      v += d * d;
    }
    const T rs = (T)1 / ksqrt(warp_sum(v) / (T)cols + eps);
    for (i64 j = lane; j < cols; j += 32) {
      T h = (p[j] - mu) * rs;
      if (gamma) h *= gamma[j];
      if (beta) h += beta[j];
      q[j] = h;
    }
    if (lane == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

template <typename T>
__device__ void layernorm_bwd_dx(const T *__restrict__ x, const T *__restrict__ gamma,
                                 const T *__restrict__ mean, const T *__restrict__ rstd,
                                 const T *__restrict__ dy, T *__restrict__ dx, i64 rows, i64 cols) {
  const int lane = threadIdx.x & 31;
  const i64 warps = (i64)gridDim.x * (blockDim.x >> 5);
  for (i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    const T *p = x + r * cols, *pd = dy + r * cols;
    T *px = dx + r * cols;
    const T mu = mean[r], rs = rstd[r];
    T sg = 0, sgx = 0;
    for (i64 j = lane; j < cols; j += 32) {
      const T g = gamma ? pd[j] * gamma[j] : pd[j];
      sg += g;
      sgx += g * (p[j] - mu) * rs;
    }
    sg = warp_sum(sg) / (T)cols;
    sgx = warp_sum(sgx) / (T)cols;
    for (i64 j = lane; j < cols; j += 32) {
      const T g = gamma ? pd[j] * gamma[j] : pd[j];
      px[j] = rs * (g - sg - (p[j] - mu) * rs * sgx);
    }
  }
}

// Block (32, 8), grid (ceil(cols/32), splits). Either output may be null. Block (·, s) sums
// rows s·chunk … min(rows, (s+1)·chunk) − 1 (chunk = ⌈rows/splits⌉) into dgamma[s·cols + c] and
// dbeta[s·cols + c]; with splits > 1 these are partials that reduce.cu's column reduction sums
// (a few column blocks over 10^5 rows would leave the GPU idle; see reduce.cu).
template <typename T>
__device__ void layernorm_bwd_params(const T *__restrict__ x, const T *__restrict__ mean,
                                     const T *__restrict__ rstd, const T *__restrict__ dy,
                                     T *__restrict__ dgamma, T *__restrict__ dbeta, i64 rows, i64 cols,
                                     i64 splits) {
  __shared__ T pg[8][33], pb[8][33];
  const i64 col = (i64)blockIdx.x * 32 + threadIdx.x;
  const i64 chunk = (rows + splits - 1) / splits;
  const i64 r0 = (i64)blockIdx.y * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
  T ag = 0, ab = 0;
  if (col < cols) {
    for (i64 r = r0 + threadIdx.y; r < r1; r += 8) {
      const T d = dy[r * cols + col];
      ab += d;
      ag += d * (x[r * cols + col] - mean[r]) * rstd[r];
    }
  }
  pg[threadIdx.y][threadIdx.x] = ag;
  pb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    T g = 0, b = 0;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      g += pg[k][threadIdx.x];
      b += pb[k][threadIdx.x];
    }
    if (dgamma) dgamma[blockIdx.y * cols + col] = g;
    if (dbeta) dbeta[blockIdx.y * cols + col] = b;
  }
}

#define DEF_LN(sfx, T)                                                             \
  extern "C" __global__ void kiln_layernorm_##sfx(const T *x, const T *gamma, const T *beta, T *y, \
                                                  T *mean, T *rstd, i64 rows, i64 cols, double eps) { \
    layernorm_fwd<T>(x, gamma, beta, y, mean, rstd, rows, cols, (T)eps);           \
  }                                                                                \
  extern "C" __global__ void kiln_layernorm_bwd_dx_##sfx(const T *x, const T *gamma, const T *mean, \
                                                         const T *rstd, const T *dy, T *dx, i64 rows, i64 cols) { \
    layernorm_bwd_dx<T>(x, gamma, mean, rstd, dy, dx, rows, cols);                 \
  }                                                                                \
  extern "C" __global__ void kiln_layernorm_bwd_params_##sfx(const T *x, const T *mean, const T *rstd, \
                                                             const T *dy, T *dgamma, T *dbeta, i64 rows, i64 cols, \
                                                             i64 splits) { \
    layernorm_bwd_params<T>(x, mean, rstd, dy, dgamma, dbeta, rows, cols, splits); \
  }
DEF_LN(f32, float)
DEF_LN(f64, double)
