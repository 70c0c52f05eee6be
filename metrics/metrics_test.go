package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/data"
)

func mat(rows ...[]float64) data.Matrix {
	m, err := data.MatrixFromRows(rows)
	if err != nil {
		panic(err)
	}
	return m
}

// pairwiseAUC counts, over all (positive, negative) pairs, 1 when the positive scores
// higher and 1/2 on a tie: the definition of AUC, in O(n²).
func pairwiseAUC(pos []bool, s []float64) float64 {
	var num, den float64
	for i := range s {
		for j := range s {
			if pos[i] && !pos[j] {
				den++
				switch {
				case s[i] > s[j]:
					num++
				case s[i] == s[j]:
					num += 0.5
				}
			}
		}
	}
	return num / den
}

func TestBinaryAUCHandCases(t *testing.T) {
	cases := []struct {
		pos  []bool
		s    []float64
		want float64
	}{
		// 4 pairs: (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) → 3/4.
		{[]bool{false, false, true, true}, []float64{0.1, 0.4, 0.35, 0.8}, 0.75},
		// A positive tied with a negative counts one half: (0.5=0.5) ½ + 1 + 1 + 1 → 3.5/4.
		{[]bool{false, true, false, true}, []float64{0.5, 0.5, 0.2, 0.9}, 0.875},
		{[]bool{true, false, true}, []float64{3, 3, 3}, 0.5},
		{[]bool{true, false}, []float64{0, 1}, 0},
		{[]bool{true, false}, []float64{1, 0}, 1},
	}
	for _, c := range cases {
		got, err := BinaryAUC(c.pos, c.s)
		if err != nil || math.Abs(got-c.want) > 1e-15 {
			t.Errorf("AUC(%v,%v)=%v,%v want %v", c.pos, c.s, got, err, c.want)
		}
	}
	if _, err := BinaryAUC([]bool{true, true}, []float64{1, 2}); err == nil {
		t.Error("one class accepted")
	}
	if _, err := BinaryAUC([]bool{true}, []float64{1, 2}); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := BinaryAUC([]bool{true, false}, []float64{math.NaN(), 2}); err == nil {
		t.Error("NaN score accepted")
	}
}

func TestBinaryAUCMatchesPairwiseCount(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for trial := range 200 {
		n := 2 + r.IntN(60)
		pos := make([]bool, n)
		s := make([]float64, n)
		for i := range n {
			pos[i] = r.Float64() < 0.4
			s[i] = float64(r.IntN(8)) // coarse scores: many ties
			if pos[i] {
				s[i] += float64(r.IntN(3))
			}
		}
		pos[0], pos[1] = true, false
		got, err := BinaryAUC(pos, s)
		if err != nil {
			t.Fatal(err)
		}
		if want := pairwiseAUC(pos, s); math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d: %v want %v", trial, got, want)
		}
	}
}

func TestROCAUCMulticlassIsMacroOneVsRest(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	n, k := 80, 4
	y := make([]int, n)
	P := data.NewMatrix(n, k)
	for i := range n {
		y[i] = r.IntN(k - 1) // class 3 never occurs: left out of the mean
		var sum float64
		for j := range k {
			v := r.Float64()
			if j == y[i] {
				v += 0.5
			}
			P.Set(i, j, v)
			sum += v
		}
		for j := range k {
			P.Set(i, j, P.At(i, j)/sum)
		}
	}
	var want float64
	for c := range 3 {
		pos := make([]bool, n)
		for i := range y {
			pos[i] = y[i] == c
		}
		want += pairwiseAUC(pos, P.Col(c)) / 3
	}
	got, err := ROCAUC(y, P)
	if err != nil || math.Abs(got-want) > 1e-12 {
		t.Errorf("ovr macro AUC %v,%v want %v", got, err, want)
	}
	// Binary: column 1 is the positive class.
	yb := []int{0, 0, 1, 1}
	Pb := mat([]float64{0.9, 0.1}, []float64{0.6, 0.4}, []float64{0.65, 0.35}, []float64{0.2, 0.8})
	if got, _ := ROCAUC(yb, Pb); math.Abs(got-0.75) > 1e-15 {
		t.Errorf("binary ROCAUC %v want 0.75", got)
	}
}

func TestLogLossAndAccuracy(t *testing.T) {
	y := []int{0, 1, 2}
	P := mat([]float64{0.9, 0.05, 0.05}, []float64{0.2, 0.8, 0}, []float64{0.5, 0.5, 0})
	ll, err := LogLoss(y, P)
	if err != nil {
		t.Fatal(err)
	}
	// Row 3 gives class 2 probability 0, clipped to 1e-15 and renormalized by 1 + 1e-15 − 2e-15... :
	// −log(1e-15 / (0.5 + 0.5 + 1e-15)).
	want := -(math.Log(0.9) + math.Log(0.8/(1+1e-15)) + math.Log(1e-15/(1+1e-15))) / 3
	if math.Abs(ll-want) > 1e-12 {
		t.Errorf("log loss %v want %v", ll, want)
	}
	// Rows that do not sum to one are renormalized: [2, 2] is [0.5, 0.5].
	if ll, _ := LogLoss([]int{1}, mat([]float64{2, 2})); math.Abs(ll-math.Log(2)) > 1e-12 {
		t.Errorf("unnormalized row: %v want log 2", ll)
	}
	acc, err := Accuracy(y, P)
	if err != nil || math.Abs(acc-2.0/3) > 1e-15 { // row 3 ties 0.5/0.5 → class 0 → wrong
		t.Errorf("accuracy %v,%v want 2/3", acc, err)
	}
	if _, err := LogLoss([]int{0, 5}, mat([]float64{1, 0}, []float64{0, 1})); err == nil {
		t.Error("label out of range accepted")
	}
	if _, err := LogLoss([]int{0}, mat([]float64{1, 0}, []float64{0, 1})); err == nil {
		t.Error("row mismatch accepted")
	}
	if _, err := Accuracy([]int{0}, mat([]float64{math.NaN(), 0})); err == nil {
		t.Error("NaN probability accepted")
	}
	if _, err := AccuracyLabels(nil, nil); err == nil {
		t.Error("empty accepted")
	}
}
