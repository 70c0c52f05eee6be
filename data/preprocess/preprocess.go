// Package preprocess turns a table's raw features into the standardized inputs a TabPFN-style
// model expects, fitting every statistic on the training rows only and then applying the same
// map to any rows (training, test, or new data).
//
// The pipeline follows the preprocessing of TabPFN (Hollmann et al., "TabPFN: A Transformer
// That Solves Small Tabular Classification Problems in a Second", ICLR 2023; its reference code
// transformer_predict/preprocess_input in tabpfn/scripts/transformer_prediction_interface.py):
//
//  1. Constant columns (fewer than two distinct non-missing training values) are dropped, as
//     TabPFN's remove_useless_features does.
//  2. Categorical columns keep their ordinal codes (TabPFN v1 feeds categorical features as
//     ordinal numbers); the ShuffledOrdinal mode permutes the code order with a seed so that
//     ensemble members see different orders, as TabPFN v2 does. With Config.OneHotLevels, a
//     column of a few categories becomes one 0/1 indicator column per category instead (one-hot
//     encoding, among TabPFN v2's categorical transforms): an order of the codes makes a
//     category that matters for the target lie between others that do not, and a model then
//     needs several thresholds on the one code column to single it out. With
//     Config.TargetStatistics and a target (FitTransformTarget), a column of more categories
//     than that is presented by its category's mean target instead (Micci-Barreca 2001, "A
//     preprocessing scheme for high-cardinality categorical attributes"), computed out of
//     fold for the training rows so that no row's value holds its own target (the leak that
//     CatBoost's ordered statistics avoid; Prokhorenkova et al. 2018).
//  3. Numeric columns optionally go through a Yeo–Johnson power transform (λ by maximum
//     likelihood, Yeo & Johnson 2000) or a quantile transform to a normal: TabPFN v1 ensembles
//     over "none" and "power" variants, and TabPFN v2 adds "quantile" variants. Both are fitted
//     on z-scored values so the λ search and the power do not depend on the column's units.
//  4. Outliers in numeric columns are bounded as TabPFN's remove_outliers does: a first pass
//     computes mean ± 4σ, values outside it are ignored in a second pass that recomputes
//     mean ± 4σ, and values beyond those bounds are compressed logarithmically
//     (bound ± log(1 + excess)), so extremes keep their order but cannot dominate.
//  5. Every kept column is z-scored with the training mean and standard deviation
//     (TabPFN's normalize_data).
//  6. Missing values become 0, which after step 5 is the training mean; optional missing-value
//     indicator columns (1 where the raw value was missing) make the imputation explicit, the
//     role of TabPFN's NaN-indicator encoder.
//  7. Optionally (Config.PrincipalAxes, the "-pca" variants), the numeric columns are
//     replaced by their principal components on the training rows, each scaled to unit
//     variance, in the spirit of TabPFN v2's SVD features (see principalAxes).
package preprocess

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/kiln-ml/kiln/data"
)

// Transform selects the per-column transform applied to numeric columns before standardizing.
type Transform int

const (
	// TransformNone leaves values as they are (then outliers bounded and z-scored).
	TransformNone Transform = iota
	// TransformYeoJohnson applies the Yeo–Johnson power transform with λ fitted by maximum
	// likelihood per column.
	TransformYeoJohnson
	// TransformQuantile maps each column through its empirical CDF to a standard normal.
	TransformQuantile
)

// String names the transform.
func (t Transform) String() string {
	switch t {
	case TransformNone:
		return "none"
	case TransformYeoJohnson:
		return "yeo-johnson"
	case TransformQuantile:
		return "quantile"
	}
	return fmt.Sprintf("Transform(%d)", int(t))
}

// CategoricalMode selects how categorical codes are presented.
type CategoricalMode int

const (
	// Ordinal keeps the loader's codes (categories in sorted order).
	Ordinal CategoricalMode = iota
	// ShuffledOrdinal permutes the codes of each categorical column with Config.Seed.
	ShuffledOrdinal
)

// Config selects one preprocessing pipeline.
type Config struct {
	Transform   Transform
	Categorical CategoricalMode
	// MissingIndicators appends, for each input column with some (not all) values missing in
	// the training rows, a 0/1 column that is 1 where the value was missing.
	MissingIndicators bool
	// OutlierSigma is the width of the outlier bounds in standard deviations; 0 means the
	// TabPFN default of 4, and a negative value turns outlier bounding off.
	OutlierSigma float64
	// PrincipalAxes replaces the numeric columns, after the steps above, by their principal
	// components on the training rows, each scaled to unit variance (see principalAxes).
	// Categorical columns and missing-value indicators are not rotated, and neither are
	// tables with more than 256 varying numeric columns (the cost grows as the cube).
	PrincipalAxes bool
	// OneHotLevels, when at least 3, replaces each categorical column whose training rows hold
	// 3 to OneHotLevels distinct categories by one indicator column per category: 1 where the
	// row holds that category, 0 where it holds another (one unseen in the training rows
	// included), then z-scored as every column; a missing value is 0 in every indicator, the
	// training mean, as for any column. Two categories stay one column (its code is already
	// an indicator), and more than OneHotLevels keep their code, so that a column of many
	// categories does not crowd a member's features. 0 keeps every code.
	OneHotLevels int
	// TargetStatistics presents each categorical column of more than OneHotLevels categories
	// (with OneHotLevels at least 3) by the smoothed mean target of its category, when the
	// preprocessor is fitted with a target (FitTransformTarget): the training rows get
	// statistics of the other folds' rows (targetFolds folds), new rows those of every
	// training row; a category unseen in training gets the target's mean. Fit without a
	// target keeps the code.
	TargetStatistics bool
	// KeyStatistics, when at least 3, presents a numeric column that is the key of groups of
	// rows (a school's or a firm's identifier stored as a number, a group-level covariate
	// repeated in every row of its group: more than KeyStatistics values, repeated, that
	// determine another column, see keyRepeats) by its value's smoothed mean target, beside
	// the column itself, computed as a categorical column's, when the preprocessor is fitted
	// with a target (FitTransformTarget). Such a column's exact values mark groups whose rows
	// share a target level (pupils of one school, years of one firm), a look-up that no
	// smooth function of the number gives.
	KeyStatistics int
	// CodeStatistics, when positive, gives a categorical column of more than CodeStatistics
	// categories that keeps its code (not replaced through OneHotLevels and TargetStatistics)
	// its category's smoothed mean target beside the code, fitted with a target
	// (FitTransformTarget) exactly as TargetStatistics's: the code alone puts many categories
	// in an order that says nothing of the target.
	CodeStatistics int
	// Seed drives ShuffledOrdinal.
	Seed uint64
}

// Variant names a ready-made Config, so that an ensemble can give each member a different
// view of the data by index.
type Variant int

const (
	// VariantStandard: z-score with outlier bounding, ordinal categories, missing indicators.
	VariantStandard Variant = iota
	// VariantPower: Yeo–Johnson, then as VariantStandard.
	VariantPower
	// VariantQuantile: quantile-to-normal, then as VariantStandard.
	VariantQuantile
	// VariantPowerShuffled: VariantPower with shuffled categorical codes.
	VariantPowerShuffled
	// VariantQuantileShuffled: VariantQuantile with shuffled categorical codes.
	VariantQuantileShuffled
	// VariantStandardPCA: VariantStandard on the principal components of the numeric
	// columns (Config.PrincipalAxes).
	VariantStandardPCA
	// VariantPowerPCA: VariantPower on the principal components.
	VariantPowerPCA
	// VariantQuantilePCA: VariantQuantile on the principal components.
	VariantQuantilePCA
	numVariants
)

// Variants lists every Variant, in order.
func Variants() []Variant {
	out := make([]Variant, numVariants)
	for i := range out {
		out[i] = Variant(i)
	}
	return out
}

// String names the variant.
func (v Variant) String() string {
	switch v {
	case VariantStandard:
		return "standard"
	case VariantPower:
		return "power"
	case VariantQuantile:
		return "quantile"
	case VariantPowerShuffled:
		return "power-shuffled"
	case VariantQuantileShuffled:
		return "quantile-shuffled"
	case VariantStandardPCA:
		return "standard-pca"
	case VariantPowerPCA:
		return "power-pca"
	case VariantQuantilePCA:
		return "quantile-pca"
	}
	return fmt.Sprintf("Variant(%d)", int(v))
}

// ParseVariant returns the variant with the given name.
func ParseVariant(name string) (Variant, error) {
	for _, v := range Variants() {
		if v.String() == name {
			return v, nil
		}
	}
	return 0, fmt.Errorf("preprocess: unknown variant %q (want one of %v)", name, Variants())
}

// Config returns the variant's configuration; seed drives the categorical shuffles.
func (v Variant) Config(seed uint64) Config {
	c := Config{MissingIndicators: true, Seed: seed}
	switch v {
	case VariantPower, VariantPowerShuffled, VariantPowerPCA:
		c.Transform = TransformYeoJohnson
	case VariantQuantile, VariantQuantileShuffled, VariantQuantilePCA:
		c.Transform = TransformQuantile
	}
	c.PrincipalAxes = v == VariantStandardPCA || v == VariantPowerPCA || v == VariantQuantilePCA
	if v == VariantPowerShuffled || v == VariantQuantileShuffled {
		c.Categorical = ShuffledOrdinal
	}
	return c
}

// column holds what was fitted for one kept input column.
type column struct {
	in          int
	categorical bool
	perm        []float64 // code → presented code (ShuffledOrdinal); nil otherwise
	oneHot      bool      // an indicator of the category coded level (Config.OneHotLevels)
	level       float64
	targetStat  bool                // the mean target of the category (Config.TargetStatistics)
	stat        map[float64]float64 // category code → statistic, of every training row
	prior       float64             // the statistic of a category unseen in training
	outOfFold   []float64           // each training row's statistic from the other folds (during the fit)
	transform   Transform           // TransformNone for categorical columns
	preMean     float64             // z-score applied before the transform (numeric, Transform ≠ None)
	preStd      float64
	lambda      float64 // Yeo–Johnson λ
	quant       *QuantileNormal
	lo, hi      float64 // outlier bounds; ±Inf when off
	mean, std   float64 // final z-score
}

// Preprocessor is a fitted (or yet to be fitted) preprocessing pipeline. Create it with New,
// call Fit on the training rows, then Transform any rows with the same columns.
type Preprocessor struct {
	cfg        Config
	fitted     bool
	inCols     int
	cols       []column
	indicators []int          // input columns that get a missing indicator
	axes       *principalAxes // the rotation of Config.PrincipalAxes; nil without one
	names      []string
}

// New returns an unfitted Preprocessor.
func New(cfg Config) *Preprocessor { return &Preprocessor{cfg: cfg} }

// Config returns the configuration.
func (p *Preprocessor) Config() Config { return p.cfg }

// Fit fits the pipeline on training rows. kinds describes the columns of X (names and which
// are categorical, as data.Table.Columns does); nil means all numeric.
func (p *Preprocessor) Fit(X data.Matrix, kinds []data.Column) error {
	return p.fit(X, kinds, nil)
}

// FitTransformTarget fits on X with the target y of its rows (for Config.TargetStatistics) and
// returns X's transform, in which the target statistics are out of fold.
func (p *Preprocessor) FitTransformTarget(X data.Matrix, kinds []data.Column, y []float64) (data.Matrix, error) {
	if len(y) != X.Rows {
		return data.Matrix{}, fmt.Errorf("preprocess: %d targets for %d rows", len(y), X.Rows)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return data.Matrix{}, fmt.Errorf("preprocess: target of row %d is %v", i, v)
		}
	}
	if err := p.fit(X, kinds, y); err != nil {
		return data.Matrix{}, err
	}
	out, err := p.Transform(X)
	if err != nil {
		return data.Matrix{}, err
	}
	for k := range p.cols {
		c := &p.cols[k]
		if !c.targetStat {
			continue
		}
		o := p.outputIndex(k)
		for i, v := range c.outOfFold {
			z := 0.0 // a missing category: the training mean, as in apply
			if !math.IsNaN(v) {
				z = (v - c.mean) / c.std
			}
			out.Data[i*out.Cols+o] = z
		}
		c.outOfFold = nil
	}
	return out, nil
}

// outputIndex is the output column of kept column k, which principal axes pass through.
func (p *Preprocessor) outputIndex(k int) int {
	if p.axes == nil {
		return k
	}
	return len(p.axes.weights) + slices.Index(p.axes.pass, k)
}

func (p *Preprocessor) fit(X data.Matrix, kinds []data.Column, y []float64) error {
	if X.Rows == 0 || X.Cols == 0 {
		return errors.New("preprocess: Fit needs at least one row and one column")
	}
	if len(X.Data) != X.Rows*X.Cols {
		return fmt.Errorf("preprocess: matrix is %dx%d but holds %d values", X.Rows, X.Cols, len(X.Data))
	}
	if kinds != nil && len(kinds) != X.Cols {
		return fmt.Errorf("preprocess: %d column descriptions for %d columns", len(kinds), X.Cols)
	}
	sigma := p.cfg.OutlierSigma
	if sigma == 0 {
		sigma = 4
	}
	rng := data.NewRand(p.cfg.Seed, 0x9e3779b9)
	var folds []int // each training row's fold, drawn when a column first needs it
	foldsOf := func() []int {
		if folds == nil {
			folds = make([]int, X.Rows)
			for pos, i := range data.NewRand(p.cfg.Seed, 0x7461726765).Perm(X.Rows) {
				folds[i] = pos % targetFolds
			}
		}
		return folds
	}
	*p = Preprocessor{cfg: p.cfg, inCols: X.Cols}
	names := columnNames(X.Cols, kinds)
	if p.cfg.MissingIndicators {
		for j := 0; j < X.Cols; j++ {
			nMissing := 0
			for i := 0; i < X.Rows; i++ {
				if math.IsNaN(X.Data[i*X.Cols+j]) {
					nMissing++
				}
			}
			if nMissing > 0 && nMissing < X.Rows {
				p.indicators = append(p.indicators, j)
			}
		}
	}
	for j := 0; j < X.Cols; j++ {
		raw := X.Col(j)
		if distinct(raw) < 2 {
			continue // constant or all missing: carries nothing (its missingness may, above)
		}
		c := column{in: j, lo: math.Inf(-1), hi: math.Inf(1)}
		c.categorical = kinds != nil && kinds[j].Kind == data.Categorical
		if c.categorical && p.cfg.OneHotLevels >= 3 {
			levels := codes(raw)
			if len(levels) >= 3 && len(levels) <= p.cfg.OneHotLevels {
				for _, level := range levels {
					ind := column{in: j, categorical: true, oneHot: true, level: level}
					ind.mean, ind.std = MeanStd(ind.indicate(raw))
					p.cols = append(p.cols, ind)
				}
				continue
			}
			if len(levels) > p.cfg.OneHotLevels && p.cfg.TargetStatistics && y != nil {
				if ts, ok := targetStatColumn(j, raw, y, foldsOf()); ok {
					p.cols = append(p.cols, ts)
					continue
				} // every statistic the same: the code carries more
			}
		}
		if c.categorical && p.cfg.Categorical == ShuffledOrdinal {
			k := len(kinds[j].Categories)
			for _, v := range raw { // codes beyond the category list (hand-made matrices)
				if !math.IsNaN(v) && int(v) >= k {
					k = int(v) + 1
				}
			}
			c.perm = make([]float64, k)
			for i, v := range rng.Perm(k) {
				c.perm[i] = float64(v)
			}
		}
		vals := make([]float64, len(raw))
		for i, v := range raw {
			vals[i] = c.stage1(v)
		}
		if !c.categorical {
			c.transform = p.cfg.Transform
			switch c.transform {
			case TransformYeoJohnson, TransformQuantile:
				c.preMean, c.preStd = MeanStd(vals)
				for i, v := range vals {
					vals[i] = (v - c.preMean) / c.preStd
				}
				if p.cfg.Transform == TransformYeoJohnson {
					c.lambda = FitYeoJohnson(vals)
					for i, v := range vals {
						vals[i] = YeoJohnson(v, c.lambda)
					}
				} else {
					c.quant = FitQuantileNormal(vals)
					for i, v := range vals {
						vals[i] = c.quant.Transform(v)
					}
				}
			}
			if sigma > 0 {
				c.lo, c.hi = OutlierBounds(vals, sigma)
				for i, v := range vals {
					vals[i] = SoftClip(v, c.lo, c.hi)
				}
			}
		}
		c.mean, c.std = MeanStd(vals)
		if !(c.std > 0) {
			// The transform collapsed the column (e.g. a quantile map of two far-apart
			// values clipped to the same bound): nothing left to learn from.
			continue
		}
		p.cols = append(p.cols, c)
		if y == nil {
			continue
		}
		code := c.categorical && p.cfg.CodeStatistics > 0 && len(codes(raw)) > p.cfg.CodeStatistics
		key := !c.categorical && p.cfg.KeyStatistics >= 3 && isGroupKey(X, j, p.cfg.KeyStatistics)
		if code || key {
			if ks, ok := targetStatColumn(j, raw, y, foldsOf()); ok {
				p.cols = append(p.cols, ks)
			}
		}
	}
	for _, c := range p.cols {
		p.names = append(p.names, c.name(names[c.in], kinds))
	}
	if p.cfg.PrincipalAxes {
		kept := data.NewMatrix(X.Rows, len(p.cols))
		keptKinds := make([]data.Column, len(p.cols))
		for i := 0; i < X.Rows; i++ {
			p.applyColumns(X.Row(i), kept.Row(i))
		}
		for k, c := range p.cols {
			keptKinds[k] = data.Column{Name: p.names[k]}
			if c.categorical {
				keptKinds[k].Kind = data.Categorical
			}
		}
		if p.axes = fitPrincipalAxes(kept, keptKinds); p.axes != nil {
			p.names = p.names[:0]
			for _, c := range p.axes.columns(keptKinds) {
				p.names = append(p.names, c.Name)
			}
		}
	}
	for _, j := range p.indicators {
		p.names = append(p.names, names[j]+" (missing)")
	}
	p.fitted = true
	return nil
}

// columnNames names n columns from their descriptions, or x0, x1, ... without them.
func columnNames(n int, kinds []data.Column) []string {
	names := make([]string, n)
	for j := range names {
		names[j] = fmt.Sprintf("x%d", j)
		if kinds != nil {
			names[j] = kinds[j].Name
		}
	}
	return names
}

// codes returns the distinct codes of a categorical column's non-missing values, in
// increasing order.
func codes(raw []float64) []float64 {
	var out []float64
	for _, v := range raw {
		if !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// indicate returns the indicator of the column's category for each raw code (NaN for a
// missing one, so that the z-score's statistics are those of the known values).
func (c *column) indicate(raw []float64) []float64 {
	out := make([]float64, len(raw))
	for i, v := range raw {
		switch {
		case math.IsNaN(v):
			out[i] = math.NaN()
		case v == c.level:
			out[i] = 1
		}
	}
	return out
}

// A numeric column is a key of groups (Config.KeyStatistics) when its training rows hold more
// than KeyStatistics distinct values, each on keyRepeats rows or more on average, and it
// determines another column: among its values held by two rows or more, that column is
// constant within a share obs of them where chance, drawing the column's values independently
// at their frequencies, gives exp ≤ keyChance, and (obs − exp)/(1 − exp) ≥ keyDependence;
// the other column must not be the key itself in other units (reexpresses). A school's
// identifier determines the school's type; rounded measurements repeat as often but
// determine nothing, and a column mostly of one value is constant within small groups by
// chance alone.
const (
	keyRepeats    = 3
	keyChance     = 0.5
	keyDependence = 0.9
)

// isGroupKey reports whether numeric column j of the training rows X is a key of groups (see
// keyRepeats) for a preprocessor of the given KeyStatistics.
func isGroupKey(X data.Matrix, j, levels int) bool {
	group := make([]int, X.Rows) // each row's value index, -1 where missing
	index := map[float64]int{}
	var size []int // rows of each value
	known := 0
	for i := range X.Rows {
		v := X.At(i, j)
		if math.IsNaN(v) {
			group[i] = -1
			continue
		}
		g, ok := index[v]
		if !ok {
			g = len(index)
			index[v] = g
			size = append(size, 0)
		}
		group[i] = g
		size[g]++
		known++
	}
	nGroups := len(index)
	if nGroups <= levels || known < keyRepeats*nGroups {
		return false
	}
	first := make([]float64, nGroups)
	count := make([]int, nGroups)
	mixed := make([]bool, nGroups)
	// A column is constant within at most the key's values of two rows or more, so one with
	// more than maxMixed values it is not constant within fails the test below: the scan of
	// a column stops there.
	multi := 0
	for _, n := range size {
		if n >= 2 {
			multi++
		}
	}
	maxMixed := int((1 - keyDependence) * float64(multi))
columns:
	for k := range X.Cols {
		if k == j {
			continue
		}
		clear(count)
		clear(mixed)
		nMixed := 0
		for i, g := range group {
			v := X.At(i, k)
			if g < 0 || math.IsNaN(v) {
				continue
			}
			if count[g] == 0 {
				first[g] = v
			} else if v != first[g] && !mixed[g] {
				mixed[g] = true
				if nMixed++; nMixed > maxMixed {
					continue columns
				}
			}
			count[g]++
		}
		var obs, m float64
		for g, n := range count {
			if n >= 2 {
				m++
				if !mixed[g] {
					obs++
				}
			}
		}
		// The test below needs obs ≥ keyDependence whatever exp is: most columns stop here,
		// before the frequencies and the chance computation.
		if m == 0 || obs/m < keyDependence {
			continue
		}
		freq := map[float64]int{}
		total := 0
		for i, g := range group {
			if v := X.At(i, k); g >= 0 && !math.IsNaN(v) {
				freq[v]++
				total++
			}
		}
		if len(freq) < 2 {
			continue
		}
		freqs := slices.Sorted(maps.Values(freq)) // a fixed order, so the sum's rounding is too
		chance := map[int]float64{}               // group size → probability that chance makes it constant
		var exp float64
		for _, n := range count {
			if n < 2 {
				continue
			}
			p, ok := chance[n]
			if !ok {
				for _, c := range freqs {
					p += math.Pow(float64(c)/float64(total), float64(n))
				}
				chance[n] = p
			}
			exp += p
		}
		obs, exp = obs/m, exp/m
		if exp <= keyChance && (obs-exp)/(1-exp) >= keyDependence && !(len(freq) >= nGroups && reexpresses(index, first, mixed)) {
			return true
		}
	}
	return false
}

// reexpresses reports whether the column whose value in the rows of key value v is first[index[v]]
// (where not mixed) is a monotone function of the key: the key in other units (a count and
// its logarithm), which says nothing of groups. A one-to-one map in no order (a school's
// identifier and the school's mean income) is a group-level covariate.
func reexpresses(index map[float64]int, first []float64, mixed []bool) bool {
	keys := make([]float64, 0, len(index))
	for v, g := range index {
		if !mixed[g] {
			keys = append(keys, v)
		}
	}
	slices.Sort(keys)
	up, down := true, true
	for i := 1; i < len(keys); i++ {
		a, b := first[index[keys[i-1]]], first[index[keys[i]]]
		up = up && b >= a
		down = down && b <= a
	}
	return up || down
}

// targetFolds is the number of folds of the out-of-fold target statistics, and targetPrior
// the weight, in rows, of the target's mean in a category's statistic (so that a category of
// one row is not taken at its word).
const (
	targetFolds = 5
	targetPrior = 1.0
)

// targetStatColumn fits the mean-target column of input column j (raw values, NaN where
// missing) for training targets y and folds; ok is false when every training row's statistic
// is the same, so that the column would carry nothing.
func targetStatColumn(j int, raw, y []float64, folds []int) (c column, ok bool) {
	c = column{in: j, categorical: true, targetStat: true}
	c.fitTargetStatistic(raw, y, folds)
	c.mean, c.std = MeanStd(c.outOfFold)
	return c, c.std > 0
}

// fitTargetStatistic fits the statistic of each category of raw (codes, NaN where missing):
// (sum of its rows' targets + targetPrior·mean) / (its rows + targetPrior), over all
// training rows for new rows, and over the rows of the other folds for each training row
// (NaN for a missing category).
func (c *column) fitTargetStatistic(raw, y []float64, folds []int) {
	type acc struct{ sum, n [targetFolds]float64 }
	byCode := map[float64]*acc{}
	total := 0.0
	for i, v := range raw {
		total += y[i]
		if math.IsNaN(v) {
			continue
		}
		a := byCode[v]
		if a == nil {
			a = &acc{}
			byCode[v] = a
		}
		a.sum[folds[i]] += y[i]
		a.n[folds[i]]++
	}
	c.prior = total / float64(len(y))
	smooth := func(sum, n float64) float64 { return (sum + targetPrior*c.prior) / (n + targetPrior) }
	c.stat = make(map[float64]float64, len(byCode))
	for code, a := range byCode {
		var sum, n float64
		for f := range targetFolds {
			sum, n = sum+a.sum[f], n+a.n[f]
		}
		c.stat[code] = smooth(sum, n)
	}
	c.outOfFold = make([]float64, len(raw))
	for i, v := range raw {
		if math.IsNaN(v) {
			c.outOfFold[i] = math.NaN()
			continue
		}
		a, f := byCode[v], folds[i]
		var sum, n float64
		for g := range targetFolds {
			if g != f {
				sum, n = sum+a.sum[g], n+a.n[g]
			}
		}
		c.outOfFold[i] = smooth(sum, n)
	}
}

// name names the output column of input column named in: the input's name, or for an
// indicator "<name>=<category>".
func (c *column) name(in string, kinds []data.Column) string {
	if c.targetStat {
		return in + " (target mean)"
	}
	if !c.oneHot {
		return in
	}
	if k := int(c.level); kinds != nil && float64(k) == c.level && k >= 0 && k < len(kinds[c.in].Categories) {
		return in + "=" + kinds[c.in].Categories[k]
	}
	return fmt.Sprintf("%s=%g", in, c.level)
}

// applyColumns writes the kept columns of one input row to o (len(p.cols) long).
func (p *Preprocessor) applyColumns(in, o []float64) {
	for k := range p.cols {
		o[k] = p.cols[k].apply(in[p.cols[k].in])
	}
}

// stage1 maps a raw value through the categorical permutation; codes outside it are missing.
func (c *column) stage1(v float64) float64 {
	if c.perm == nil || math.IsNaN(v) {
		return v
	}
	i := int(v)
	if i < 0 || i >= len(c.perm) || float64(i) != v {
		return math.NaN()
	}
	return c.perm[i]
}

func (c *column) apply(v float64) float64 {
	v = c.stage1(v)
	if math.IsNaN(v) {
		return 0 // the training mean, after standardizing
	}
	if c.targetStat {
		s, ok := c.stat[v]
		if !ok {
			s = c.prior
		}
		return (s - c.mean) / c.std
	}
	if c.oneHot {
		x := 0.0
		if v == c.level {
			x = 1
		}
		return (x - c.mean) / c.std
	}
	if !c.categorical {
		switch c.transform {
		case TransformYeoJohnson:
			v = YeoJohnson((v-c.preMean)/c.preStd, c.lambda)
		case TransformQuantile:
			v = c.quant.Transform((v - c.preMean) / c.preStd)
		}
		v = SoftClip(v, c.lo, c.hi)
	}
	return (v - c.mean) / c.std
}

// Transform applies the fitted pipeline to rows with the training columns, returning a new
// matrix with OutputCols columns: the kept columns, then the missing indicators.
func (p *Preprocessor) Transform(X data.Matrix) (data.Matrix, error) {
	if !p.fitted {
		return data.Matrix{}, errors.New("preprocess: Transform before Fit")
	}
	if X.Cols != p.inCols {
		return data.Matrix{}, fmt.Errorf("preprocess: fitted on %d columns, got %d", p.inCols, X.Cols)
	}
	if len(X.Data) != X.Rows*X.Cols {
		return data.Matrix{}, fmt.Errorf("preprocess: matrix is %dx%d but holds %d values", X.Rows, X.Cols, len(X.Data))
	}
	out := data.NewMatrix(X.Rows, p.OutputCols())
	var kept, z []float64 // with principal axes: the kept columns of a row, and scratch
	if p.axes != nil {
		kept, z = make([]float64, len(p.cols)), make([]float64, len(p.axes.in))
	}
	nk := p.OutputCols() - len(p.indicators)
	for i := 0; i < X.Rows; i++ {
		in, o := X.Row(i), out.Row(i)
		if p.axes != nil {
			p.applyColumns(in, kept)
			p.axes.applyRow(kept, o, z)
		} else {
			p.applyColumns(in, o)
		}
		for k, j := range p.indicators {
			if math.IsNaN(in[j]) {
				o[nk+k] = 1
			}
		}
	}
	return out, nil
}

// FitTransform fits on X and returns its transform.
func (p *Preprocessor) FitTransform(X data.Matrix, kinds []data.Column) (data.Matrix, error) {
	if err := p.Fit(X, kinds); err != nil {
		return data.Matrix{}, err
	}
	return p.Transform(X)
}

// OutputCols returns the number of output columns (valid after Fit).
func (p *Preprocessor) OutputCols() int {
	if p.axes != nil {
		return p.axes.outputCols() + len(p.indicators)
	}
	return len(p.cols) + len(p.indicators)
}

// OutputNames names the output columns: kept input names, then "<name> (missing)" for each
// indicator.
func (p *Preprocessor) OutputNames() []string { return append([]string(nil), p.names...) }

// KeptColumns returns the input column index of each non-indicator output column, or −1 for
// a principal component (a mix of the numeric inputs; Config.PrincipalAxes).
func (p *Preprocessor) KeptColumns() []int {
	if p.axes != nil {
		out := make([]int, p.axes.outputCols())
		for c := range p.axes.weights {
			out[c] = -1
		}
		for k, j := range p.axes.pass {
			out[len(p.axes.weights)+k] = p.cols[j].in
		}
		return out
	}
	out := make([]int, len(p.cols))
	for i, c := range p.cols {
		out[i] = c.in
	}
	return out
}

// Lambdas returns the fitted Yeo–Johnson λ of each kept column (0 for columns without one).
func (p *Preprocessor) Lambdas() []float64 {
	out := make([]float64, len(p.cols))
	for i, c := range p.cols {
		out[i] = c.lambda
	}
	return out
}

func distinct(xs []float64) int {
	first, n := math.NaN(), 0
	for _, v := range xs {
		if math.IsNaN(v) {
			continue
		}
		if n == 0 {
			first, n = v, 1
		} else if v != first {
			return 2
		}
	}
	return n
}

// MeanStd, OutlierBounds and SoftClip are exported so that the synthetic training prior
// (models/tabpfn/prior) bounds and scales its features exactly as inference does.

// MeanStd returns the mean and the sample (n−1) standard deviation of the non-NaN values, the
// estimator TabPFN's normalize_data uses (torch.std is unbiased by default).
func MeanStd(xs []float64) (mean, std float64) {
	var n, s float64
	for _, v := range xs {
		if !math.IsNaN(v) {
			n++
			s += v
		}
	}
	if n == 0 {
		return 0, 0
	}
	mean = s / n
	if n < 2 {
		return mean, 0
	}
	var ss float64
	for _, v := range xs {
		if !math.IsNaN(v) {
			d := v - mean
			ss += d * d
		}
	}
	return mean, math.Sqrt(ss / (n - 1))
}

// OutlierBounds implements the two-pass bounds of TabPFN's remove_outliers: mean ± k·σ of all
// values, then mean ± k·σ of the values that fell inside the first bounds.
func OutlierBounds(xs []float64, k float64) (lo, hi float64) {
	m, s := MeanStd(xs)
	lo, hi = m-k*s, m+k*s
	inside := make([]float64, 0, len(xs))
	for _, v := range xs {
		if !math.IsNaN(v) && v >= lo && v <= hi {
			inside = append(inside, v)
		}
	}
	m, s = MeanStd(inside)
	return m - k*s, m + k*s
}

// SoftClip compresses values beyond [lo, hi] logarithmically: hi + log(1 + (v − hi)) above,
// lo − log(1 + (lo − v)) below. TabPFN's remove_outliers uses hi + log(1 + |v|) on the raw
// value; measuring the excess instead keeps the map continuous and monotone at the bound.
func SoftClip(v, lo, hi float64) float64 {
	switch {
	case v > hi:
		return hi + math.Log1p(v-hi)
	case v < lo:
		return lo - math.Log1p(lo-v)
	}
	return v
}
