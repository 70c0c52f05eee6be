// elementwise.cu: unary and binary maps over strided layouts (rank ≤ 8), fill and dtype
// conversion.
//
// Layouts arrive as packed 64-bit arguments: the host (device/cuda/elementwise.go) drops
// extents of 1, merges dimensions that are contiguous in every operand, right-aligns what is
// left into 8 slots (padding with extent 1, stride 0) and applies each operand's offset to its
// pointer. A contiguous tensor therefore arrives as rank 1 and costs one division per element.
// The multi-index of element i is recovered innermost-first; the loop over the 8 slots is fully
// unrolled so the shape and stride arrays stay in registers (no local memory).
#include "common.cuh"
#include "half.cuh"

// Unary op codes: the order of device.UnaryOp in device/device.go.
enum {
  U_COPY, U_NEG, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_ABS, U_SIGN, U_TANH, U_SIGMOID, U_RELU,
  U_RELU_GRAD, U_LEAKY, U_LEAKY_GRAD, U_ELU, U_ELU_GRAD, U_GELU_ERF, U_GELU_TANH, U_ERF,
  U_POW_SCALAR, U_SCALE, U_ADD_SCALAR, U_RECIP, U_SQUARE, U_GT_SCALAR, U_ISFINITE
};
// Binary op codes: the order of device.BinaryOp.
enum { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_POW, B_EQ, B_GT };

// CPU reference: device/cpu (*Device).Unary (the per-op float64 maps there).
template <typename T> __device__ __forceinline__ T unary_op(int op, T x, T alpha) {
  const T one = (T)1, zero = (T)0;
  switch (op) {
  case U_COPY: return x;
  case U_NEG: return -x;
  case U_EXP: return kexp(x);
  case U_LOG: return klog(x);
  case U_SQRT: return ksqrt(x);
  case U_RSQRT: return one / ksqrt(x);
  case U_ABS: return kabs(x);
  case U_SIGN: return x > zero ? one : (x < zero ? -one : x); // 0 and NaN map to themselves
  case U_TANH: return ktanh(x);
  case U_SIGMOID: return one / (one + kexp(-x));
  case U_RELU: return x > zero ? x : zero;
  case U_RELU_GRAD: return x > zero ? one : zero;
  case U_LEAKY: return x > zero ? x : alpha * x;
  case U_LEAKY_GRAD: return x > zero ? one : alpha;
  case U_ELU: return x > zero ? x : alpha * (kexp(x) - one);
  case U_ELU_GRAD: return x > zero ? one : alpha * kexp(x);
  case U_GELU_ERF: return (T)0.5 * x * (one + kerf(x * (T)0.70710678118654752440));
  case U_GELU_TANH: {
    const T c = (T)0.79788456080286535588; // √(2/π)
    return (T)0.5 * x * (one + ktanh(c * (x + (T)0.044715 * x * x * x)));
  }
  case U_ERF: return kerf(x);
  case U_POW_SCALAR: return kpow(x, alpha);
  case U_SCALE: return alpha * x;
  case U_ADD_SCALAR: return x + alpha;
  case U_RECIP: return one / x;
  case U_SQUARE: return x * x;
  case U_GT_SCALAR: return x > alpha ? one : zero;
  case U_ISFINITE: return isfinite(x) ? one : zero;
  }
  return x;
}

// CPU reference: device/cpu (*Device).Binary.
template <typename T> __device__ __forceinline__ T binary_op(int op, T a, T b) {
  switch (op) {
  case B_ADD: return a + b;
  case B_SUB: return a - b;
  case B_MUL: return a * b;
  case B_DIV: return a / b;
  case B_MAX: return (a != a || b != b) ? a + b : (a > b ? a : b); // NaN propagates
  case B_MIN: return (a != a || b != b) ? a + b : (a < b ? a : b);
  case B_POW: return kpow(a, b);
  case B_EQ: return a == b ? (T)1 : (T)0;
  case B_GT: return a > b ? (T)1 : (T)0;
  }
  return a;
}

#define SHAPE_PARAMS(p)                                                            \
  i64 p##0, i64 p##1, i64 p##2, i64 p##3, i64 p##4, i64 p##5, i64 p##6, i64 p##7
#define SHAPE_ARRAY(p) {p##0, p##1, p##2, p##3, p##4, p##5, p##6, p##7}

template <typename T>
__device__ __forceinline__ void unary_body(int op, const T *__restrict__ x, T *__restrict__ y,
                                           i64 n, int rank, T alpha, const i64 (&sh)[8],
                                           const i64 (&xs)[8], const i64 (&ys)[8]) {
  if (rank <= 1) { // contiguous or uniformly strided: no index decomposition (no 64-bit division)
    KILN_GRID_LOOP(i, n) y[i * ys[7]] = unary_op<T>(op, x[i * xs[7]], alpha);
    return;
  }
  KILN_GRID_LOOP(i, n) {
    i64 r = i, xo = 0, yo = 0;
#pragma unroll
    for (int d = 7; d >= 0; --d) {
      if (d >= 8 - rank) {
        i64 c = r % sh[d];
        r /= sh[d];
        xo += c * xs[d];
        yo += c * ys[d];
      }
    }
    y[yo] = unary_op<T>(op, x[xo], alpha);
  }
}

template <typename T>
__device__ __forceinline__ void binary_body(int op, const T *a, const T *b, T *y, i64 n, int rank,
                                            const i64 (&sh)[8], const i64 (&as)[8],
                                            const i64 (&bs)[8], const i64 (&ys)[8]) {
  // a, b and y are not __restrict__: y may alias a or b element for element (y += x).
  if (rank <= 1) { // contiguous, uniformly strided or a broadcast scalar (stride 0)
    KILN_GRID_LOOP(i, n) y[i * ys[7]] = binary_op<T>(op, a[i * as[7]], b[i * bs[7]]);
    return;
  }
  KILN_GRID_LOOP(i, n) {
    i64 r = i, ao = 0, bo = 0, yo = 0;
#pragma unroll
    for (int d = 7; d >= 0; --d) {
      if (d >= 8 - rank) {
        i64 c = r % sh[d];
        r /= sh[d];
        ao += c * as[d];
        bo += c * bs[d];
        yo += c * ys[d];
      }
    }
    y[yo] = binary_op<T>(op, a[ao], b[bo]);
  }
}

#define DEF_UNARY(name, T)                                                         \
  extern "C" __global__ void name(i64 op, const T *x, T *y, i64 n, i64 rank, double alpha, \
                                  SHAPE_PARAMS(s), SHAPE_PARAMS(xs), SHAPE_PARAMS(ys)) { \
    const i64 sh[8] = SHAPE_ARRAY(s), xst[8] = SHAPE_ARRAY(xs), yst[8] = SHAPE_ARRAY(ys); \
    unary_body<T>((int)op, x, y, n, (int)rank, (T)alpha, sh, xst, yst);               \
  }
DEF_UNARY(kiln_unary_f32, float)
DEF_UNARY(kiln_unary_f64, double)

#define DEF_BINARY(name, T)                                                        \
  extern "C" __global__ void name(i64 op, const T *a, const T *b, T *y, i64 n, i64 rank,  \
                                  SHAPE_PARAMS(s), SHAPE_PARAMS(as), SHAPE_PARAMS(bs),    \
                                  SHAPE_PARAMS(ys)) {                              \
    const i64 sh[8] = SHAPE_ARRAY(s), ast[8] = SHAPE_ARRAY(as), bst[8] = SHAPE_ARRAY(bs), \
              yst[8] = SHAPE_ARRAY(ys);                                             \
    binary_body<T>((int)op, a, b, y, n, (int)rank, sh, ast, bst, yst);              \
  }
DEF_BINARY(kiln_binary_f32, float)
DEF_BINARY(kiln_binary_f64, double)

// Fill: CPU reference device/cpu (*Device).Fill. The value arrives as a double and is
// converted once (for int32 buffers it is truncated towards zero, as Go's int32(v) does; the
// 16-bit floats round as half.cuh says).
#define DEF_FILL(name, T)                                                          \
  extern "C" __global__ void name(T *p, i64 n, double v) {                         \
    const T tv = elem_from<T>(v);                                                  \
    KILN_GRID_LOOP(i, n) p[i] = tv;                                                \
  }
DEF_FILL(kiln_fill_f32, float)
DEF_FILL(kiln_fill_f64, double)
DEF_FILL(kiln_fill_i32, int)
DEF_FILL(kiln_fill_bf16, kbf16)
DEF_FILL(kiln_fill_f16, kf16)

// Convert: CPU reference device/cpu (*Device).Convert. Values pass through double (exact for
// every source type); float→int truncates towards zero; the 16-bit floats round as half.cuh
// says.
#define DEF_CONVERT(name, S, D)                                                    \
  extern "C" __global__ void name(const S *src, D *dst, i64 n) {                   \
    KILN_GRID_LOOP(i, n) dst[i] = elem_from<D>(elem_value(src[i]));                \
  }
#define DEF_CONVERT_FROM(s, S)                                                     \
  DEF_CONVERT(kiln_convert_##s##_f32, S, float)                                    \
  DEF_CONVERT(kiln_convert_##s##_f64, S, double)                                   \
  DEF_CONVERT(kiln_convert_##s##_i32, S, int)                                      \
  DEF_CONVERT(kiln_convert_##s##_bf16, S, kbf16)                                   \
  DEF_CONVERT(kiln_convert_##s##_f16, S, kf16)
DEF_CONVERT_FROM(f32, float)
DEF_CONVERT_FROM(f64, double)
DEF_CONVERT_FROM(i32, int)
DEF_CONVERT_FROM(bf16, kbf16)
DEF_CONVERT_FROM(f16, kf16)
