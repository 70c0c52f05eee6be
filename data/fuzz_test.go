package data

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/kiln-ml/kiln/internal/alloctest"
)

// The fuzz targets run on their seed corpora (testdata/fuzz/<target>/) as ordinary tests; to
// fuzz one, run e.g. go test -run '^$' -fuzz '^FuzzReadCSV$' -fuzztime 2m ./data. Inputs that fail are
// written to the corpus by go test and stay there as regression cases.

// fuzzOptions are the option sets the CSV fuzzer cycles through; the seed files use the
// column names "a" and "y" so that each set applies.
var fuzzOptions = []Options{
	{},
	{Categorical: []string{"a"}},
	{Target: "y", TargetOptional: true},
	{Missing: []string{"-", "x"}},
}

// FuzzReadCSV loads arbitrary bytes as a CSV table. It must never panic, must allocate at most
// 1 MiB plus 256 bytes per input byte (the matrix is 8 bytes a cell and a cell takes at least a
// byte; categories, records and garbage take the rest) plus 1 KiB per comma (a header column
// costs a byte of input but a name, a plan entry and map slots: a header of thousands of empty
// names found by the fuzzer needs ~400 bytes a column), and a table it loads must be sound and
// load again, identically, from its own CSV rendering with itself as the schema.
func FuzzReadCSV(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		opts := fuzzOptions[int(mode)%len(fuzzOptions)]
		var tab *Table
		var err error
		limit := 1<<20 + 256*uint64(len(b)) + 1024*uint64(bytes.Count(b, []byte(",")))
		alloctest.Check(t, limit, fmt.Sprintf("%d input bytes", len(b)), func() { tab, err = ReadCSV(bytes.NewReader(b), opts) })
		if err != nil {
			if tab != nil {
				t.Fatal("a table and an error")
			}
			return
		}
		checkTable(t, tab)
		checkRoundTrip(t, tab, opts.Missing)
	})
}

// FuzzReadParquet loads arbitrary bytes as a Parquet file. It must never panic, must allocate at
// most 64 MiB plus 32 KiB per input byte (a file may declare 1024 cells per byte, each read as
// text once per pass and stored in 8 bytes), and a table it loads must be sound and load again,
// identically, from its CSV rendering with itself as the schema.
func FuzzReadParquet(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var tab *Table
		var err error
		alloctest.Check(t, 64<<20+32<<10*uint64(len(b)), fmt.Sprintf("%d input bytes", len(b)), func() {
			tab, err = ReadParquet(bytes.NewReader(b), int64(len(b)), Options{})
		})
		if err != nil {
			if tab != nil {
				t.Fatal("a table and an error")
			}
			return
		}
		checkTable(t, tab)
		checkRoundTrip(t, tab, nil)
	})
}

// checkTable fails unless tab is internally consistent: the matrix has a column per feature
// and a value per cell, numeric values are finite or NaN, categorical codes index their sorted
// categories, labels index the sorted classes (or are NoLabel) and classes are distinct.
func checkTable(t *testing.T, tab *Table) {
	t.Helper()
	if tab.X.Rows < 1 || tab.X.Cols != len(tab.Columns) || len(tab.X.Data) != tab.X.Rows*tab.X.Cols {
		t.Fatalf("matrix %d×%d with %d values for %d columns", tab.X.Rows, tab.X.Cols, len(tab.X.Data), len(tab.Columns))
	}
	for j, c := range tab.Columns {
		if c.Kind == Categorical && !sortedDistinct(c.Categories) {
			t.Fatalf("column %d categories %q are not sorted and distinct", j, c.Categories)
		}
		for i := 0; i < tab.X.Rows; i++ {
			v := tab.X.At(i, j)
			switch {
			case math.IsNaN(v):
			case math.IsInf(v, 0):
				t.Fatalf("X[%d,%d] is infinite", i, j)
			case c.Kind == Categorical && (v != math.Trunc(v) || v < 0 || int(v) >= len(c.Categories)):
				t.Fatalf("X[%d,%d] = %v is not a code of %d categories", i, j, v, len(c.Categories))
			}
		}
	}
	if tab.Y != nil {
		if len(tab.Y) != tab.X.Rows || !sortedDistinct(tab.Classes) {
			t.Fatalf("%d labels for %d rows, classes %q", len(tab.Y), tab.X.Rows, tab.Classes)
		}
		for i, c := range tab.Y {
			if c != NoLabel && (c < 0 || c >= len(tab.Classes)) {
				t.Fatalf("Y[%d] = %d with %d classes", i, c, len(tab.Classes))
			}
		}
	}
}

// sortedDistinct reports whether names are in the loaders' order without repeats.
func sortedDistinct(names []string) bool {
	cmp := nameOrder(names)
	for i := 1; i < len(names); i++ {
		if cmp(names[i-1], names[i]) >= 0 {
			return false
		}
	}
	return true
}

// checkRoundTrip writes tab as CSV (numbers in their shortest exact form, categories and
// classes by name, missing values as the first of the markers missing, nil meaning
// DefaultMissing) and fails unless reading that back with tab as the schema and the same
// markers gives the same matrix and labels.
func checkRoundTrip(t *testing.T, tab *Table, missing []string) {
	t.Helper()
	na := ""
	if len(missing) > 0 {
		na = missing[0]
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := tab.FeatureNames()
	if tab.Y != nil {
		header = append(header, tab.Target)
	}
	if err := w.Write(header); err != nil {
		t.Fatal(err)
	}
	rec := make([]string, len(header))
	for i := 0; i < tab.X.Rows; i++ {
		for j, c := range tab.Columns {
			v := tab.X.At(i, j)
			switch {
			case math.IsNaN(v):
				rec[j] = na
			case c.Kind == Categorical:
				rec[j] = c.Categories[int(v)]
			default:
				rec[j] = strconv.FormatFloat(v, 'g', -1, 64)
			}
		}
		if tab.Y != nil {
			rec[len(rec)-1] = na
			if c := tab.Y[i]; c != NoLabel {
				rec[len(rec)-1] = tab.Classes[c]
			}
		}
		if len(rec) == 1 && rec[0] == "" {
			// encoding/csv writes a lone empty field as a blank line, which readers skip.
			w.Flush()
			buf.WriteString("\"\"\n")
			continue
		}
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if bytes.Contains(buf.Bytes(), []byte("\r\n")) {
		// The writer ends records with "\n", so this "\r\n" is inside a value (a category, class
		// or column name). encoding/csv reads a quoted "\r\n" back as "\n", so such a value cannot
		// come back from its own rendering; the table was already checked for soundness.
		return
	}
	again, err := ReadCSV(bytes.NewReader(buf.Bytes()), Options{Schema: tab, TargetOptional: true, Missing: missing})
	if err != nil {
		t.Fatalf("reading the table's own CSV back: %v\n%q", err, buf.Bytes())
	}
	if again.X.Rows != tab.X.Rows || again.X.Cols != tab.X.Cols {
		t.Fatalf("read back %d×%d, want %d×%d", again.X.Rows, again.X.Cols, tab.X.Rows, tab.X.Cols)
	}
	for k, v := range tab.X.Data {
		if w := again.X.Data[k]; v != w && !(math.IsNaN(v) && math.IsNaN(w)) {
			t.Fatalf("value %d read back as %v, want %v\n%q", k, w, v, buf.Bytes())
		}
	}
	if !slices.Equal(again.Y, tab.Y) {
		t.Fatalf("labels read back as %v, want %v", again.Y, tab.Y)
	}
}
