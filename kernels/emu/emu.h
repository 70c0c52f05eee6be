// emu.h: just enough of CUDA C++ to compile kernels/*.cu as ordinary host C++ and run each
// kernel launch on CPU threads, so that device/cuda's Go code and the kernels themselves can be
// tested on a machine without a GPU (`go test -tags cudaemu ./device/cuda/`).
//
// Model: the blocks of a launch run one after another; the threads of a block run as fibers
// (ucontext) on the calling OS thread, switched only at barriers, so __syncthreads is a
// barrier over the block's unfinished threads and a warp shuffle writes a per-warp slot, waits
// at a barrier over the warp's unfinished lanes, reads its partner's slot and waits again.
// __shared__ variables become function-local statics: one block at a time uses them, exactly
// as one block uses its shared memory. With one OS thread atomics are plain read-modify-write. Floating-point code runs in
// host precision (no FMA contraction: built with -ffp-contract=off), which is within the
// conformance tolerances of the GPU's results; it tests indexing, masking, tiling, barriers and
// the launch arguments (their count and types are checked against each kernel's signature), not speed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <math.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

using std::max;
using std::min;

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };
extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim, gridDim;

struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(8) float2 { float x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }

inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }
inline long long __double_as_longlong(double x) { long long u; std::memcpy(&u, &x, 8); return u; }
inline double __longlong_as_double(long long u) { double x; std::memcpy(&x, &u, 8); return x; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }

// Synchronisation, implemented in emu.cpp.
void emu_syncthreads();
void emu_syncwarp();
uint64_t emu_shfl_xor(uint64_t bits, int laneMask);

#define __syncthreads() emu_syncthreads()
#define __syncwarp(...) emu_syncwarp()

template <typename T> T __shfl_xor_sync(unsigned, T v, int laneMask) {
  static_assert(sizeof(T) <= 8, "shuffle of a value wider than 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = emu_shfl_xor(bits, laneMask);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

template <typename T> T atomicAdd(T *p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}
inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v) {
  unsigned long long old = *p;
  if (old == cmp) *p = v;
  return old;
}
