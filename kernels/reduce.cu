// reduce.cu: reductions of the middle axis of a contiguous [outer, n, inner] view.
//
// CPU reference: device/cpu (*Device).Reduce.
//
// Two shapes of work:
//   - inner == 1 (reduce each row): one warp per row; lanes stride over the row (coalesced),
//     then a butterfly shuffle tree combines the 32 partials. No shared memory.
//   - inner > 1 (reduce a column set): a block of 32×8 threads covers 32 consecutive inner
//     columns (coalesced across x) and splits n over 8 rows of threads (y); the 8 partials
//     meet in shared memory. blockIdx.y walks outer.
// Split reductions: when the outputs are few and n is long (a bias gradient summed over 10^5
// tokens, the squared norm of one parameter tensor), those shapes leave most of the GPU idle
// and each thread walks a long chain of loads. The host then cuts n into `splits` chunks: the
// same kernels reduce each (output, chunk) pair into part[o][s][i], and a second launch with
// splits = 1 reduces part over s (with the plain sum for sum_squares). Chunks and the combine
// order are fixed, so results stay deterministic.
// Sums of float32 accumulate in float32 along a tree: the error grows with log n, not n.
#include "common.cuh"

enum { R_SUM, R_MAX, R_MIN, R_SUMSQ };

template <typename T> __device__ __forceinline__ T red_init(int op) {
  if (op == R_MAX) return -kinf<T>();
  if (op == R_MIN) return kinf<T>();
  return (T)0;
}
template <typename T> __device__ __forceinline__ T red_step(int op, T acc, T x) {
  switch (op) {
  case R_MAX: return kmax(acc, x);
  case R_MIN: return kmin(acc, x);
  case R_SUMSQ: return acc + x * x;
  }
  return acc + x;
}
template <typename T> __device__ __forceinline__ T red_combine(int op, T a, T b) {
  if (op == R_MAX) return kmax(a, b);
  if (op == R_MIN) return kmin(a, b);
  return a + b;
}
template <typename T> __device__ __forceinline__ T red_warp(int op, T v) {
  if (op == R_MAX) return warp_max(v);
  if (op == R_MIN) return warp_min(v);
  return warp_sum(v);
}

// Rows: grid-stride over (row, chunk) pairs, one warp each; block = 256 threads = 8 warps.
// y[row·splits + s] reduces x[row, s·chunk : min(n, (s+1)·chunk)] with chunk = ⌈n/splits⌉.
template <typename T>
__device__ void reduce_rows(int op, const T *__restrict__ x, i64 outer, i64 n, i64 splits, T *__restrict__ y) {
  const int lane = threadIdx.x & 31;
  const i64 warps = (i64)gridDim.x * (blockDim.x >> 5);
  const i64 chunk = (n + splits - 1) / splits;
  for (i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < outer * splits; r += warps) {
    const i64 row = r / splits, j0 = (r % splits) * chunk, j1 = j0 + chunk < n ? j0 + chunk : n;
    const T *p = x + row * n;
    T acc = red_init<T>(op);
    for (i64 j = j0 + lane; j < j1; j += 32) acc = red_step(op, acc, p[j]);
    acc = red_warp(op, acc);
    if (lane == 0) y[r] = acc;
  }
}

// Columns: block (32, 8); grid (ceil(inner/32), min(outer·splits, 65535)).
// y[(o·splits + s)·inner + i] reduces x[o, s·chunk : min(n, (s+1)·chunk), i].
template <typename T>
__device__ void reduce_cols(int op, const T *__restrict__ x, i64 outer, i64 n, i64 inner, i64 splits,
                            T *__restrict__ y) {
  __shared__ T part[8][33];
  const i64 col = (i64)blockIdx.x * 32 + threadIdx.x;
  const i64 chunk = (n + splits - 1) / splits;
  for (i64 os = blockIdx.y; os < outer * splits; os += gridDim.y) {
    const i64 o = os / splits, j0 = (os % splits) * chunk, j1 = j0 + chunk < n ? j0 + chunk : n;
    T acc = red_init<T>(op);
    if (col < inner) {
      const T *p = x + o * n * inner + col;
      for (i64 j = j0 + threadIdx.y; j < j1; j += 8) acc = red_step(op, acc, p[j * inner]);
    }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < inner) {
      T r = part[0][threadIdx.x];
#pragma unroll
      for (int k = 1; k < 8; ++k) r = red_combine(op, r, part[k][threadIdx.x]);
      y[os * inner + col] = r;
    }
    __syncthreads();
  }
}

extern "C" __global__ void kiln_reduce_rows_f32(i64 op, const float *x, i64 outer, i64 n, i64 splits, float *y) {
  reduce_rows<float>((int)op, x, outer, n, splits, y);
}
extern "C" __global__ void kiln_reduce_rows_f64(i64 op, const double *x, i64 outer, i64 n, i64 splits, double *y) {
  reduce_rows<double>((int)op, x, outer, n, splits, y);
}
extern "C" __global__ void kiln_reduce_cols_f32(i64 op, const float *x, i64 outer, i64 n, i64 inner, i64 splits,
                                                float *y) {
  reduce_cols<float>((int)op, x, outer, n, inner, splits, y);
}
extern "C" __global__ void kiln_reduce_cols_f64(i64 op, const double *x, i64 outer, i64 n, i64 inner, i64 splits,
                                                double *y) {
  reduce_cols<double>((int)op, x, outer, n, inner, splits, y);
}
