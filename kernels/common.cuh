// common.cuh: shared definitions for every kiln kernel family.
//
// Calling convention: gorgonia.org/cu's Function.Launch copies exactly 8 bytes per kernel
// argument, so every kernel parameter is a 64-bit quantity: a pointer, `long long` (i64) or
// `double`. Offsets are applied to pointers on the host, so kernels receive pointers to their
// first element. Every kernel is `extern "C"` so that device/cuda finds it by its plain name
// in the fatbin.
#pragma once

#include <stdint.h>

typedef long long i64;

#define KILN_MAX_RANK 8
#define KILN_WARP 32

// Grid-stride loop over [0, n) with 64-bit indices.
#define KILN_GRID_LOOP(i, n)                                                       \
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                \
       i += (i64)blockDim.x * gridDim.x)

// Warp-level tree reductions with shuffles (butterfly, so every lane ends with the result).
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <typename T> __device__ __forceinline__ T kmax(T a, T b) {
  // NaN propagates, as Go's math.Max does.
  return (a != a || a > b) ? a : b;
}
template <typename T> __device__ __forceinline__ T kmin(T a, T b) {
  return (a != a || a < b) ? a : b;
}
template <typename T> __device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = kmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <typename T> __device__ __forceinline__ T warp_min(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = kmin(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Type-generic math so templates can call one name for float and double.
__device__ __forceinline__ float kexp(float x) { return expf(x); }
__device__ __forceinline__ double kexp(double x) { return exp(x); }
__device__ __forceinline__ float klog(float x) { return logf(x); }
__device__ __forceinline__ double klog(double x) { return log(x); }
__device__ __forceinline__ float ksqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double ksqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float krsqrt(float x) { return rsqrtf(x); }
__device__ __forceinline__ double krsqrt(double x) { return rsqrt(x); }
__device__ __forceinline__ float ktanh(float x) { return tanhf(x); }
__device__ __forceinline__ double ktanh(double x) { return tanh(x); }
__device__ __forceinline__ float kerf(float x) { return erff(x); }
__device__ __forceinline__ double kerf(double x) { return erf(x); }
__device__ __forceinline__ float kpow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double kpow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float kabs(float x) { return fabsf(x); }
__device__ __forceinline__ double kabs(double x) { return fabs(x); }

template <typename T> __device__ __forceinline__ T kinf() { return (T)INFINITY; }
