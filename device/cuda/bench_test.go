//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/kiln-ml/kiln/device"
)

// Go benchmarks of the CUDA kernels (a GPU machine with a Go toolchain:
// `go test -tags cuda -run '^$' -bench . ./device/cuda/`). bench/gpu/run.sh measures the same
// shapes with CUDA events through `kiln cudabench`, next to PyTorch, where no Go toolchain is.
// On the cudaemu emulator these measure the emulator, not a GPU.

func benchBufs(b *testing.B, dt device.DType, ns ...int) []device.Buffer {
	d := gpu(b)
	out := make([]device.Buffer, len(ns))
	for i, n := range ns {
		buf, err := d.Alloc(dt, n)
		if err != nil {
			b.Fatal(err)
		}
		d.RandomFill(buf, device.Normal, uint64(i+1), 0, 0, 1)
		out[i] = buf
		b.Cleanup(buf.Free)
	}
	return out
}

func BenchmarkSGEMM(b *testing.B) {
	for _, n := range []int{256, 1024, 2048} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d := gpu(b)
			bs := benchBufs(b, device.Float32, n*n, n*n, n*n)
			p := device.GemmParams{M: n, N: n, K: n, Alpha: 1, LdA: n, LdB: n, LdC: n, Batch: 1}
			d.Gemm(p, bs[0], bs[1], bs[2])
			if err := d.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d.Gemm(p, bs[0], bs[1], bs[2])
			}
			if err := d.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(2*math.Pow(float64(n), 3)*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
		})
	}
}

// BenchmarkAttention times forward and backward at a TabPFN-like shape (batch·heads 64,
// 1024 items of which 896 are context) for head dims 32 and 64.
func BenchmarkAttention(b *testing.B) {
	for _, dh := range []int{32, 64} {
		p := device.AttentionParams{Batch: 64, Lq: 1024, Lk: 1024, D: dh, Dv: dh, NContext: 896, Scale: 1 / math.Sqrt(float64(dh))}
		nq, nk := p.Batch*p.Lq*dh, p.Batch*p.Lk*dh
		for _, dir := range []string{"fwd", "bwd"} {
			b.Run(fmt.Sprintf("d%d/%s", dh, dir), func(b *testing.B) {
				d := gpu(b)
				bs := benchBufs(b, device.Float32, nq, nk, nk, nq, p.Batch*p.Lq, nq, nq, nk, nk)
				q, k, v, o, lse, dO, dq, dk, dv := bs[0], bs[1], bs[2], bs[3], bs[4], bs[5], bs[6], bs[7], bs[8]
				d.Attention(p, q, k, v, o, lse)
				run := func() { d.Attention(p, q, k, v, o, lse) }
				flops := 4.0
				if dir == "bwd" {
					run = func() { d.AttentionBackward(p, q, k, v, o, lse, dO, dq, dk, dv) }
					flops = 10
				}
				run()
				if err := d.Sync(); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					run()
				}
				if err := d.Sync(); err != nil {
					b.Fatal(err)
				}
				work := flops * float64(p.Batch*p.Lq*p.NContext*dh)
				b.ReportMetric(work*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
			})
		}
	}
}
