package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkVariants times every kernel this CPU can run (and, through
// GEMM_TUNE="kc,mc,nc", other cache blockings) on one and all cores; it is
// how the numbers in docs/cpu-gemm-design.md were taken.
func BenchmarkVariants(b *testing.B) {
	ss, ds := kernelVariants()
	var kc, mc, nc int
	if v := os.Getenv("GEMM_TUNE"); v != "" {
		fmt.Sscanf(v, "%d,%d,%d", &kc, &mc, &nc)
	}
	tune := func(name string, mr, nr, dkc, dmc, dnc int) (string, int, int, int) {
		if kc > 0 {
			dkc, dmc, dnc = kc, (mc+mr-1)/mr*mr, (nc+nr-1)/nr*nr
		}
		return fmt.Sprintf("%s-kc%d-mc%d-nc%d", name, dkc, dmc, dnc), dkc, dmc, dnc
	}
	sizes := []int{512, 1024, 2048}
	if v := os.Getenv("GEMM_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			var n int
			fmt.Sscan(f, &n)
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			for _, s := range ss {
				name, kc, mc, nc := tune(s.name, s.mr, s.nr, s.kc, s.mc, s.nc)
				ks := &kernelSet[float32]{name: s.name, mr: s.mr, nr: s.nr, kc: kc, mc: mc, nc: nc, kern: s.kern, packT8: s.packT8, packCols: s.packCols}
				b.Run(fmt.Sprintf("s/%s/n%d/w%d", name, n, workers), func(b *testing.B) {
					benchKS(b, ks, n, workers)
				})
			}
			for _, s := range ds {
				name, kc, mc, nc := tune(s.name, s.mr, s.nr, s.kc, s.mc, s.nc)
				ks := &kernelSet[float64]{name: s.name, mr: s.mr, nr: s.nr, kc: kc, mc: mc, nc: nc, kern: s.kern, packT8: s.packT8, packCols: s.packCols}
				b.Run(fmt.Sprintf("d/%s/n%d/w%d", name, n, workers), func(b *testing.B) {
					benchKS(b, ks, n, workers)
				})
			}
		}
	}
}

func benchKS[T Float](b *testing.B, ks *kernelSet[T], n, workers int) {
	r := rand.New(rand.NewPCG(7, 8))
	a, bm, c := randSlice[T](r, n*n), randSlice[T](r, n*n), make([]T, n*n)
	gemm(ks, workers, false, false, n, n, n, 1, a, n, bm, n, 0, c, n)
	// On one worker the whole GEMM runs on this goroutine; pinned to its
	// thread, the thread's CPU time measures the work even when other
	// processes share the cores (GFLOP per CPU-second).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	b.ResetTimer()
	for b.Loop() {
		gemm(ks, workers, false, false, n, n, n, 1, a, n, bm, n, 0, c, n)
	}
	flops := 2 * float64(n) * float64(n) * float64(n) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if workers == 1 {
		if d := threadCPU() - cpu0; d > 0 {
			b.ReportMetric(flops/d/1e9, "GFLOP/cpu-s")
		}
	}
}

// BenchmarkKernels times each micro-kernel alone on L1-resident panels: the
// ceiling the packed GEMM can reach on one core.
func BenchmarkKernels(b *testing.B) {
	ss, ds := kernelVariants()
	const kb = 128
	for _, s := range ss {
		b.Run("s/"+s.name, func(b *testing.B) { benchKernel(b, s, kb) })
	}
	for _, s := range ds {
		b.Run("d/"+s.name, func(b *testing.B) { benchKernel(b, s, kb) })
	}
}

func benchKernel[T Float](b *testing.B, ks *kernelSet[T], kb int) {
	r := rand.New(rand.NewPCG(1, 1))
	a, bp, c := randSlice[T](r, ks.mr*kb), randSlice[T](r, ks.nr*kb), make([]T, ks.mr*ks.nr)
	for b.Loop() {
		for range 100 {
			ks.kern(kb, &a[0], &bp[0], &c[0], ks.nr, 1)
		}
	}
	b.ReportMetric(2*float64(ks.mr*ks.nr*kb)*100*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
