//go:build !unix

package tabpfn

// processCPUSeconds is unavailable here; benchmarks then report 0 CPU seconds.
func processCPUSeconds() float64 { return 0 }
