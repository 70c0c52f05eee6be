//go:build linux

package gemm

import "syscall"

// threadCPU returns the CPU time of the calling OS thread in seconds.
func threadCPU() float64 {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// processCPU returns the CPU time of the whole process in seconds: with
// other programs on the same cores, flops per CPU-second still measures the
// code (GFLOP/cpu-s), where wall-clock rates measure the neighbours too.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
