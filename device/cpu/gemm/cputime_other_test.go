//go:build !linux

package gemm

// threadCPU is unavailable here; BenchmarkVariants then reports wall-clock
// rates only.
func threadCPU() float64 { return 0 }

// processCPU is unavailable here.
func processCPU() float64 { return 0 }
