package selfsup

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-ml/kiln/data/corpus"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
)

// corpusOf writes each pair of files (a name, then its text) as a file of a new folder and
// opens the folder as a corpus with opts.
func corpusOf(t *testing.T, opts corpus.Options, files ...string) *corpus.Corpus {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i+1 < len(files); i += 2 {
		if err := os.WriteFile(filepath.Join(dir, files[i]), []byte(files[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := corpus.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testCorpus writes a few tables of different kinds, plus bad files, and opens them.
func testCorpus(t *testing.T) (*corpus.Corpus, *[]string) {
	t.Helper()
	var files []string
	write := func(name, text string) { files = append(files, name, text) }
	var b strings.Builder
	b.WriteString("x1,x2,colour,flag,y\n")
	for i := 0; i < 300; i++ {
		x1, x2 := math.Sin(float64(i)), math.Cos(float64(i)*1.7)
		colour := []string{"red", "green", "blue"}[i%3]
		flag := ""
		if i%5 != 0 {
			flag = fmt.Sprint(i % 2)
		}
		fmt.Fprintf(&b, "%.4f,%.4f,%s,%s,%.4f\n", x1, x2, colour, flag, x1+x2)
	}
	write("p__mixed.csv", b.String())
	b.Reset()
	b.WriteString("id,a,b\n")
	for i := 0; i < 2000; i++ { // a category per row: never a target, a feature of many codes
		fmt.Fprintf(&b, "row%d,%d,%d\n", i, i%7, (i*i)%11)
	}
	write("p__wide_levels.csv", b.String())
	write("p__one_row.csv", "a,b,c\n1,2,3\n")
	write("p__broken.csv", "a,b\n\"1,2\n")
	write("p__ragged.csv", "a,b,c\n1,2\n3,4,5,6\n5,6,7\n7,8,9\n")
	var warnings []string
	var mu sync.Mutex
	c := corpusOf(t, corpus.Options{Warn: func(m string) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, m)
	}}, files...)
	return c, &warnings
}

func TestBatchIsAValidPriorBatch(t *testing.T) {
	c, warnings := testCorpus(t)
	s, err := New(c, Config{Seed: 7, MaxClasses: 10})
	if err != nil {
		t.Fatal(err)
	}
	sh := prior.Shape{Rows: 120, Features: 16, NTrain: 80}
	for b := uint64(0); b < 40; b++ {
		batch, err := s.Batch(b, sh, 4)
		if err != nil {
			t.Fatal(err)
		}
		got := batch.Shape
		if got.Rows > sh.Rows || got.Features > sh.Features || got.Features < 1 || got.NTrain < 2 || got.NTrain >= got.Rows {
			t.Fatalf("batch %d: shape %+v for a request of %+v", b, got, sh)
		}
		for i, d := range batch.Datasets {
			if d.Rows != got.Rows || d.Features != got.Features || d.NTrain != got.NTrain ||
				len(d.X) != d.Rows*d.Features || len(d.Y) != d.Rows || len(d.Categorical) != d.Features {
				t.Fatalf("batch %d task %d: sizes do not match the shape %+v", b, i, got)
			}
			if d.Classes < 2 || d.Classes > 10 {
				t.Fatalf("batch %d task %d: %d classes", b, i, d.Classes)
			}
			inTrain := make([]bool, d.Classes)
			for r, y := range d.Y {
				if y < 0 || int(y) >= d.Classes {
					t.Fatalf("batch %d task %d: label %d of %d classes", b, i, y, d.Classes)
				}
				if r < d.NTrain {
					inTrain[y] = true
				} else if !inTrain[y] {
					t.Fatalf("batch %d task %d: query class %d absent from the context", b, i, y)
				}
			}
			for c, ok := range inTrain {
				if !ok {
					t.Fatalf("batch %d task %d: class %d of %d never in the context", b, i, c, d.Classes)
				}
			}
			for _, v := range d.X {
				if math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 100 {
					t.Fatalf("batch %d task %d: feature value %v", b, i, v)
				}
			}
		}
		// Stacks into the trainer's layout.
		x, y := batch.Stack()
		if len(x) != 4*got.Rows*got.Features || len(y) != 4*got.Rows {
			t.Fatalf("stack sizes %d, %d", len(x), len(y))
		}
	}
	// The broken file and the one-row table (all columns constant) are warned about once each.
	all := strings.Join(*warnings, "\n")
	for _, f := range []string{"p__broken.csv", "p__one_row.csv"} {
		if !strings.Contains(all, f) {
			t.Errorf("no warning names %s: %q", f, *warnings)
		}
	}
	if len(*warnings) != 2 {
		t.Errorf("%d warnings, want 2: %q", len(*warnings), *warnings)
	}
}

func TestBatchesAreDeterministicAndConcurrencySafe(t *testing.T) {
	c, _ := testCorpus(t)
	s, _ := New(c, Config{Seed: 3, MaxClasses: 10})
	sh := prior.Shape{Rows: 64, Features: 8, NTrain: 40}
	want := make([]prior.Batch, 12)
	for b := range want {
		var err error
		if want[b], err = s.Batch(uint64(b), sh, 3); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh corpus and sampler (nothing cached), batches drawn by goroutines out of order.
	c2, _ := testCorpus(t)
	s2, _ := New(c2, Config{Seed: 3, MaxClasses: 10})
	got := make([]prior.Batch, len(want))
	var wg sync.WaitGroup
	for b := len(want) - 1; b >= 0; b-- {
		wg.Add(1)
		go func(b int) {
			defer wg.Done()
			got[b], _ = s2.Batch(uint64(b), sh, 3)
		}(b)
	}
	wg.Wait()
	for b := range want {
		if !reflect.DeepEqual(stripNaN(want[b]), stripNaN(got[b])) {
			t.Fatalf("batch %d differs between runs", b)
		}
	}
	// Another seed draws other tasks.
	s3, _ := New(c, Config{Seed: 4, MaxClasses: 10})
	other, _ := s3.Batch(0, sh, 3)
	if reflect.DeepEqual(stripNaN(want[0]), stripNaN(other)) {
		t.Fatal("seeds 3 and 4 drew the same batch")
	}
}

// stripNaN replaces NaN (missing) by a sentinel so that DeepEqual compares batches.
func stripNaN(b prior.Batch) prior.Batch {
	for i := range b.Datasets {
		x := append([]float32(nil), b.Datasets[i].X...)
		for j, v := range x {
			if v != v {
				x[j] = -12345
			}
		}
		b.Datasets[i].X = x
	}
	return b
}

func TestNumericTargetsSplitAtQuantiles(t *testing.T) {
	v := []float64{0, 0, 0, 1, 1, 0, 1, 0}
	rows := []int{0, 1, 2, 3, 4, 5, 6, 7}
	if thr := quantileThresholds(v, rows, 2); !reflect.DeepEqual(thr, []float64{1}) {
		t.Errorf("0/1 column: thresholds %v, want [1]", thr)
	}
	v = []float64{5, 1, 4, 2, 3, 8, 7, 6}
	if thr := quantileThresholds(v, rows, 4); !reflect.DeepEqual(thr, []float64{3, 5, 7}) {
		t.Errorf("1..8 in 4 classes: thresholds %v, want [3 5 7]", thr)
	}
	if thr := quantileThresholds([]float64{2, 2, 2}, []int{0, 1, 2}, 3); len(thr) != 0 {
		t.Errorf("constant column: thresholds %v, want none", thr)
	}
}

func TestParseTasks(t *testing.T) {
	if got, err := ParseTasks([]string{"column", "column"}); err != nil || !reflect.DeepEqual(got, []string{"column"}) {
		t.Errorf("column,column: %v, %v", got, err)
	}
	if got, err := ParseTasks([]string{"column", "contrastive", "masked", "masked"}); err != nil ||
		!reflect.DeepEqual(got, []string{"column", "contrastive", "masked"}) {
		t.Errorf("column,contrastive,masked,masked: %v, %v", got, err)
	}
	for _, bad := range [][]string{{"masked"}, {"contrastive", "masked"}, {"cells"}, {"column", "cells"}, nil} {
		if _, err := ParseTasks(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	_, err := ParseTasks([]string{"masked"})
	if err == nil || !strings.Contains(err.Error(), `list "column" too`) {
		t.Errorf("masked alone: err = %v, want one asking for the column task", err)
	}
}

func TestBatchFailsOnAnUnusableCorpus(t *testing.T) {
	c := corpusOf(t, corpus.Options{}, "p__bad.csv", "a,b\n\"1\n")
	s, _ := New(c, Config{MaxClasses: 10})
	if _, err := s.Batch(0, prior.Shape{Rows: 50, Features: 4, NTrain: 30}, 2); err == nil {
		t.Fatal("a corpus of one broken file gave a batch")
	}
}

// Extreme numbers (whose squares overflow), an all-missing column and a column of one value
// make tasks whose inputs are finite or missing: nothing the model cannot encode.
func TestExtremeValuesStayFinite(t *testing.T) {
	var b strings.Builder
	b.WriteString("huge,tiny,outrange,empty,same,y\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "%d.5e307,%de-300,%d,,4,%d\n", i%9+1, i, i%5, i%3)
	}
	b.WriteString("-9e307,1,1e400,,4,1\n") // 1e400 is out of float64's range: that column reads as categorical
	c := corpusOf(t, corpus.Options{}, "p__extreme.csv", b.String())
	tab, err := c.Table(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Columns) != 4 || tab.Columns[0].Categorical || !tab.Columns[2].Categorical {
		t.Fatalf("columns %+v: want huge and tiny numeric, outrange categorical, y; empty and same dropped", tab.Columns)
	}
	s, _ := New(c, Config{Seed: 1, MaxClasses: 10})
	for bi := uint64(0); bi < 20; bi++ {
		batch, err := s.Batch(bi, prior.Shape{Rows: 60, Features: 4, NTrain: 40}, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range batch.Datasets {
			for _, v := range d.X {
				if math.IsInf(float64(v), 0) {
					t.Fatalf("batch %d: infinite input", bi)
				}
			}
		}
	}
}

// A sampler restricted to some tables draws only from them; HoldOut splits every table
// into exactly one side.
func TestTablesRestrictTheDraws(t *testing.T) {
	train, held := HoldOut(10, 4)
	if !reflect.DeepEqual(held, []int{3, 7}) || len(train) != 8 {
		t.Fatalf("HoldOut(10, 4) = %v, %v", train, held)
	}
	if tr, h := HoldOut(5, 0); len(tr) != 5 || h != nil {
		t.Fatalf("HoldOut(5, 0) = %v, %v", tr, h)
	}
	c, _ := testCorpus(t)
	// Table 2 (name order: broken, mixed, one_row, ragged, wide_levels) is p__one_row.csv,
	// unusable; table 1 is p__mixed.csv, the only one with 300 rows.
	s, err := New(c, Config{Seed: 1, MaxClasses: 10, Tables: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	for b := uint64(0); b < 10; b++ {
		batch, err := s.Batch(b, prior.Shape{Rows: 250, Features: 8, NTrain: 150}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if batch.Shape.Features != 4 { // p__mixed.csv has 5 columns, the others at most 3
			t.Fatalf("batch %d has %d features: not from p__mixed.csv", b, batch.Shape.Features)
		}
	}
	bad, _ := New(c, Config{Seed: 1, MaxClasses: 10, Tables: []int{2}})
	if _, err := bad.Batch(0, prior.Shape{Rows: 50, Features: 4, NTrain: 30}, 2); err == nil {
		t.Fatal("a sampler of one unusable table made a batch")
	}
	if _, err := New(c, Config{MaxClasses: 10, Tables: []int{9}}); err == nil {
		t.Fatal("a table index beyond the corpus was accepted")
	}
}

// Batches of corpus tasks describe their cells: the categorical features' level counts and
// each categorical cell's code (which, standardised, is the cell's value), and each dataset's
// slot.
func TestBatchDescribesCells(t *testing.T) {
	c, _ := testCorpus(t)
	s, err := New(c, Config{Seed: 3, MaxClasses: 10})
	if err != nil {
		t.Fatal(err)
	}
	cats := 0
	for b := uint64(0); b < 20; b++ {
		batch, err := s.Batch(b, prior.Shape{Rows: 60, Features: 8, NTrain: 40}, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range batch.Datasets {
			if d.Cells == nil || d.Cells.Slot != i || len(d.Cells.Levels) != d.Features || len(d.Cells.Codes) != d.Rows*d.Features {
				t.Fatalf("batch %d dataset %d: cells %+v", b, i, d.Cells)
			}
			for f := range d.Features {
				if (d.Cells.Levels[f] > 0) != d.Categorical[f] {
					t.Fatalf("feature %d: levels %d, categorical %v", f, d.Cells.Levels[f], d.Categorical[f])
				}
				// Equal codes have equal standardised values.
				val := map[int32]float32{}
				for r := range d.Rows {
					code, v := d.Cells.Codes[r*d.Features+f], d.X[r*d.Features+f]
					switch {
					case !d.Categorical[f] || math.IsNaN(float64(v)):
						if code != -1 {
							t.Fatalf("numeric or missing cell with code %d", code)
						}
					case code < 0 || int(code) >= d.Cells.Levels[f]:
						t.Fatalf("code %d of %d levels", code, d.Cells.Levels[f])
					default:
						cats++
						if w, ok := val[code]; ok && w != v {
							t.Fatalf("code %d is %v and %v", code, w, v)
						}
						val[code] = v
					}
				}
			}
		}
	}
	if cats == 0 {
		t.Fatal("no categorical cell drawn")
	}
}

// statsDataset is a dataset whose cell (r, f) holds 1000·f + r, with every seventh cell of
// feature 0 missing.
func statsDataset(rows, feats, nTrain, slot int) *prior.Dataset {
	d := &prior.Dataset{Rows: rows, Features: feats, NTrain: nTrain, X: make([]float32, rows*feats),
		Cells: &prior.Cells{Levels: make([]int, feats), Codes: make([]int32, rows*feats), Slot: slot}}
	for r := range rows {
		for f := range feats {
			d.X[r*feats+f] = float32(1000*f + r)
			if f == 0 && r%7 == 0 {
				d.X[r*feats+f] = float32(math.NaN())
			}
		}
	}
	return d
}

// MaskCells hides about the asked share of the known cells, never a missing one, the same
// cells for the same key and others for another slot.
func TestMaskCellsRate(t *testing.T) {
	d := statsDataset(400, 10, 300, 0)
	known := 0
	for _, v := range d.X {
		if !math.IsNaN(float64(v)) {
			known++
		}
	}
	for _, rate := range []float64{0.15, 0.5} {
		cells := MaskCells(1, 2, d, rate)
		for _, c := range cells {
			if math.IsNaN(float64(d.X[c])) {
				t.Fatalf("masked a missing cell %d", c)
			}
		}
		p := float64(len(cells)) / float64(known)
		sd := math.Sqrt(rate * (1 - rate) / float64(known))
		if math.Abs(p-rate) > 4*sd {
			t.Errorf("rate %v: masked %.4f of %d known cells (±%.4f)", rate, p, known, sd)
		}
		if again := MaskCells(1, 2, d, rate); !reflect.DeepEqual(again, cells) {
			t.Errorf("rate %v: another draw with the same key differs", rate)
		}
	}
	other := statsDataset(400, 10, 300, 1)
	if reflect.DeepEqual(MaskCells(1, 2, d, 0.15), MaskCells(1, 2, other, 0.15)) {
		t.Error("slots 0 and 1 mask the same cells")
	}
	if got := MaskCells(1, 2, d, 0); len(got) != 0 {
		t.Errorf("rate 0 masked %d cells", len(got))
	}
}

// CorruptRows replaces round(rate·Features) cells of each test row per view with values of
// the same column, drawn uniformly over the dataset's rows; the two views differ.
func TestCorruptRowsMarginal(t *testing.T) {
	const rows, feats, nTrain = 200, 10, 50
	d := statsDataset(rows, feats, nTrain, 0)
	a, b := CorruptRows(5, 1, d, DefaultCorruptionRate)
	Q := rows - nTrain
	if len(a) != Q*feats || len(b) != Q*feats {
		t.Fatalf("views of %d and %d values, want %d", len(a), len(b), Q*feats)
	}
	drawn := make([]int, rows)
	changed := 0
	for _, v := range [][]float32{a, b} {
		for q := range Q {
			r := nTrain + q
			for f := range feats {
				got, orig := v[q*feats+f], d.X[r*feats+f]
				if math.IsNaN(float64(got)) {
					if f != 0 {
						t.Fatalf("a missing value in feature %d", f)
					}
					continue
				}
				src := int(got) - 1000*f
				if src < 0 || src >= rows {
					t.Fatalf("row %d feature %d: %v is not a value of its column", r, f, got)
				}
				if got != orig {
					changed++
					drawn[src]++
				}
			}
		}
	}
	if sameBits(a, b) {
		t.Error("the two views are equal")
	}
	// 6 of 10 features replaced, each by another row's value with probability about 1−1/rows
	// (less for feature 0's missing cells).
	want := 2 * float64(Q) * 6 * (1 - 1.0/rows)
	if math.Abs(float64(changed)-want) > 0.05*want {
		t.Errorf("%d cells changed, want about %.0f", changed, want)
	}
	// The replacement rows are uniform: every row, context or test, is drawn, and no row
	// far more often than the mean.
	mean := float64(changed) / rows
	for r, n := range drawn {
		if n == 0 || float64(n) > mean+6*math.Sqrt(mean) {
			t.Errorf("row %d drawn %d times (mean %.1f)", r, n, mean)
		}
	}
	a2, b2 := CorruptRows(5, 1, d, DefaultCorruptionRate)
	if !sameBits(a, a2) || !sameBits(b, b2) {
		t.Error("another draw with the same key differs")
	}
	// One feature: the one cell is replaced.
	one := statsDataset(20, 1, 10, 0)
	if a, _ := CorruptRows(5, 1, one, 0.01); len(a) != 10 {
		t.Errorf("one feature: %d values", len(a))
	}
}

// sameBits reports whether a and b hold the same float32 bit patterns (NaN equal to NaN).
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
