package tabpfn

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/metrics"
)

// Local contexts for training sets larger than the context the model was trained on.
//
// The model attends from every test row to every training row, and it learned to do so on
// contexts of at most Config.MaxRows rows. Given ten times as many it extrapolates: on letter
// at 10,000 training rows it gains a third of what a forest gains from the extra rows, at a
// cost that grows with the square of the rows. A test row's class is mostly decided by the
// training rows near it, so each test row is instead predicted from a context of its own:
// its nearest training rows, preprocessed and presented as a training set of that size would
// be (LoCalPFN: Thomas et al., "Retrieval & Fine-Tuning for In-Context Tabular Models",
// NeurIPS 2024). A small neighbourhood also holds few classes, so a table of more classes
// than the model has outputs is mostly classified without output codes. A regressor's
// contexts are chosen the same way. Whether local contexts predict a table better than one
// context, and how large they are, the model measures on its own training set under the
// automatic setting (see chooseContextRows).
//
// Distances are measured on each column's empirical distribution function over the training
// rows, which puts every column on [0, 1] whatever its units and tails; a missing value sits
// at the middle. Ties go to the earlier training row, so a row's context depends only on
// the row and the training set. What it gained, and what it costs against one whole context,
// is measured in bench/results/tabpfn-local-2026-12-04.md (classification) and
// bench/results/tabpfn-local-regression-2026-12-05.md (regression).

// DefaultLocalRows is the size of a test row's local context under WithLocalContexts's
// automatic setting.
const DefaultLocalRows = 64

// localSpace maps rows to the space in which local contexts are found.
type localSpace struct {
	sorted [][]float64 // per column, the training rows' non-missing values in increasing order
}

func fitLocalSpace(X data.Matrix) localSpace {
	s := localSpace{sorted: make([][]float64, X.Cols)}
	for j := range X.Cols {
		col := make([]float64, 0, X.Rows)
		for i := range X.Rows {
			if v := X.At(i, j); !math.IsNaN(v) {
				col = append(col, v)
			}
		}
		slices.Sort(col)
		s.sorted[j] = col
	}
	return s
}

// point writes row's coordinates to out: per column, the share of training values below
// the value plus half the share equal to it (0.5 where missing or the column is all missing).
func (s localSpace) point(row, out []float64) {
	for j, v := range row {
		col := s.sorted[j]
		if math.IsNaN(v) || len(col) == 0 {
			out[j] = 0.5
			continue
		}
		lo := sort.SearchFloat64s(col, v)
		hi := lo + sort.Search(len(col)-lo, func(i int) bool { return col[lo+i] > v })
		out[j] = (float64(lo) + float64(hi)) / (2 * float64(len(col)))
	}
}

func (s localSpace) transform(X data.Matrix) data.Matrix {
	out := data.NewMatrix(X.Rows, X.Cols)
	for i := range X.Rows {
		s.point(X.Row(i), out.Row(i))
	}
	return out
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for j, v := range a {
		d := v - b[j]
		s += d * d
	}
	return s
}

// neighbours returns the indices of the k points of pts nearest pt, nearest first (ties: the
// lower index). dist and order are scratch of pts.Rows entries.
func neighbours(pt []float64, pts data.Matrix, k int, dist []float64, order []int) []int {
	for i := range pts.Rows {
		dist[i] = sqDist(pt, pts.Row(i))
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(dist[a], dist[b]); c != 0 {
			return c
		}
		return a - b
	})
	return order[:k]
}

// neighbourhoods finds each test row's context among the training rows and runs a
// prediction per test row on GOMAXPROCS workers.
type neighbourhoods struct {
	rows     int // training rows per context
	space    localSpace
	points   data.Matrix // the training rows in the space
	X        data.Matrix // the training rows as given
	progress func(done, total int)
}

func newNeighbourhoods(X data.Matrix, rows int, progress func(done, total int)) neighbourhoods {
	n := neighbourhoods{rows: rows, space: fitLocalSpace(X), X: X.Clone(), progress: progress}
	n.points = n.space.transform(X)
	return n
}

// each calls predict for every row of X with the row (as a one-row matrix) and the indices
// of its context's training rows, nearest first, from GOMAXPROCS workers, and reports
// progress after every row. The first error, by row, is returned.
func (n *neighbourhoods) each(X data.Matrix, predict func(i int, x data.Matrix, ctx []int) error) error {
	next := make(chan int)
	errs := make([]error, X.Rows)
	var wg sync.WaitGroup
	var mu sync.Mutex // serialises the progress calls
	done := 0
	for range min(runtime.GOMAXPROCS(0), X.Rows) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pt := make([]float64, X.Cols)
			dist := make([]float64, n.points.Rows)
			order := make([]int, n.points.Rows)
			for i := range next {
				errs[i] = n.row(X, i, pt, dist, order, predict)
				if n.progress != nil {
					mu.Lock()
					done++
					n.progress(done, X.Rows)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range X.Rows {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("tabpfn: the local context of row %d: %w", i, err)
		}
	}
	return nil
}

// row finds row i's context and predicts it, with a panic (a device error surfaces as one)
// returned as the row's error: it would otherwise end the process from this goroutine.
func (n *neighbourhoods) row(X data.Matrix, i int, pt, dist []float64, order []int, predict func(int, data.Matrix, []int) error) (err error) {
	defer recoverTo(&err)
	n.space.point(X.Row(i), pt)
	return predict(i, X.SelectRows([]int{i}), neighbours(pt, n.points, n.rows, dist, order))
}

// localWarning is the warning of a model that predicts each test row from the rows of its
// n training rows nearest it, under a model trained on contexts of up to trained rows;
// choice, when not empty, says how rows was chosen. Within the trained size, local
// contexts are only ever chosen, for predicting held-out rows better than one context, and
// averaged with one context (averaged) for predicting them better than either alone.
func localWarning(n, trained, rows int, averaged bool, choice string) string {
	if choice != "" {
		choice = " (" + choice + ")"
	}
	if averaged {
		return fmt.Sprintf("each test row is predicted by the mean of the predictions from the %d of the %d training rows nearest it and from one context of them all, which predicted held-out training rows better than either alone%s",
			rows, n, choice)
	}
	if n > trained {
		return fmt.Sprintf("%d training rows exceed the %d the model was trained on: each test row is predicted from the %d training rows nearest it%s",
			n, trained, rows, choice)
	}
	return fmt.Sprintf("each test row is predicted from the %d of the %d training rows nearest it, which predicted held-out training rows better than one context of them all%s",
		rows, n, choice)
}

// allEqual reports whether every entry of ys (at least one) equals the first.
func allEqual[T comparable](ys []T) bool {
	for _, v := range ys[1:] {
		if v != ys[0] {
			return false
		}
	}
	return true
}

// contextSeed is the seed of the sub-model fitted on the training rows ctx: mixed from the
// rows alone, so that a row's prediction does not depend on the rows predicted with it.
func contextSeed(seed uint64, ctx []int) uint64 {
	for _, r := range ctx {
		seed = mix(seed, uint64(r))
	}
	return mix(seed, streamLocal)
}

// localClassifier predicts each test row from its nearest training rows.
//
// A context holds only the classes of its rows, and the model gives a class it does not see
// probability 0; a context of one class is that class, probability 1. Both are certainties
// that a few dozen rows do not warrant, and a single row of an absent class then costs the
// log loss its clipping bound. So each row's probabilities are smoothed towards the class
// frequencies of the whole training set, as if the context held one more row spread over the
// classes in those proportions (additive smoothing with a Dirichlet prior of weight one
// row): p = (rows·p_context + prior)/(rows + 1). For each class this is the same increasing
// map of its probability on every row, so the rows' order by a class's probability, and
// with it ROC AUC, is unchanged; on spam and satellite the log loss fell by 0.015 and 0.012
// (bench/results/tabpfn-local-floor-2026-12-05.md).
type localClassifier struct {
	neighbourhoods
	parent *Classifier
	y      []int     // the caller's labels
	prior  []float64 // the training set's class frequencies, over the caller's classes
}

// localContextRows returns the training rows of a test row's context for a model of config
// cfg: those of WithLocalContexts, or with the automatic setting DefaultLocalRows unless
// WithMaxRows asked for whole contexts larger than the model's; 0 when local contexts are
// off.
func (s settings) localContextRows(cfg Config) int {
	switch {
	case s.localRows > 0:
		return s.localRows
	case s.localRows < 0 && s.maxRows <= cfg.MaxRows:
		return DefaultLocalRows
	}
	return 0
}

// fitLocal keeps the training set for local contexts of rows rows, with a warning that says
// so and why (choice). y holds the caller's labels in [0, c.nClasses).
func (c *Classifier) fitLocal(X data.Matrix, y []int, rows int, choice string) *localClassifier {
	c.warnf("%s", localWarning(X.Rows, c.cfg.MaxRows, rows, false, choice))
	return c.newLocal(X, y, rows, c.progress)
}

// newLocal keeps the training set for local contexts of rows rows, reporting to progress as
// it predicts.
func (c *Classifier) newLocal(X data.Matrix, y []int, rows int, progress func(done, total int)) *localClassifier {
	prior := make([]float64, c.nClasses)
	for _, v := range y {
		prior[v] += 1 / float64(len(y))
	}
	return &localClassifier{neighbourhoods: newNeighbourhoods(X, rows, progress), parent: c, y: slices.Clone(y), prior: prior}
}

// predictProba predicts each row of X from its own context, as an X.Rows × nClasses matrix
// of class probabilities.
func (l *localClassifier) predictProba(X data.Matrix, nClasses int) (data.Matrix, error) {
	out := data.NewMatrix(X.Rows, nClasses)
	err := l.each(X, func(i int, x data.Matrix, ctx []int) error { return l.predictRow(x, ctx, out.Row(i)) })
	if err != nil {
		return data.Matrix{}, err
	}
	return out, nil
}

// predictRow writes to out the class probabilities of the one row of x given the training
// rows ctx as its context, smoothed towards the class frequencies.
func (l *localClassifier) predictRow(x data.Matrix, ctx []int, out []float64) error {
	if err := l.contextProba(x, ctx, out); err != nil {
		return err
	}
	w := 1 / float64(len(ctx)+1)
	for c, p := range out {
		out[c] = (1-w)*p + w*l.prior[c]
	}
	return nil
}

// contextProba writes to out the class probabilities of the one row of x given the training
// rows ctx as its context, as the model gives them.
func (l *localClassifier) contextProba(x data.Matrix, ctx []int, out []float64) error {
	ys := pick(l.y, ctx)
	if allEqual(ys) {
		out[ys[0]] = 1
		return nil
	}
	sub := l.parent.child(contextSeed(l.parent.seed, ctx))
	if sub.pairMembers < 0 {
		sub.pairMembers = 0
	}
	if err := sub.Fit(l.X.SelectRows(ctx), ys, len(out)); err != nil {
		return err
	}
	p, err := sub.PredictProba(x)
	if err != nil {
		return err
	}
	copy(out, p.Row(0))
	return nil
}

// localRegressor predicts each test row's distribution from its nearest training rows. A
// context's distribution is over its own standardised target, so each is re-binned onto the
// bins of grid, a target map fitted on the whole training set: every row's distribution is
// then over the same bins (Distribution.Edges), and a row's probability of each bin is its
// local distribution's mass there.
type localRegressor struct {
	neighbourhoods
	parent *Regressor
	// whole, when not nil, is a regressor of one context of every training row, whose
	// distribution is mixed in equal parts with the local ones.
	whole *Regressor
	y     []float64
	grid  targetMap
	inner []float64 // the model's inner bin borders mapped to the target's units by grid
}

// gridTransform is the target map a local regressor re-bins onto for transform tf: the
// Yeo–Johnson map wherever the regressor may use one, as its bins follow a skewed target's
// density, which puts the most bins where the most rows are.
func gridTransform(tf TargetTransform) TargetTransform {
	if tf == TargetMixed {
		return TargetYeoJohnson
	}
	return tf
}

// fitLocal keeps the training set for local contexts of how.rows rows and fits the grid
// its distributions are re-binned onto, and where how.averaged fits one context of every
// training row as well. choice, when not empty, says how the contexts were chosen.
func (r *Regressor) fitLocal(X data.Matrix, y []float64, how contextCandidate, choice string) (*localRegressor, error) {
	grid, err := fitTargetMap(y, gridTransform(r.targetTransform))
	if err != nil {
		return nil, err
	}
	r.warnf("%s", localWarning(X.Rows, r.cfg.MaxRows, how.rows, how.averaged, choice))
	b := r.bars.Borders()
	inner := make([]float64, len(b)-2)
	for k := range inner {
		inner[k] = grid.inverse(b[k+1])
	}
	l := &localRegressor{neighbourhoods: newNeighbourhoods(X, how.rows, r.progress), parent: r, y: slices.Clone(y), grid: grid, inner: inner}
	if how.averaged {
		// The regressor this one would be with WithLocalContexts(0).
		l.whole = r.child(r.seed)
		if err := l.whole.Fit(X, y); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// predictDistribution predicts each row of X from its own context, as a mixture in equal
// parts with one context of every training row where the regressor keeps one.
func (l *localRegressor) predictDistribution(X data.Matrix) (*Distribution, error) {
	probs := data.NewMatrix(X.Rows, l.parent.bars.Bins())
	err := l.each(X, func(i int, x data.Matrix, ctx []int) error { return l.predictRow(x, ctx, probs.Row(i)) })
	if err != nil {
		return nil, err
	}
	parts := []distPart{{target: l.grid, probs: probs, weight: 1}}
	if l.whole != nil {
		whole, err := l.whole.PredictDistribution(X)
		if err != nil {
			return nil, err
		}
		parts[0].weight = 0.5
		for _, p := range whole.parts {
			p.weight /= 2
			parts = append(parts, p)
		}
	}
	return newDistribution(l.parent.bars, parts), nil
}

// predictRow writes to out the grid's bin probabilities of the one row of x given the
// training rows ctx as its context. A context whose targets are all equal puts all the
// mass in that target's bin.
func (l *localRegressor) predictRow(x data.Matrix, ctx []int, out []float64) error {
	ys := pick(l.y, ctx)
	if allEqual(ys) {
		out[l.parent.bars.Bin(l.grid.forward(ys[0]))] = 1
		return nil
	}
	sub := l.parent.child(contextSeed(l.parent.seed, ctx))
	if err := sub.Fit(l.X.SelectRows(ctx), ys); err != nil {
		return err
	}
	d, err := sub.PredictDistribution(x)
	if err != nil {
		return err
	}
	// The mass of bin k is the local CDF's rise between the grid's borders k and k+1; the
	// outer bins take the tails.
	f := make([]float64, len(l.inner))
	d.cdfs(0, l.inner, f)
	prev := 0.0
	for k, v := range f {
		v = max(v, prev)
		out[k] = v - prev
		prev = v
	}
	out[len(out)-1] = max(1-prev, 0)
	return nil
}

// How a training set is seen under the automatic setting.
//
// Whether a row's nearest training rows predict its target better than all of them depends
// on the table. Where the target is a smooth or sharp function of the features, a small
// context sees the function's local shape, which one context of thousands of rows blurs;
// where the target is mostly noise, 64 rows estimate the noise's mean worse than thousands
// do. On corpus regression tasks of 1,100 to 2,500 training rows, local contexts of 64 rows
// took R² from 0.62 to 0.89 on one and from 0.30 to 0.15 on another
// (bench/results/tabpfn-local-regression-2026-12-05.md). So the regressor measures it on its
// own training set, as cross-validation would: it holds out contextChoiceRows rows at random,
// predicts them from the others with each of localContextChoices, and keeps the size whose
// predicted means have the least squared error.
//
// The same holds within the model's context. A table whose rows come in groups (a state's
// rows over years, a firm's, a series') is a look-up that the nearest rows answer and one
// context of all rows blurs: on corpus tables of 150 to 1,000 training rows the choice took
// R² from 0.58 to 0.99 on one, and left the tables whose held-out rows preferred one context
// unchanged to the bit (bench/results/tabpfn-local-small-2026-12-05.md). So the choice runs
// on any training set of at least localChoiceMinRows rows, and on 64 to 127 rows by
// cross-validation with contexts of 16 or 32 rows (crossValidatedContextRows, below), which
// took cpus from 0.80 to 0.88 R² and death_prob from 0.967 to 0.998
// (bench/results/tabpfn-local-small-regressor-2026-12-06.md).
//
// A classifier makes the same choice within the model's context from classifierChoiceMinRows
// rows on, by the log loss of its held-out probabilities, and takes local contexts only where
// they win by more than contextChoiceMargin standard errors: on 39 corpus classification
// tasks no one had tuned on it took them on 6, each of which kept or raised its test ROC AUC
// and lowered its log loss; one table whose class is told by the rates of rows alike took
// AUC from 0.65 to 0.94 (bench/results/tabpfn-local-classifier-small-2026-12-05.md). Its
// local sizes race (contextRace): one far behind stops predicting held-out rows early. On
// 21 tables of 668 to 1,000 training rows that left every choice as it was, and the choice
// took 0.83 of the time (bench/results/tabpfn-choice-race-2026-12-05.md). Above
// the model's context it keeps contexts of DefaultLocalRows: there the held-out log loss
// ranked one context first on spam, where its 2,000 test rows ranked 64 rows first
// (bench/results/tabpfn-local-classifier-choice-2026-12-05.md).
//
// On 64 to 255 training rows a classifier has too few to hold a part out, and a context of
// 64 is most of the table. There it predicts every training row by cross-validation from
// contexts of 16 or 32 rows (smallContextChoices) and from one context of them all
// (crossValidatedValues). A table whose class the few nearest rows tell, as sonar's, where
// nearest-neighbour rules have long done well, rose from 0.864 to 0.916 ROC AUC when the
// classifier chose the context of least cross-validated log loss
// (bench/results/tabpfn-local-small-classifier-2026-12-06.md), and by 0.0009 more over 18
// tables of that size when it could also choose a local size averaged with one context
// (bench/results/tabpfn-averaged-contexts-2026-12-06.md). It now weighs the three instead
// of choosing among them (stackedClassifier, in stack.go).
//
// The regressor's cross-validated choice (64 to 127 rows) tries each local size alone and
// averaged with one context: a row's distribution is the mixture in equal parts of the two,
// whose mean, which the choice's squared error scores, is the mean of theirs. On the nine
// regression tables of that size the averages were taken on 16 of the 45 splits, no table's R²
// fell, and the mean R² rose from 0.585 to 0.594 (servo +0.027, a pure-noise target +0.023,
// MASS's coop +0.011, mpg +0.010), with CRPS lower on every table that took them
// (bench/results/tabpfn-averaged-contexts-2026-12-06.md).

// A local context is local only where the table holds more distinct rows than the context
// does. Where its rows take few distinct values (a handful of binary items, a few categories)
// each value comes in many copies: the rows nearest a test row are then copies of a few
// values, often of the test row's own alone, and such a context drops the other values'
// evidence, and even some copies of the row's own, without resolving any finer structure
// than one context of them all. So a local size is a candidate only when it is smaller than
// the training rows' number of distinct rows (distinctRows), and above the model's context a
// classifier keeps one context where local ones would not be local. On two corpus tasks of 16
// and 4 distinct training rows, local contexts had won the held-out loss and lost on the test
// rows; with the bound, psych's lsat7 gained 0.007 ROC AUC and VGAM's marital.nz 0.005 R²
// over five splits (bench/results/tabpfn-distinct-rows-2026-12-06.md).

// localChoiceMinRows is the fewest training rows for which the automatic setting chooses
// between local contexts and one context: a context of DefaultLocalRows is then at most half
// of the rows, and the choice holds out 32 or more. On fewer, a context of 64 rows is most of
// the table, and the choice's few held-out rows decide by noise (a table of 100 pure-noise
// training rows lost 0.07 R² to it; the same report).
const localChoiceMinRows = 2 * DefaultLocalRows

// localContextChoices are the context sizes the automatic setting chooses among; 0 is one
// context of the whole training set.
var localContextChoices = []int{DefaultLocalRows, 4 * DefaultLocalRows, 0}

// classifierChoiceMinRows is the fewest training rows for which a classifier chooses between
// local contexts and one context on one held-out part: the choice then holds out 64 rows or
// more. A log loss over fewer decides by noise: at 128 training rows (32 held out) the
// choice took local contexts on a table whose class no baseline predicts (vcd's Rochdale)
// and lost 0.13 ROC AUC on its test rows
// (bench/results/tabpfn-local-classifier-small-2026-12-05.md). Below it the classifier
// predicts every training row by cross-validation instead (crossValidatedValues) and weighs
// its contexts by those predictions (stack.go).
const classifierChoiceMinRows = 4 * DefaultLocalRows

// contextChoiceRows is how many training rows the choice holds out.
const contextChoiceRows = 256

// contextChoiceMargin is how many standard errors a classifier's local contexts must beat
// one context by on the held-out rows (chooseContextRows). A near tie in log loss hides
// rankings of the rows that differ: on psych's lsat7, local contexts won the held-out log
// loss by 0.0014 and took the test ROC AUC from 0.60 to 0.50 (its four binary features give
// 16 patterns, whose class rates 64 rows estimate with more noise than their differences; the
// bound on distinct rows above keeps it to one context without a choice). The regressor's
// held-out choice has no margin: squared errors are heavy-tailed, so large gains show small
// z, and over its 30 local choices on shared and unseen tables a margin of one standard
// error would have given up 0.23 R² in sum to save 0.05
// (bench/results/tabpfn-regressor-margin-2026-12-05.md). Its cross-validated choice on
// fewer rows keeps this margin: there contexts of 16 or 32 rows led one context by 0.27–0.75
// standard errors on a pure-noise target (nlme's IGF) and lost 0.09 R² on its test rows,
// while the gains that matter led by more
// (bench/results/tabpfn-local-small-regressor-2026-12-06.md).
const contextChoiceMargin = 1

// contextRace is how the choice stops predicting held-out rows from a local size that is
// clearly behind (a Hoeffding race; Maron and Moore, "Hoeffding Races: Accelerating Model
// Selection Search for Classification and Function Approximation", NIPS 1993). Local sizes
// predict the held-out rows raceChunk at a time, in the random order they were drawn; from
// raceMinRows rows on, a local size predicts no more rows and is not chosen when its mean
// loss over the rows predicted so far lies, in standard errors of the paired differences,
// more than zStop above the leader's (the size of least mean loss, one context included) or
// more than futility above one context's.
//
// Each held-out row's loss does not depend on which other rows are predicted, so a race that
// stops no size chooses exactly as predicting every row with every size does. A size stopped
// by zStop would have had to overturn that lead on the remaining rows. The futility bound
// serves the margin: a local size is chosen only when it ends more than margin standard
// errors ahead of one context, and one that is 1 behind after half the rows needs the other
// half to lead by 1 + margin·√2 (2.4 at margin 1; under 1% for sizes that predict equally
// well, and about 2% for one whose full run would end 1.5 ahead).
type contextRace struct {
	zStop    float64 // 0: no race, every size predicts every held-out row
	futility float64 // 0: none
}

// The races of the classifier's and the regressor's choices. The regressor runs none: its
// squared errors are heavy-tailed, so a size behind on the first rows may still win on a few
// large errors later (the reason its choice keeps no margin), and in a trial race over 15
// corpus regression choices only one size stopped early
// (bench/results/tabpfn-local-classifier-small-2026-12-05.md).
var (
	classifierRace = contextRace{zStop: 3, futility: 1}
	regressorRace  = contextRace{}
)

const (
	raceChunk   = 64
	raceMinRows = 2 * raceChunk
)

// chooseContextRows returns the context size among localContextChoices whose predictions of
// held-out training rows have the least mean loss, and a sentence saying so that names the
// loss. A local size is a candidate only when smaller than distinct, the training rows'
// number of distinct rows; where none is, one context is returned at once. It holds out min(contextChoiceRows, n/4) of the n training rows at random, drawn
// with seed; losses fits a model with contexts of the given size (0: one context of every
// row) on the kept rows and returns its loss on each of the held-out rows it is given (kept
// and held are increasing indices into the training rows), or nil where that size cannot be
// fitted on the kept rows. progress, when not nil, is told of the held-out rows predicted
// from local contexts, counted over every local size (the total shrinks when race stops a
// size); losses passes its second argument on to them.
//
// A local size is chosen only where its mean loss is below one context's by more than
// margin standard errors of the held-out rows' paired differences; otherwise one context
// is, as the simpler model within noise of the best (the one-standard-error rule of
// Breiman et al., "Classification and Regression Trees", 1984, section 3.4.3, at margin 1).
func chooseContextRows(n, distinct int, seed uint64, loss string, margin float64, race contextRace, progress func(done, total int),
	losses func(rows int, progress func(done, total int), kept, held []int) ([]float64, error)) (int, string, error) {
	m := min(contextChoiceRows, n/4)
	perm := data.NewRand(mix(seed, streamContextChoice), 0).Perm(n)
	drawn := perm[:m] // the held-out rows in the order local sizes predict them
	held, kept := slices.Clone(drawn), slices.Clone(perm[m:])
	slices.Sort(held)
	slices.Sort(kept)
	at := make(map[int]int, m) // a held-out row's index in held
	for i, r := range held {
		at[r] = i
	}

	// An arm is one size; its losses are indexed as held, filled as its rows are predicted.
	type arm struct {
		rows    int
		losses  []float64
		stopped int     // rows predicted when the race stopped it (0: not stopped)
		z       float64 // and how many standard errors it then was behind
		behind  int     // the size it was behind
	}
	var arms []*arm
	local := 0       // local sizes among the arms
	var few []string // local sizes left out for too few distinct rows
	for _, rows := range localContextChoices {
		switch {
		case rows >= len(kept): // a larger one is the whole set
		case rows > 0 && rows >= distinct:
			few = append(few, sizeName(rows))
		default:
			arms = append(arms, &arm{rows: rows})
			if rows > 0 {
				local++
			}
		}
	}
	if local == 0 && len(few) > 0 {
		return 0, fmt.Sprintf("one context of them all, as they hold %d distinct rows, too few for local contexts of %s", distinct, strings.Join(few, " or ")), nil
	}
	total, done := local*m, 0
	predict := func(a *arm, rows []int) error {
		part := slices.Clone(rows)
		slices.Sort(part)
		var told func(int, int)
		if progress != nil && a.rows > 0 {
			offset := done
			told = func(d, _ int) { progress(offset+d, total) }
		}
		ls, err := losses(a.rows, told, kept, part)
		if err != nil {
			return err
		}
		if a.rows > 0 {
			done += len(part)
		}
		if ls == nil {
			a.losses = nil // cannot be fitted on the kept rows
			return nil
		}
		if a.losses == nil {
			a.losses = make([]float64, m)
		}
		for i, r := range part {
			a.losses[at[r]] = ls[i]
		}
		return nil
	}
	// One context predicts every held-out row from one fit; local sizes race a chunk at a time.
	var live []*arm
	for _, a := range arms {
		if a.rows == 0 {
			if err := predict(a, drawn); err != nil {
				return 0, "", err
			}
			if a.losses == nil {
				continue
			}
		}
		live = append(live, a)
	}
	chunk := m
	if race.zStop > 0 {
		chunk = raceChunk
	}
	for start := 0; start < m; start += chunk {
		end := min(start+chunk, m)
		for _, a := range live {
			if a.rows > 0 {
				if err := predict(a, drawn[start:end]); err != nil {
					return 0, "", err
				}
			}
		}
		live = slices.DeleteFunc(live, func(a *arm) bool { return a.losses == nil })
		if race.zStop <= 0 || end < raceMinRows || end == m || len(live) < 2 {
			continue
		}
		// Each live size's losses on the rows predicted so far, in the order drawn.
		seen := make(map[*arm][]float64, len(live))
		var whole []float64 // one context's losses on the rows seen
		leader, leaderLoss := live[0], math.Inf(1)
		for _, a := range live {
			ls := make([]float64, end)
			for i, r := range drawn[:end] {
				ls[i] = a.losses[at[r]]
			}
			seen[a] = ls
			if a.rows == 0 {
				whole = ls
			}
			if l := mean(ls); l < leaderLoss {
				leader, leaderLoss = a, l
			}
		}
		live = slices.DeleteFunc(live, func(a *arm) bool {
			if a == leader || a.rows == 0 {
				return false
			}
			own := seen[a]
			a.z, a.behind = pairedZ(own, seen[leader]), leader.rows
			if a.z <= race.zStop && whole != nil && race.futility > 0 {
				a.z, a.behind = pairedZ(own, whole), 0
				if a.z <= race.futility {
					return false
				}
			} else if a.z <= race.zStop {
				return false
			}
			a.stopped = end
			total -= m - end
			return true
		})
	}

	best, bestLoss := 0, math.Inf(1)
	var scores []string
	byCandidate := map[contextCandidate][]float64{}
	for _, a := range arms {
		if a.losses == nil {
			continue
		}
		name := sizeName(a.rows)
		if a.stopped > 0 {
			first := make([]float64, a.stopped)
			for i, r := range drawn[:a.stopped] {
				first[i] = a.losses[at[r]]
			}
			scores = append(scores, fmt.Sprintf("%s %.4g on the first %d, %.3g standard errors behind %s, then stopped", name, mean(first), a.stopped, a.z, sizeName(a.behind)))
			continue
		}
		byCandidate[contextCandidate{rows: a.rows}] = a.losses
		l := mean(a.losses)
		scores = append(scores, fmt.Sprintf("%s %.4g", name, l))
		if l < bestLoss {
			best, bestLoss = a.rows, l
		}
	}
	if len(few) > 0 {
		scores = append(scores, fmt.Sprintf("not %s, as the rows hold %d distinct ones", strings.Join(few, " or "), distinct))
	}
	chosen, choice := settleContextChoice(contextCandidate{rows: best}, byCandidate, margin, fmt.Sprintf("chosen on %d held-out training rows; %s: %s", m, loss, strings.Join(scores, ", ")))
	return chosen.rows, choice, nil
}

// contextCandidate is one way a choice predicts held-out training rows: from one context of
// every kept row (rows 0), from local contexts of rows rows each, or, averaged, as the
// mean of the two predictions, local contexts of rows rows and one context.
type contextCandidate struct {
	rows     int
	averaged bool
}

// String names the candidate in the choice's report: "64 rows", "all rows", or "16 rows
// averaged with all rows".
func (c contextCandidate) String() string {
	if c.averaged {
		return sizeName(c.rows) + " averaged with " + sizeName(0)
	}
	return sizeName(c.rows)
}

// settleContextChoice applies the margin to best, the candidate of least mean loss among the
// held-out losses byCandidate, and returns the candidate chosen and the sentence that says
// why, around choice, the losses' account: a candidate other than one context is kept only
// where it beats one context by more than margin standard errors of the paired differences.
func settleContextChoice(best contextCandidate, byCandidate map[contextCandidate][]float64, margin float64, choice string) (contextCandidate, string) {
	if whole, ok := byCandidate[contextCandidate{}]; ok && best.rows > 0 && margin > 0 {
		if z := pairedZ(whole, byCandidate[best]); z <= margin {
			return contextCandidate{}, fmt.Sprintf("one context of them all predicted held-out rows within %.3g standard errors of the best, %s (%s)", z, best, choice)
		}
	}
	if best.rows == 0 {
		choice = "one context of them all predicted held-out rows best (" + choice + ")"
	}
	return best, choice
}

// smallContextChoices are the local sizes tried on a training set too small for the
// held-out choice (a classifier's of fewer than classifierChoiceMinRows rows, a regressor's
// of fewer than localChoiceMinRows), where DefaultLocalRows is a large part of the table; a
// size is tried only where it is at most half of the rows each fold keeps.
var smallContextChoices = []int{DefaultLocalRows / 4, DefaultLocalRows / 2}

// smallChoiceMinRows is the fewest training rows for which a classifier or a regressor
// predicts its training rows by cross-validation to choose or weigh its contexts
// (crossValidatedValues): each fold then keeps 48 rows or more, so that a context of 16 is
// at most a third of them.
const smallChoiceMinRows = DefaultLocalRows

// choiceFolds is the number of folds of crossValidatedValues.
const choiceFolds = 4

// crossValidatedValues predicts every one of a training set's n rows, too few to spare a
// held-out part, without itself: the rows are split into choiceFolds folds drawn with seed,
// and each fold's rows are predicted from the other folds' rows with one context (size 0)
// and with local contexts of each size of smallContextChoices that is at most half of the
// rows a fold keeps and smaller than distinct. values returns a value for each held-out row
// (a class's probability, a predicted mean's error), or nil where a size cannot be fitted
// on a fold's kept rows. It returns each size's values of the n rows, one context's
// included, or nil where one context or every local size could not be fitted.
func crossValidatedValues(n, distinct int, seed uint64, progress func(done, total int),
	values func(rows int, progress func(done, total int), kept, held []int) ([]float64, error)) (map[int][]float64, error) {
	perm := data.NewRand(mix(seed, streamContextChoice), 0).Perm(n)
	folds := make([][2][]int, choiceFolds) // held, kept
	minKept := n
	for f := range folds {
		held := slices.Clone(perm[f*n/choiceFolds : (f+1)*n/choiceFolds])
		kept := slices.Concat(perm[:f*n/choiceFolds], perm[(f+1)*n/choiceFolds:])
		slices.Sort(held)
		slices.Sort(kept)
		folds[f] = [2][]int{held, kept}
		minKept = min(minKept, len(kept))
	}
	sizes := []int{0}
	for _, rows := range smallContextChoices {
		if 2*rows <= minKept && rows < distinct {
			sizes = append(sizes, rows)
		}
	}
	if len(sizes) == 1 {
		return nil, nil
	}
	total, done := (len(sizes)-1)*n, 0
	byRows := map[int][]float64{} // each size's value of every row
	for _, rows := range sizes {
		all := make([]float64, n)
		for _, f := range folds {
			var told func(int, int)
			if progress != nil && rows > 0 {
				offset := done
				told = func(d, _ int) { progress(offset+d, total) }
			}
			vs, err := values(rows, told, f[1], f[0])
			if err != nil {
				return nil, err
			}
			if rows > 0 {
				done += len(f[0])
			}
			if vs == nil {
				all = nil // cannot be fitted on one fold's kept rows
				break
			}
			for i, r := range f[0] {
				all[r] = vs[i]
			}
		}
		if all != nil {
			byRows[rows] = all
		}
	}
	if _, ok := byRows[0]; !ok || len(byRows) == 1 {
		return nil, nil
	}
	return byRows, nil
}

// crossValidatedContextRows is chooseContextRows for a training set too small to spare a
// held-out part: every one of its n rows is predicted without itself (crossValidatedValues),
// and rowLoss gives a row's loss from its value, one whose mean over two predictions is the
// value of their mean prediction (a predicted mean's error). Each local size is a candidate
// alone and averaged in equal parts with one context, whose value of a row is the mean of
// the two. A candidate other than one context is chosen only where its mean loss over the n
// rows is below one context's by more than margin standard errors of the paired
// differences.
func crossValidatedContextRows(n, distinct int, seed uint64, loss string, margin float64, rowLoss func(v float64) float64, progress func(done, total int),
	values func(rows int, progress func(done, total int), kept, held []int) ([]float64, error)) (contextCandidate, string, error) {
	byRows, err := crossValidatedValues(n, distinct, seed, progress, values)
	if err != nil || byRows == nil {
		return contextCandidate{}, "", err
	}
	whole := byRows[0]
	byCandidate := map[contextCandidate][]float64{{}: rowLosses(whole, rowLoss)}
	var candidates []contextCandidate
	for _, averaged := range []bool{false, true} {
		for _, rows := range smallContextChoices {
			vs, ok := byRows[rows]
			if !ok {
				continue
			}
			c := contextCandidate{rows: rows, averaged: averaged}
			if averaged {
				vs = slices.Clone(vs)
				for i := range vs {
					vs[i] = (vs[i] + whole[i]) / 2
				}
			}
			byCandidate[c] = rowLosses(vs, rowLoss)
			candidates = append(candidates, c)
		}
	}
	best, bestLoss := contextCandidate{}, mean(byCandidate[contextCandidate{}])
	scores := make([]string, 0, len(candidates)+1)
	for _, c := range candidates {
		l := mean(byCandidate[c])
		scores = append(scores, fmt.Sprintf("%s %.4g", c, l))
		if l < bestLoss {
			best, bestLoss = c, l
		}
	}
	scores = append(scores, fmt.Sprintf("%s %.4g", contextCandidate{}, mean(byCandidate[contextCandidate{}])))
	chosen, choice := settleContextChoice(best, byCandidate, margin, fmt.Sprintf("chosen by %d-fold cross-validation on the %d training rows; %s: %s", choiceFolds, n, loss, strings.Join(scores, ", ")))
	return chosen, choice, nil
}

// distinctRows returns how many distinct rows X holds, its cells compared by value: a
// missing cell (NaN) equals every other missing cell, and −0 equals 0.
func distinctRows(X data.Matrix) int {
	cell := func(v float64) uint64 {
		switch {
		case math.IsNaN(v):
			return math.Float64bits(math.NaN())
		case v == 0:
			return 0
		}
		return math.Float64bits(v)
	}
	same := func(a, b []float64) bool {
		for j := range a {
			if cell(a[j]) != cell(b[j]) {
				return false
			}
		}
		return true
	}
	byHash := make(map[uint64][]int) // the first row of each distinct value, by hash
	count := 0
rows:
	for i := range X.Rows {
		row := X.Row(i)
		h := uint64(len(row))
		for _, v := range row {
			h = mix(h, cell(v))
		}
		for _, j := range byHash[h] {
			if same(row, X.Row(j)) {
				continue rows
			}
		}
		byHash[h] = append(byHash[h], i)
		count++
	}
	return count
}

// sizeName names a context size in the choice's report: "64 rows", or "all rows" for 0.
func sizeName(rows int) string {
	if rows == 0 {
		return "all rows"
	}
	return fmt.Sprintf("%d rows", rows)
}

// mean returns the mean of xs, summed in order.
func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// pairedZ returns how many standard errors the mean of a−b lies above 0, over paired
// entries; ±Inf where every difference is the same nonzero number, 0 where all are 0.
func pairedZ(a, b []float64) float64 {
	var sum, sq float64
	for i := range a {
		d := a[i] - b[i]
		sum += d
		sq += d * d
	}
	n := float64(len(a))
	mu := sum / n
	se := math.Sqrt(max(sq/n-mu*mu, 0) / (n - 1))
	switch {
	case se > 0:
		return mu / se
	case mu > 0:
		return math.Inf(1)
	case mu < 0:
		return math.Inf(-1)
	}
	return 0
}

// chooseContext returns how the regressor sees training set X, y (one context, local
// contexts, or both mixed), chosen by the squared error of the predicted means
// (chooseContextRows, crossValidatedContextRows).
func (r *Regressor) chooseContext(X data.Matrix, y []float64) (contextCandidate, string, error) {
	errs := func(rows int, progress func(int, int), kept, held []int) ([]float64, error) {
		Xk, yk, Xh := X.SelectRows(kept), pick(y, kept), X.SelectRows(held)
		ch := r.child(mix(r.seed, streamContextChoice))
		ch.progress = progress
		var d *Distribution
		var err error
		if rows > 0 {
			var l *localRegressor
			if l, err = ch.fitLocal(Xk, yk, contextCandidate{rows: rows}, ""); err == nil {
				d, err = l.predictDistribution(Xh)
			}
		} else if err = ch.Fit(Xk, yk); err == nil {
			d, err = ch.PredictDistribution(Xh)
		}
		if err != nil {
			return nil, err
		}
		e := d.Mean()
		for i, v := range e {
			e[i] = v - y[held[i]]
		}
		return e, nil
	}
	squared := func(e float64) float64 { return e * e }
	if X.Rows < localChoiceMinRows {
		return crossValidatedContextRows(X.Rows, distinctRows(X), r.seed, "mean squared error", contextChoiceMargin, squared, r.progress, errs)
	}
	rows, choice, err := chooseContextRows(X.Rows, distinctRows(X), r.seed, "mean squared error", 0, regressorRace, r.progress, lossesOf(errs, squared))
	return contextCandidate{rows: rows}, choice, err
}

// lossesOf is a choice's losses from values, the values a candidate gives each held-out row,
// and rowLoss, a row's loss from its value.
func lossesOf(values func(rows int, progress func(int, int), kept, held []int) ([]float64, error), rowLoss func(float64) float64) func(int, func(int, int), []int, []int) ([]float64, error) {
	return func(rows int, progress func(int, int), kept, held []int) ([]float64, error) {
		vs, err := values(rows, progress, kept, held)
		for i, v := range vs {
			vs[i] = rowLoss(v)
		}
		return vs, err
	}
}

// heldOutProbs returns the values of the classifier's context choices
// (chooseContextRows, crossValidatedValues): each held-out row's predicted probability of
// its class, from a context of the kept rows' rows nearest it (rows > 0) or from one context
// of them all; nil where one context of a single class is no model. y holds the caller's
// labels in [0, nClasses).
func (c *Classifier) heldOutProbs(X data.Matrix, y []int, nClasses int) func(rows int, progress func(int, int), kept, held []int) ([]float64, error) {
	return func(rows int, progress func(int, int), kept, held []int) ([]float64, error) {
		Xk, yk, Xh := X.SelectRows(kept), pick(y, kept), X.SelectRows(held)
		ch := c.child(mix(c.seed, streamContextChoice))
		ch.progress = progress
		var p data.Matrix
		var err error
		if rows > 0 {
			ch.nCols, ch.nClasses = X.Cols, nClasses
			p, err = ch.newLocal(Xk, yk, rows, progress).predictProba(Xh, nClasses)
		} else if allEqual(yk) {
			return nil, nil // one context of one class is not a model
		} else if err = ch.Fit(Xk, yk, nClasses); err == nil {
			p, err = ch.PredictProba(Xh)
		}
		if err != nil {
			return nil, err
		}
		ps := make([]float64, len(held))
		for i, r := range held {
			ps[i] = p.At(i, y[r])
		}
		return ps, nil
	}
}

// logLoss is a row's log loss from its predicted probability of its class, clipped as
// metrics.LogLoss clips it.
func logLoss(p float64) float64 { return -math.Log(max(p, metrics.LogLossEps)) }

// rowLosses returns rowLoss of each value of vs, in a new slice.
func rowLosses(vs []float64, rowLoss func(float64) float64) []float64 {
	ls := make([]float64, len(vs))
	for i, v := range vs {
		ls[i] = rowLoss(v)
	}
	return ls
}

// chooseContextRows returns the size of the classifier's local contexts for training set X,
// y (the caller's labels in [0, nClasses)), or 0 for one context, chosen on held-out rows by
// the log loss of the predicted probabilities (chooseContextRows), and the choice's account.
func (c *Classifier) chooseContextRows(X data.Matrix, y []int, nClasses int) (int, string, error) {
	return chooseContextRows(X.Rows, distinctRows(X), c.seed, "log loss", contextChoiceMargin, classifierRace, c.progress, lossesOf(c.heldOutProbs(X, y, nClasses), logLoss))
}
