package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestPack checks the packed layouts element by element against their
// definition, for both transposes and ragged edges.
func TestPack(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const lda = 40
	a := randSlice[float64](r, 40*lda)
	for _, trans := range []bool{false, true} {
		for _, sh := range [][4]int{{14, 32, 3, 5}, {17, 9, 4, 8}, {1, 1, 0, 0}, {23, 31, 14, 7}, {16, 39, 1, 0}, {8, 3, 0, 2}} {
			mb, kb, ic, pc := sh[0], sh[1], sh[2], sh[3]
			_, ds := kernelVariants()
			for _, ks := range append(ds, &kernelSet[float64]{mr: 4}, &kernelSet[float64]{mr: 6}, &kernelSet[float64]{mr: 14}, &kernelSet[float64]{mr: 16, packT8: ds[0].packT8, packCols: ds[0].packCols}) {
				mr := ks.mr
				dst := make([]float64, roundUp(mb, mr)*kb)
				for i := range dst {
					dst[i] = 99
				}
				packA(ks, dst, trans, a, lda, ic, pc, mb, kb, 0.5)
				for i := range roundUp(mb, mr) {
					for p := range kb {
						want := 0.0
						if i < mb {
							if trans {
								want = 0.5 * a[(pc+p)*lda+ic+i]
							} else {
								want = 0.5 * a[(ic+i)*lda+pc+p]
							}
						}
						if got := dst[i/mr*mr*kb+p*mr+i%mr]; got != want {
							t.Fatalf("packA trans=%v %v mr=%d: (%d,%d) = %v, want %v", trans, sh, mr, i, p, got, want)
						}
					}
				}
				// packB with nr = mr reads the same matrix as a kb×mb B.
				packB(ks, dst, trans, a, lda, pc, ic, kb, mb, mr)
				for j := range roundUp(mb, mr) {
					for p := range kb {
						want := 0.0
						if j < mb {
							if trans {
								want = a[(ic+j)*lda+pc+p]
							} else {
								want = a[(pc+p)*lda+ic+j]
							}
						}
						if got := dst[j/mr*mr*kb+p*mr+j%mr]; got != want {
							t.Fatalf("packB trans=%v %v nr=%d: (%d,%d) = %v, want %v", trans, sh, mr, p, j, got, want)
						}
					}
				}
			}
		}
	}
}

func BenchmarkPackA(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n, kb, mb = 1024, 256, 224
	a := randSlice[float32](r, n*n)
	dst := make([]float32, (mb+16)*kb)
	ss, _ := kernelVariants()
	for _, trans := range []bool{false, true} {
		for _, ks := range ss {
			name := "N/"
			if trans {
				name = "T/"
			}
			b.Run(name+ks.name, func(b *testing.B) {
				for b.Loop() {
					packA(ks, dst, trans, a, n, 0, 0, mb, kb, 1)
				}
				b.ReportMetric(float64(mb*kb*4*b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}
