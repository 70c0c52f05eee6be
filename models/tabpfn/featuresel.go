package tabpfn

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/kiln-ml/kiln/data"
)

// FeatureSelection says how an ensemble member chooses its features when a table has more
// (after preprocessing) than a member presents (WithMaxFeatures, the model's limit).
type FeatureSelection string

const (
	// FeaturesRandom gives each member a uniformly random subset; members on principal axes
	// keep the categorical columns and the leading components (see subsetColumns).
	FeaturesRandom FeatureSelection = "random"
	// FeaturesRelevance gives each member a random subset drawn with probability growing with
	// each column's univariate relevance to the target on the member's training rows: the
	// correlation ratio of the column across the classes, or of the target across the
	// column's deciles for regression, beyond what chance gives one of the table's columns
	// (chanceLevel), so that among many noise columns the few informative ones stand out.
	// Every column keeps a floor weight, so the members still differ and a column that
	// matters only jointly with others can be drawn. When few columns are relevant a
	// member presents fewer features than the limit (relevantWidth).
	FeaturesRelevance FeatureSelection = "relevance"
	// FeaturesMRMR draws like FeaturesRelevance, one column at a time, with each weight also
	// scaled by 1 − the largest |correlation| of the column with the columns already drawn
	// on the member's training rows: a randomized minimum-redundancy maximum-relevance
	// selection (Peng, Long and Ding, "Feature selection based on mutual information",
	// IEEE TPAMI 27(8), 2005, with correlation as redundancy), so that a member does not
	// spend its features on near-copies of one informative column. On wide real tables it
	// scored no better than FeaturesRelevance
	// (bench/results/tabpfn-trained-width-2026-12-03.md, section 3).
	FeaturesMRMR FeatureSelection = "mrmr"
)

// DefaultFeatureSelection is the selection the classifier and regressor use unless
// WithFeatureSelection says otherwise. On the shared tables with the feature limit set below
// their widths, relevance-weighted subsets raised the regression tables' R² on 17 of 20
// splits (ames, where a few of 73 columns decide the price, from 0.21 to 0.73 at 8 features)
// and left classification level (mean ROC AUC +0.002 to +0.004, better on half of the
// splits): bench/results/tabpfn-featuresel-2026-12-03.md.
const DefaultFeatureSelection = FeaturesRelevance

// relevanceFloor is the weight of an irrelevant column relative to the mean relevance in
// FeaturesRelevance sampling.
const relevanceFloor = 0.2

// minRelevantWidth is the fewest features a member presents when relevantWidth narrows it.
const minRelevantWidth = 16

// relevantWidth returns how many features a member presents when it draws by relevance from
// more columns than limit. When fewer than limit/2 columns score above the chance level, it
// is twice their number, at least minRelevantWidth and at most limit: the relevant columns
// and as many others. The columns beyond the relevant ones are most likely noise, and each
// dilutes the model's attention across features; the others that stay keep the members
// different and let a column that matters only jointly with others be drawn. Otherwise, or
// when no column scores above the level, it is limit. On tables padded with noise to 2,000
// columns and on wide real corpus tables, the narrower members raised the mean R² and ROC
// AUC (bench/results/tabpfn-wide-2026-12-04.md, section "Narrower members").
func relevantWidth(relevance []float64, limit int) int {
	relevant := 0
	for _, r := range relevance {
		if r > 0 {
			relevant++
		}
	}
	if relevant == 0 || 2*relevant >= limit {
		return limit
	}
	return min(limit, max(2*relevant, minRelevantWidth))
}

// WithFeatureSelection sets how members choose their features beyond the feature limit
// (default DefaultFeatureSelection).
func WithFeatureSelection(f FeatureSelection) Option {
	return func(s *settings) error {
		switch f {
		case FeaturesRandom, FeaturesRelevance, FeaturesMRMR:
			s.featureSelection = f
			return nil
		case "":
			s.featureSelection = DefaultFeatureSelection
			return nil
		}
		return fmt.Errorf("tabpfn: unknown feature selection %q (want %q, %q or %q)", f, FeaturesRandom, FeaturesRelevance, FeaturesMRMR)
	}
}

// relevanceFunc scores each column of preprocessed training rows by its relevance to the
// member's targets, a value in [0, 1] per column.
type relevanceFunc func(tx data.Matrix) []float64

// classRelevance returns the relevance of columns to class labels y in [0, k): the
// correlation ratio of each column across the classes (Fisher's η², the share of the
// column's variance that the class means explain), beyond the chance level.
func classRelevance(y []int, k int) relevanceFunc {
	return func(tx data.Matrix) []float64 {
		out := make([]float64, tx.Cols)
		col := make([]float64, tx.Rows)
		chance := newChanceLevel(tx.Cols)
		for c := range tx.Cols {
			for i := range tx.Rows {
				col[i] = tx.Data[i*tx.Cols+c]
			}
			out[c] = chance.excess(col, y, k)
		}
		return out
	}
}

// regressionRelevance returns the relevance of columns to numeric targets y: the
// correlation ratio of y across ten quantile bins of each column, which a monotone and a
// non-monotone dependence both raise, beyond the chance level.
func regressionRelevance(y []float32) relevanceFunc {
	const bins = 10
	return func(tx data.Matrix) []float64 {
		out := make([]float64, tx.Cols)
		target := make([]float64, len(y))
		for i, v := range y {
			target[i] = float64(v)
		}
		col := make([]float64, tx.Rows)
		order := make([]int, tx.Rows)
		bin := make([]int, tx.Rows)
		chance := newChanceLevel(tx.Cols)
		for c := range tx.Cols {
			for i := range tx.Rows {
				col[i] = tx.Data[i*tx.Cols+c]
				order[i] = i
			}
			// Bins by rank; tied values share the bin of the first of them, so a column with
			// few distinct values is not split arbitrarily.
			slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(col[a], col[b]) })
			for r, i := range order {
				bin[i] = r * bins / len(order)
				if r > 0 && col[i] == col[order[r-1]] {
					bin[i] = bin[order[r-1]]
				}
			}
			out[c] = chance.excess(target, bin, bins)
		}
		return out
	}
}

// chanceLevel sets the relevance of columns against what chance alone gives a table of many
// columns. A column unrelated to the target has a correlation ratio η² of k groups of n
// values distributed as Beta((k − 1)/2, (n − k)/2) when its values are normal (the F test
// of a one-way analysis of variance); of p such columns, one on average exceeds that
// distribution's 1 − 1/p quantile. Relevance is η² beyond that level, so that on a table of
// a few informative columns among many noise columns only the informative ones score above
// 0, however many noise columns there are.
//
// Kelley's chance-corrected ε² = 1 − (1 − η²)(n − 1)/(n − k) ("An unbiased correlation
// ratio measure", PNAS 21(9), 1935) removes chance from the mean of a noise column but not
// from its spread: 30–45% of noise columns still score above 0, hundreds among 2,000. On
// shared tables padded with noise to 2,000 columns, relevance beyond the chance level scored
// a mean R² of 0.735 over four tables against ε²'s 0.672
// (bench/results/tabpfn-wide-2026-12-04.md).
type chanceLevel struct {
	level     float64
	quantiles map[[2]int]float64 // by (n, k)
}

// newChanceLevel returns the chance level of a table of the given number of columns.
func newChanceLevel(columns int) *chanceLevel {
	return &chanceLevel{level: 1 - 1/float64(max(columns, 1)), quantiles: map[[2]int]float64{}}
}

// excess returns the correlation ratio of v grouped by g (in [0, k)) beyond the chance level
// for its n finite values in its occupied groups, clamped at 0.
func (c *chanceLevel) excess(v []float64, g []int, k int) float64 {
	eta2, n, groups := correlationRatio(v, g, k)
	if n <= float64(groups) || groups < 2 {
		return 0
	}
	key := [2]int{int(n), groups}
	q, ok := c.quantiles[key]
	if !ok {
		q = distuv.Beta{Alpha: float64(groups-1) / 2, Beta: (n - float64(groups)) / 2}.Quantile(c.level)
		c.quantiles[key] = q
	}
	return max(0, eta2-q)
}

// correlationRatio returns the correlation ratio η² of values v grouped by g (in [0, k)):
// the between-group sum of squares over the total sum of squares, over the finite values;
// 0 for fewer than two finite values or a constant v. It also returns the number of finite
// values and the number of groups that hold one.
func correlationRatio(v []float64, g []int, k int) (eta2, n float64, groups int) {
	sum := make([]float64, k)
	count := make([]float64, k)
	total := 0.0
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		sum[g[i]] += x
		count[g[i]]++
		total += x
		n++
	}
	for _, c := range count {
		if c > 0 {
			groups++
		}
	}
	if n < 2 {
		return 0, n, groups
	}
	mean := total / n
	ssTotal := 0.0
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			ssTotal += (x - mean) * (x - mean)
		}
	}
	if ssTotal <= 1e-12*n*(1+mean*mean) {
		return 0, n, groups
	}
	ssBetween := 0.0
	for j, s := range sum {
		if count[j] > 0 {
			d := s/count[j] - mean
			ssBetween += count[j] * d * d
		}
	}
	return min(1, max(0, ssBetween/ssTotal)), n, groups
}

// weightedSubset draws limit of the columns in perm without replacement, column c with
// weight relevance[c]/mean + relevanceFloor (Efraimidis and Spirakis, "Weighted random
// sampling with a reservoir", 2006: the limit largest keys u^(1/w)), and returns them in
// perm's order. u are uniform draws, one per position of perm.
func weightedSubset(perm []int, relevance []float64, limit int, u []float64) []int {
	if len(perm) <= limit {
		return perm
	}
	mean := 0.0
	for _, c := range perm {
		mean += relevance[c]
	}
	mean /= float64(len(perm))
	type keyed struct {
		pos int
		key float64
	}
	keys := make([]keyed, len(perm))
	for p, c := range perm {
		w := relevanceFloor
		if mean > 0 {
			w += relevance[c] / mean
		}
		// log(u)/w orders as u^(1/w) and does not underflow.
		keys[p] = keyed{p, math.Log(max(u[p], 1e-300)) / w}
	}
	slices.SortFunc(keys, func(a, b keyed) int { return cmpFloat(b.key, a.key) })
	chosen := make([]bool, len(perm))
	for _, k := range keys[:limit] {
		chosen[k.pos] = true
	}
	out := make([]int, 0, limit)
	for p, c := range perm {
		if chosen[p] {
			out = append(out, c)
		}
	}
	return out
}

// mrmrSubset draws limit of the columns in perm of the preprocessed training rows tx, one at a
// time without replacement (FeaturesMRMR): column c with probability proportional to
// (relevanceFloor + relevance[c]/mean) · (1 − ρ_c), where ρ_c is the largest |Pearson
// correlation| of c with the columns drawn so far (non-finite values count as the column's
// mean; a constant column correlates with nothing). When every remaining weight is zero
// (all copies of drawn columns) the rest are drawn uniformly. u returns uniform draws in
// [0, 1). The result is in perm's order.
func mrmrSubset(perm []int, relevance []float64, tx data.Matrix, limit int, u func() float64) []int {
	if len(perm) <= limit {
		return perm
	}
	n := tx.Rows
	// Each candidate column standardized to unit norm (zero when constant), so that a
	// correlation is one dot product.
	z := make([][]float64, len(perm))
	for p, c := range perm {
		col := make([]float64, n)
		sum, k := 0.0, 0
		for i := range n {
			if v := tx.Data[i*tx.Cols+c]; !math.IsNaN(v) && !math.IsInf(v, 0) {
				col[i], sum, k = v, sum+v, k+1
			} else {
				col[i] = math.NaN()
			}
		}
		mean := 0.0
		if k > 0 {
			mean = sum / float64(k)
		}
		ss := 0.0
		for i, v := range col {
			if math.IsNaN(v) {
				v = mean
			}
			col[i] = v - mean
			ss += col[i] * col[i]
		}
		if ss > 1e-12*float64(n)*(1+mean*mean) {
			inv := 1 / math.Sqrt(ss)
			for i := range col {
				col[i] *= inv
			}
		} else {
			clear(col)
		}
		z[p] = col
	}
	mean := 0.0
	for _, c := range perm {
		mean += relevance[c]
	}
	mean /= float64(len(perm))
	base := make([]float64, len(perm))
	for p, c := range perm {
		base[p] = relevanceFloor
		if mean > 0 {
			base[p] += relevance[c] / mean
		}
	}
	redundancy := make([]float64, len(perm))
	chosen := make([]bool, len(perm))
	for range limit {
		total, left := 0.0, 0
		for p := range perm {
			if !chosen[p] {
				total += base[p] * (1 - redundancy[p])
				left++
			}
		}
		pick, r := -1, u()
		if total > 0 {
			r *= total
			for p := range perm {
				if chosen[p] {
					continue
				}
				if w := base[p] * (1 - redundancy[p]); w > 0 {
					pick = p
					if r -= w; r < 0 {
						break
					}
				}
			}
		} else { // only copies of drawn columns are left
			k := min(int(r*float64(left)), left-1)
			for p := range perm {
				if !chosen[p] {
					if pick = p; k == 0 {
						break
					}
					k--
				}
			}
		}
		chosen[pick] = true
		zp := z[pick]
		for p := range perm {
			if chosen[p] {
				continue
			}
			dot := 0.0
			for i, v := range z[p] {
				dot += v * zp[i]
			}
			redundancy[p] = max(redundancy[p], min(1, math.Abs(dot)))
		}
	}
	out := make([]int, 0, limit)
	for p, c := range perm {
		if chosen[p] {
			out = append(out, c)
		}
	}
	return out
}

// subsetWords describes a member's feature subset under f, of at most maxFeatures, for
// warnings.
func (f FeatureSelection) subsetWords(maxFeatures int) string {
	const fewer = " (fewer when few columns are relevant)"
	switch f {
	case FeaturesRelevance:
		return fmt.Sprintf("relevance-weighted random subset of %d", maxFeatures) + fewer
	case FeaturesMRMR:
		return fmt.Sprintf("relevance-weighted, redundancy-avoiding random subset of %d", maxFeatures) + fewer
	}
	return fmt.Sprintf("random subset of %d", maxFeatures)
}
