// Package data loads small tabular classification datasets and prepares them for models.
//
// A CSV file with a header row, or a flat Parquet file, becomes a Table: one float64 matrix of
// features (row-major, NaN for a missing value), a kind per feature (numeric, or categorical
// with its sorted list of categories, stored as the category's index), integer class labels and
// the class names they stand for. Load picks the format by extension (".parquet" or ".pq" is
// Parquet, anything else CSV); Parquet values are read as the text a CSV export would hold and
// go through the same parser, so both formats load the same data into the same Table. Loading
// is strict where silence would hide a data problem (ragged rows, junk in a numeric column, a
// target with one class) and every such error names the line (CSV) or row (Parquet) and column;
// a cell quoted in an error is cut to its first 40 characters and its length.
//
// # Numbers and missing values
//
// A cell is a number when it is a plain decimal: an optional sign, digits with an optional
// decimal point (".5" and "5." included), and an optional exponent ("1e-3", "2E+5"). Go-only
// syntax is not: hexadecimal ("0x1p3"), digit underscores ("1_000") and "Inf"/"Infinity" are
// text, so a numeric column holding one is an error and a column of them is categorical. The
// grammar, written out, and its reasons are in package data/csvio, which the matrix reader of
// package linalg shares. There is no spelling of infinity: an infinite value is not a number.
// NaN is a missing value, not a number: it is one of the missing-value markers
// (DefaultMissing: "", NA, N/A, ?, NaN, null, None, in any case), and Parquet nulls and NaN
// doubles are missing too. Missing features become NaN in the matrix, for the models to handle.
//
// # Memory
//
// Loaders stream: a CSV file is read twice, one record at a time (the first pass checks every
// cell and counts the rows, the second fills a matrix allocated once at its final size), and
// Parquet rows likewise, so memory holds the result and one record, not the text. Peak heap is
// the result (8 bytes a cell) plus the garbage of the records read since the last collection;
// for a typical exported table, where a cell and its comma take 5 to 10 bytes, that is about
// 2.3× the file size with Go's default GOGC (TestLoadCSVPeakHeap measures it on 30 MB). A file
// of one-character cells ("0,1,0,…") is the exception: its matrix alone is 4× the file. Parquet
// files are checked before anything is allocated by a size they declare: see ReadParquet.
//
// # Splits
//
// The split helpers (StratifiedSplit, StratifiedSubsample) are deterministic for a seed and keep
// the class proportions, which is what the evaluation protocol of package metrics builds on.
// Feature preprocessing that must be fitted on training rows lives in data/preprocess.
package data

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/data/csvio"
)

// Kind says how a feature column is encoded in a Table.
type Kind int

const (
	// Numeric columns hold the parsed float64 value.
	Numeric Kind = iota
	// Categorical columns hold the index of the value in Column.Categories, as a float64.
	Categorical
)

// String returns "numeric" or "categorical".
func (k Kind) String() string {
	switch k {
	case Numeric:
		return "numeric"
	case Categorical:
		return "categorical"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Column describes one feature column.
type Column struct {
	Name string
	Kind Kind
	// Categories lists the distinct values of a categorical column in code order: a cell with
	// code c (stored as float64(c)) holds Categories[c]. Nil for numeric columns.
	Categories []string
}

// Matrix is a dense row-major float64 matrix: element (i, j) is Data[i*Cols+j]. It is the
// exchange format between loaders, preprocessing, classifiers and metrics, chosen because it
// maps onto a tensor (or a gonum mat.Dense via mat.NewDense(Rows, Cols, Data)) without copying.
type Matrix struct {
	Rows, Cols int
	Data       []float64
}

// NewMatrix returns a zero-filled rows×cols matrix.
func NewMatrix(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
}

// MatrixFromRows copies a slice of equal-length rows into a Matrix. It returns an error when
// the rows are ragged.
func MatrixFromRows(rows [][]float64) (Matrix, error) {
	if len(rows) == 0 {
		return Matrix{}, nil
	}
	m := NewMatrix(len(rows), len(rows[0]))
	for i, r := range rows {
		if len(r) != m.Cols {
			return Matrix{}, fmt.Errorf("data: row %d has %d values, row 0 has %d", i, len(r), m.Cols)
		}
		copy(m.Row(i), r)
	}
	return m, nil
}

// At returns element (i, j).
func (m Matrix) At(i, j int) float64 { return m.Data[i*m.Cols+j] }

// Set sets element (i, j).
func (m Matrix) Set(i, j int, v float64) { m.Data[i*m.Cols+j] = v }

// Row returns row i as a slice that aliases the matrix storage.
func (m Matrix) Row(i int) []float64 { return m.Data[i*m.Cols : (i+1)*m.Cols : (i+1)*m.Cols] }

// Col returns a copy of column j.
func (m Matrix) Col(j int) []float64 {
	out := make([]float64, m.Rows)
	for i := range out {
		out[i] = m.Data[i*m.Cols+j]
	}
	return out
}

// Clone returns a deep copy.
func (m Matrix) Clone() Matrix {
	return Matrix{Rows: m.Rows, Cols: m.Cols, Data: append([]float64(nil), m.Data...)}
}

// SelectRows returns a new matrix holding the given rows, in the given order.
func (m Matrix) SelectRows(idx []int) Matrix {
	out := NewMatrix(len(idx), m.Cols)
	for k, i := range idx {
		copy(out.Row(k), m.Row(i))
	}
	return out
}

// ToRows copies the matrix into a slice of rows.
func (m Matrix) ToRows() [][]float64 {
	out := make([][]float64, m.Rows)
	for i := range out {
		out[i] = append([]float64(nil), m.Row(i)...)
	}
	return out
}

// Table is a loaded classification dataset.
type Table struct {
	// Columns describes the feature columns, in file order (the target column excluded).
	Columns []Column
	// X holds the features, Rows×len(Columns), NaN where a value is missing.
	X Matrix
	// Y holds the class index of each row; nil when the file had no target column, and NoLabel
	// for a row whose label is missing (both only with Options.TargetOptional).
	Y []int
	// Classes maps a class index to its name. Classes are sorted (numerically when every
	// name is a number, otherwise lexically), so the mapping does not depend on row order.
	Classes []string
	// Target is the name of the target column.
	Target string
	// Values holds the numeric target of each row of a regression table (LoadRegression),
	// NaN where it is missing; nil for a classification table, and for a regression test
	// table without the target column. A regression table has no Y or Classes.
	Values []float64
}

// NoLabel is the Y of a row whose class label is missing, which only a table loaded with
// Options.TargetOptional has; such a row is predicted but cannot be scored.
const NoLabel = -1

// Labeled returns the indices of the rows that have a class label, or of a regression table
// the rows whose target is not missing, in order: every row unless some are missing, none
// when the table has no target.
func (t *Table) Labeled() []int {
	if t.Values != nil {
		idx := make([]int, 0, len(t.Values))
		for i, v := range t.Values {
			if !math.IsNaN(v) {
				idx = append(idx, i)
			}
		}
		return idx
	}
	idx := make([]int, 0, len(t.Y))
	for i, c := range t.Y {
		if c != NoLabel {
			idx = append(idx, i)
		}
	}
	return idx
}

// Rows returns the number of rows.
func (t *Table) Rows() int { return t.X.Rows }

// NumFeatures returns the number of feature columns.
func (t *Table) NumFeatures() int { return len(t.Columns) }

// NumClasses returns the number of classes.
func (t *Table) NumClasses() int { return len(t.Classes) }

// FeatureNames returns the feature column names.
func (t *Table) FeatureNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// ClassName returns the name of class index c, or an error when c is out of range.
func (t *Table) ClassName(c int) (string, error) {
	if c < 0 || c >= len(t.Classes) {
		return "", fmt.Errorf("data: class index %d out of range [0,%d)", c, len(t.Classes))
	}
	return t.Classes[c], nil
}

// ClassIndex returns the index of a class name, or an error naming the known classes.
func (t *Table) ClassIndex(name string) (int, error) {
	for i, c := range t.Classes {
		if c == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("data: unknown class %s (known: %s)", csvio.Quote(name), quoteList(t.Classes))
}

// ClassCounts returns the number of rows of each class (rows without a label count for none).
func (t *Table) ClassCounts() []int {
	counts := make([]int, len(t.Classes))
	for _, c := range t.Y {
		if c != NoLabel {
			counts[c]++
		}
	}
	return counts
}

// MissingCount returns the number of missing (NaN) cells.
func (t *Table) MissingCount() int {
	n := 0
	for _, v := range t.X.Data {
		if math.IsNaN(v) {
			n++
		}
	}
	return n
}

// CategoricalMask reports for each feature whether it is categorical.
func (t *Table) CategoricalMask() []bool {
	out := make([]bool, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Kind == Categorical
	}
	return out
}

// Subset returns a new table with the given rows (in that order), sharing the schema.
func (t *Table) Subset(idx []int) *Table {
	out := &Table{Columns: t.Columns, Classes: t.Classes, Target: t.Target, X: t.X.SelectRows(idx)}
	if t.Y != nil {
		out.Y = make([]int, len(idx))
		for k, i := range idx {
			out.Y[k] = t.Y[i]
		}
	}
	if t.Values != nil {
		out.Values = make([]float64, len(idx))
		for k, i := range idx {
			out.Values[k] = t.Values[i]
		}
	}
	return out
}

// DropRareClasses returns a table without the rows of classes that have fewer than minRows
// rows, with the remaining classes re-indexed in their original (sorted) order, and the names
// of the dropped classes; rows without a label are kept. The evaluation protocol drops classes with fewer than 4 rows so that
// a stratified 50/50 split leaves at least two rows of each class on each side.
func (t *Table) DropRareClasses(minRows int) (*Table, []string) {
	counts := t.ClassCounts()
	remap := make([]int, len(t.Classes))
	var kept, dropped []string
	for c, n := range counts {
		if n < minRows {
			remap[c] = -1
			dropped = append(dropped, t.Classes[c])
			continue
		}
		remap[c] = len(kept)
		kept = append(kept, t.Classes[c])
	}
	if len(dropped) == 0 {
		return t, nil
	}
	var idx []int
	for i, c := range t.Y {
		if c == NoLabel || remap[c] >= 0 {
			idx = append(idx, i)
		}
	}
	out := t.Subset(idx)
	out.Classes = kept
	for i, c := range out.Y {
		if c != NoLabel {
			out.Y[i] = remap[c]
		}
	}
	return out, dropped
}
