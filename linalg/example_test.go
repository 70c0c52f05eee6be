package linalg_test

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/linalg"
	"github.com/kiln-ml/kiln/tensor"
)

// A 300×200 matrix with singular values 0.5^i: the rank-4 randomized SVD recovers the
// leading four, and its error is the Eckart–Young optimum.
func ExampleRandomizedSVD() {
	dev := device.MustGet("cpu")
	s, _ := linalg.GeometricSpectrum(200, 0.5)
	a, _ := linalg.KnownSpectrum(dev, tensor.Float64, 300, 200, s, 1)
	res, err := linalg.RandomizedSVD(a, 4, linalg.DefaultRSVDOptions())
	if err != nil {
		panic(err)
	}
	rel, _ := linalg.RelativeError(a, res)
	fmt.Printf("singular values %.4f\n", res.S)
	fmt.Printf("relative error %.6f, optimal %.6f\n", rel, linalg.OptimalRankError(s, 4))
	// Output:
	// singular values [1.0000 0.5000 0.2500 0.1250]
	// relative error 0.062500, optimal 0.062500
}

// TT-SVD of a 4×4×4 tensor with exact TT ranks 1: a single Kronecker product.
func ExampleTTSVD() {
	dev := device.MustGet("cpu")
	v := []float64{1, 2, 3, 4}
	data := make([]float64, 0, 64)
	for _, x := range v {
		for _, y := range v {
			for _, z := range v {
				data = append(data, x*y*z)
			}
		}
	}
	a := tensor.FromFloat64(dev, data, 4, 4, 4)
	tt, err := linalg.TTSVD(a, linalg.TTOptions{Eps: 1e-12})
	if err != nil {
		panic(err)
	}
	rel, _ := tt.RelativeError(a)
	fmt.Println("ranks", tt.Ranks, "params", tt.Params(), "error below 1e-14:", rel < 1e-14)
	// Output:
	// ranks [1 1 1 1] params 12 error below 1e-14: true
}
