//go:build cuda

package kernels

import _ "embed"

// Fatbin is the compiled kernel module (kernels/build/kiln.fatbin, made by `make kernels`):
// SASS for sm_80 and sm_90 and compute_80 PTX that newer GPUs JIT-compile at load. The cuda
// build fails with "pattern build/kiln.fatbin: no matching files found" until it exists.
//
//go:embed build/kiln.fatbin
var Fatbin []byte
