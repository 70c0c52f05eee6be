// half.cuh: the 16-bit float element types as stored (their bits) and their conversions,
// operation for operation those of device/half, so that every backend rounds alike:
//   to float32 exactly; from float32 to nearest, ties to even (NaN stays NaN, overflow → ±Inf);
//   from float64 by rounding to float32 with round-to-odd first (odd_f32), which makes the
//   two roundings one correct rounding (Boldo and Melquiond, IEEE Trans. Computers 57(4), 2008).
// The code is plain integer and float32/float64 arithmetic, the same in the GPU build and in
// the emulator's host build.
#pragma once

struct kbf16 { unsigned short bits; }; // bfloat16 (device.BFloat16)
struct kf16 { unsigned short bits; };  // IEEE binary16 (device.Float16)

#if defined(__CUDACC__)
#define KHALF __device__ __forceinline__
KHALF unsigned f32_bits(float f) { return __float_as_uint(f); }
KHALF float f32_from_bits(unsigned u) { return __uint_as_float(u); }
#else
#define KHALF inline
inline unsigned f32_bits(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
inline float f32_from_bits(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
#endif

// odd_f32 rounds x to float32 toward zero and sets the last mantissa bit when inexact.
KHALF float odd_f32(double x) {
  const float f = (float)x; // to nearest
  if ((double)f == x || x != x) return f;
  unsigned u = f32_bits(f);
  if (fabs((double)f) > fabs(x)) u -= 1; // rounded away from zero: one ulp back
  return f32_from_bits(u | 1u);
}

KHALF unsigned short bf16_from_f32(float f) {
  unsigned u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u); // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}

KHALF float bf16_to_f32(unsigned short b) { return f32_from_bits((unsigned)b << 16); }

KHALF unsigned short f16_from_f32(float f) {
  const unsigned x = f32_bits(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (unsigned short)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); // NaN
  if (ax >= 0x47800000u) return (unsigned short)(sign | 0x7c00u);                         // ≥ 2^16: Inf
  const unsigned e = ax >> 23;
  if (e < 113) { // below 2^-14: a subnormal k·2^-24 (or zero)
    if (ax <= 0x33000000u) return (unsigned short)sign; // ≤ 2^-25 rounds to (signed) zero
    const unsigned m = (ax & 0x7fffffu) | 0x800000u, s = 126 - e;
    unsigned k = m >> s;
    const unsigned rem = m & ((1u << s) - 1), halfway = 1u << (s - 1);
    if (rem > halfway || (rem == halfway && (k & 1u))) k++;
    return (unsigned short)(sign | k);
  }
  unsigned h = ((e - 112) << 10) | ((ax & 0x7fffffu) >> 13);
  const unsigned rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; // a carry may reach Inf: correct
  return (unsigned short)(sign | h);
}

KHALF float f16_to_f32(unsigned short h) {
  const unsigned sign = ((unsigned)h & 0x8000u) << 16, e = ((unsigned)h >> 10) & 0x1fu, m = (unsigned)h & 0x3ffu;
  if (e == 0) { // zero or subnormal: m·2^-24, exact in float32
    const float v = (float)m * 5.9604644775390625e-8f;
    return f32_from_bits(f32_bits(v) | sign);
  }
  if (e == 31) return f32_from_bits(sign | 0x7f800000u | (m << 13));
  return f32_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

// Element access for kernels templated on the stored type: widen to double (exact) and
// store from double (rounding as above; int32 truncates toward zero, as Go's int32(v)).
KHALF double elem_value(float v) { return v; }
KHALF double elem_value(double v) { return v; }
KHALF double elem_value(int v) { return v; }
KHALF double elem_value(kbf16 v) { return bf16_to_f32(v.bits); }
KHALF double elem_value(kf16 v) { return f16_to_f32(v.bits); }

template <typename T> KHALF T elem_from(double v);
template <> KHALF float elem_from<float>(double v) { return (float)v; }
template <> KHALF double elem_from<double>(double v) { return v; }
template <> KHALF int elem_from<int>(double v) { return (int)v; }
template <> KHALF kbf16 elem_from<kbf16>(double v) { return kbf16{bf16_from_f32(odd_f32(v))}; }
template <> KHALF kf16 elem_from<kf16>(double v) { return kf16{f16_from_f32(odd_f32(v))}; }
