// rng.cu: counter-based random fill with Philox-4x32-10 (Salmon, Moraes, Dror and Shaw,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
//
// CPU reference: device/cpu (*Device).RandomFill, built on rng.UniformAt / rng.NormalAt in
// rng/philox.go, whose mapping this file reproduces exactly:
//   key     = (uint32(seed), uint32(seed>>32))
//   counter = (uint32(c), uint32(c>>32), 0, 0), c = offset + i/4, lane = i mod 4
//   uniform: a + (b−a)·(x+0.5)·2⁻³² in float64
//   normal:  Box–Muller on lanes (0,1) and (2,3): r = √(−2 ln u₁),
//            first lane mean + sd·r·cos(2πu₂), second mean + sd·r·sin(2πu₂)
// One thread computes one Philox block and writes its (up to) four elements.
//
// Bit-exactness with the CPU. Every float64 operation is written with __dmul_rn/__dadd_rn/
// __ddiv_rn/__dsqrt_rn, which nvcc never contracts into FMAs: Go on amd64 rounds each product
// and sum separately. CUDA's own log/sin/cos are accurate to an ulp but are different
// algorithms from Go's, so the normal transform evaluates the same algorithms Go's math
// package does, operation for operation: Log is FreeBSD msun's e_log.c (Go's math.Log and its
// amd64 assembly), Sin/Cos are Cephes sin.c by Stephen Moshier (Go's math.Sin/Cos) with
// the Cody–Waite three-part π/4 reduction (arguments here lie in (0, 2π), far below the
// 2²⁹ threshold where Go switches to Payne–Hanek). The coefficients below are those
// libraries' published constants (bit patterns in the comments). With that, uniform and
// normal fills match the CPU bit for bit in float64 and float32. (A Go build that fuses
// multiply-adds, GOAMD64=v3 or arm64, can differ from both in the last bit.)
#include "common.cuh"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint2 k) {
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k.x += PHILOX_W0;
      k.y += PHILOX_W1;
    }
    const unsigned hi0 = __umulhi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
    const unsigned hi1 = __umulhi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
    c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

#include "gomath.cuh"

__device__ __forceinline__ double to_unit(unsigned x) {
  return __dmul_rn(__dadd_rn((double)x, 0.5), 2.3283064365386962890625e-10); // 2⁻³²
}

template <typename T>
__device__ void random_fill(T *__restrict__ p, i64 n, unsigned long long seed,
                            unsigned long long offset, i64 normal, double a, double b) {
  const uint2 key = make_uint2((unsigned)seed, (unsigned)(seed >> 32));
  const i64 blocks = (n + 3) / 4;
  KILN_GRID_LOOP(g, blocks) {
    const unsigned long long c = offset + (unsigned long long)g;
    const uint4 r = philox4x32_10(make_uint4((unsigned)c, (unsigned)(c >> 32), 0u, 0u), key);
    const unsigned lanes[4] = {r.x, r.y, r.z, r.w};
    double v[4];
    if (!normal) {
      const double w = __dadd_rn(b, -a);
#pragma unroll
      for (int l = 0; l < 4; ++l) v[l] = __dadd_rn(a, __dmul_rn(w, to_unit(lanes[l])));
    } else {
#pragma unroll
      for (int l = 0; l < 4; l += 2) {
        const double u1 = to_unit(lanes[l]), u2 = to_unit(lanes[l + 1]);
        const double rad = __dsqrt_rn(DMUL(-2.0, go_log(u1)));
        const double t = DMUL(6.283185307179586231995926937088370323181152343750, u2); // float64(2π)·u₂
        double sn, cs;
        go_sincos(t, &sn, &cs);
        v[l] = DADD(a, DMUL(DMUL(b, rad), cs));
        v[l + 1] = DADD(a, DMUL(DMUL(b, rad), sn));
      }
    }
    const i64 base = g * 4;
#pragma unroll
    for (int l = 0; l < 4; ++l)
      if (base + l < n) p[base + l] = (T)v[l];
  }
}

extern "C" __global__ void kiln_random_f32(float *p, i64 n, i64 seed, i64 offset, i64 normal, double a, double b) {
  random_fill<float>(p, n, (unsigned long long)seed, (unsigned long long)offset, normal, a, b);
}
extern "C" __global__ void kiln_random_f64(double *p, i64 n, i64 seed, i64 offset, i64 normal, double a, double b) {
  random_fill<double>(p, n, (unsigned long long)seed, (unsigned long long)offset, normal, a, b);
}
