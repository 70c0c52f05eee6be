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

// Rows: grid-stride over rows, one warp each; block = 256 threads = 8 warps.
template <typename T>
__device__ void reduce_rows(int op, const T *__restrict__ x, i64 outer, i64 n, T *__restrict__ y) {
  const int lane = threadIdx.x & 31;
  const i64 warps = (i64)gridDim.x * (blockDim.x >> 5);
  for (i64 row = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); row < outer; row += warps) {
    const T *p = x + row * n;
    T acc = red_init<T>(op);
    for (i64 j = lane; j < n; j += 32) acc = red_step(op, acc, p[j]);
    acc = red_warp(op, acc);
    if (lane == 0) y[row] = acc;
  }
}

// Columns: block (32, 8); grid (ceil(inner/32), min(outer, 65535)).
template <typename T>
__device__ void reduce_cols(int op, const T *__restrict__ x, i64 outer, i64 n, i64 inner,
                            T *__restrict__ y) {
  __shared__ T part[8][33];
  const i64 col = (i64)blockIdx.x * 32 + threadIdx.x;
  for (i64 o = blockIdx.y; o < outer; o += gridDim.y) {
    T acc = red_init<T>(op);
    if (col < inner) {
      const T *p = x + o * n * inner + col;
      for (i64 j = threadIdx.y; j < n; j += 8) acc = red_step(op, acc, p[j * inner]);
    }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < inner) {
      T r = part[0][threadIdx.x];
#pragma unroll
      for (int k = 1; k < 8; ++k) r = red_combine(op, r, part[k][threadIdx.x]);
      y[o * inner + col] = r;
    }
    __syncthreads();
  }
}

extern "C" __global__ void kiln_reduce_rows_f32(i64 op, const float *x, i64 outer, i64 n, float *y) {
  reduce_rows<float>((int)op, x, outer, n, y);
}
extern "C" __global__ void kiln_reduce_rows_f64(i64 op, const double *x, i64 outer, i64 n, double *y) {
  reduce_rows<double>((int)op, x, outer, n, y);
}
extern "C" __global__ void kiln_reduce_cols_f32(i64 op, const float *x, i64 outer, i64 n, i64 inner, float *y) {
  reduce_cols<float>((int)op, x, outer, n, inner, y);
}
extern "C" __global__ void kiln_reduce_cols_f64(i64 op, const double *x, i64 outer, i64 n, i64 inner, double *y) {
  reduce_cols<double>((int)op, x, outer, n, inner, y);
}
