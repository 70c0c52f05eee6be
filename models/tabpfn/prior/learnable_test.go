package prior

import (
	"math"
	"testing"
)

// knnAccuracy classifies the test rows of d by a majority vote of their k nearest training
// rows (Euclidean, missing values as 0, the training mean after standardising) and returns
// the accuracy, next to the accuracy of always predicting the most frequent training class.
func knnAccuracy(d Dataset, k int) (knn, majority float64) {
	val := func(i, j int) float64 {
		v := float64(d.At(i, j))
		if math.IsNaN(v) {
			return 0
		}
		return v
	}
	counts := make([]int, d.Classes)
	for i := range d.NTrain {
		counts[d.Y[i]]++
	}
	mode := 0
	for c, n := range counts {
		if n > counts[mode] {
			mode = c
		}
	}
	k = min(k, d.NTrain)
	var okKNN, okMaj int
	dist := make([]float64, d.NTrain)
	for i := d.NTrain; i < d.Rows; i++ {
		for t := range d.NTrain {
			var s float64
			for j := range d.Features {
				e := val(i, j) - val(t, j)
				s += e * e
			}
			dist[t] = s
		}
		votes := make([]float64, d.Classes)
		used := make([]bool, d.NTrain)
		for range k { // k smallest by selection: k and NTrain are small here
			best := -1
			for t := range d.NTrain {
				if !used[t] && (best < 0 || dist[t] < dist[best]) {
					best = t
				}
			}
			used[best] = true
			votes[d.Y[best]]++
		}
		pred := 0
		for c := range votes {
			if votes[c] > votes[pred] {
				pred = c
			}
		}
		if int32(pred) == d.Y[i] {
			okKNN++
		}
		if int32(mode) == d.Y[i] {
			okMaj++
		}
	}
	n := float64(d.Rows - d.NTrain)
	return float64(okKNN) / n, float64(okMaj) / n
}

// TestLearnable checks that labels depend on the features: over 50 datasets of each prior, a
// 5-nearest-neighbour classifier beats predicting the majority class on average. If labels
// were unrelated to features (a bug wiring the target to the wrong node or to noise), kNN
// would do no better than the majority class, and on average slightly worse.
func TestLearnable(t *testing.T) {
	for _, mech := range []string{MechanismsBasic, MechanismsExtended} {
		for _, bnn := range []float64{0, 1} {
			testLearnable(t, mech, bnn)
		}
	}
}

func testLearnable(t *testing.T, mech string, bnn float64) {
	c, err := smallConfig().WithMechanisms(mech)
	if err != nil {
		t.Fatal(err)
	}
	c.BNNFraction = bnn
	c.MaxRows = 300
	c.MaxFeatures = 10
	c.MaxClasses = 4
	s := newSampler(t, c)
	var gain, knnSum, majSum float64
	wins := 0
	const n = 50
	for idx := range uint64(n) {
		knn, maj := knnAccuracy(s.Sample(1000+idx), 5)
		gain += (knn - maj) / n
		knnSum += knn / n
		majSum += maj / n
		if knn > maj {
			wins++
		}
	}
	t.Logf("%s prior, BNN fraction %v: kNN accuracy %.3f, majority %.3f, kNN better on %d of %d", mech, bnn, knnSum, majSum, wins, n)
	if gain < 0.05 || wins < n/2 {
		t.Errorf("%s prior, BNN fraction %v: kNN gains only %.3f over the majority class (wins %d/%d)", mech, bnn, gain, wins, n)
	}
}
