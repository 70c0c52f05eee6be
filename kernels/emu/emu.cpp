// emu.cpp: the CPU emulation of kiln's CUDA kernel module (see emu.h). Built by
// `make kernels-emu` into kernels/build/libkilnemu.a, linked by device/cuda in builds with the
// cudaemu tag. It compiles kernels/kiln.cu (every family) as host C++ and exposes one C entry
// point, kiln_emu_launch, that runs a named kernel over a grid with 64-bit argument slots —
// the same calling convention device/cuda uses with the real driver.
//
// Scheduling: each CUDA thread of a block is a fiber with its own stack. A scheduler loop
// resumes every runnable fiber in turn; a fiber runs until it reaches a barrier (block or
// warp) or returns. When every unfinished thread of the block waits at the block barrier, or
// every unfinished lane of a warp at that warp's barrier, they are all made runnable again.
// If fibers remain but none can run (a barrier some thread can never reach), the launch fails
// with a deadlock error instead of hanging.
#include "emu.h"

#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <ucontext.h>
#include <utility>
#include <vector>

uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim, gridDim;

#include "../kiln.cu"

namespace {

enum State { RUNNABLE, AT_BLOCK, AT_WARP, DONE };

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  State state;
  uint3 idx;
};

constexpr size_t kStack = 256 << 10;

ucontext_t schedCtx;
std::vector<Fiber> fibers;
std::vector<uint64_t> warpSlots; // 32 per warp
std::vector<uint32_t> mmaSlots;  // 6 per lane: a tensor-core fragment pair (a0-a3, b0-b1)
int cur;                         // running fiber
const std::function<void(const uint64_t *)> *curKernel;
const uint64_t *curArgs;

void yieldTo(State s) {
  fibers[cur].state = s;
  swapcontext(&fibers[cur].ctx, &schedCtx);
}

void fiberMain() {
  (*curKernel)(curArgs);
  fibers[cur].state = DONE;
  // returning resumes uc_link (the scheduler)
}

template <typename T> T fromSlot(uint64_t s) {
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<T>(static_cast<uintptr_t>(s));
  } else if constexpr (std::is_same_v<T, double>) {
    double d;
    std::memcpy(&d, &s, 8);
    return d;
  } else {
    static_assert(std::is_same_v<T, long long>, "kernel parameters must be 64-bit: pointer, long long or double");
    return static_cast<long long>(s);
  }
}

// typeCode names a parameter type as the Go bindings' generator does
// (device/cuda/internal/kernelgen): "i64", "f64", or an element type and "*".
template <typename T> const char *typeCode() {
  if constexpr (std::is_pointer_v<T>) {
    using E = std::remove_cv_t<std::remove_pointer_t<T>>;
    if constexpr (std::is_same_v<E, float>) return "f32*";
    else if constexpr (std::is_same_v<E, double>) return "f64*";
    else if constexpr (std::is_same_v<E, int>) return "i32*";
    else if constexpr (std::is_same_v<E, long long>) return "i64*";
    else if constexpr (std::is_same_v<E, unsigned long long>) return "u64*";
    else if constexpr (std::is_same_v<E, kbf16>) return "bf16*";
    else if constexpr (std::is_same_v<E, kf16>) return "f16*";
    else static_assert(sizeof(E) == 0, "kernel pointer parameter of an unnamed element type");
  } else if constexpr (std::is_same_v<T, double>) {
    return "f64";
  } else {
    return "i64";
  }
}

template <typename... A> std::string signatureOf() {
  std::string s;
  ((s += (s.empty() ? "" : ","), s += typeCode<A>()), ...);
  return s;
}

struct Kernel {
  int nargs;
  std::string sig; // the parameter type codes, compared with each launch's
  std::function<void(const uint64_t *)> run;
};

template <typename... A, size_t... I>
void callWith(void (*f)(A...), const uint64_t *s, std::index_sequence<I...>) {
  f(fromSlot<A>(s[I])...);
}

template <typename... A> Kernel wrap(void (*f)(A...)) {
  return Kernel{(int)sizeof...(A), signatureOf<A...>(),
                [f](const uint64_t *s) { callWith(f, s, std::index_sequence_for<A...>{}); }};
}

std::map<std::string, Kernel> &registry() {
  static std::map<std::string, Kernel> r;
  if (r.empty()) {
#define REG(f) r.emplace(#f, wrap(&f));
#include "emu_registry.inc"
#undef REG
  }
  return r;
}

// releaseBarriers makes waiting fibers runnable when their barrier is complete; it reports
// whether any fiber was released.
bool releaseBarriers() {
  const int n = (int)fibers.size();
  bool any = false;
  // Block barrier: every unfinished thread waits at it.
  bool allBlock = true, someBlock = false;
  for (auto &f : fibers) {
    if (f.state == DONE) continue;
    if (f.state == AT_BLOCK) someBlock = true;
    else allBlock = false;
  }
  if (someBlock && allBlock) {
    for (auto &f : fibers)
      if (f.state == AT_BLOCK) f.state = RUNNABLE;
    return true;
  }
  // Warp barriers.
  for (int w = 0; w * 32 < n; ++w) {
    bool all = true, some = false;
    for (int l = w * 32; l < n && l < w * 32 + 32; ++l) {
      if (fibers[l].state == DONE) continue;
      if (fibers[l].state == AT_WARP) some = true;
      else all = false;
    }
    if (some && all) {
      for (int l = w * 32; l < n && l < w * 32 + 32; ++l)
        if (fibers[l].state == AT_WARP) fibers[l].state = RUNNABLE;
      any = true;
    }
  }
  return any;
}

// runBlock runs every thread of the current block to completion; false on deadlock.
bool runBlock(unsigned bx, unsigned by, unsigned bz) {
  const unsigned nt = bx * by * bz;
  if (fibers.size() != nt) {
    fibers.assign(nt, Fiber{});
    for (auto &f : fibers) f.stack.resize(kStack);
    warpSlots.assign((nt + 31) / 32 * 32, 0);
    mmaSlots.assign((nt + 31) / 32 * 32 * 6, 0);
  }
  for (unsigned t = 0; t < nt; ++t) {
    Fiber &f = fibers[t];
    f.idx = {t % bx, (t / bx) % by, t / (bx * by)};
    f.state = RUNNABLE;
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = f.stack.size();
    f.ctx.uc_link = &schedCtx;
    makecontext(&f.ctx, fiberMain, 0);
  }
  for (;;) {
    bool ran = false, live = false;
    for (unsigned t = 0; t < nt; ++t) {
      if (fibers[t].state != DONE) live = true;
      if (fibers[t].state != RUNNABLE) continue;
      cur = (int)t;
      threadIdx = fibers[t].idx;
      swapcontext(&schedCtx, &fibers[t].ctx);
      ran = true;
    }
    if (!live) return true;
    if (!releaseBarriers() && !ran) {
      bool pending = false;
      for (auto &f : fibers) pending |= f.state != DONE;
      if (pending) return false;
      return true;
    }
  }
}

} // namespace

void emu_syncthreads() { yieldTo(AT_BLOCK); }

void emu_syncwarp() { yieldTo(AT_WARP); }

uint64_t emu_shfl_xor(uint64_t bits, int laneMask) {
  const int me = cur, lane = me & 31, base = me - lane;
  warpSlots[me] = bits;
  yieldTo(AT_WARP);
  const uint64_t r = warpSlots[base + ((lane ^ laneMask) & 31)];
  yieldTo(AT_WARP);
  return r;
}

// The m16n8k8 TF32 tensor-core product of a warp (mma.cuh gives the fragment layout): every
// lane posts its A and B fragments, waits for the warp, computes its four outputs from the
// posted fragments in float with k in order, and waits again before the slots are reused.
// postFragments publishes this lane's four A and two B fragment registers to its warp and
// waits until every lane of the warp has; it returns this lane's index and its warp's first.
static std::pair<int, int> postFragments(const unsigned a[4], const unsigned b[2]) {
  const int me = cur, lane = me & 31;
  for (int i = 0; i < 4; ++i) mmaSlots[6 * me + i] = a[i];
  mmaSlots[6 * me + 4] = b[0];
  mmaSlots[6 * me + 5] = b[1];
  yieldTo(AT_WARP);
  return {lane, me - lane};
}

void emu_mma_tf32_16x8x8(float d[4], const unsigned a[4], const unsigned b[2]) {
  const auto [lane, base] = postFragments(a, b);
  auto f = [](uint32_t u) {
    float x;
    std::memcpy(&x, &u, 4);
    return x;
  };
  const int g = lane / 4, t = lane % 4;
  float out[4];
  for (int r = 0; r < 4; ++r) {
    const int row = g + 8 * (r / 2), col = 2 * t + r % 2;
    float acc = d[r];
    for (int k = 0; k < 8; ++k) {
      const int aLane = (row % 8) * 4 + k % 4, aReg = (row >= 8 ? 1 : 0) + (k >= 4 ? 2 : 0);
      const int bLane = col * 4 + k % 4, bReg = k >= 4 ? 1 : 0;
      acc += f(mmaSlots[6 * (base + aLane) + aReg]) * f(mmaSlots[6 * (base + bLane) + 4 + bReg]);
    }
    out[r] = acc;
  }
  yieldTo(AT_WARP);
  for (int r = 0; r < 4; ++r) d[r] = out[r];
}

// The m16n8k16 BF16 tensor-core product of a warp (mma.cuh): every lane posts its A and B
// registers (two bfloat16 each), and computes its four outputs in float, k in order.
void emu_mma_bf16_16x8x16(float d[4], const unsigned a[4], const unsigned b[2]) {
  const auto [lane, base] = postFragments(a, b);
  auto bf = [](uint32_t word, int hi) {
    const uint32_t u = (hi ? word >> 16 : word & 0xffffu) << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
  };
  const int g = lane / 4, t = lane % 4;
  float out[4];
  for (int r = 0; r < 4; ++r) {
    const int row = g + 8 * (r / 2), col = 2 * t + r % 2;
    float acc = d[r];
    for (int k = 0; k < 16; ++k) {
      const int kq = (k % 8) / 2, aReg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0), bReg = k >= 8 ? 1 : 0;
      acc += bf(mmaSlots[6 * (base + (row % 8) * 4 + kq) + aReg], k % 2) *
             bf(mmaSlots[6 * (base + col * 4 + kq) + 4 + bReg], k % 2);
    }
    out[r] = acc;
  }
  yieldTo(AT_WARP);
  for (int r = 0; r < 4; ++r) d[r] = out[r];
}

// The m8n8k4 FP64 tensor-core product of a warp (mma.cuh): each lane posts its one A and one
// B value (two 32-bit slots each) and computes its two outputs in double, k in order.
void emu_mma_f64_8x8x4(double d[2], double a, double b) {
  const int me = cur, lane = me & 31, base = me - lane;
  std::memcpy(&mmaSlots[6 * me], &a, 8);
  std::memcpy(&mmaSlots[6 * me + 2], &b, 8);
  yieldTo(AT_WARP);
  auto at = [](int l, int off) {
    double x;
    std::memcpy(&x, &mmaSlots[6 * l + off], 8);
    return x;
  };
  const int g = lane / 4, t = lane % 4;
  double out[2];
  for (int r = 0; r < 2; ++r) {
    const int col = 2 * t + r;
    double acc = d[r];
    for (int k = 0; k < 4; ++k) acc += at(base + g * 4 + k, 0) * at(base + col * 4 + k, 2);
    out[r] = acc;
  }
  yieldTo(AT_WARP);
  d[0] = out[0];
  d[1] = out[1];
}

extern "C" {

// kiln_emu_signature is kernel `name`'s parameter type codes as compiled ("" if unknown).
const char *kiln_emu_signature(const char *name) {
  auto &r = registry();
  auto it = r.find(name);
  return it == r.end() ? "" : it->second.sig.c_str();
}

// kiln_emu_launch runs kernel `name` over grid (gx, gy, gz) of blocks (bx, by, bz). It returns
// 0 on success, 1 for an unknown kernel, 2 when nargs differs from the kernel's parameter
// count, 3 for a block size that is not a whole number of warps, 4 for a deadlock (a barrier
// that not every thread reaches), 5 when sig (the launching binding's parameter type codes)
// differs from the compiled kernel's.
int kiln_emu_launch(const char *name, const char *sig, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                    unsigned by, unsigned bz, const uint64_t *args, int nargs) {
  auto &r = registry();
  auto it = r.find(name);
  if (it == r.end()) return 1;
  if (it->second.nargs != nargs) return 2;
  if (it->second.sig != sig) return 5;
  const unsigned nt = bx * by * bz;
  if (nt == 0 || nt % 32 != 0) return 3;
  std::vector<uint64_t> slots(args, args + nargs);
  curKernel = &it->second.run;
  curArgs = slots.data();
  gridDim = {gx, gy, gz};
  blockDim = {bx, by, bz};
  for (unsigned z = 0; z < gz; ++z)
    for (unsigned y = 0; y < gy; ++y)
      for (unsigned x = 0; x < gx; ++x) {
        blockIdx = {x, y, z};
        if (!runBlock(bx, by, bz)) return 4;
      }
  return 0;
}

} // extern "C"
