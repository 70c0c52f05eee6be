package data

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ReadRecords builds a Table from a header and rows of cells that arrive already split, as
// from a JSON request, rather than as CSV text. Names and cells are trimmed of surrounding
// spaces, as ReadCSV trims them, and from there loading is ReadCSV's (kind inference, missing
// values, the target column, opts.Schema), so the same data loads into the same Table from
// either source; with the default opts.Missing (DefaultMissing) an empty cell is missing. Errors
// give the place as "row N", counting records from 1; a row whose length differs from the
// header's, an empty column name and an empty record list are errors too.
func ReadRecords(header []string, records [][]string, opts Options) (*Table, error) {
	if len(header) == 0 {
		return nil, errors.New("data: no columns")
	}
	if len(records) == 0 {
		return nil, errors.New("data: no data rows")
	}
	h := make([]string, len(header))
	for i, name := range header {
		h[i] = strings.TrimSpace(name)
		if h[i] == "" {
			return nil, fmt.Errorf("data: column %d has an empty name", i+1)
		}
	}
	for i, rec := range records {
		if len(rec) != len(h) {
			return nil, fmt.Errorf("data: row %d: %d cells, the header has %d", i+1, len(rec), len(h))
		}
	}
	return build(h, &recordSource{records: records}, "row", opts)
}

// recordSource serves rows of cells already in memory to the table builder, trimmed as a CSV
// reader trims them.
type recordSource struct {
	records [][]string
	pos     int
	cells   []string
}

func (s *recordSource) next() ([]string, int, error) {
	if s.pos >= len(s.records) {
		return nil, 0, io.EOF
	}
	rec := s.records[s.pos]
	s.pos++
	s.cells = s.cells[:0]
	for _, c := range rec {
		s.cells = append(s.cells, strings.TrimSpace(c))
	}
	return s.cells, s.pos, nil
}

func (s *recordSource) rewind() error {
	s.pos = 0
	return nil
}
