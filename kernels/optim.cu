// optim.cu: fused multi-tensor optimizer steps (Device.OptimizerStep on CUDA).
//
// The update of every kind is specified in package optim (optim/doc.go, "The fused-step
// contract"); the CPU kernels (device/cpu/optim.go) and the composed fallback
// (optim.ComposedStep) implement the same equations and are the references these kernels are
// checked against. Arithmetic runs in the storage type (float for float32, as NVIDIA apex's
// multi-tensor kernels do), except LAMB's norms, which accumulate in double.
//
// Multi-tensor launch. One launch updates every tensor of a parameter group. The host
// (device/cuda) builds a descriptor table in device memory, KILN_OPTIM_DESC i64 per tensor:
//
//   desc[8t+0] param pointer      desc[8t+4] state 2 pointer (0 when unused)
//   desc[8t+1] grad pointer       desc[8t+5] n, the tensor's element count
//   desc[8t+2] state 0 pointer    desc[8t+6] first chunk of the tensor: Σ_{u<t} ⌈n_u/chunk⌉
//   desc[8t+3] state 1 pointer    desc[8t+7] unused (0)
//
// and launches a 1-D grid of exactly Σ ⌈n_t/chunk⌉ blocks (any block size that is a multiple
// of 32, up to 1024; 256 is a good choice). Block b finds its tensor by binary search over
// desc[8t+6] and updates elements [(b − first)·chunk, min(+chunk, n)) of it. Every scalar
// argument is 64-bit (double or long long) because gorgonia.org/cu copies 8 bytes per
// argument; flags are long long 0/1. Bias corrections bc1 = 1−β1ᵗ and bc2 = 1−β2ᵗ (1 when
// disabled) are computed on the host, in double. State layout per kind is that of the
// contract: SGD [buf], AdamW [m, v(, vmax)], LAMB [m, v], Sophia [m, h], AdaHessian [m, v, d].
//
// LAMB takes two launches over the same grid: kiln_optim_lamb_stage1_* updates m and v and
// writes the chunk's partial ‖p‖² and ‖u‖² to partial[2b], partial[2b+1] (a double buffer of
// 2·blocks elements, no zeroing needed); kiln_optim_lamb_stage2_* sums its tensor's partials
// (in a fixed order, so the result is deterministic), forms the trust ratio and applies
// p −= ratio·u, recomputing u from the new moments rather than storing it.
#include "common.cuh"

#define KILN_OPTIM_DESC 8

struct OptimSlice {
  i64 t;      // tensor index
  i64 lo, hi; // element range of this block
};

// Binary search for the tensor that owns chunk b.
__device__ __forceinline__ OptimSlice optim_slice(const i64* desc, i64 nt, i64 chunk) {
  i64 b = blockIdx.x;
  i64 lo = 0, hi = nt - 1;
  while (lo < hi) {
    i64 mid = (lo + hi + 1) / 2;
    if (desc[KILN_OPTIM_DESC * mid + 6] <= b) lo = mid; else hi = mid - 1;
  }
  OptimSlice s;
  s.t = lo;
  i64 n = desc[KILN_OPTIM_DESC * lo + 5];
  s.lo = (b - desc[KILN_OPTIM_DESC * lo + 6]) * chunk;
  s.hi = s.lo + chunk < n ? s.lo + chunk : n;
  return s;
}

template <typename T> __device__ __forceinline__ T* dptr(const i64* desc, i64 t, int k) {
  return reinterpret_cast<T*>(desc[KILN_OPTIM_DESC * t + k]);
}

#define KILN_BLOCK_LOOP(i, s) for (i64 i = (s).lo + threadIdx.x; i < (s).hi; i += blockDim.x)

// ---- SGD (PyTorch semantics) ---------------------------------------------------------------
template <typename T>
__device__ void sgd_step(const i64* desc, i64 nt, i64 chunk, double lr, double mom, double damp,
                         double wd, double scale, i64 first, i64 nesterov) {
  OptimSlice s = optim_slice(desc, nt, chunk);
  T* p = dptr<T>(desc, s.t, 0);
  const T* g = dptr<T>(desc, s.t, 1);
  T* buf = dptr<T>(desc, s.t, 2);
  const T tlr = (T)lr, tm = (T)mom, td = (T)(1.0 - damp), twd = (T)wd, ts = (T)scale;
  KILN_BLOCK_LOOP(i, s) {
    T pi = p[i];
    T d = ts * g[i] + twd * pi;
    if (mom != 0.0) {
      T b = first ? d : tm * buf[i] + td * d;
      buf[i] = b;
      d = nesterov ? d + tm * b : b;
    }
    p[i] = pi - tlr * d;
  }
}

// ---- AdamW (Loshchilov & Hutter 2019, PyTorch arrangement, optional AMSGrad) ----------------
template <typename T>
__device__ void adamw_step(const i64* desc, i64 nt, i64 chunk, double lr, double b1, double b2,
                           double eps, double wd, double scale, double bc1, double bc2, i64 amsgrad) {
  OptimSlice s = optim_slice(desc, nt, chunk);
  T* p = dptr<T>(desc, s.t, 0);
  const T* g = dptr<T>(desc, s.t, 1);
  T* m = dptr<T>(desc, s.t, 2);
  T* v = dptr<T>(desc, s.t, 3);
  T* vmax = dptr<T>(desc, s.t, 4);
  const T tb1 = (T)b1, tb2 = (T)b2, teps = (T)eps, ts = (T)scale;
  const T decay = (T)(1.0 - lr * wd), step = (T)(lr / bc1), rbc2 = (T)(1.0 / sqrt(bc2));
  KILN_BLOCK_LOOP(i, s) {
    T gi = ts * g[i];
    T mi = tb1 * m[i] + ((T)1 - tb1) * gi;
    T vi = tb2 * v[i] + ((T)1 - tb2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    if (amsgrad) {
      vi = kmax(vi, vmax[i]);
      vmax[i] = vi;
    }
    p[i] = p[i] * decay - step * mi / (ksqrt(vi) * rbc2 + teps);
  }
}

// ---- LAMB (You et al. 2019; NVIDIA apex FusedLAMB semantics) -------------------------------
template <typename T>
__device__ __forceinline__ T lamb_update(T m, T v, T p, T rbc1, T rbc2, T eps, T wd) {
  return (m * rbc1) / (ksqrt(v * rbc2) + eps) + wd * p;
}

// Block-wide sum of two doubles; every thread gets the result.
__device__ __forceinline__ void block_sum2(double& a, double& b) {
  __shared__ double sa[32], sb[32];
  a = warp_sum(a);
  b = warp_sum(b);
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) { sa[w] = a; sb[w] = b; }
  __syncthreads();
  a = lane < nw ? sa[lane] : 0.0;
  b = lane < nw ? sb[lane] : 0.0;
  a = warp_sum(a);
  b = warp_sum(b);
}

template <typename T>
__device__ void lamb_stage1(const i64* desc, i64 nt, i64 chunk, double* partial, double b1, double b2,
                            double eps, double wd, double scale, double bc1, double bc2) {
  OptimSlice s = optim_slice(desc, nt, chunk);
  T* p = dptr<T>(desc, s.t, 0);
  const T* g = dptr<T>(desc, s.t, 1);
  T* m = dptr<T>(desc, s.t, 2);
  T* v = dptr<T>(desc, s.t, 3);
  const T tb1 = (T)b1, tb2 = (T)b2, ts = (T)scale;
  const T rbc1 = (T)(1.0 / bc1), rbc2 = (T)(1.0 / bc2), teps = (T)eps, twd = (T)wd;
  double pn = 0.0, un = 0.0;
  KILN_BLOCK_LOOP(i, s) {
    T gi = ts * g[i];
    T mi = tb1 * m[i] + ((T)1 - tb1) * gi;
    T vi = tb2 * v[i] + ((T)1 - tb2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    T pi = p[i];
    T u = lamb_update(mi, vi, pi, rbc1, rbc2, teps, twd);
    pn += (double)pi * (double)pi;
    un += (double)u * (double)u;
  }
  block_sum2(pn, un);
  if (threadIdx.x == 0) {
    partial[2 * (i64)blockIdx.x] = pn;
    partial[2 * (i64)blockIdx.x + 1] = un;
  }
}

template <typename T>
__device__ void lamb_stage2(const i64* desc, i64 nt, i64 chunk, const double* partial, double lr,
                            double eps, double wd, double bc1, double bc2, i64 trust) {
  OptimSlice s = optim_slice(desc, nt, chunk);
  i64 first = desc[KILN_OPTIM_DESC * s.t + 6];
  i64 n = desc[KILN_OPTIM_DESC * s.t + 5];
  i64 nchunks = (n + chunk - 1) / chunk;
  double pn = 0.0, un = 0.0;
  for (i64 c = threadIdx.x; c < nchunks; c += blockDim.x) {
    pn += partial[2 * (first + c)];
    un += partial[2 * (first + c) + 1];
  }
  block_sum2(pn, un);
  pn = sqrt(pn);
  un = sqrt(un);
  const T ratio = (T)((trust && pn != 0.0 && un != 0.0) ? lr * pn / un : lr);
  T* p = dptr<T>(desc, s.t, 0);
  const T* m = dptr<T>(desc, s.t, 2);
  const T* v = dptr<T>(desc, s.t, 3);
  const T rbc1 = (T)(1.0 / bc1), rbc2 = (T)(1.0 / bc2), teps = (T)eps, twd = (T)wd;
  KILN_BLOCK_LOOP(i, s) {
    T pi = p[i];
    p[i] = pi - ratio * lamb_update(m[i], v[i], pi, rbc1, rbc2, teps, twd);
  }
}

// ---- SophiaG (Liu et al. 2023, authors' code) ----------------------------------------------
template <typename T>
__device__ void sophia_step(const i64* desc, i64 nt, i64 chunk, double lr, double b1, double rho_bs,
                            double eps, double wd, double scale) {
  OptimSlice s = optim_slice(desc, nt, chunk);
  T* p = dptr<T>(desc, s.t, 0);
  const T* g = dptr<T>(desc, s.t, 1);
  T* m = dptr<T>(desc, s.t, 2);
  const T* h = dptr<T>(desc, s.t, 3);
  const T tb1 = (T)b1, ts = (T)scale, tlr = (T)lr, decay = (T)(1.0 - lr * wd);
  const T trb = (T)rho_bs, teps = (T)eps;
  KILN_BLOCK_LOOP(i, s) {
    T mi = tb1 * m[i] + ((T)1 - tb1) * (ts * g[i]);
    m[i] = mi;
    T r = kabs(mi) / kmax(trb * h[i], teps);
    r = r < (T)1 ? r : (T)1;
    T sg = mi > (T)0 ? (T)1 : (mi < (T)0 ? (T)-1 : (T)0);
    p[i] = p[i] * decay - tlr * sg * r;
  }
}

// ---- AdaHessian (Yao et al. 2020, authors' code) -------------------------------------------
template <typename T>
__device__ void adahessian_step(const i64* desc, i64 nt, i64 chunk, double lr, double b1, double b2,
                                double eps, double wd, double scale, double bc1, double bc2, double power) {
  OptimSlice s = optim_slice(desc, nt, chunk);
  T* p = dptr<T>(desc, s.t, 0);
  const T* g = dptr<T>(desc, s.t, 1);
  T* m = dptr<T>(desc, s.t, 2);
  T* v = dptr<T>(desc, s.t, 3);
  const T* d = dptr<T>(desc, s.t, 4);
  const T tb1 = (T)b1, tb2 = (T)b2, ts = (T)scale, tlr = (T)lr, teps = (T)eps, twd = (T)wd;
  const T rbc1 = (T)(1.0 / bc1), rpow = (T)pow(1.0 / sqrt(bc2), power), tk = (T)power;
  const bool one = power == 1.0;
  KILN_BLOCK_LOOP(i, s) {
    T di = d[i];
    T mi = tb1 * m[i] + ((T)1 - tb1) * (ts * g[i]);
    T vi = tb2 * v[i] + ((T)1 - tb2) * di * di;
    m[i] = mi;
    v[i] = vi;
    T sv = ksqrt(vi);
    T den = (one ? sv : kpow(sv, tk)) * rpow + teps;
    T pi = p[i];
    p[i] = pi - tlr * (mi * rbc1 / den + twd * pi);
  }
}

// ---- extern "C" entry points, one per kind and dtype ---------------------------------------
#define KILN_OPTIM_ENTRY(NAME, IMPL, T, PARAMS, ARGS) \
  extern "C" __global__ void NAME PARAMS { IMPL<T> ARGS; }

#define SGD_PARAMS (const i64* desc, i64 nt, i64 chunk, double lr, double mom, double damp, double wd, double scale, i64 first, i64 nesterov)
#define SGD_ARGS (desc, nt, chunk, lr, mom, damp, wd, scale, first, nesterov)
KILN_OPTIM_ENTRY(kiln_optim_sgd_f32, sgd_step, float, SGD_PARAMS, SGD_ARGS)
KILN_OPTIM_ENTRY(kiln_optim_sgd_f64, sgd_step, double, SGD_PARAMS, SGD_ARGS)

#define ADAMW_PARAMS (const i64* desc, i64 nt, i64 chunk, double lr, double b1, double b2, double eps, double wd, double scale, double bc1, double bc2, i64 amsgrad)
#define ADAMW_ARGS (desc, nt, chunk, lr, b1, b2, eps, wd, scale, bc1, bc2, amsgrad)
KILN_OPTIM_ENTRY(kiln_optim_adamw_f32, adamw_step, float, ADAMW_PARAMS, ADAMW_ARGS)
KILN_OPTIM_ENTRY(kiln_optim_adamw_f64, adamw_step, double, ADAMW_PARAMS, ADAMW_ARGS)

#define LAMB1_PARAMS (const i64* desc, i64 nt, i64 chunk, double* partial, double b1, double b2, double eps, double wd, double scale, double bc1, double bc2)
#define LAMB1_ARGS (desc, nt, chunk, partial, b1, b2, eps, wd, scale, bc1, bc2)
KILN_OPTIM_ENTRY(kiln_optim_lamb_stage1_f32, lamb_stage1, float, LAMB1_PARAMS, LAMB1_ARGS)
KILN_OPTIM_ENTRY(kiln_optim_lamb_stage1_f64, lamb_stage1, double, LAMB1_PARAMS, LAMB1_ARGS)

#define LAMB2_PARAMS (const i64* desc, i64 nt, i64 chunk, const double* partial, double lr, double eps, double wd, double bc1, double bc2, i64 trust)
#define LAMB2_ARGS (desc, nt, chunk, partial, lr, eps, wd, bc1, bc2, trust)
KILN_OPTIM_ENTRY(kiln_optim_lamb_stage2_f32, lamb_stage2, float, LAMB2_PARAMS, LAMB2_ARGS)
KILN_OPTIM_ENTRY(kiln_optim_lamb_stage2_f64, lamb_stage2, double, LAMB2_PARAMS, LAMB2_ARGS)

#define SOPHIA_PARAMS (const i64* desc, i64 nt, i64 chunk, double lr, double b1, double rho_bs, double eps, double wd, double scale)
#define SOPHIA_ARGS (desc, nt, chunk, lr, b1, rho_bs, eps, wd, scale)
KILN_OPTIM_ENTRY(kiln_optim_sophia_f32, sophia_step, float, SOPHIA_PARAMS, SOPHIA_ARGS)
KILN_OPTIM_ENTRY(kiln_optim_sophia_f64, sophia_step, double, SOPHIA_PARAMS, SOPHIA_ARGS)

#define ADAH_PARAMS (const i64* desc, i64 nt, i64 chunk, double lr, double b1, double b2, double eps, double wd, double scale, double bc1, double bc2, double power)
#define ADAH_ARGS (desc, nt, chunk, lr, b1, b2, eps, wd, scale, bc1, bc2, power)
KILN_OPTIM_ENTRY(kiln_optim_adahessian_f32, adahessian_step, float, ADAH_PARAMS, ADAH_ARGS)
KILN_OPTIM_ENTRY(kiln_optim_adahessian_f64, adahessian_step, double, ADAH_PARAMS, ADAH_ARGS)
