package corpus

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func column(t *testing.T, tab *Table, name string) Column {
	t.Helper()
	for _, c := range tab.Columns {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s: no column %q (have %d columns)", tab.Name, name, len(tab.Columns))
	return Column{}
}

func TestLoadMixedTypesAndMissing(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "a__mixed.csv", "x,colour,y,empty,const\n1.5,red,2,,7\nNA,blue,3,NA,7\n-2,,4,,7\n3e1,red,?,,\n")
	tab, err := LoadFile(p, DefaultLimits(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows != 4 || tab.FileRows != 4 || tab.FileCols != 5 {
		t.Fatalf("rows %d, file rows %d, file cols %d; want 4, 4, 5", tab.Rows, tab.FileRows, tab.FileCols)
	}
	if len(tab.Columns) != 3 {
		t.Fatalf("kept %d columns, want 3 (x, colour, y; the all-missing and the constant one dropped)", len(tab.Columns))
	}
	x := column(t, tab, "x")
	if x.Categorical || x.Values[0] != 1.5 || !math.IsNaN(x.Values[1]) || x.Values[3] != 30 {
		t.Errorf("x = %+v", x)
	}
	c := column(t, tab, "colour")
	if !c.Categorical || c.Levels != 2 {
		t.Fatalf("colour = %+v, want categorical with 2 levels", c)
	}
	// Codes by frequency: red (twice) is 0, blue 1; the empty cell is missing.
	if c.Values[0] != 0 || c.Values[1] != 1 || !math.IsNaN(c.Values[2]) || c.Values[3] != 0 {
		t.Errorf("colour codes = %v", c.Values)
	}
	if !strings.Contains(strings.Join(tab.Notes, ";"), "empty") {
		t.Errorf("notes %q do not mention the dropped columns", tab.Notes)
	}
}

func TestLoadRaggedRows(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "a__ragged.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n")
	tab, err := LoadFile(p, DefaultLimits(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows != 4 {
		t.Fatalf("rows = %d, want 4", tab.Rows)
	}
	cc := column(t, tab, "c")
	if !math.IsNaN(cc.Values[1]) || cc.Values[2] != 8 {
		t.Errorf("c = %v: want the short row padded with a missing cell and the long one cut", cc.Values)
	}
	if !strings.Contains(strings.Join(tab.Notes, ";"), "2 of 4 rows") {
		t.Errorf("notes %q do not count the 2 ragged rows", tab.Notes)
	}
}

func TestLoadOneRowTable(t *testing.T) {
	dir := t.TempDir()
	// One row: every column is constant, so nothing usable is left, an error naming the file.
	p := writeFile(t, dir, "a__one.csv", "a,b,c\n1,x,3\n")
	_, err := LoadFile(p, DefaultLimits(), 0, nil)
	if err == nil || !strings.Contains(err.Error(), "a__one.csv") {
		t.Fatalf("err = %v, want an error naming the file", err)
	}
}

func TestLoadBoundsRowsColumnsAndLevels(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	const rows, cols = 100_000, 40
	for j := 0; j < cols; j++ {
		fmt.Fprintf(&b, "c%d,", j)
	}
	b.WriteString("id\n")
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			fmt.Fprintf(&b, "%d,", (i*7+j)%13)
		}
		fmt.Fprintf(&b, "level%d\n", i) // 100,000 categories
	}
	p := writeFile(t, dir, "a__big.csv", b.String())
	lim := Limits{MaxRows: 500, MaxCols: 1000, MaxLevels: 50, MaxCellBytes: 64}
	tab, err := LoadFile(p, lim, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows != 500 || tab.FileRows != rows {
		t.Fatalf("rows %d of %d, want 500 of %d", tab.Rows, tab.FileRows, rows)
	}
	id := column(t, tab, "id")
	if !id.Categorical || id.Levels != 50 {
		t.Fatalf("id: categorical %v with %d levels, want 50 (MaxLevels)", id.Categorical, id.Levels)
	}
	for _, v := range id.Values {
		if v < 0 || v >= 50 {
			t.Fatalf("code %v outside [0, 50)", v)
		}
	}
	// The reservoir is a sample of the whole file, not its first rows.
	late := 0
	c0 := column(t, tab, "c0")
	for i := range c0.Values {
		if lvl := id.Values[i]; lvl == 49 {
			late++
		}
	}
	if late < 400 {
		t.Errorf("%d rows in the merged level, want most of the 500 (all levels occur once)", late)
	}
	// Column cap: a random subset, the same for the same seed.
	lim.MaxCols = 10
	a, err := LoadFile(p, lim, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := LoadFile(p, lim, 3, nil)
	if len(a.Columns) != 10 || a.FileCols != cols+1 {
		t.Fatalf("kept %d of %d columns, want 10 of %d", len(a.Columns), a.FileCols, cols+1)
	}
	for j := range a.Columns {
		if a.Columns[j].Name != a2.Columns[j].Name || a.Columns[j].Values[7] != a2.Columns[j].Values[7] {
			t.Fatalf("two loads with one seed differ at column %d", j)
		}
	}
}

func TestGuardRefusesEvaluationCopies(t *testing.T) {
	g, err := NewGuard("testdata/eval")
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Fatalf("guard knows %d tables, want 1", g.Len())
	}
	// Same columns (other order and case, label renamed), same rows: a copy.
	_, err = LoadFile("testdata/corpus/pkg__flowers_copy.csv", DefaultLimits(), 0, g)
	if err == nil || !strings.Contains(err.Error(), "flowers.csv") || !strings.Contains(err.Error(), "pkg__flowers_copy.csv") {
		t.Fatalf("err = %v, want a refusal naming the corpus file and the evaluation table", err)
	}
	// An extra column: another shape, kept.
	if _, err := LoadFile("testdata/corpus/pkg__flowers_wider.csv", DefaultLimits(), 0, g); err != nil {
		t.Fatalf("wider table refused: %v", err)
	}
	if _, err := LoadFile("testdata/corpus/pkg__cars.csv", DefaultLimits(), 0, g); err != nil {
		t.Fatalf("unrelated table refused: %v", err)
	}
	// Fewer rows: another shape, unless the corpus cut the table to that many.
	if _, err := LoadFile("testdata/corpus/pkg__flowers_sample.csv", DefaultLimits(), 0, g); err != nil {
		t.Fatalf("3-row table refused: %v", err)
	}
	g.RowCap = 3
	if _, err := LoadFile("testdata/corpus/pkg__flowers_sample.csv", DefaultLimits(), 0, g); err == nil {
		t.Fatal("a table cut to the row cap was accepted")
	}
	// Without the guard the copy loads.
	if _, err := LoadFile("testdata/corpus/pkg__flowers_copy.csv", DefaultLimits(), 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := NewGuard("testdata/no-such-dir"); err == nil {
		t.Fatal("a missing guard directory was accepted")
	}
}

func TestCorpusSkipsBadFilesWithAWarning(t *testing.T) {
	g, err := NewGuard("testdata/eval")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var warnings []string
	c, err := Open("testdata/corpus", Options{Guard: g, Warn: func(m string) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, m)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 5 { // MANIFEST.csv is not a table
		t.Fatalf("%d tables, want 5", c.Len())
	}
	good := 0
	for round := 0; round < 2; round++ {
		for i := 0; i < c.Len(); i++ {
			if _, err := c.Table(i); err == nil {
				good++
			}
		}
	}
	if good != 6 || c.Bad() != 2 {
		t.Fatalf("%d good loads and %d bad tables, want 6 (3 tables twice) and 2", good, c.Bad())
	}
	if len(warnings) != 2 {
		t.Fatalf("warnings %q, want one per bad file", warnings)
	}
	all := strings.Join(warnings, "\n")
	for _, f := range []string{"pkg__broken.csv", "pkg__flowers_copy.csv"} {
		if !strings.Contains(all, f) {
			t.Errorf("no warning names %s: %q", f, warnings)
		}
	}
	if c.loaded != 3 {
		t.Errorf("%d tables decoded, want 3 (the second round from the cache)", c.loaded)
	}
}

func TestCorpusCacheIsBoundedAndConcurrent(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 8; i++ {
		var b strings.Builder
		b.WriteString("a,b,c\n")
		for r := 0; r < 100; r++ {
			fmt.Fprintf(&b, "%d,%d,%d\n", r, r*i, r%3)
		}
		writeFile(t, dir, fmt.Sprintf("p__t%d.csv", i), b.String())
	}
	c, err := Open(dir, Options{CacheCells: 650})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				i := (g + k) % c.Len()
				tab, err := c.Table(i)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("p__t%d.csv", i); tab.Name != want || tab.Rows != 100 {
					errs <- fmt.Errorf("table %d is %s with %d rows", i, tab.Name, tab.Rows)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cells > 650 || c.lru.Len() > 2 {
		t.Errorf("cache holds %d cells in %d tables, want at most 650 cells", c.cells, c.lru.Len())
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{}); err == nil {
		t.Error("an empty directory was accepted")
	}
	if _, err := Open("testdata/nothing-here", Options{}); err == nil {
		t.Error("a missing directory was accepted")
	}
}
