//go:build amd64 && !noasm

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

//go:noescape
func sgemmKernel6x16AVX2(k int, a, b, c *float32, ldc int, add int)

//go:noescape
func dgemmKernel6x8AVX2(k int, a, b, c *float64, ldc int, add int)

//go:noescape
func sgemmKernel8x48AVX512(k int, a, b, c *float32, ldc int, add int)

//go:noescape
func dgemmKernel8x24AVX512(k int, a, b, c *float64, ldc int, add int)

//go:noescape
func sgemmKernel8x32AVX512(k int, a, b, c *float32, ldc int, add int)

//go:noescape
func dgemmKernel8x16AVX512(k int, a, b, c *float64, ldc int, add int)

//go:noescape
func packT8F32AVX2(n int, src *float32, lds int, dst *float32, ldd int, alpha float32)

//go:noescape
func packT8F64AVX2(n int, src *float64, lds int, dst *float64, ldd int, alpha float64)

var sKernels, dKernels, kernelName = selectKernels(cpu.X86.HasAVX512F, cpu.X86.HasAVX2 && cpu.X86.HasFMA)

// selectKernels picks the widest micro-kernel the CPU runs. The block sizes
// were tuned on a 2-core AMD EPYC (Zen 4: 32 KiB L1d, 1 MiB L2 per core,
// 32 MiB L3; see docs/cpu-gemm-design.md): a deep kc (512) halves the passes
// over C, and a short mc (64 rows) keeps the A block at 128-256 KiB of L2
// while the 8×nr kernel streams the B micro-panel. cpu.X86 already requires
// the OS to save the wide registers (XGETBV) before reporting AVX2 or
// AVX-512.
func selectKernels(avx512, avx2 bool) (*kernelSet[float32], *kernelSet[float64], string) {
	switch {
	case avx512:
		// 8×32 (8×16) tiles n = 32, 64, 128, ... exactly (attention heads
		// and power-of-two sizes); the 8×48 (8×24) alternative takes the
		// widths that it pads less (see kernelSet.pick).
		s := &kernelSet[float32]{name: "avx512", mr: 8, nr: 32, kc: 512, mc: 64, nc: 4096, kern: sgemmKernel8x32AVX512, packT8: packT8F32AVX2, packCols: 8}
		s.alt = &kernelSet[float32]{name: "avx512", mr: 8, nr: 48, kc: 512, mc: 64, nc: 4096, kern: sgemmKernel8x48AVX512, packT8: packT8F32AVX2, packCols: 8}
		d := &kernelSet[float64]{name: "avx512", mr: 8, nr: 16, kc: 512, mc: 64, nc: 1024, kern: dgemmKernel8x16AVX512, packT8: packT8F64AVX2, packCols: 4}
		d.alt = &kernelSet[float64]{name: "avx512", mr: 8, nr: 24, kc: 512, mc: 64, nc: 1032, kern: dgemmKernel8x24AVX512, packT8: packT8F64AVX2, packCols: 4}
		return s, d, "avx512"
	case avx2:
		return &kernelSet[float32]{name: "avx2", mr: 6, nr: 16, kc: 512, mc: 72, nc: 4096, kern: sgemmKernel6x16AVX2, packT8: packT8F32AVX2, packCols: 8},
			&kernelSet[float64]{name: "avx2", mr: 6, nr: 8, kc: 512, mc: 48, nc: 4096, kern: dgemmKernel6x8AVX2, packT8: packT8F64AVX2, packCols: 4},
			"avx2"
	}
	return genericSet[float32]("generic"), genericSet[float64]("generic"), "generic"
}

// kernelVariants lists every kernel set this CPU can run (the selected one
// and every narrower one), for tests.
func kernelVariants() ([]*kernelSet[float32], []*kernelSet[float64]) {
	var ss []*kernelSet[float32]
	var ds []*kernelSet[float64]
	hasAVX2 := cpu.X86.HasAVX2 && cpu.X86.HasFMA
	for _, f := range []struct{ avx512, avx2 bool }{{cpu.X86.HasAVX512F, hasAVX2}, {false, hasAVX2}, {false, false}} {
		s, d, _ := selectKernels(f.avx512, f.avx2)
		if len(ss) > 0 && ss[len(ss)-1].name == s.name {
			continue
		}
		ss, ds = append(ss, s), append(ds, d)
		if s.alt != nil {
			ss, ds = append(ss, s.alt), append(ds, d.alt)
		}
	}
	return ss, ds
}
