// mma.cuh: the tensor-core and asynchronous-copy instructions the tensor-core kernels use,
// each with its emulator counterpart (kernels/emu), so that the kernels' tiling, fragment
// indexing and pipelining can be tested without a GPU.
//
//   to_tf32(x)            cvt.rna.tf32.f32: x rounded to TF32 (10-bit mantissa), nearest,
//                         ties away from zero.
//   mma_tf32_16x8x8(d, a, b)
//                         mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, d += a·b for
//                         a warp's 16×8 tile of A (row-major), 8×8 of B (column-major) and
//                         16×8 of D. Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k8",
//                         .tf32), with g = lane/4 and t = lane%4:
//                           a[0] (g, t)   a[1] (g+8, t)   a[2] (g, t+4)   a[3] (g+8, t+4)
//                           b[0] (k=t, n=g)   b[1] (k=t+4, n=g)
//                           d[r] (g + 8·(r/2), 2t + r%2)
//   mma_bf16_16x8x16(d, a, b)
//                         mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, d += a·b for a
//                         warp's 16×16 of A, 16×8 of B and 16×8 of D; each 32-bit register
//                         holds two bfloat16 of consecutive k, the lower k in the low half:
//                           a[0] (g, 2t..2t+1)     a[1] (g+8, 2t..2t+1)
//                           a[2] (g, 2t+8..2t+9)   a[3] (g+8, 2t+8..2t+9)
//                           b[0] (k=2t..2t+1, n=g) b[1] (k=2t+8..2t+9, n=g)
//                           d as for TF32
//   mma_f64_8x8x4(d, a, b)
//                         mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 (DMMA), d += a·b for a
//                         warp's 8×4 of A, 4×8 of B and 8×8 of D, with g and t as above:
//                           a (g, t)   b (k=t, n=g)   d[r] (g, 2t + r)
//   pack_bf16x2(lo, hi)   cvt.rn.bf16x2.f32: lo and hi rounded to bfloat16 (nearest, ties to
//                         even) and packed into one fragment register, lo in the low half
//                         (the lower k of an m16n8k16 A or B register).
//   cp_async_elem(dst, src, ok)
//                         cp.async.ca.shared.global of one float (4 bytes) or double (8), or
//                         zero bytes when !ok (src-size 0: nothing is read, the source
//                         address is not touched).
//   cp_async_commit(), cp_async_wait<N>()
//                         commit the copies issued so far as a group; wait until at most N
//                         groups are in flight.
// Everything here needs sm_80 or later.
#pragma once

#include "common.cuh"
#include "half.cuh"

#if defined(__CUDACC__)

__device__ __forceinline__ unsigned to_tf32(float x) {
  unsigned r = 0;
#if defined(__CUDA_ARCH__)
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
#endif
  return r;
}

__device__ __forceinline__ void mma_tf32_16x8x8(float d[4], const unsigned a[4], const unsigned b[2]) {
#if defined(__CUDA_ARCH__)
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

__device__ __forceinline__ void mma_bf16_16x8x16(float d[4], const unsigned a[4], const unsigned b[2]) {
#if defined(__CUDA_ARCH__)
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

__device__ __forceinline__ void mma_f64_8x8x4(double d[2], double a, double b) {
#if defined(__CUDA_ARCH__)
  asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};"
               : "+d"(d[0]), "+d"(d[1])
               : "d"(a), "d"(b));
#endif
}

__device__ __forceinline__ unsigned pack_bf16x2(float lo, float hi) {
  unsigned r = 0;
#if defined(__CUDA_ARCH__)
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo)); // the first source goes high
#endif
  return r;
}

template <typename T> __device__ __forceinline__ void cp_async_elem(T *dst, const T *src, bool ok) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "cp.async copies 4, 8 or 16 bytes");
#if defined(__CUDA_ARCH__)
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;" ::"r"(s), "l"(src), "n"(sizeof(T)),
               "r"(ok ? (int)sizeof(T) : 0));
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.commit_group;");
#endif
}

template <int N> __device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_group %0;" ::"n"(N));
#endif
}

#else // the emulator (kernels/emu): host C++, one warp's lanes as fibers

inline unsigned to_tf32(float x) {
  unsigned u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) { // finite: round the 13 dropped bits, ties away
    u += 0x1000u;
    u &= 0xffffe000u;
  }
  return u;
}

// emu_mma_tf32_16x8x8 exchanges the warp's fragments through the emulator's warp slots and
// computes this lane's four outputs in float, k in order (emu.cpp).
void emu_mma_tf32_16x8x8(float d[4], const unsigned a[4], const unsigned b[2]);
inline void mma_tf32_16x8x8(float d[4], const unsigned a[4], const unsigned b[2]) { emu_mma_tf32_16x8x8(d, a, b); }

void emu_mma_bf16_16x8x16(float d[4], const unsigned a[4], const unsigned b[2]);
inline void mma_bf16_16x8x16(float d[4], const unsigned a[4], const unsigned b[2]) { emu_mma_bf16_16x8x16(d, a, b); }

void emu_mma_f64_8x8x4(double d[2], double a, double b);
inline void mma_f64_8x8x4(double d[2], double a, double b) { emu_mma_f64_8x8x4(d, a, b); }

// NaN aside (the kernels never pack one), cvt.rn.bf16x2.f32 rounds as half.cuh's bf16_from_f32.
inline unsigned pack_bf16x2(float lo, float hi) {
  return (unsigned)bf16_from_f32(lo) | ((unsigned)bf16_from_f32(hi) << 16);
}

// Copies complete at once in the emulator, so groups need no waiting.
template <typename T> inline void cp_async_elem(T *dst, const T *src, bool ok) { *dst = ok ? *src : T(0); }
inline void cp_async_commit() {}
template <int N> inline void cp_async_wait() {}

#endif
