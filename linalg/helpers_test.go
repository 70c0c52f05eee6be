package linalg

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/tensor"
)

func cpu(t testing.TB) device.Device {
	t.Helper()
	d, err := device.Get("cpu")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// conditioned returns a geometric spectrum of n values from 1 down to 1/kappa.
func conditioned(n int, kappa float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.Pow(kappa, -float64(i)/float64(n-1))
	}
	return s
}

func mustKnown(t testing.TB, dt tensor.DType, m, n int, s []float64, seed uint64) *tensor.Tensor {
	t.Helper()
	a, err := KnownSpectrum(cpu(t), dt, m, n, s, seed)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// orthError is ‖QᵀQ − I‖_F computed in float64 on the host.
func orthError(q *mat.Dense) float64 {
	var g mat.Dense
	g.Mul(q.T(), q)
	_, n := q.Dims()
	var s float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			v := g.At(i, j)
			if i == j {
				v--
			}
			s += v * v
		}
	}
	return math.Sqrt(s)
}

// residual is ‖A − B·C‖_F/‖A‖_F in float64 on the host.
func residual(a, b, c mat.Matrix) float64 {
	var p mat.Dense
	p.Mul(b, c)
	p.Sub(a, &p)
	return mat.Norm(&p, 2) / mat.Norm(a, 2)
}

var cpuDev = device.MustGet("cpu")
