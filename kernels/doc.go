// Package kernels holds kiln's CUDA C sources, one file per family (elementwise, reduce,
// softmax, layernorm, gemm, attention, rng, gather, optim), and, in builds with the cuda tag,
// the fatbin that `make kernels` compiles from them (see Fatbin). Every kernel names its CPU
// reference in device/cpu; README.md beside this file is the kernel journal.
//
// The default (pure-Go) build contains only this comment: it never needs nvcc or the fatbin.
package kernels
