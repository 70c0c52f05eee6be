package linear

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/metrics"
)

// A linearly separable three-class table, scaled and offset, is learned: high accuracy on
// fresh rows, probabilities that sum to one.
func TestLogisticRegressionFitsSeparableClasses(t *testing.T) {
	gen := func(n int, seed uint64) (data.Matrix, []int) {
		r := rand.New(rand.NewPCG(seed, 1))
		X := data.NewMatrix(n, 3)
		y := make([]int, n)
		for i := range y {
			y[i] = i % 3
			for j := 0; j < 3; j++ {
				v := r.NormFloat64()
				if j == y[i] {
					v += 3
				}
				X.Set(i, j, 10*v+100) // scale and offset: standardisation must handle them
			}
		}
		X.Set(0, 1, math.NaN())
		return X, y
	}
	X, y := gen(300, 1)
	m := NewLogisticRegression()
	if err := m.Fit(X, y, 3); err != nil {
		t.Fatal(err)
	}
	Xt, yt := gen(300, 2)
	p, err := m.PredictProba(Xt)
	if err != nil {
		t.Fatal(err)
	}
	acc := 0
	for i, c := range metrics.Argmax(p) {
		if c == yt[i] {
			acc++
		}
	}
	if acc < 270 {
		t.Errorf("accuracy %d/300, want at least 270", acc)
	}
	for i := 0; i < p.Rows; i++ {
		s := 0.0
		for _, v := range p.Row(i) {
			s += v
		}
		if math.Abs(s-1) > 1e-9 {
			t.Fatalf("row %d sums to %v", i, s)
		}
	}
	if _, err := NewLogisticRegression().PredictProba(Xt); err == nil {
		t.Error("PredictProba before Fit succeeded")
	}
	if err := m.Fit(X, y[:10], 3); err == nil {
		t.Error("Fit with too few labels succeeded")
	}
}
