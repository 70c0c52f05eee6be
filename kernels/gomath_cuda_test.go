//go:build cuda

package kernels

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/rng"
)

// TestGoMathMatchesPackageMath checks, bit for bit, the C transcription of Go's Log, Sin and
// Cos that rng.cu's normal fill uses, on the arguments that fill produces (u in (0,1) and
// 2πu), including both ends of the range and every octant of the sine/cosine reduction.
// This test runs on any machine with a C compiler: the kernels package does not start CUDA.
func TestGoMathMatchesPackageMath(t *testing.T) {
	var us []float64
	for _, x := range []uint32{0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xB504F333, 0xFFFFFFFE, 0xFFFFFFFF} {
		us = append(us, rng.ToUnit(x))
	}
	for i := 0; i < 200000; i++ {
		blk := rng.Block(12345, uint64(i))
		for _, x := range blk {
			us = append(us, rng.ToUnit(x))
		}
	}
	bad := 0
	for _, u := range us {
		if got, want := hostLog(u), math.Log(u); math.Float64bits(got) != math.Float64bits(want) {
			if bad++; bad < 5 {
				t.Errorf("log(%v) = %v, Go %v", u, got, want)
			}
		}
		x := 2 * math.Pi * u
		s, c := hostSinCos(x)
		if math.Float64bits(s) != math.Float64bits(math.Sin(x)) || math.Float64bits(c) != math.Float64bits(math.Cos(x)) {
			if bad++; bad < 5 {
				t.Errorf("sincos(%v) = %v, %v; Go %v, %v", x, s, c, math.Sin(x), math.Cos(x))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d arguments differ from package math", bad, len(us))
	}
}
