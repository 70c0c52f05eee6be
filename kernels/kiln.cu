// kiln.cu: the single translation unit that `make kernels` compiles into kernels/build/kiln.fatbin.
// Each family lives in its own file; including them here gives one module (one fatbin, one
// cuModuleLoadData) with no device linking step.
#include "elementwise.cu"
#include "reduce.cu"
#include "softmax.cu"
#include "layernorm.cu"
#include "gemm.cu"
#include "rng.cu"
#include "gather.cu"
#include "optim.cu"
#include "attention.cu"
#include "linalg.cu"
