// Package corpus reads a directory of unlabeled real tables (CSV files with a header row) for
// self-supervised pretraining of a tabular model, such as the column-as-target tasks of
// TabDPT (Ma et al., "TabDPT: Scaling Tabular Foundation Models on Real Data", 2024).
//
// Unlike package data, which is strict because a user's table must not be silently
// misread, this reader is lenient: a pretraining run reads hundreds of tables nobody cleaned,
// and one bad file must cost that file, not the run. So
//
//   - ragged rows are padded with missing cells or cut to the header's width (and counted
//     in Table.Notes);
//   - a column whose every cell is missing, or which holds one value, is dropped;
//   - a column is numeric when every non-missing cell is a number (package csvio's grammar),
//     otherwise categorical, its values coded by first appearance;
//   - a file that cannot be parsed at all (a broken quote, no header, no data rows, fewer
//     than two usable columns) is an error naming the file; Corpus.Table reports it once
//     through the warning function and the caller skips the table.
//
// # Memory
//
// Files are streamed one record at a time and the memory of a table is bounded whatever the
// file's size: Limits.MaxRows rows are kept by reservoir sampling (Vitter's algorithm R,
// deterministic per file), Limits.MaxCols columns by a random subset fixed per file, and
// categorical columns keep at most Limits.MaxLevels categories, the rarest merged into one.
// Corpus caches decoded tables up to a budget of cells.
//
// # Evaluation guard
//
// A Guard holds the header and row count of every evaluation table; a corpus file whose
// columns and shape match one of them is refused (see Guard.Check), so pretraining cannot
// see a table it will be evaluated on.
package corpus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/data/csvio"
)

// Limits bound what one table may hold in memory.
type Limits struct {
	// MaxRows is the number of data rows kept (a uniform sample of the file's rows).
	MaxRows int
	// MaxCols is the number of columns kept (a random subset of the header's, fixed per file).
	MaxCols int
	// MaxLevels is the number of categories a categorical column keeps; the rarer ones share
	// one code.
	MaxLevels int
	// MaxCellBytes is the longest cell kept; a longer one is cut (a categorical value keeps
	// its first MaxCellBytes bytes).
	MaxCellBytes int
}

// DefaultLimits keeps up to 2048 rows, 256 columns and 1000 categories a column: 524,288
// cells, 4 MiB of float64, at most per table.
func DefaultLimits() Limits {
	return Limits{MaxRows: 2048, MaxCols: 256, MaxLevels: 1000, MaxCellBytes: 256}
}

func (l Limits) validate() error {
	if l.MaxRows < 1 || l.MaxCols < 1 || l.MaxLevels < 2 || l.MaxCellBytes < 1 {
		return fmt.Errorf("corpus: limits need MaxRows, MaxCols, MaxCellBytes ≥ 1 and MaxLevels ≥ 2, got %+v", l)
	}
	return nil
}

// Column is one kept column of a table.
type Column struct {
	Name        string
	Categorical bool
	// Levels is the number of category codes of a categorical column (0 for numeric).
	Levels int
	// Values holds one value per kept row: the number, or the category code as a float64;
	// NaN marks a missing cell.
	Values []float64
}

// Table is one corpus file as loaded: a sample of its rows and columns.
type Table struct {
	Name      string // the file's base name
	Rows      int    // rows kept
	FileRows  int    // data rows in the file
	FileCols  int    // columns in the file's header
	Columns   []Column
	Notes     []string // what loading changed (ragged rows, dropped columns, merged levels)
	RawHeader []string // the file's header, as read
}

// Cells returns the number of values the table holds.
func (t *Table) Cells() int { return t.Rows * len(t.Columns) }

// seedOf hashes a file name and a seed into the seed of that file's sampling.
func seedOf(name string, seed uint64) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(name))
	return h.Sum64()
}

// isMissing reports whether a cell is a missing-value marker (those of package data).
func isMissing(s string) bool {
	switch len(s) {
	case 0:
		return true
	case 1:
		return s == "?"
	case 2, 3, 4:
		for _, m := range []string{"NA", "N/A", "NaN", "null", "None"} {
			if strings.EqualFold(s, m) {
				return true
			}
		}
	}
	return false
}

// LoadFile reads one corpus file within limits; seed fixes which rows and columns a table
// larger than the limits keeps. guard, when not nil, refuses a file matching an evaluation
// table. Errors name the file.
func LoadFile(path string, lim Limits, seed uint64, guard *Guard) (*Table, error) {
	if err := lim.validate(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	t, err := read(f, filepath.Base(path), lim, seed, guard)
	if err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", path, err)
	}
	return t, nil
}

// read streams one CSV table; see LoadFile.
func read(r io.Reader, name string, lim Limits, seed uint64, guard *Guard) (*Table, error) {
	cr := csvio.NewReader(r)
	header, _, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("empty file (no header)")
	}
	if err != nil {
		return nil, err
	}
	header = cloneAll(header)
	width := len(header)
	if width < 2 {
		return nil, fmt.Errorf("header has %d column; need at least 2", width)
	}
	rng := rand.New(rand.NewPCG(seedOf(name, seed), 0x636f72707573))
	// Columns kept: all, or a random subset in file order.
	keep := make([]int, width)
	for j := range keep {
		keep[j] = j
	}
	if width > lim.MaxCols {
		keep = rng.Perm(width)[:lim.MaxCols]
		slices.Sort(keep)
	}
	// Rows kept: a reservoir of MaxRows records (their kept cells).
	var res [][]string
	rows, ragged := 0, 0
	for {
		rec, _, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) == 1 && rec[0] == "" {
			continue // a blank line
		}
		if len(rec) != width {
			ragged++
		}
		slot := rows
		rows++
		if slot >= lim.MaxRows {
			slot = rng.IntN(rows)
			if slot >= lim.MaxRows {
				continue
			}
		}
		cells := make([]string, len(keep))
		for k, j := range keep {
			if j < len(rec) {
				s := rec[j]
				if len(s) > lim.MaxCellBytes {
					s = s[:lim.MaxCellBytes]
				}
				cells[k] = strings.Clone(s)
			}
		}
		if slot == len(res) {
			res = append(res, cells)
		} else {
			res[slot] = cells
		}
	}
	if guard != nil {
		if err := guard.Check(header, rows); err != nil {
			return nil, err
		}
	}
	if rows == 0 {
		return nil, errors.New("no data rows")
	}
	t := &Table{Name: name, Rows: len(res), FileRows: rows, FileCols: width, RawHeader: header}
	if ragged > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("%d of %d rows have other than %d fields (padded with missing cells or cut)", ragged, rows, width))
	}
	if width > lim.MaxCols {
		t.Notes = append(t.Notes, fmt.Sprintf("%d of %d columns kept", lim.MaxCols, width))
	}
	if rows > lim.MaxRows {
		t.Notes = append(t.Notes, fmt.Sprintf("%d of %d rows kept", lim.MaxRows, rows))
	}
	var dropped []string
	for k, j := range keep {
		c, ok := decode(header[j], res, k, lim.MaxLevels)
		if !ok {
			dropped = append(dropped, header[j])
			continue
		}
		if c.Categorical && c.Levels == lim.MaxLevels {
			t.Notes = append(t.Notes, fmt.Sprintf("column %s: rarest categories merged into one to keep %d", csvio.Quote(c.Name), lim.MaxLevels))
		}
		t.Columns = append(t.Columns, c)
	}
	if len(dropped) > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("dropped %d empty or constant columns: %s", len(dropped), csvio.QuoteList(dropped, 8)))
	}
	if len(t.Columns) < 2 {
		return nil, fmt.Errorf("%d usable column(s) of %d; need at least 2", len(t.Columns), width)
	}
	return t, nil
}

func cloneAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}

// decode turns kept column k of the sampled rows into a Column; ok is false for a column
// with fewer than two distinct non-missing values.
func decode(name string, rows [][]string, k, maxLevels int) (Column, bool) {
	c := Column{Name: name, Values: make([]float64, len(rows))}
	numeric := true
	present := 0
	for i, r := range rows {
		s := r[k]
		if isMissing(s) {
			c.Values[i] = math.NaN()
			continue
		}
		present++
		if numeric {
			v, err := csvio.ParseNumber(s)
			if err != nil || math.IsInf(v, 0) {
				numeric = false
				continue
			}
			c.Values[i] = v
		}
	}
	if present == 0 {
		return c, false
	}
	if numeric {
		first, distinct := math.NaN(), false
		for _, v := range c.Values {
			if math.IsNaN(v) {
				continue
			}
			if math.IsNaN(first) {
				first = v
			} else if v != first {
				distinct = true
				break
			}
		}
		return c, distinct
	}
	// Categorical: codes by frequency, the most frequent first, ties by first appearance;
	// beyond maxLevels−1 categories the rest share the last code.
	c.Categorical = true
	ids := map[string]int{}
	var counts []int
	code := make([]int, len(rows))
	for i, r := range rows {
		s := r[k]
		if isMissing(s) {
			code[i] = -1
			continue
		}
		id, ok := ids[s]
		if !ok {
			id = len(counts)
			ids[s] = id
			counts = append(counts, 0)
		}
		counts[id]++
		code[i] = id
	}
	if len(counts) < 2 {
		return c, false
	}
	order := make([]int, len(counts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return counts[b] - counts[a] })
	rank := make([]int, len(counts))
	for r, id := range order {
		rank[id] = min(r, maxLevels-1)
	}
	c.Levels = min(len(counts), maxLevels)
	for i, id := range code {
		if id < 0 {
			c.Values[i] = math.NaN()
		} else {
			c.Values[i] = float64(rank[id])
		}
	}
	return c, true
}
