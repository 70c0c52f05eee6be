package prior

import (
	"math"
	"slices"
	"testing"
)

func regressionConfig() Config {
	c := smallConfig()
	c.Regression = true
	c.MaxRows = 300
	c.MaxFeatures = 10
	return c
}

// TestRegressionTargets checks the promises of a regression dataset: a finite target per
// row, standardised on the training rows, with at least two distinct training values, no
// class labels; and that the prior's shapes (skew, outliers) occur.
func TestRegressionTargets(t *testing.T) {
	s := newSampler(t, regressionConfig())
	var skewed, outliers int
	const n = 200
	for idx := range uint64(n) {
		d := s.Sample(idx)
		if d.Y != nil || d.Classes != 0 {
			t.Fatalf("dataset %d: regression dataset with labels (%d classes)", idx, d.Classes)
		}
		if len(d.Target) != d.Rows {
			t.Fatalf("dataset %d: %d targets for %d rows", idx, len(d.Target), d.Rows)
		}
		var sum, sq float64
		distinct := map[float32]bool{}
		for i, v := range d.Target {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("dataset %d row %d: target %v", idx, i, v)
			}
			if i < d.NTrain {
				sum += float64(v)
				sq += float64(v) * float64(v)
				distinct[v] = true
			}
		}
		m := sum / float64(d.NTrain)
		sd := math.Sqrt((sq - float64(d.NTrain)*m*m) / float64(d.NTrain-1)) // as preprocess.MeanStd
		if math.Abs(m) > 1e-4 || math.Abs(sd-1) > 1e-3 {
			t.Fatalf("dataset %d: training target mean %v, std %v; want 0 and 1", idx, m, sd)
		}
		if len(distinct) < 2 {
			t.Fatalf("dataset %d: constant training target", idx)
		}
		var m3 float64
		big := false
		for _, v := range d.Target[:d.NTrain] {
			m3 += math.Pow(float64(v), 3) / float64(d.NTrain)
			big = big || math.Abs(float64(v)) > 5
		}
		if math.Abs(m3) > 1 {
			skewed++
		}
		if big {
			outliers++
		}
	}
	t.Logf("%d of %d datasets skewed (|skewness| > 1), %d with a training target beyond 5 sd", skewed, n, outliers)
	if skewed < n/20 || outliers < n/20 {
		t.Errorf("skewed %d, with outliers %d of %d: the prior's target shapes are missing", skewed, outliers, n)
	}
	if !sameRegression(s.Sample(5), s.Sample(5)) {
		t.Error("Sample(5) differs between calls")
	}
}

func sameRegression(a, b Dataset) bool {
	return sameDataset(a, b) && slices.Equal(a.Target, b.Target)
}

// knnR2 predicts the test rows of a regression dataset by the mean target of their k
// nearest training rows and returns the R² on the test rows, with the training mean as the
// reference (R² 0).
func knnR2(d Dataset, k int) float64 {
	val := func(i, j int) float64 {
		v := float64(d.At(i, j))
		if math.IsNaN(v) {
			return 0
		}
		return v
	}
	var mean float64
	for _, v := range d.Target[:d.NTrain] {
		mean += float64(v) / float64(d.NTrain)
	}
	k = min(k, d.NTrain)
	var sse, sst float64
	dist := make([]float64, d.NTrain)
	order := make([]int, d.NTrain)
	for i := d.NTrain; i < d.Rows; i++ {
		for t := range d.NTrain {
			var s float64
			for j := range d.Features {
				e := val(i, j) - val(t, j)
				s += e * e
			}
			dist[t], order[t] = s, t
		}
		slices.SortFunc(order, func(a, b int) int { return int(math.Copysign(1, dist[a]-dist[b])) })
		var pred float64
		for _, t := range order[:k] {
			pred += float64(d.Target[t]) / float64(k)
		}
		y := float64(d.Target[i])
		sse += (y - pred) * (y - pred)
		sst += (y - mean) * (y - mean)
	}
	return 1 - sse/sst
}

// TestRegressionLearnable checks that targets depend on the features: over 50 datasets of
// each prior, a 5-nearest-neighbour regressor beats the training mean on the test rows on
// average and on most datasets. A target wired to noise would give kNN a negative R².
func TestRegressionLearnable(t *testing.T) {
	for _, mech := range []string{MechanismsBasic, MechanismsExtended} {
		for _, bnn := range []float64{0, 1} {
			c, err := regressionConfig().WithMechanisms(mech)
			if err != nil {
				t.Fatal(err)
			}
			c.BNNFraction = bnn
			s := newSampler(t, c)
			const n = 50
			r2 := make([]float64, n)
			wins := 0
			for idx := range uint64(n) {
				r2[idx] = knnR2(s.Sample(2000+idx), 5)
				if r2[idx] > 0 {
					wins++
				}
			}
			// The median, since a few datasets with test-row outliers give any
			// regressor a large negative R².
			slices.Sort(r2)
			med := r2[n/2]
			t.Logf("%s prior, BNN fraction %v: median kNN R² %.3f, above the mean on %d of %d", mech, bnn, med, wins, n)
			if med < 0.1 || wins < n*2/3 {
				t.Errorf("%s prior, BNN fraction %v: median kNN R² %.3f, better than the mean on %d of %d", mech, bnn, med, wins, n)
			}
		}
	}
}

// TestRegressionBatches checks that a regression batch stacks its targets and no labels,
// and that a regression config needs no class bound.
func TestRegressionBatches(t *testing.T) {
	c := regressionConfig()
	c.MaxClasses = 0
	s := newSampler(t, c)
	b := s.Batch(3)
	x, y := b.Stack()
	if len(y) != 0 || len(x) != c.BatchSize*b.Shape.Rows*b.Shape.Features {
		t.Fatalf("stack: %d values, %d labels", len(x), len(y))
	}
	if got := len(b.Targets()); got != c.BatchSize*b.Shape.Rows {
		t.Fatalf("%d targets for %d datasets of %d rows", got, c.BatchSize, b.Shape.Rows)
	}
	c.Regression = false
	if _, err := NewSampler(c); err == nil {
		t.Error("a classification config with MaxClasses 0 was accepted")
	}
}

// StandardizeTarget z-scores with the training rows' mean and sample standard deviation,
// keeps the test rows' outliers, and refuses constant or non-finite training targets.
func TestStandardizeTarget(t *testing.T) {
	y := []float64{1, 2, 4, 7, 100}
	got, ok := StandardizeTarget(y, 4)
	if !ok {
		t.Fatal("refused a usable target")
	}
	m := (1 + 2 + 4 + 7) / 4.0
	var ss float64
	for _, v := range y[:4] {
		ss += (v - m) * (v - m)
	}
	sd := math.Sqrt(ss / 3)
	for i, v := range y {
		if want := float32((v - m) / sd); got[i] != want {
			t.Fatalf("row %d: %v, want %v", i, got[i], want)
		}
	}
	for _, bad := range [][]float64{{3, 3, 3, 9}, {1, math.Inf(1), 2, 3}, {1, 2, 3, math.NaN()}, {-1e308, 1e308, 0, 0}} {
		if _, ok := StandardizeTarget(bad, 3); ok {
			t.Errorf("%v accepted", bad)
		}
	}
}
