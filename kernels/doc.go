// Package kernels holds kiln's CUDA C sources, one file per family (elementwise, reduce,
// softmax, layernorm, gemm, attention, rng, gather, linalg, optim), and, in builds with the
// cuda tag, the fatbin that `make kernels` compiles from them (see Fatbin). Every kernel names
// its CPU reference in device/cpu. README.md beside this file says how to build and check the
// kernels; docs/kernels-design.md records their design and measurements.
//
// The default (pure-Go) build contains only this comment: it never needs nvcc or the fatbin.
package kernels
