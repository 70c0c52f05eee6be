package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLayerNormVectorForm checks that each vector form of the float32 layer norm gives the
// scalar loops' bits (mean, rstd and y) at widths that do and do not take it, and that the
// scalar loops agree with a two-pass float64 reference to float32 rounding.
func TestLayerNormVectorForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, cols := range []int{8, 13, 16, 24, 128, 200} {
		const rows = 37
		x := make([]float32, rows*cols)
		for i := range x {
			x[i] = float32(3 + rng.NormFloat64()*math.Exp(2*rng.NormFloat64()))
		}
		gamma, beta := make([]float32, cols), make([]float32, cols)
		for i := range gamma {
			gamma[i], beta[i] = float32(1+0.3*rng.NormFloat64()), float32(0.2*rng.NormFloat64())
		}
		run := func() (y, mean, rstd []float32) {
			y, mean, rstd = make([]float32, rows*cols), make([]float32, rows), make([]float32, rows)
			layerNorm(x, gamma, beta, y, mean, rstd, rows, cols, 1e-5)
			return
		}
		saved := vecLevel
		vecLevel = vecNone
		y0, mean0, rstd0 := run()
		vecLevel = saved
		for r := range rows {
			xr := x[r*cols : (r+1)*cols]
			var mu, ss float64
			for _, v := range xr {
				mu += float64(v)
			}
			mu /= float64(cols)
			for _, v := range xr {
				ss += (float64(v) - mu) * (float64(v) - mu)
			}
			rs := 1 / math.Sqrt(ss/float64(cols)+1e-5)
			for i, v := range xr {
				want := float32((float64(v)-mu)*rs*float64(gamma[i]) + float64(beta[i]))
				if d := ulps32(y0[r*cols+i], want); d > 1 && math.Abs(float64(want)) > 1e-6 {
					t.Fatalf("cols %d, row %d: y[%d] = %v, want %v (%d ulp)", cols, r, i, y0[r*cols+i], want, d)
				}
			}
		}
		withEachVecLevel(func(name string) {
			y, mean, rstd := run()
			for i := range y {
				if math.Float32bits(y[i]) != math.Float32bits(y0[i]) {
					t.Fatalf("%s, cols %d: y[%d] = %v, scalar %v", name, cols, i, y[i], y0[i])
				}
			}
			for r := range rows {
				if mean[r] != mean0[r] || rstd[r] != rstd0[r] {
					t.Fatalf("%s, cols %d, row %d: mean, rstd = %v, %v; scalar %v, %v", name, cols, r, mean[r], rstd[r], mean0[r], rstd0[r])
				}
			}
		})
	}
}
