// Package synth makes small synthetic datasets for kiln's tests and examples: data whose
// answer is known, written the way a user's file would be.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/kiln-ml/kiln/data"
)

// BlobsCSV returns a CSV table (header f0..f3,class) of rows rows in three well-separated
// Gaussian classes: class c is centred at 4 on feature c and 0 elsewhere, unit variance. The
// same seed gives the same text.
func BlobsCSV(rows int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 2))
	var b strings.Builder
	b.WriteString("f0,f1,f2,f3,class\n")
	for i := 0; i < rows; i++ {
		c := i % 3
		for j := 0; j < 4; j++ {
			center := 0.0
			if j == c {
				center = 4
			}
			fmt.Fprintf(&b, "%.4f,", center+r.NormFloat64())
		}
		fmt.Fprintf(&b, "c%d\n", c)
	}
	return b.String()
}

// LinearBoundary returns n rows of f standard normal features drawn from r and a two-class
// label from a linear boundary plus noise: class 1 where Σ_j x_j/√(j+1) + 0.5·ε > 0 (the
// table of kiln bench's TabPFN case, at any size).
func LinearBoundary(r *rand.Rand, n, f int) (data.Matrix, []int) {
	x := data.NewMatrix(n, f)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		s := 0.0
		for j := 0; j < f; j++ {
			v := r.NormFloat64()
			x.Set(i, j, v)
			s += v / math.Sqrt(float64(j+1))
		}
		if s+0.5*r.NormFloat64() > 0 {
			y[i] = 1
		}
	}
	return x, y
}
