package tabpfn

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/metrics"
)

// Compile-time checks that Regressor is what the regression protocol runs.
var (
	_ metrics.Regressor   = (*Regressor)(nil)
	_ metrics.ColumnAware = (*Regressor)(nil)
	_ metrics.Predictive  = (*Distribution)(nil)
)

// Regressor is TabPFN for regression: a regression model (Config.Task TaskRegression) takes
// the training rows with their targets as context and predicts, for each test row, a bar
// distribution over the target (Bars) in one forward pass per ensemble member. Fit takes no
// gradient step.
//
// The target is standardised with the training rows' mean and standard deviation (after an
// optional transform, WithTargetTransform), which is the scale the prior's targets have; the
// predictions are mapped back to the target's units, so targets of any magnitude (1e12 or
// 1e-12) work. A constant target is an error.
//
// Ensembling and preprocessing are the classifier's: member i has its own preprocessing
// variant, feature order and subset, feature seed and, above the model's context limit, its
// own random subsample of the training rows (see Classifier). Every member predicts over the
// same bins of the standardised target, and the ensemble's distribution is the mixture of
// the members' (their probabilities averaged). A training set of more rows than the model
// was trained on is by default seen through local contexts, as the classifier's is
// (WithLocalContexts): each test row's distribution comes from an ensemble fitted on its
// nearest training rows, re-binned onto bins shared by all rows. Smaller training sets of at
// least 128 rows are too when their held-out rows are predicted better so, and those of 64
// to 127 rows through smaller contexts, alone or mixed with one context, when
// cross-validation says so (local.go).
//
// # Concurrency
//
// A Regressor is configured and fitted by one goroutine; once Fit has returned, Predict,
// PredictMedian, PredictQuantiles and PredictDistribution are safe for concurrent use, each
// computing in an execution context of its own (see tensor.Context). A *Model only has its
// parameters and bar borders read, so any number of regressors and classifiers in any
// number of goroutines may share one (WithModel).
type Regressor struct {
	settings
	model     scorer
	cfg       Config
	bars      *Bars
	ownsModel *Model

	columns []data.Column
	fitted  bool
	nCols   int
	// targets are the target maps the members use: one, or with TargetMixed two (none,
	// then Yeo–Johnson).
	targets  []targetMap
	members  []*regMember
	local    *localRegressor
	warnings []string
}

// regMember is one ensemble member of a regressor: a view of the features and the
// standardised targets of its training rows under target map targets[target].
type regMember struct {
	view
	target int
	trainY []float32
}

// TargetTransform selects the map applied to the target before it is standardised.
type TargetTransform string

const (
	// TargetNone standardises the target as it is.
	TargetNone TargetTransform = "none"
	// TargetYeoJohnson applies a Yeo–Johnson power transform (λ by maximum likelihood on the
	// z-scored training targets) before standardising, which makes skewed targets (prices,
	// wages) more symmetric; predictions are mapped back through its inverse, within the
	// training targets' range widened by that range on each side (the inverse is unbounded).
	TargetYeoJohnson TargetTransform = "yeo-johnson"
	// TargetAuto uses Yeo–Johnson when the training targets' skewness exceeds
	// AutoSkewness in magnitude, and none otherwise.
	TargetAuto TargetTransform = "auto"
	// TargetMixed ensembles over transforms, as TabPFN v2 does (Hollmann et al., "Accurate
	// predictions on small data with a tabular foundation model", Nature 2025): the members
	// alternate between the target as it is and its Yeo–Johnson transform, and the
	// predictive distribution is the mixture of both in the target's units. An ensemble of
	// one member (a table too large for more within EnsembleCellBudget) uses none.
	TargetMixed TargetTransform = "mixed"
)

// AutoSkewness is the skewness beyond which TargetAuto transforms the target.
const AutoSkewness = 1.0

// DefaultTargetTransform is the regressor's target transform unless WithTargetTransform
// says otherwise. TargetMixed was chosen on regression tasks from the corpus tables, which
// no evaluation uses: its mean R² beat no transform's on 21 of 36 tasks and fell short on
// 10 (bench/results/regression-2026-12-03.md, "A mixed target transform").
const DefaultTargetTransform = TargetMixed

// WithTargetTransform sets the regressor's target transform (default
// DefaultTargetTransform). Classifiers refuse it.
func WithTargetTransform(t TargetTransform) Option {
	return func(s *settings) error {
		switch t {
		case TargetNone, TargetYeoJohnson, TargetAuto, TargetMixed:
			s.targetTransform = t
			return nil
		}
		return fmt.Errorf("tabpfn: unknown target transform %q (want %q, %q, %q or %q)", t, TargetNone, TargetYeoJohnson, TargetAuto, TargetMixed)
	}
}

// NewRegressor returns an unfitted regressor. Without WithModel or WithModelPath it uses the
// regression model embedded in kiln (DefaultRegressionModel).
func NewRegressor(opts ...Option) (*Regressor, error) {
	s, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	if s.targetTransform == "" {
		s.targetTransform = DefaultTargetTransform
	}
	if s.temperature == DefaultTemperature && !s.temperatureSet {
		s.temperature = DefaultRegressionTemperature
	}
	m, owned, err := s.loadModel(DefaultRegressionModel)
	if err != nil {
		return nil, err
	}
	if !m.Cfg.Regression() || m.Bars == nil {
		if owned {
			m.Release()
		}
		return nil, errors.New("tabpfn: the model is a classifier: use NewClassifier, or a regression model (kiln tabpfn train --task regression)")
	}
	r := &Regressor{settings: s, model: chunkedScorer{m: m, chunkRows: s.testBatch}, cfg: m.Cfg, bars: m.Bars}
	if owned {
		r.ownsModel = m
	}
	return r, nil
}

// DefaultRegressionTemperature is the softmax temperature of the regressor's bin logits
// unless WithTemperature says otherwise.
const DefaultRegressionTemperature = 1.0

// Close releases the model if the regressor loaded it.
func (r *Regressor) Close() {
	if r.ownsModel != nil {
		r.ownsModel.Release()
		r.ownsModel = nil
	}
}

// Config returns the model's configuration.
func (r *Regressor) Config() Config { return r.cfg }

// Bars returns the model's bar distribution over the standardised target.
func (r *Regressor) Bars() *Bars { return r.bars }

// SetColumns describes the feature columns, as for Classifier.SetColumns.
func (r *Regressor) SetColumns(cols []data.Column) {
	r.columns = append([]data.Column(nil), cols...)
}

// Warnings returns what Fit changed about the data to fit the model, one sentence each.
func (r *Regressor) Warnings() []string { return append([]string(nil), r.warnings...) }

// Ensemble returns the number of members Fit built; before Fit, or after a Fit that kept the
// training set for local contexts, the configured size (0: automatic).
func (r *Regressor) Ensemble() int {
	if r.fitted && r.local == nil {
		return len(r.members)
	}
	return r.ensemble
}

// LocalContextRows returns the training rows of each test row's context when Fit kept the
// training set for local contexts (WithLocalContexts), and 0 otherwise.
func (r *Regressor) LocalContextRows() int {
	if r.local == nil {
		return 0
	}
	return r.local.rows
}

// Transform returns the target transform Fit applied (TargetAuto resolved to TargetNone or
// TargetYeoJohnson, TargetMixed to TargetNone for a single member); before Fit, the
// configured one, which local contexts (WithLocalContexts) apply to each context.
func (r *Regressor) Transform() TargetTransform {
	switch {
	case !r.fitted || r.local != nil:
		return r.targetTransform
	case len(r.targets) > 1:
		return TargetMixed
	case r.targets[0].yeoJohnson:
		return TargetYeoJohnson
	}
	return TargetNone
}

// Fit validates the training rows and targets and prepares the members' contexts. Every
// target must be finite: rows whose target is missing must be dropped before Fit.
func (r *Regressor) Fit(X data.Matrix, y []float64) (err error) {
	defer recoverTo(&err)
	r.fitted, r.members, r.local, r.warnings = false, nil, nil, nil
	if err := checkMatrix("Fit", X); err != nil {
		return err
	}
	if len(y) != X.Rows {
		return fmt.Errorf("tabpfn: Fit: %d targets for %d rows", len(y), X.Rows)
	}
	if r.columns != nil && len(r.columns) != X.Cols {
		return fmt.Errorf("tabpfn: Fit: SetColumns described %d columns but X has %d", len(r.columns), X.Cols)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("tabpfn: Fit: the target of row %d is %v; targets must be finite (drop rows with a missing target)", i, v)
		}
	}
	r.nCols = X.Cols
	rows := r.localContextRows(r.cfg)
	large := X.Rows > max(rows, r.cfg.MaxRows)
	if rows > 0 && (large || r.localRows < 0 && X.Rows >= smallChoiceMinRows) {
		var choice string
		how := contextCandidate{rows: rows}
		if r.localRows < 0 {
			if how, choice, err = r.chooseContext(X, y); err != nil {
				return err
			}
		}
		if how.rows > 0 {
			l, err := r.fitLocal(X, y, how, choice)
			if err != nil {
				return err
			}
			r.local, r.targets, r.fitted = l, []targetMap{l.grid}, true
			return nil
		}
		if large {
			r.warnf("%d training rows exceed the %d the model was trained on; %s", X.Rows, r.cfg.MaxRows, choice)
		}
	}
	maxRows, maxFeatures := limits(r.cfg, r.settings)
	if X.Rows > maxRows {
		r.warnf("%d training rows exceed the context of %d: each ensemble member uses its own random subsample of %d rows",
			X.Rows, maxRows, maxRows)
	}
	if n := min(X.Rows, maxRows); n > r.cfg.MaxRows {
		r.warnf("each ensemble member's context of %d training rows is above the %d the model was trained on: it extrapolates",
			n, r.cfg.MaxRows)
	}
	n := r.ensemble
	if n == 0 {
		n = AutoEnsemble(min(X.Rows, maxRows), min(X.Cols, maxFeatures), 0)
	}
	transforms := []TargetTransform{r.targetTransform}
	if r.targetTransform == TargetMixed {
		transforms = []TargetTransform{TargetNone, TargetYeoJohnson}[:min(n, 2)]
	}
	r.targets = r.targets[:0]
	zs := make([][]float32, len(transforms))
	for t, tf := range transforms {
		tm, err := fitTargetMap(y, tf)
		if err != nil {
			return err
		}
		r.targets = append(r.targets, tm)
		zs[t] = make([]float32, len(y))
		for i, v := range y {
			zs[t][i] = float32(tm.forward(v))
		}
	}
	widest := 0
	for i := range n {
		t := i % len(zs)
		rows, ys := X, zs[t]
		if X.Rows > maxRows {
			idx := randomSubsample(X.Rows, maxRows, mix(r.seed, uint64(i), streamRows))
			rows, ys = X.SelectRows(idx), make([]float32, len(idx))
			for j, k := range idx {
				ys[j] = zs[t][k]
			}
		}
		targets := make([]float64, len(ys))
		for j, z := range ys {
			targets[j] = float64(z)
		}
		v, err := newView(r.settings, i, rows, r.columns, maxFeatures, regressionRelevance(ys), targets, true)
		if err != nil {
			return err
		}
		widest = max(widest, v.pre.OutputCols())
		r.members = append(r.members, &regMember{view: v, target: t, trainY: ys})
	}
	warnWidth(r.warnf, r.cfg, r.featureSelection, widest, maxFeatures)
	r.fitted = true
	return nil
}

// child returns a regressor to fit on part of r's training set (a local context): r's
// model, settings and column kinds with the given seed, a whole context, no warnings and
// no progress reports.
func (r *Regressor) child(seed uint64) *Regressor {
	ch := &Regressor{settings: r.settings, model: r.model, cfg: r.cfg, bars: r.bars, columns: r.columns}
	ch.seed, ch.localRows, ch.warn, ch.progress = seed, 0, nil, nil
	return ch
}

func (r *Regressor) warnf(format string, args ...any) {
	r.warnings = appendWarning(r.warnings, r.warn, format, args...)
}

// randomSubsample returns limit of the indices 0..n−1, drawn without replacement with seed,
// in increasing order.
func randomSubsample(n, limit int, seed uint64) []int {
	idx := data.NewRand(seed, 0).Perm(n)[:limit]
	slices.Sort(idx)
	return idx
}

// PredictDistribution returns the predictive distribution of each row of X: the mixture of
// the members' bar distributions, in the target's units.
func (r *Regressor) PredictDistribution(X data.Matrix) (d *Distribution, err error) {
	defer recoverTo(&err)
	if !r.fitted {
		return nil, errors.New("tabpfn: predicting before Fit")
	}
	if err := checkMatrix("Predict", X); err != nil {
		return nil, err
	}
	if X.Cols != r.nCols {
		return nil, fmt.Errorf("tabpfn: Predict: X has %d columns but the regressor was fitted on %d", X.Cols, r.nCols)
	}
	if r.local != nil {
		return r.local.predictDistribution(X)
	}
	bins := r.bars.Bins()
	// Each part is the mean of its members' distributions, weighted by their share.
	members := make([]float64, len(r.targets))
	for _, m := range r.members {
		members[m.target]++
	}
	parts := make([]distPart, len(r.targets))
	for t := range parts {
		parts[t] = distPart{target: r.targets[t], probs: data.NewMatrix(X.Rows, bins), weight: members[t] / float64(len(r.members))}
	}
	for i, m := range r.members {
		in, err := m.input(X, len(m.trainY))
		if err != nil {
			return nil, fmt.Errorf("tabpfn: ensemble member %d (%s): %w", i, m.variant, err)
		}
		in.Target = m.trainY
		p, err := r.model.Probabilities(in, r.temperature)
		if err != nil {
			return nil, fmt.Errorf("tabpfn: ensemble member %d (%s): %w", i, m.variant, err)
		}
		probs, n := parts[m.target].probs.Data, members[m.target]
		for j, v := range p[0] {
			probs[j] += v / n
		}
	}
	return newDistribution(r.bars, parts), nil
}

// ForProtocol returns r as the regression protocol's DistributionRegressor, whose
// PredictDistribution returns the metrics interface rather than *Distribution, so that
// the protocol also scores CRPS and interval coverage.
func (r *Regressor) ForProtocol() metrics.DistributionRegressor { return protocolRegressor{r} }

type protocolRegressor struct{ *Regressor }

func (p protocolRegressor) PredictDistribution(X data.Matrix) (metrics.Predictive, error) {
	d, err := p.Regressor.PredictDistribution(X)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return d, nil
}

// Predict returns the mean of each row's predictive distribution (the prediction that
// minimises the expected squared error).
func (r *Regressor) Predict(X data.Matrix) ([]float64, error) {
	d, err := r.PredictDistribution(X)
	if err != nil {
		return nil, err
	}
	return d.Mean(), nil
}

// PredictMedian returns the median of each row's predictive distribution (the prediction
// that minimises the expected absolute error).
func (r *Regressor) PredictMedian(X data.Matrix) ([]float64, error) {
	d, err := r.PredictDistribution(X)
	if err != nil {
		return nil, err
	}
	return d.Median(), nil
}

// PredictQuantiles returns an X.Rows × len(qs) matrix of the predictive distributions'
// quantiles at the levels qs, each in (0, 1).
func (r *Regressor) PredictQuantiles(X data.Matrix, qs []float64) (data.Matrix, error) {
	if err := checkLevels(qs); err != nil {
		return data.Matrix{}, err
	}
	d, err := r.PredictDistribution(X)
	if err != nil {
		return data.Matrix{}, err
	}
	return d.Quantiles(qs)
}

// FitPredictTables fits the regressor on a loaded regression table (data.LoadRegression;
// rows without a target are dropped, and the count is returned) and predicts the rows of
// the test table, loaded with the training table as its schema. It is the path from tables
// to predictions that the command line uses, and that a server can share.
func (r *Regressor) FitPredictTables(train, test *data.Table) (d *Distribution, dropped int, err error) {
	if train.Values == nil {
		return nil, 0, errors.New("tabpfn: the training table has no numeric target (load it with data.LoadRegression)")
	}
	if len(test.Columns) != len(train.Columns) {
		return nil, 0, fmt.Errorf("tabpfn: the test table has %d feature columns, the training table %d",
			len(test.Columns), len(train.Columns))
	}
	labeled := train.Labeled()
	if dropped = train.Rows() - len(labeled); dropped > 0 {
		train = train.Subset(labeled)
	}
	r.SetColumns(train.Columns)
	if err := r.Fit(train.X, train.Values); err != nil {
		return nil, dropped, err
	}
	d, err = r.PredictDistribution(test.X)
	return d, dropped, err
}

// checkLevels checks quantile levels: each in (0, 1).
func checkLevels(qs []float64) error {
	for _, q := range qs {
		if !(q > 0 && q < 1) {
			return fmt.Errorf("tabpfn: quantile level %v is not in (0, 1)", q)
		}
	}
	return nil
}

// targetMap is the regressor's map between the target's units and the model's standardised
// scale: z = (ψ((y − mean)/scale) − tMean)/tScale with ψ the Yeo–Johnson transform of
// parameter lambda, or z = (y − mean)/scale without a transform.
type targetMap struct {
	mean, scale   float64
	yeoJohnson    bool
	lambda        float64
	tMean, tScale float64
	// lambda is fitted in [0, 2], where ψ maps the real line onto itself (outside it ψ is
	// bounded on one side, and the bar distribution's mass beyond that bound would have no
	// inverse: on strongly skewed targets that mass, mapped to the bound, drags the mean far
	// above every target).
	//
	// lo and hi bound a transformed target's inverse: the training targets' range widened
	// by that range on each side. The inverse still grows exponentially for λ near 0, and
	// the bar distribution's half-normal tails would otherwise give an infinite or
	// meaningless mean and outer quantiles.
	lo, hi float64
}

// fitTargetMap fits the map on the training targets y (finite).
func fitTargetMap(y []float64, tf TargetTransform) (targetMap, error) {
	t := targetMap{tScale: 1}
	t.mean, t.scale = preprocess.MeanStd(y)
	if !(t.scale > 0) || t.scale < 1e-300 || math.IsInf(t.scale, 0) {
		return t, fmt.Errorf("tabpfn: Fit: the target is constant (every training row is %v): there is nothing to regress", y[0])
	}
	u := make([]float64, len(y))
	for i, v := range y {
		u[i] = (v - t.mean) / t.scale
	}
	switch tf {
	case TargetYeoJohnson:
		t.yeoJohnson = true
	case TargetAuto:
		t.yeoJohnson = math.Abs(skewness(u)) > AutoSkewness
	}
	if !t.yeoJohnson {
		return t, nil
	}
	lo, hi := slices.Min(y), slices.Max(y)
	t.lo, t.hi = lo-(hi-lo), hi+(hi-lo)
	t.lambda = preprocess.FitYeoJohnsonIn(u, 0, 2)
	for i, v := range u {
		u[i] = preprocess.YeoJohnson(v, t.lambda)
	}
	t.tMean, t.tScale = preprocess.MeanStd(u)
	if !(t.tScale > 0) {
		return targetMap{mean: t.mean, scale: t.scale, tScale: 1}, nil // the transform collapsed the target: go without
	}
	return t, nil
}

// skewness is the sample skewness of standardised values u.
func skewness(u []float64) float64 {
	var s float64
	for _, v := range u {
		s += v * v * v
	}
	return s / float64(len(u))
}

func (t targetMap) forward(y float64) float64 {
	u := (y - t.mean) / t.scale
	if t.yeoJohnson {
		u = (preprocess.YeoJohnson(u, t.lambda) - t.tMean) / t.tScale
	}
	return u
}

func (t targetMap) inverse(z float64) float64 {
	if t.yeoJohnson {
		z = preprocess.YeoJohnsonInverse(t.tMean+t.tScale*z, t.lambda)
		return min(max(t.mean+t.scale*z, t.lo), t.hi)
	}
	return t.mean + t.scale*z
}

// Distribution is a regressor's predictive distribution for each of its rows: a bar
// distribution over the model's standardised target (bin probabilities per row, over the
// model's bins, with half-normal tails: see Bars), mapped to the target's units; with
// TargetMixed, the mixture of two such distributions, one per target map.
// Its methods are safe for concurrent use.
type Distribution struct {
	bars  *Bars
	parts []distPart
	mix   *mixtureGrid // a mixture's merged bins (nil for a single part)
}

// distPart is the mean bar distribution of the members that share one target map, and
// their share of the ensemble.
type distPart struct {
	target targetMap
	probs  data.Matrix
	weight float64
}

// Rows returns the number of rows.
func (d *Distribution) Rows() int { return d.parts[0].probs.Rows }

// Edges returns the Bins+1 bin borders in the target's units, Bins being the number of
// columns of Probabilities. Bin k holds the targets between Edges[k] and Edges[k+1], except
// that the first and last bins are tails that extend below Edges[1] and above
// Edges[Bins−1]; with one target map, half of their mass lies beyond Edges[0] and
// Edges[Bins] respectively. A mixture's bins are its parts' bins merged: its inner
// borders are all of theirs.
func (d *Distribution) Edges() []float64 {
	e := d.bars.Borders()
	if len(d.parts) == 1 {
		for i, v := range e {
			e[i] = d.parts[0].target.inverse(v)
		}
		return e
	}
	u := d.mix.inner
	lo, hi := u[0], u[len(u)-1]
	for _, p := range d.parts {
		lo, hi = min(lo, p.target.inverse(e[0])), max(hi, p.target.inverse(e[len(e)-1]))
	}
	return append(append([]float64{lo}, u...), hi)
}

// Probabilities returns the rows × Bins matrix of bin probabilities (each row sums to one)
// over the bins of Edges. With one target map it is the distribution's own storage: read
// it, do not change it.
func (d *Distribution) Probabilities() data.Matrix {
	if len(d.parts) == 1 {
		return d.parts[0].probs
	}
	m := len(d.mix.inner)
	out := data.NewMatrix(d.Rows(), m+1)
	f, tmp := make([]float64, m), make([]float64, m)
	for r := range out.Rows {
		d.mixtureCDFs(r, d.mix.zInner, f, tmp)
		row := out.Row(r)
		prev := 0.0
		for j, v := range f {
			row[j] = max(v-prev, 0)
			prev = max(prev, v)
		}
		row[m] = max(1-prev, 0)
	}
	return out
}

// quadrature is the number of equally spaced probability levels at which CRPS reads the
// quantile function when the target is transformed (midpoint rule in probability).
const quadrature = 512

// levels are the midpoints of quadrature equal probability intervals.
var levels = func() []float64 {
	qs := make([]float64, quadrature)
	for i := range qs {
		qs[i] = (float64(i) + 0.5) / quadrature
	}
	return qs
}()

// Mean returns the mean of each row's distribution: exact for an untransformed target (the
// bar distribution's mean, scaled); with a transform, E[inverse(Z)] by quadrature over the
// bins (Bars.Expect, its per-bin expectations shared by the rows); for a mixture, its
// parts' means weighted.
func (d *Distribution) Mean() []float64 {
	out := make([]float64, d.Rows())
	for _, p := range d.parts {
		var eh []float64
		if p.target.yeoJohnson {
			eh = d.bars.BinExpectations(p.target.inverse)
		}
		for r := range out {
			var v float64
			if p.target.yeoJohnson {
				v = d.bars.ExpectBins(p.probs.Row(r), eh)
			} else {
				v = p.target.inverse(d.bars.Mean(p.probs.Row(r)))
			}
			out[r] += p.weight * v
		}
	}
	return out
}

// rowQuantiles writes to out the quantiles of row r at the increasing levels qs, in the
// target's units, using scratch from quantileScratch.
func (d *Distribution) rowQuantiles(r int, qs, out []float64, scratch *mixtureScratch) {
	if len(d.parts) > 1 {
		d.mixtureQuantiles(r, qs, out, scratch)
		return
	}
	p := d.parts[0]
	d.bars.Quantiles(p.probs.Row(r), qs, out)
	for i, v := range out {
		out[i] = p.target.inverse(v)
	}
}

// Median returns the median of each row's distribution.
func (d *Distribution) Median() []float64 {
	out := make([]float64, d.Rows())
	q := []float64{0}
	scratch := d.quantileScratch()
	for r := range out {
		d.rowQuantiles(r, []float64{0.5}, q, scratch)
		out[r] = q[0]
	}
	return out
}

// Quantiles returns a Rows × len(qs) matrix of the quantiles at the levels qs, each in
// (0, 1), in any order.
func (d *Distribution) Quantiles(qs []float64) (data.Matrix, error) {
	if err := checkLevels(qs); err != nil {
		return data.Matrix{}, err
	}
	order := make([]int, len(qs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpFloat(qs[a], qs[b]) })
	sorted := make([]float64, len(qs))
	for i, o := range order {
		sorted[i] = qs[o]
	}
	out := data.NewMatrix(d.Rows(), len(qs))
	q := make([]float64, len(qs))
	scratch := d.quantileScratch()
	for r := range out.Rows {
		d.rowQuantiles(r, sorted, q, scratch)
		for i, o := range order {
			out.Set(r, o, q[i])
		}
	}
	return out, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CRPS returns the continuous ranked probability score of each row's distribution at the
// observed target y[row] (lower is better; in the target's units): exact for an
// untransformed target; with a transform from the quantile function at 512 levels,
// CRPS = 2∫₀¹ (1{y < Q(u)} − u)(Q(u) − y) du; for a mixture by quadrature of
// ∫ (F(x) − 1{x ≥ y})² dx (mixtureCRPS).
func (d *Distribution) CRPS(y []float64) ([]float64, error) {
	if len(y) != d.Rows() {
		return nil, fmt.Errorf("tabpfn: CRPS of %d targets for %d rows", len(y), d.Rows())
	}
	out := make([]float64, len(y))
	q := make([]float64, quadrature)
	scratch := d.quantileScratch()
	for r, v := range y {
		if p := d.parts[0]; len(d.parts) == 1 && !p.target.yeoJohnson {
			out[r] = p.target.scale * d.bars.CRPS(p.probs.Row(r), p.target.forward(v))
			continue
		}
		if len(d.parts) > 1 {
			out[r] = d.mixtureCRPS(r, v, scratch)
			continue
		}
		d.rowQuantiles(r, levels, q, scratch)
		var s float64
		for i, qv := range q {
			ind := 0.0
			if v < qv {
				ind = 1
			}
			s += (ind - levels[i]) * (qv - v)
		}
		out[r] = 2 * s / quadrature
	}
	return out, nil
}
