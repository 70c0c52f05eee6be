package selfsup

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/data/corpus"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
)

// regressionCorpus writes one usable table, whose only regression target is y (kind is
// categorical with 20 levels, flag numeric with 3 values, both features only), and tables
// with no regression target at all: a constant numeric column, an all-missing one, a
// numeric column of few distinct values, and categorical columns only.
func regressionCorpus(t *testing.T) *corpus.Corpus {
	t.Helper()
	var files []string
	write := func(name, text string) { files = append(files, name, text) }
	var b strings.Builder
	b.WriteString("kind,flag,y\n")
	for i := 0; i < 200; i++ {
		y := ""
		if i%7 != 3 { // some targets missing: those rows are dropped
			y = fmt.Sprintf("%.3f", math.Exp(math.Sin(float64(i)*0.91)*3)+float64(i)*0.01)
		}
		fmt.Fprintf(&b, "k%d,%d,%s\n", i%20, i%3, y)
	}
	write("p__good.csv", b.String())
	b.Reset()
	b.WriteString("same,empty,few,cat\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "5,,%d,c%d\n", i%6, i%15)
	}
	write("p__bad_targets.csv", b.String())
	b.Reset()
	b.WriteString("a,b\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "x%d,y%d\n", i%12, i%30)
	}
	write("p__categorical.csv", b.String())
	return corpusOf(t, corpus.Options{Warn: func(m string) { t.Log(m) }}, files...)
}

// A regression task's target is y's values at its rows, standardised on the context rows
// (checked against a float64 computation on the rows the draw picked); never a categorical
// or few-valued column; the bad tables are skipped, not fatal.
func TestRegressionTasks(t *testing.T) {
	c := regressionCorpus(t)
	s, err := New(c, Config{Seed: 5, Regression: true})
	if err != nil {
		t.Fatal(err)
	}
	var good *corpus.Table
	for i := range c.Len() {
		if tab, err := c.Table(i); err == nil && strings.Contains(tab.Name, "good") {
			good = tab
		}
	}
	if good == nil {
		t.Fatal("the good table did not load")
	}
	yAt := slices.IndexFunc(good.Columns, func(c corpus.Column) bool { return c.Name == "y" })
	if yAt < 0 || good.Columns[yAt].Categorical {
		t.Fatalf("y missing or read as categorical: %+v", good.Columns)
	}
	y := good.Columns[yAt]
	sh := prior.Shape{Rows: 60, Features: 8, NTrain: 40}
	for b := uint64(0); b < 20; b++ {
		batch, err := s.Batch(b, sh, 3)
		if err != nil {
			t.Fatal(err)
		}
		got := batch.Shape
		if got.Features > 2 {
			t.Fatalf("batch %d: %d features: not from the good table", b, got.Features)
		}
		for i, d := range batch.Datasets {
			if d.Y != nil || d.Classes != 0 || len(d.Target) != d.Rows || len(d.X) != d.Rows*d.Features {
				t.Fatalf("batch %d task %d: not a regression dataset: Y %d, classes %d, target %d, rows %d",
					b, i, len(d.Y), d.Classes, len(d.Target), d.Rows)
			}
			// The rows the draw picked: replay it (the first candidate makes the task,
			// since y's context values are never constant).
			var cand candidate
			ok := false
			for a := uint32(0); a < maxAttempts && !ok; a++ {
				cand, ok = s.draw(newRand(s.cfg.Seed, b, uint32(i), a))
			}
			if !ok || cand.t.Name != good.Name || cand.target != yAt {
				t.Fatalf("batch %d task %d: replayed draw %v, %s column %d", b, i, ok, cand.t.Name, cand.target)
			}
			perm := newRand(s.cfg.Seed, b, uint32(i), maxAttempts).Perm(len(cand.rows))
			vals := make([]float64, d.Rows)
			for q := range vals {
				vals[q] = y.Values[cand.rows[perm[q]]]
				if math.IsNaN(vals[q]) {
					t.Fatalf("batch %d task %d: a row with a missing target", b, i)
				}
			}
			var m, ss float64
			for _, v := range vals[:d.NTrain] {
				m += v
			}
			m /= float64(d.NTrain)
			for _, v := range vals[:d.NTrain] {
				ss += (v - m) * (v - m)
			}
			sd := math.Sqrt(ss / float64(d.NTrain-1))
			distinct := map[float32]bool{}
			for q, v := range vals {
				want := (v - m) / sd
				if math.Abs(float64(d.Target[q])-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Fatalf("batch %d task %d row %d: target %v, want %v", b, i, q, d.Target[q], want)
				}
				if q < d.NTrain {
					distinct[d.Target[q]] = true
				}
			}
			// Black-box: a context of all-distinct targets is y, not kind (20 levels) or flag.
			if len(distinct) < d.NTrain-2 {
				t.Fatalf("batch %d task %d: %d distinct context targets of %d", b, i, len(distinct), d.NTrain)
			}
		}
		x, _ := batch.Stack()
		if len(x) != 3*got.Rows*got.Features || len(batch.Targets()) != 3*got.Rows {
			t.Fatalf("batch %d: stacks of %d and %d", b, len(x), len(batch.Targets()))
		}
	}
}

// Regression batches are a pure function of the seed and the batch index.
func TestRegressionTasksAreDeterministic(t *testing.T) {
	sh := prior.Shape{Rows: 50, Features: 4, NTrain: 30}
	draw := func(seed uint64) []prior.Batch {
		c, _ := testCorpus(t) // a fresh corpus: nothing cached
		s, err := New(c, Config{Seed: seed, Regression: true})
		if err != nil {
			t.Fatal(err)
		}
		var out []prior.Batch
		for b := uint64(0); b < 6; b++ {
			batch, err := s.Batch(b, sh, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range batch.Datasets {
				if d.Target == nil || d.Y != nil {
					t.Fatalf("batch %d: a classification dataset in regression mode", b)
				}
			}
			out = append(out, stripNaN(batch))
		}
		return out
	}
	a, b := draw(9), draw(9)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed drew different regression batches")
	}
	if reflect.DeepEqual(a[0], draw(10)[0]) {
		t.Fatal("seeds 9 and 10 drew the same batch")
	}
}

// A corpus without any regression target (constant, all-missing, few-valued and categorical
// columns) fails a batch with an error, which the trainer answers with a prior batch.
func TestRegressionBatchFailsWithoutTargets(t *testing.T) {
	var b strings.Builder
	b.WriteString("same,empty,few,cat\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "5,,%d,c%d\n", i%9, i%15)
	}
	c := corpusOf(t, corpus.Options{}, "p__none.csv", b.String())
	s, _ := New(c, Config{Regression: true})
	if _, err := s.Batch(0, prior.Shape{Rows: 50, Features: 4, NTrain: 30}, 2); err == nil {
		t.Fatal("a corpus with no numeric column of 10 values gave a regression batch")
	}
	// The same table makes classification tasks.
	s, _ = New(c, Config{MaxClasses: 10})
	if _, err := s.Batch(0, prior.Shape{Rows: 50, Features: 4, NTrain: 30}, 2); err != nil {
		t.Fatalf("classification: %v", err)
	}
}
