package tabpfn

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/kiln-ml/kiln/data"
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
// than the model has outputs is mostly classified without output codes.
//
// Distances are measured on each column's empirical distribution function over the training
// rows, which puts every column on [0, 1] whatever its units and tails; a missing value sits
// at the middle. Ties go to the earlier training row, so a row's context depends only on
// the row and the training set. What it gained, and what it costs against one whole context,
// is measured in bench/results/tabpfn-local-2026-12-04.md.

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

// localClassifier predicts each test row from its nearest training rows.
type localClassifier struct {
	parent *Classifier
	rows   int // training rows per context
	space  localSpace
	points data.Matrix // the training rows in the space
	X      data.Matrix
	y      []int // the caller's labels
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

// fitLocal keeps the training set for local contexts of rows rows. y holds the caller's
// labels in [0, c.nClasses).
func (c *Classifier) fitLocal(X data.Matrix, y []int, rows int) *localClassifier {
	l := &localClassifier{parent: c, rows: rows, space: fitLocalSpace(X), X: X.Clone(), y: slices.Clone(y)}
	l.points = l.space.transform(X)
	c.warnf("%d training rows exceed the %d the model was trained on: each test row is predicted from the %d training rows nearest it",
		X.Rows, c.cfg.MaxRows, rows)
	return l
}

// predictProba predicts each row of X from its own context, as an X.Rows × nClasses matrix of
// class probabilities. Rows are shared among GOMAXPROCS workers.
func (l *localClassifier) predictProba(X data.Matrix, nClasses int) (data.Matrix, error) {
	out := data.NewMatrix(X.Rows, nClasses)
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
			dist := make([]float64, l.points.Rows)
			order := make([]int, l.points.Rows)
			for i := range next {
				l.space.point(X.Row(i), pt)
				errs[i] = l.predictRow(X.SelectRows([]int{i}), neighbours(pt, l.points, l.rows, dist, order), out.Row(i))
				if fn := l.parent.progress; fn != nil {
					mu.Lock()
					done++
					fn(done, X.Rows)
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
			return data.Matrix{}, fmt.Errorf("tabpfn: the local context of row %d: %w", i, err)
		}
	}
	return out, nil
}

// predictRow writes to out the class probabilities of the one row of x given the training
// rows ctx as its context.
func (l *localClassifier) predictRow(x data.Matrix, ctx []int, out []float64) error {
	ys := make([]int, len(ctx))
	seed := l.parent.seed
	single := true
	for i, r := range ctx {
		ys[i] = l.y[r]
		single = single && ys[i] == ys[0]
		seed = mix(seed, uint64(r))
	}
	if single {
		out[ys[0]] = 1
		return nil
	}
	sub := l.parent.child(mix(seed, streamLocal))
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
