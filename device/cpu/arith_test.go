package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestArithRows(t *testing.T) { forEachVecLevel(t, testArithRows) }

// testArithRows checks addRow and mulRow against float32 arithmetic one element at a time,
// bit for bit, at every length up to 80 and every start offset modulo 8 (so the vector
// loops, their tails and unaligned slices all run), with specials among the values and with
// the output aliasing an input.
func testArithRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-38}
	draw := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			if rng.IntN(8) == 0 {
				v[i] = specials[rng.IntN(len(specials))]
			} else {
				v[i] = float32(rng.NormFloat64() * math.Exp(4*rng.NormFloat64()))
			}
		}
		return v
	}
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
	}
	for _, op := range []struct {
		name string
		row  func(y, a, b []float32)
		f    func(a, b float32) float32
	}{
		{"add", addRow[float32], func(a, b float32) float32 { return a + b }},
		{"mul", mulRow[float32], func(a, b float32) float32 { return a * b }},
	} {
		for n := 0; n <= 80; n++ {
			for off := range 8 {
				a, b := draw(off + n)[off:], draw(off + n)[off:]
				y := make([]float32, off+n)[off:]
				op.row(y, a, b)
				for i := range n {
					if want := op.f(a[i], b[i]); !same(y[i], want) {
						t.Fatalf("%s, n %d, offset %d: y[%d] = %v, want %v for %v and %v", op.name, n, off, i, y[i], want, a[i], b[i])
					}
				}
				want := make([]float32, n)
				for i := range n {
					want[i] = op.f(a[i], b[i])
				}
				op.row(a, a, b) // in place
				for i := range n {
					if !same(a[i], want[i]) {
						t.Fatalf("%s in place, n %d: a[%d] = %v, want %v", op.name, n, i, a[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkAddRow times the sum of two 4096-element float32 rows in each form.
func BenchmarkAddRow(b *testing.B) {
	x, y := make([]float32, 4096), make([]float32, 4096)
	for i := range x {
		x[i], y[i] = float32(i), 1/float32(i+1)
	}
	out := make([]float32, len(x))
	withEachVecLevel(func(name string) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				addRow(out, x, y)
			}
		})
	})
}
