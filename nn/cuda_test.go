//go:build cuda || cudaemu

package nn

// In cuda builds the CUDA backend is linked in, so KILN_TEST_DEVICE=cuda runs this package's
// tests on the GPU. (Such a binary starts only where a driver is present; CI compiles it and
// does not run it.)
import _ "github.com/kiln-ml/kiln/device/cuda"
