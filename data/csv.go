package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/data/csvio"
)

// DefaultMissing lists the cell values read as missing when Options.Missing is nil. Matching
// is case-insensitive after trimming spaces, so "na", "NaN" and "NULL" are covered too.
var DefaultMissing = []string{"", "NA", "N/A", "?", "NaN", "null", "None"}

// Options controls ReadCSV and LoadCSV.
type Options struct {
	// Target names the class-label column. Empty means the schema's target when Schema is
	// set, otherwise the last column.
	Target string
	// TargetOptional makes the labels optional, for a test file to predict: a file without the
	// named target column (Target, or the schema's) loads with Table.Y nil, and a file with it
	// may leave labels missing, those rows getting Y = NoLabel (Table.Labeled lists the others).
	// Without it a missing target column or label is an error. With neither Target nor Schema
	// the last column is the target and required.
	TargetOptional bool
	// Schema, when set, is the training table: the file must have the same feature columns
	// (by name, in any order), numeric columns must parse as numbers, categorical values map
	// to the training codes (values the training data never had become missing), and class
	// names map to the training class indices.
	Schema *Table
	// Categorical names columns to read as categorical even when every value is a number
	// (codes such as ZIP codes or a small integer "legs" count). Ignored with Schema.
	Categorical []string
	// Missing lists the cell values read as missing; nil means DefaultMissing.
	Missing []string
}

// LoadCSV reads a CSV file with a header row into a Table; see ReadCSV.
func LoadCSV(path string, opts Options) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	t, err := ReadCSV(f, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ReadCSV reads CSV with a header row into a Table.
//
// Cells are numbers when they match the grammar of package csvio (plain decimals such as -1.5,
// .5 or 2e-3; no hexadecimal, underscores or infinities); cells equal to a missing-value marker
// (opts.Missing) are missing whatever column they are in. Column kinds are inferred unless
// opts.Schema is set: a column whose non-missing values are all numbers is numeric; a column
// where most non-missing values are not numbers is categorical (booleans such as y/n or
// TRUE/FALSE, words, and any numbers mixed in are all categories); a column that is mostly
// numeric with a few non-numbers is an error naming the first offending line and column, since
// that is almost always a typo or an unlisted missing-value marker that silent conversion would
// hide. Categories and classes are sorted (numerically when all are numbers), so codes do not
// depend on row order.
//
// The input is read twice, one record at a time (the first pass checks the cells and counts the
// rows, the second fills the matrix), so memory holds the result and one record, not the text.
// When r is an io.Seeker that can seek (a file, bytes.Reader, strings.Reader) it is read from
// its current offset and left at an unspecified offset; any other reader is first read into
// memory whole.
func ReadCSV(r io.Reader, opts Options) (*Table, error) {
	rs, ok := r.(io.ReadSeeker)
	var start int64
	if ok {
		var err error
		if start, err = rs.Seek(0, io.SeekCurrent); err != nil {
			ok = false // a pipe or terminal behind an *os.File: not seekable after all
		}
	}
	if !ok {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		rs, start = bytes.NewReader(b), 0
	}
	src := &csvSource{rs: rs, start: start, r: csvio.NewReader(rs)}
	header, _, err := src.r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("data: empty input: no header row")
	}
	if err != nil {
		return nil, fmt.Errorf("data: reading header: %w", err)
	}
	header = slices.Clone(header)
	for i := range header {
		if header[i] == "" {
			header[i] = fmt.Sprintf("column_%d", i+1)
		}
		header[i] = strings.Clone(header[i])
	}
	src.width = len(header)
	return build(header, src, "line", opts)
}

// csvSource reads the data rows of a CSV input after its header.
type csvSource struct {
	rs    io.ReadSeeker
	start int64 // offset of the header
	r     *csvio.Reader
	width int // fields per row: the header's
}

func (s *csvSource) next() ([]string, int, error) {
	rec, line, err := s.r.Read()
	if errors.Is(err, io.EOF) {
		return nil, 0, io.EOF
	}
	if err != nil {
		return nil, 0, fmt.Errorf("data: %w", err)
	}
	if len(rec) != s.width {
		return nil, 0, fmt.Errorf("data: line %d: %d fields, the header has %d", line, len(rec), s.width)
	}
	return rec, line, nil
}

func (s *csvSource) rewind() error {
	if _, err := s.rs.Seek(s.start, io.SeekStart); err != nil {
		return fmt.Errorf("data: rewinding for the second pass: %w", err)
	}
	s.r = csvio.NewReader(s.rs)
	if _, _, err := s.r.Read(); err != nil { // the header, read in the first pass
		return fmt.Errorf("data: reading header: %w", err)
	}
	return nil
}
