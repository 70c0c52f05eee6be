//go:build !amd64 || noasm

package gemm

var (
	sKernels   = genericSet[float32]("generic")
	dKernels   = genericSet[float64]("generic")
	kernelName = "generic"
)

// kernelVariants lists every kernel set this build can run, for tests.
func kernelVariants() ([]*kernelSet[float32], []*kernelSet[float64]) {
	return []*kernelSet[float32]{sKernels}, []*kernelSet[float64]{dKernels}
}
