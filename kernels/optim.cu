// optim.cu: fused optimizer steps (AdamW, LAMB two-stage, Sophia, AdaHessian) over many
// tensors in one launch.
//
// Placeholder for the optimizer issue: no kernels yet. device/cuda's OptimizerStep returns
// device.ErrUnsupported, and package optim falls back to composed elementwise ops.
// CPU reference (when written): device/cpu (*Device).OptimizerStep.
#include "common.cuh"
