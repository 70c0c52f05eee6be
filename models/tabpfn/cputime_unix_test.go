//go:build unix

package tabpfn

import "syscall"

// processCPUSeconds returns the user+system CPU time of this process, so that benchmarks can
// report CPU seconds per operation beside wall time on a shared, oversubscribed machine.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
