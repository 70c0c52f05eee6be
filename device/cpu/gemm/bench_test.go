package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var benchSizes = []int{256, 512, 1024, 2048}

// benchSquare times C = A·B for n×n matrices and reports GFLOP/s (2n³ flops
// per product).
func benchSquare[T Float](b *testing.B, f func(n int, a, bm, c []T)) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(7, 8))
			a, bm, c := randSlice[T](r, n*n), randSlice[T](r, n*n), make([]T, n*n)
			f(n, a, bm, c) // warm the packing-buffer pool
			b.ResetTimer()
			cpu0 := processCPU()
			for b.Loop() {
				f(n, a, bm, c)
			}
			flops := 2 * float64(n) * float64(n) * float64(n) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			// Flops per CPU-second of the process: with -cpu 1 this is the
			// single-core rate even while other programs share the cores.
			if d := processCPU() - cpu0; d > 0 {
				b.ReportMetric(flops/d/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

func BenchmarkSgemm(b *testing.B) {
	benchSquare(b, func(n int, a, bm, c []float32) { Sgemm(false, false, n, n, n, 1, a, n, bm, n, 0, c, n) })
}

func BenchmarkDgemm(b *testing.B) {
	benchSquare(b, func(n int, a, bm, c []float64) { Dgemm(false, false, n, n, n, 1, a, n, bm, n, 0, c, n) })
}

// The gonum benchmarks are the pure-Go peer kiln is compared with in
// bench/results.
func BenchmarkGonumSgemm(b *testing.B) {
	var impl gonum.Implementation
	benchSquare(b, func(n int, a, bm, c []float32) {
		impl.Sgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, bm, n, 0, c, n)
	})
}

func BenchmarkGonumDgemm(b *testing.B) {
	var impl gonum.Implementation
	benchSquare(b, func(n int, a, bm, c []float64) {
		impl.Dgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, bm, n, 0, c, n)
	})
}

// BenchmarkSgemmBatchedAttention is the attention-score shape: 1024 heads ×
// queries of Q(128×32)·Kᵀ(32×128).
func BenchmarkSgemmBatchedAttention(b *testing.B) {
	const batch, m, n, k = 1024, 128, 128, 32
	r := rand.New(rand.NewPCG(9, 10))
	q, kk, c := randSlice[float32](r, batch*m*k), randSlice[float32](r, batch*n*k), make([]float32, batch*m*n)
	cpu0 := processCPU()
	for b.Loop() {
		SgemmBatched(false, true, m, n, k, 1, q, k, m*k, kk, k, n*k, 0, c, n, m*n, batch)
	}
	flops := 2 * batch * m * n * k * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if d := processCPU() - cpu0; d > 0 {
		b.ReportMetric(flops/d/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkSgemmTrans times the four transpose combinations at n = 1024 (the
// backward pass of a linear layer uses Aᵀ·B and A·Bᵀ).
func BenchmarkSgemmTrans(b *testing.B) {
	const n = 1024
	r := rand.New(rand.NewPCG(7, 8))
	a, bm, c := randSlice[float32](r, n*n), randSlice[float32](r, n*n), make([]float32, n*n)
	for _, tr := range []struct {
		name   string
		tA, tB bool
	}{{"NN", false, false}, {"NT", false, true}, {"TN", true, false}, {"TT", true, true}} {
		b.Run(tr.name, func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				Sgemm(tr.tA, tr.tB, n, n, n, 1, a, n, bm, n, 0, c, n)
			}
			flops := 2 * float64(n) * n * n * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if d := processCPU() - cpu0; d > 0 {
				b.ReportMetric(flops/d/1e9, "GFLOP/cpu-s")
			}
		})
	}
}
