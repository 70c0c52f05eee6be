// Package selfsup generates self-supervised training tasks for TabPFN from unlabeled real
// tables (package data/corpus), in the same batch type as the synthetic prior (package
// prior), so that a trainer can mix both in one loop.
//
// The task is TabDPT's column-as-target prediction in context (Ma et al., "TabDPT: Scaling
// Tabular Foundation Models on Real Data", 2024, section 3): pick a table and one of its
// columns as the target, the other columns being the features; a categorical target with 2
// to MaxClasses categories keeps them as the classes, a numeric one is cut into 2 to
// MaxClasses classes at quantiles of its training rows; random subsets of rows and features
// and a random context/query split make each task. The classes' order is shuffled, as the
// prior's are, so that label order carries no meaning, and every class of the query rows
// occurs in the context. In regression mode (Config.Regression) the target is instead a
// numeric column of at least MinTargetValues distinct known values, kept continuous and
// standardised on the context rows exactly as the regression prior's targets
// (prior.StandardizeTarget); categorical columns are then never targets. In both modes rows
// whose target is missing are dropped. Features are standardised on the context rows exactly as the
// prior's (prior.Standardize); categorical features enter as shuffled ordinal codes, as at
// inference.
//
// Two auxiliary tasks reuse a column task's table (its datasets carry prior.Cells): masked
// cells (MaskCells), the reconstruction of hidden feature cells from the other cells and
// rows, as VIME (Yoon, Zhang, Jordon and van der Schaar, "VIME: Extending the Success of
// Self- and Semi-supervised Learning to Tabular Domain", NeurIPS 2020) and BERT's masked
// tokens; and contrastive rows (CorruptRows), two views of each test row in which a random
// share of the cells are replaced by draws from their column's empirical marginal, whose
// representations are pulled together against the other rows' by InfoNCE, as SCARF (Bahri,
// Jiang, Tay and Metzler, "SCARF: Self-Supervised Contrastive Learning using Random Feature
// Corruption", ICLR 2022). The losses themselves are the trainer's (package tabpfn).
//
// Every batch is a pure function of the seed, the batch index, the requested shape and the
// corpus's files, whatever goroutine draws it and in whatever order: a resumed run sees the
// same tasks. The masks and corrupted views are pure functions of the seed, the batch index
// and the dataset's slot in its batch.
package selfsup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/kiln-ml/kiln/data/corpus"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
)

// Task names accepted by ParseTasks.
const (
	TaskColumn      = "column"      // column as target, in context (TabDPT)
	TaskMasked      = "masked"      // masked-cell reconstruction on a column task's table (VIME)
	TaskContrastive = "contrastive" // contrastive corrupted rows of a column task (SCARF)
)

// ParseTasks checks a list of task names and drops repeats. The masked-cell and
// contrastive tasks are auxiliary losses on the tables of the column tasks, so they need
// TaskColumn in the list.
func ParseTasks(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, errors.New("selfsup: no task given (available: column, masked, contrastive)")
	}
	var out []string
	for _, n := range names {
		switch n {
		case TaskColumn, TaskMasked, TaskContrastive:
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		default:
			return nil, fmt.Errorf("selfsup: unknown task %q (available: column, masked, contrastive)", n)
		}
	}
	if !slices.Contains(out, TaskColumn) {
		return nil, fmt.Errorf("selfsup: tasks %v: %q and %q are auxiliary losses on the tables of %q tasks; list %q too",
			out, TaskMasked, TaskContrastive, TaskColumn, TaskColumn)
	}
	return out, nil
}

// DefaultMaskRate is the share of feature cells the masked-cell task hides: BERT's 15%
// (Devlin et al. 2019); VIME likewise hides each cell independently with a fixed probability.
const DefaultMaskRate = 0.15

// DefaultCorruptionRate is the share of a row's cells a contrastive view replaces: SCARF's
// default corruption rate of 0.6 (Bahri et al. 2022).
const DefaultCorruptionRate = 0.6

// Labels of the random streams of the auxiliary tasks.
const (
	labelTask    = "kilnSSL1"
	labelMask    = "kilnMSK1"
	labelCorrupt = "kilnCTR1"
)

// MaskCells returns the cells of d the masked-cell task hides, as sorted flat indices
// row·Features+feature: each known (non-missing) feature cell of every row, context and
// test, independently with probability rate. The draw is a pure function of (seed, batch,
// d.Cells.Slot).
func MaskCells(seed, batch uint64, d *prior.Dataset, rate float64) []int {
	slot := 0
	if d.Cells != nil {
		slot = d.Cells.Slot
	}
	r := keyedRand(labelMask, seed, batch, uint32(slot), 0)
	var out []int
	for i, v := range d.X {
		u := r.Float64() // drawn for every cell, so a missing cell does not shift the others
		if u < rate && !math.IsNaN(float64(v)) {
			out = append(out, i)
		}
	}
	return out
}

// CorruptRows returns two views of d's test rows, (Rows−NTrain)×Features each, row-major:
// in each view of each row, a random subset of round(rate·Features) of its features (at
// least one) take the value that feature has in a row drawn uniformly from d's rows (the
// column's empirical marginal over the task's rows, missing values included), SCARF's
// corruption. The draw is a pure function of (seed, batch, d.Cells.Slot).
func CorruptRows(seed, batch uint64, d *prior.Dataset, rate float64) (a, b []float32) {
	slot := 0
	if d.Cells != nil {
		slot = d.Cells.Slot
	}
	r := keyedRand(labelCorrupt, seed, batch, uint32(slot), 0)
	F, Q := d.Features, d.Rows-d.NTrain
	k := min(max(int(math.Round(rate*float64(F))), 1), F)
	test := d.X[d.NTrain*F:]
	view := func() []float32 {
		v := slices.Clone(test)
		for q := range Q {
			for _, f := range r.Perm(F)[:k] {
				v[q*F+f] = d.X[r.IntN(d.Rows)*F+f]
			}
		}
		return v
	}
	a = view()
	b = view()
	return a, b
}

// Config controls the sampler.
type Config struct {
	Seed uint64
	// MaxClasses bounds the classes of a task (the model's outputs); at least 2. Unused
	// with Regression.
	MaxClasses int
	// Regression makes regression tasks, as the regression prior's datasets (Target set,
	// Y nil, Classes 0): the target is a numeric column with at least MinTargetValues
	// distinct known values, standardised on the context rows (prior.StandardizeTarget).
	Regression bool
	// MinRows is the fewest rows with a known target a table must offer (at least 4).
	MinRows int
	// Tables lists the corpus tables (indices in name order) tasks are drawn from; nil
	// means all. HoldOut splits a corpus into tables to train on and tables to evaluate on.
	Tables []int
}

// HoldOut splits the indices of a corpus of n tables into those to train on and every
// every-th one (indices every−1, 2·every−1, …, in name order) held out for evaluation.
// every < 2 holds nothing out.
func HoldOut(n, every int) (train, held []int) {
	for i := 0; i < n; i++ {
		if every >= 2 && i%every == every-1 {
			held = append(held, i)
		} else {
			train = append(train, i)
		}
	}
	return train, held
}

// DefaultMinRows is the fewest rows a task is drawn from.
const DefaultMinRows = 16

// MinTargetValues is the fewest distinct known values a numeric column needs, among all
// of its table's rows, to be a regression target: fewer (a flag, a small count, a coded
// category) make a classification task's target, not a continuous one.
const MinTargetValues = 10

// maxAttempts bounds the draws of a table and target for one task before the batch fails.
const maxAttempts = 64

// Sampler draws column-as-target tasks from a corpus. It is safe for concurrent use.
type Sampler struct {
	corpus *corpus.Corpus
	cfg    Config
}

// New returns a sampler of c.
func New(c *corpus.Corpus, cfg Config) (*Sampler, error) {
	if cfg.MinRows == 0 {
		cfg.MinRows = DefaultMinRows
	}
	if (cfg.MaxClasses < 2 && !cfg.Regression) || cfg.MinRows < 4 {
		return nil, fmt.Errorf("selfsup: need MaxClasses ≥ 2 and MinRows ≥ 4, got %d and %d", cfg.MaxClasses, cfg.MinRows)
	}
	if cfg.Tables != nil {
		if len(cfg.Tables) == 0 {
			return nil, errors.New("selfsup: an empty list of tables")
		}
		for _, i := range cfg.Tables {
			if i < 0 || i >= c.Len() {
				return nil, fmt.Errorf("selfsup: table %d of a corpus of %d", i, c.Len())
			}
		}
	}
	return &Sampler{corpus: c, cfg: cfg}, nil
}

// newRand returns the task stream's ChaCha8 generator keyed with (seed, batch, slot, attempt).
func newRand(seed, batch uint64, slot, attempt uint32) *rand.Rand {
	return keyedRand(labelTask, seed, batch, slot, attempt)
}

// keyedRand returns a ChaCha8 generator keyed with (label, seed, batch, slot, attempt).
func keyedRand(label string, seed, batch uint64, slot, attempt uint32) *rand.Rand {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], batch)
	binary.LittleEndian.PutUint32(key[16:], slot)
	binary.LittleEndian.PutUint32(key[20:], attempt)
	copy(key[24:], label)
	return rand.New(rand.NewChaCha8(key))
}

// candidate is a table and a target column with enough known target values.
type candidate struct {
	t      *corpus.Table
	target int
	rows   []int // rows whose target is known
}

// features is the number of feature columns a candidate offers.
func (c candidate) features() int { return len(c.t.Columns) - 1 }

// draw picks a table and a usable target column; ok is false when this draw is unusable
// (a bad or small table, a target with too many or too few classes).
func (s *Sampler) draw(r *rand.Rand) (candidate, bool) {
	var i int
	if s.cfg.Tables == nil {
		i = r.IntN(s.corpus.Len())
	} else {
		i = s.cfg.Tables[r.IntN(len(s.cfg.Tables))]
	}
	t, err := s.corpus.Table(i)
	if err != nil || t.Rows < s.cfg.MinRows || len(t.Columns) < 2 {
		return candidate{}, false
	}
	j := r.IntN(len(t.Columns))
	col := t.Columns[j]
	var rows []int
	for i, v := range col.Values {
		if !math.IsNaN(v) {
			rows = append(rows, i)
		}
	}
	if len(rows) < s.cfg.MinRows {
		return candidate{}, false
	}
	if s.cfg.Regression {
		if col.Categorical || !distinctAtLeast(col.Values, rows, MinTargetValues) {
			return candidate{}, false
		}
	} else if col.Categorical {
		seen := map[float64]bool{}
		for _, i := range rows {
			seen[col.Values[i]] = true
		}
		if len(seen) < 2 || len(seen) > s.cfg.MaxClasses {
			return candidate{}, false
		}
	}
	return candidate{t: t, target: j, rows: rows}, true
}

// Batch returns batch b: n tasks sharing one shape, at most sh (fewer rows or features when
// the drawn tables have fewer), with the context share of sh. It fails only when the corpus
// offers no usable task within the attempts (every table bad or tiny); the caller then
// trains on another batch.
func (s *Sampler) Batch(b uint64, sh prior.Shape, n int) (prior.Batch, error) {
	if n < 1 || sh.Rows < 4 || sh.Features < 1 || sh.NTrain < 2 || sh.NTrain >= sh.Rows {
		return prior.Batch{}, fmt.Errorf("selfsup: invalid request: %d tasks of %+v", n, sh)
	}
	cands := make([]candidate, n)
	rows, feats := sh.Rows, sh.Features
	for i := range cands {
		ok := false
		for a := uint32(0); a < maxAttempts && !ok; a++ {
			cands[i], ok = s.draw(newRand(s.cfg.Seed, b, uint32(i), a))
		}
		if !ok {
			return prior.Batch{}, fmt.Errorf("selfsup: batch %d: no usable table in %d draws", b, maxAttempts)
		}
		rows = min(rows, len(cands[i].rows))
		feats = min(feats, cands[i].features())
	}
	nTrain := min(max(int(math.Round(float64(sh.NTrain)*float64(rows)/float64(sh.Rows))), 2), rows-1)
	shape := prior.Shape{Rows: rows, Features: feats, NTrain: nTrain}
	out := prior.Batch{Index: b, Shape: shape, Datasets: make([]prior.Dataset, n)}
	for i := range out.Datasets {
		ok := false
		for a := uint32(0); a < maxAttempts && !ok; a++ {
			r := newRand(s.cfg.Seed, b, uint32(i), maxAttempts+a)
			c := cands[i]
			if a > 0 { // the first candidate failed to make a task: another one that fits
				var fits bool
				c, fits = s.draw(r)
				if !fits || len(c.rows) < rows || c.features() < feats {
					continue
				}
			}
			out.Datasets[i], ok = s.task(r, c, shape)
		}
		if ok {
			out.Datasets[i].Cells.Slot = i
		}
		if !ok {
			return prior.Batch{}, fmt.Errorf("selfsup: batch %d: no task of %d rows and %d features in %d draws", b, rows, feats, maxAttempts)
		}
	}
	return out, nil
}

// distinctAtLeast reports whether values has at least n distinct values among rows.
func distinctAtLeast(values []float64, rows []int, n int) bool {
	seen := map[float64]bool{}
	for _, i := range rows {
		if seen[values[i]] = true; len(seen) >= n {
			return true
		}
	}
	return false
}

// task builds one dataset of shape sh from candidate c; ok is false when the context rows
// hold fewer than two classes or too few query rows have a class of the context (in
// regression mode: when the context rows' targets are constant).
func (s *Sampler) task(r *rand.Rand, c candidate, sh prior.Shape) (prior.Dataset, bool) {
	if s.cfg.Regression {
		return s.regressionTask(r, c, sh)
	}
	t := c.t
	perm := r.Perm(len(c.rows))
	train := make([]int, sh.NTrain)
	for i := range train {
		train[i] = c.rows[perm[i]]
	}
	tcol := t.Columns[c.target]
	var label func(v float64) int
	if tcol.Categorical {
		label = func(v float64) int { return int(v) }
	} else {
		thr := quantileThresholds(tcol.Values, train, 2+r.IntN(s.cfg.MaxClasses-1))
		if len(thr) == 0 {
			return prior.Dataset{}, false
		}
		label = func(v float64) int { return sort.SearchFloat64s(thr, math.Nextafter(v, math.Inf(1))) } // #thresholds ≤ v
	}
	// Classes of the context rows, in shuffled order.
	var seen []int
	for _, i := range train {
		if l := label(tcol.Values[i]); !slices.Contains(seen, l) {
			seen = append(seen, l)
		}
	}
	k := len(seen)
	if k < 2 || k > s.cfg.MaxClasses {
		return prior.Dataset{}, false
	}
	slices.Sort(seen)
	order := r.Perm(k)
	classOf := map[int]int32{}
	for j, l := range seen {
		classOf[l] = int32(order[j])
	}
	// Query rows: the next rows of the permutation whose class the context has.
	all := append([]int(nil), train...)
	for _, p := range perm[sh.NTrain:] {
		if len(all) == sh.Rows {
			break
		}
		i := c.rows[p]
		if _, ok := classOf[label(tcol.Values[i])]; ok {
			all = append(all, i)
		}
	}
	if len(all) < sh.Rows {
		return prior.Dataset{}, false
	}
	d := prior.Dataset{
		X: make([]float32, sh.Rows*sh.Features), Y: make([]int32, sh.Rows),
		Rows: sh.Rows, Features: sh.Features, Classes: k, NTrain: sh.NTrain,
		Categorical: make([]bool, sh.Features),
		Cells:       &prior.Cells{Levels: make([]int, sh.Features), Codes: make([]int32, sh.Rows*sh.Features)},
	}
	for q, i := range all {
		d.Y[q] = classOf[label(tcol.Values[i])]
	}
	fillFeatures(r, &d, t, c.target, all)
	return d, true
}

// regressionTask builds one regression dataset of shape sh from candidate c: random rows
// of those whose target is known, the first sh.NTrain the context, the target standardised
// on them. ok is false when the context's targets are constant.
func (s *Sampler) regressionTask(r *rand.Rand, c candidate, sh prior.Shape) (prior.Dataset, bool) {
	perm := r.Perm(len(c.rows))
	all := make([]int, sh.Rows)
	y := make([]float64, sh.Rows)
	tcol := c.t.Columns[c.target]
	for q := range all {
		all[q] = c.rows[perm[q]]
		y[q] = tcol.Values[all[q]]
	}
	target, ok := prior.StandardizeTarget(y, sh.NTrain)
	if !ok {
		return prior.Dataset{}, false
	}
	d := prior.Dataset{
		X: make([]float32, sh.Rows*sh.Features), Target: target,
		Rows: sh.Rows, Features: sh.Features, NTrain: sh.NTrain,
		Categorical: make([]bool, sh.Features),
		Cells:       &prior.Cells{Levels: make([]int, sh.Features), Codes: make([]int32, sh.Rows*sh.Features)},
	}
	fillFeatures(r, &d, c.t, c.target, all)
	return d, true
}

// fillFeatures fills d's features (X, Categorical, Cells) with a random subset of t's
// columns other than target, in random order, at rows all: standardised on the context
// rows as the prior's, categorical ones as shuffled ordinal codes.
func fillFeatures(r *rand.Rand, d *prior.Dataset, t *corpus.Table, target int, all []int) {
	sh := prior.Shape{Rows: d.Rows, Features: d.Features, NTrain: d.NTrain}
	others := make([]int, 0, len(t.Columns)-1)
	for j := range t.Columns {
		if j != target {
			others = append(others, j)
		}
	}
	r.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
	col := make([]float64, sh.Rows)
	for f, j := range others[:sh.Features] {
		src := t.Columns[j]
		var codes []int
		if src.Categorical {
			codes = r.Perm(src.Levels)
			d.Categorical[f] = true
			d.Cells.Levels[f] = src.Levels
		}
		for q, i := range all {
			v := src.Values[i]
			code := int32(-1)
			if codes != nil && !math.IsNaN(v) {
				code = int32(codes[int(v)])
				v = float64(code)
			}
			d.Cells.Codes[q*sh.Features+f] = code
			col[q] = v
		}
		prior.Standardize(col, sh.NTrain, src.Categorical)
		for q, v := range col {
			d.X[q*sh.Features+f] = float32(v)
		}
	}
}

// quantileThresholds returns up to k−1 distinct cut points at the j/k quantiles of the
// known values of rows, each above the smallest value (a quantile equal to it moves up to
// the next distinct value, so that a column of few values, such as 0/1, still splits) so
// that every class holds at least one of those rows. Empty when the values are all equal.
func quantileThresholds(values []float64, rows []int, k int) []float64 {
	v := make([]float64, 0, len(rows))
	for _, i := range rows {
		v = append(v, values[i])
	}
	slices.Sort(v)
	next := v[0] // the smallest value above the minimum
	for _, x := range v {
		if x > v[0] {
			next = x
			break
		}
	}
	var thr []float64
	for j := 1; j < k; j++ {
		x := max(v[j*len(v)/k], next)
		if x > v[0] && (len(thr) == 0 || x > thr[len(thr)-1]) {
			thr = append(thr, x)
		}
	}
	return thr
}
