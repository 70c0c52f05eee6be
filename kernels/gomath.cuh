// gomath.cuh: Go's math.Log, math.Sin and math.Cos, operation for operation, for the normal
// transform of rng.cu (see the comment there on why bit-exactness needs Go's algorithms).
// Under nvcc's device pass every operation is an explicitly rounded intrinsic (never
// contracted into an FMA); compiled as plain C on the host (FP_CONTRACT off; baseline x86-64
// has no FMA instruction for gcc to contract into either) the
// same code is what kernels/gomath_cuda.go exposes to the test that compares it with Go.
#pragma once

#if defined(__CUDACC__)
#define KILN_HD __host__ __device__
#else
#define KILN_HD static
#endif

#if defined(__CUDA_ARCH__)
#define DMUL __dmul_rn
#define DADD __dadd_rn
#define DSUB(a, b) __dadd_rn((a), -(b))
#define DDIV __ddiv_rn
KILN_HD inline unsigned long long d2u(double x) { return (unsigned long long)__double_as_longlong(x); }
KILN_HD inline double u2d(unsigned long long u) { return __longlong_as_double((long long)u); }
#else
#pragma STDC FP_CONTRACT OFF
#include <stdbool.h>
#include <string.h>
#define DMUL(a, b) ((a) * (b))
#define DADD(a, b) ((a) + (b))
#define DSUB(a, b) ((a) - (b))
#define DDIV(a, b) ((a) / (b))
KILN_HD inline unsigned long long d2u(double x) { unsigned long long u; memcpy(&u, &x, 8); return u; }
KILN_HD inline double u2d(unsigned long long u) { double x; memcpy(&x, &u, 8); return x; }
#endif


// Natural logarithm of x in (0, 1), as Go's math.Log computes it (x is never 0, negative,
// subnormal, infinite or NaN here: x = (u + 0.5)·2⁻³²).
KILN_HD double go_log(double x) {
  const double Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10;
  const double L1 = 6.666666666666735130e-01, L2 = 3.999999999940941908e-01, L3 = 2.857142874366239149e-01,
               L4 = 2.222219843214978396e-01, L5 = 1.818357216161805012e-01, L6 = 1.531383769920937332e-01,
               L7 = 1.479819860511658591e-01;
  // frexp: x = f1·2^ki with f1 in [0.5, 1)
  const unsigned long long bits = d2u(x);
  int ki = (int)((bits >> 52) & 0x7FF) - 0x3FE;
  double f1 = u2d((bits & 0x000FFFFFFFFFFFFFull) | 0x3FE0000000000000ull);
  if (f1 < 7.07106781186547524401e-01) { // √2/2
    f1 = DMUL(f1, 2.0);
    ki--;
  }
  const double f = DSUB(f1, 1.0), k = (double)ki;
  const double s = DDIV(f, DADD(2.0, f));
  const double s2 = DMUL(s, s), s4 = DMUL(s2, s2);
  const double t1 = DMUL(s2, DADD(L1, DMUL(s4, DADD(L3, DMUL(s4, DADD(L5, DMUL(s4, L7)))))));
  const double t2 = DMUL(s4, DADD(L2, DMUL(s4, DADD(L4, DMUL(s4, L6)))));
  const double R = DADD(t1, t2);
  const double hfsq = DMUL(DMUL(0.5, f), f);
  return DSUB(DMUL(k, Ln2Hi), DSUB(DSUB(hfsq, DADD(DMUL(s, DADD(hfsq, R)), DMUL(k, Ln2Lo))), f));
}

// Cephes sin/cos polynomials (Go's _sin and _cos tables).
KILN_HD inline double go_sin_poly(double z, double zz) {
  const double S0 = 1.58962301576546568060e-10, S1 = -2.50507477628578072866e-8, S2 = 2.75573136213857245213e-6,
               S3 = -1.98412698295895385996e-4, S4 = 8.33333333332211858878e-3, S5 = -1.66666666666666307295e-1;
  const double p = DADD(DMUL(DADD(DMUL(DADD(DMUL(DADD(DMUL(DADD(DMUL(S0, zz), S1), zz), S2), zz), S3), zz), S4), zz), S5);
  return DADD(z, DMUL(DMUL(z, zz), p));
}
KILN_HD inline double go_cos_poly(double zz) {
  const double C0 = -1.13585365213876817300e-11, C1 = 2.08757008419747316778e-9, C2 = -2.75573141792967388112e-7,
               C3 = 2.48015872888517045348e-5, C4 = -1.38888888888730564116e-3, C5 = 4.16666666666665929218e-2;
  const double p = DADD(DMUL(DADD(DMUL(DADD(DMUL(DADD(DMUL(DADD(DMUL(C0, zz), C1), zz), C2), zz), C3), zz), C4), zz), C5);
  return DADD(DSUB(1.0, DMUL(0.5, zz)), DMUL(DMUL(zz, zz), p));
}

// Sine and cosine of x in [0, 2π), as Go's math.Sin and math.Cos compute them.
KILN_HD void go_sincos(double x, double *sn, double *cs) {
  const double PI4A = 7.85398125648498535156e-1, PI4B = 3.77489470793079817668e-8,
               PI4C = 2.69515142907905952645e-15;
  unsigned long long j = (unsigned long long)DMUL(x, 1.27323954473516268615107010698); // x·(4/π)
  double y = (double)j;
  if (j & 1) {
    j++;
    y = DADD(y, 1.0);
  }
  j &= 7;
  const double z = DSUB(DSUB(DSUB(x, DMUL(y, PI4A)), DMUL(y, PI4B)), DMUL(y, PI4C));
  const double zz = DMUL(z, z);
  // sin: reflect in the x axis for octants 4..7, then octants 1 and 2 use the cos polynomial.
  unsigned long long js = j;
  bool ssign = false;
  if (js > 3) {
    ssign = true;
    js -= 4;
  }
  double sv = (js == 1 || js == 2) ? go_cos_poly(zz) : go_sin_poly(z, zz);
  *sn = ssign ? -sv : sv;
  // cos: octants 4..7 flip the sign, and so do octants 2 and 3 (after the shift).
  unsigned long long jc = j;
  bool csign = false;
  if (jc > 3) {
    jc -= 4;
    csign = !csign;
  }
  if (jc > 1) csign = !csign;
  double cv = (jc == 1 || jc == 2) ? go_sin_poly(z, zz) : go_cos_poly(zz);
  *cs = csign ? -cv : cv;
}

