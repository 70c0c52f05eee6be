package data

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/kiln-ml/kiln/data/csvio"
)

// noTarget is a target name that no header holds: loading with it as Options.Target and
// TargetOptional reads every column as a feature, which is how LoadRegression reads the
// target column, as a numeric column with the loader's own checks.
const noTarget = "\x00kiln: no target\x00"

// LoadRegression reads a regression table: feature columns as Load reads them, and a
// target column of numbers into Table.Values (Y and Classes stay nil), CSV or Parquet by
// the file name as Load.
//
// Without opts.Schema the target is opts.Target, or the last column. It is read as a
// feature column would be, so a number in it is what the loader's grammar accepts, a
// missing-value marker is a missing target (NaN in Values; Labeled lists the other rows),
// and a non-number among numbers is an error naming its line (CSV) or row (Parquet) and the
// column. A target column that is mostly not numbers is an error: it is a classification
// target.
//
// With opts.Schema, a table that LoadRegression returned (the training table), the file
// must have the schema's feature columns, read with the schema's kinds and categories as
// Load does, and the target column is optional: without it Values is nil.
// opts.TargetOptional and opts.Target are not used then.
func LoadRegression(path string, opts Options) (*Table, error) {
	if s := opts.Schema; s != nil {
		return loadRegressionTest(path, opts)
	}
	all, err := Load(path, Options{Target: noTarget, TargetOptional: true, Categorical: opts.Categorical, Missing: opts.Missing})
	if err != nil {
		return nil, err
	}
	j := len(all.Columns) - 1
	if opts.Target != "" {
		if j = slices.IndexFunc(all.Columns, func(c Column) bool { return c.Name == opts.Target }); j < 0 {
			return nil, fmt.Errorf("%s: data: target column %s not found; columns are %s", path, csvio.Quote(opts.Target), quoteList(all.FeatureNames()))
		}
	}
	if len(all.Columns) < 2 {
		return nil, fmt.Errorf("%s: data: no feature columns besides the target", path)
	}
	c := all.Columns[j]
	if c.Kind == Categorical {
		ex := ""
		for _, name := range c.Categories {
			if _, err := csvio.ParseNumber(name); err != nil {
				ex = fmt.Sprintf(" (%s is not a number)", csvio.Quote(name))
				break
			}
		}
		return nil, fmt.Errorf("%s: data: target column %s holds mostly text%s: a regression target must be numeric (is it a class label?)", path, csvio.Quote(c.Name), ex)
	}
	t := splitTarget(all, j)
	if len(t.Labeled()) == 0 {
		return nil, fmt.Errorf("%s: data: target column %s has no values", path, csvio.Quote(c.Name))
	}
	return t, nil
}

// splitTarget returns the table of all's columns but j, with column j as the numeric target.
func splitTarget(all *Table, j int) *Table {
	n := len(all.Columns)
	t := &Table{
		Columns: append(slices.Clone(all.Columns[:j]), all.Columns[j+1:]...),
		X:       NewMatrix(all.Rows(), n-1),
		Target:  all.Columns[j].Name,
		Values:  all.X.Col(j),
	}
	for i := range all.Rows() {
		row := all.X.Row(i)
		copy(t.X.Row(i), row[:j])
		copy(t.X.Row(i)[j:], row[j+1:])
	}
	return t
}

// loadRegressionTest reads a file with the features of the regression table opts.Schema and,
// when the file has it, the schema's target column.
func loadRegressionTest(path string, opts Options) (*Table, error) {
	s := opts.Schema
	if s.Values == nil {
		return nil, errors.New("data: LoadRegression's schema must be a regression table")
	}
	header, err := headerOf(path)
	if err != nil {
		return nil, err
	}
	schema := &Table{Columns: s.Columns}
	hasTarget := slices.Contains(header, s.Target)
	if hasTarget {
		schema.Columns = append(slices.Clone(s.Columns), Column{Name: s.Target, Kind: Numeric})
	}
	t, err := Load(path, Options{Target: noTarget, TargetOptional: true, Schema: schema, Missing: opts.Missing})
	if err != nil {
		return nil, err
	}
	if !hasTarget {
		t.Target = s.Target
		return t, nil
	}
	return splitTarget(t, len(t.Columns)-1), nil
}

// headerOf returns the column names of a CSV or Parquet file as Load sees them (an empty CSV
// header cell is named column_N).
func headerOf(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	if IsParquetPath(path) {
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		src, err := openParquet(f, st.Size())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer src.close()
		return slices.Clone(src.header), nil
	}
	header, _, err := csvio.NewReader(f).Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: data: empty input: no header row", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: data: reading header: %w", path, err)
	}
	header = slices.Clone(header)
	for i := range header {
		if header[i] == "" {
			header[i] = fmt.Sprintf("column_%d", i+1)
		}
	}
	return header, nil
}

// NumericClasses reports whether every class name of a classification table is a number and
// how many distinct classes it has: the signal that the target may be a regression target
// (kiln's --task auto takes one with many distinct values for regression).
func (t *Table) NumericClasses() (numeric bool, distinct int) {
	for _, c := range t.Classes {
		v, err := csvio.ParseNumber(c)
		if err != nil || math.IsNaN(v) {
			return false, len(t.Classes)
		}
	}
	return len(t.Classes) > 0, len(t.Classes)
}
