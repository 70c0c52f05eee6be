// gather.cu: row gather and scatter-add with int32 indices (embedding lookups and their
// gradients).
//
// CPU references: device/cpu (*Device).Gather and (*Device).ScatterAdd.
//
// One thread per output element (i, j), so a row is read and written coalesced. An index
// outside [0, rows) is not dereferenced: the first such position is recorded in *err
// (atomicCAS from −1) and device/cuda reads it back and panics, as the CPU backend does.
// ScatterAdd accumulates with atomicAdd (float and double atomics are native from sm_60):
// repeated indices are summed in an order that may differ from run to run, so float sums
// agree with the CPU to rounding, not bit for bit.
#include "common.cuh"

template <typename T>
__device__ void gather(const T *__restrict__ table, i64 rows, i64 width, const int *__restrict__ idx,
                       i64 n, T *__restrict__ out, unsigned long long *err) {
  KILN_GRID_LOOP(e, n * width) {
    const i64 i = e / width, j = e - i * width;
    const int r = idx[i];
    if (r < 0 || r >= rows) {
      atomicCAS(err, ~0ull, (unsigned long long)i);
      continue;
    }
    out[e] = table[(i64)r * width + j];
  }
}

template <typename T>
__device__ void scatter_add(T *table, i64 rows, i64 width, const int *__restrict__ idx, i64 n,
                            const T *__restrict__ src, unsigned long long *err) {
  KILN_GRID_LOOP(e, n * width) {
    const i64 i = e / width, j = e - i * width;
    const int r = idx[i];
    if (r < 0 || r >= rows) {
      atomicCAS(err, ~0ull, (unsigned long long)i);
      continue;
    }
    atomicAdd(table + (i64)r * width + j, src[e]);
  }
}

#define DEF_GATHER(sfx, T)                                                         \
  extern "C" __global__ void kiln_gather_##sfx(const T *table, i64 rows, i64 width, const int *idx, \
                                               i64 n, T *out, unsigned long long *err) { \
    gather<T>(table, rows, width, idx, n, out, err);                               \
  }                                                                                \
  extern "C" __global__ void kiln_scatter_add_##sfx(T *table, i64 rows, i64 width, const int *idx, \
                                                    i64 n, const T *src, unsigned long long *err) { \
    scatter_add<T>(table, rows, width, idx, n, src, err);                          \
  }
DEF_GATHER(f32, float)
DEF_GATHER(f64, double)
