// softmax.cu: row-wise softmax / log-softmax of a contiguous rows×cols matrix and the
// backward passes.
//
// CPU references: device/cpu (*Device).Softmax and (*Device).SoftmaxBackward.
//
// One warp per row, grid-stride over rows (block = 256 threads = 8 rows in flight). The
// forward makes three passes over the row (max, Σexp, write), all reading the same cache
// lines; max-subtraction keeps exp from overflowing (the standard stable softmax).
#include "common.cuh"

template <typename T>
__device__ void softmax_fwd(const T *__restrict__ x, T *__restrict__ y, i64 rows, i64 cols, bool lg) {
  const int lane = threadIdx.x & 31;
  const i64 warps = (i64)gridDim.x * (blockDim.x >> 5);
  for (i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    const T *p = x + r * cols;
    T *q = y + r * cols;
    T m = -kinf<T>();
    for (i64 j = lane; j < cols; j += 32) m = kmax(m, p[j]);
    m = warp_max(m);
    T s = 0;
    for (i64 j = lane; j < cols; j += 32) s += kexp(p[j] - m);
    s = warp_sum(s);
    if (lg) {
      const T ls = m + klog(s);
      for (i64 j = lane; j < cols; j += 32) q[j] = p[j] - ls;
    } else {
      const T inv = (T)1 / s;
      for (i64 j = lane; j < cols; j += 32) q[j] = kexp(p[j] - m) * inv;
    }
  }
}

// softmax:     dx = y ⊙ (dy − Σ dy⊙y)
// log-softmax: dx = dy − exp(y)·Σ dy
template <typename T>
__device__ void softmax_bwd(const T *__restrict__ y, const T *__restrict__ dy, T *__restrict__ dx,
                            i64 rows, i64 cols, bool lg) {
  const int lane = threadIdx.x & 31;
  const i64 warps = (i64)gridDim.x * (blockDim.x >> 5);
  for (i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    const T *py = y + r * cols, *pd = dy + r * cols;
    T *px = dx + r * cols;
    T s = 0;
    if (lg) {
      for (i64 j = lane; j < cols; j += 32) s += pd[j];
    } else {
      for (i64 j = lane; j < cols; j += 32) s += pd[j] * py[j];
    }
    s = warp_sum(s);
    if (lg) {
      for (i64 j = lane; j < cols; j += 32) px[j] = pd[j] - kexp(py[j]) * s;
    } else {
      for (i64 j = lane; j < cols; j += 32) px[j] = py[j] * (pd[j] - s);
    }
  }
}

extern "C" __global__ void kiln_softmax_f32(const float *x, float *y, i64 rows, i64 cols, i64 lg) {
  softmax_fwd<float>(x, y, rows, cols, lg != 0);
}
extern "C" __global__ void kiln_softmax_f64(const double *x, double *y, i64 rows, i64 cols, i64 lg) {
  softmax_fwd<double>(x, y, rows, cols, lg != 0);
}
extern "C" __global__ void kiln_softmax_bwd_f32(const float *y, const float *dy, float *dx, i64 rows, i64 cols, i64 lg) {
  softmax_bwd<float>(y, dy, dx, rows, cols, lg != 0);
}
extern "C" __global__ void kiln_softmax_bwd_f64(const double *y, const double *dy, double *dx, i64 rows, i64 cols, i64 lg) {
  softmax_bwd<double>(y, dy, dx, rows, cols, lg != 0);
}
