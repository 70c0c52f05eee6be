package prior

import (
	"math"
	"testing"
)

// lookupR2 is the R² on the test rows of the best exact-match look-up: for one column, a
// test row whose value that column holds in some training row is predicted by the mean
// target of those training rows, any other by the training mean. The best column over
// all features is taken. Matching rows on equal values is the skill a grouped design asks
// for, so its look-ups explain much of the target, and those of independent rows little.
func lookupR2(d Dataset) float64 {
	n := d.NTrain
	var mean float64
	for i := range n {
		mean += float64(d.Target[i])
	}
	mean /= float64(n)
	var tm float64
	for i := n; i < d.Rows; i++ {
		tm += float64(d.Target[i])
	}
	tm /= float64(d.Rows - n)
	var tss float64
	for i := n; i < d.Rows; i++ {
		tss += (float64(d.Target[i]) - tm) * (float64(d.Target[i]) - tm)
	}
	best := math.Inf(-1)
	for j := range d.Features {
		sum, cnt := map[float32]float64{}, map[float32]int{}
		for i := range n {
			v := d.At(i, j)
			sum[v] += float64(d.Target[i])
			cnt[v]++
		}
		var rss float64
		for i := n; i < d.Rows; i++ {
			p := mean
			if c := cnt[d.At(i, j)]; c > 0 {
				p = sum[d.At(i, j)] / float64(c)
			}
			rss += (float64(d.Target[i]) - p) * (float64(d.Target[i]) - p)
		}
		best = max(best, 1-rss/tss)
	}
	return best
}

// TestGroupedDatasets checks that GroupFraction draws datasets whose targets a look-up on
// equal values predicts, that a configuration without it does not, and that the datasets
// stay valid.
func TestGroupedDatasets(t *testing.T) {
	// share of datasets whose best look-up reaches R² 0.3
	lookupShare := func(frac float64) float64 {
		c := smallConfig()
		c.MinRows, c.Regression, c.GroupFraction = 100, true, frac
		s := newSampler(t, c)
		hits := 0
		const n = 120
		for idx := range uint64(n) {
			d := s.Sample(idx)
			for _, v := range d.X {
				if math.IsInf(float64(v), 0) {
					t.Fatalf("dataset %d holds an infinite feature", idx)
				}
			}
			if lookupR2(d) >= 0.3 {
				hits++
			}
		}
		return float64(hits) / n
	}
	plain, grouped := lookupShare(0), lookupShare(1)
	t.Logf("datasets a look-up predicts with R² ≥ 0.3: independent rows %.3f, grouped %.3f", plain, grouped)
	if grouped < 0.25 || grouped < 3*plain {
		t.Fatalf("share of datasets a look-up predicts: grouped %.3f, independent rows %.3f; want ≥ 0.25 and 3 times as many", grouped, plain)
	}
}
