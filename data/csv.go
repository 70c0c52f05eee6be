package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// DefaultMissing lists the cell values read as missing when Options.Missing is nil. Matching
// is case-insensitive after trimming spaces, so "na", "NaN" and "NULL" are covered too.
var DefaultMissing = []string{"", "NA", "N/A", "?", "NaN", "null", "None"}

// Options controls ReadCSV and LoadCSV.
type Options struct {
	// Target names the class-label column. Empty means the schema's target when Schema is
	// set, otherwise the last column.
	Target string
	// TargetOptional lets a file without the named target column (Target, or the schema's)
	// load, as a test file to predict; Table.Y is then nil. Without it a missing target column
	// is an error. With neither Target nor Schema the last column is the target and required.
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
// Column kinds are inferred unless opts.Schema is set: a column whose non-missing values all
// parse as finite numbers is numeric; a column where most non-missing values are not numbers
// is categorical (booleans such as y/n or TRUE/FALSE, words, and any numbers mixed in are all
// categories); a column that is mostly numeric with a few non-numbers is an error naming the
// first offending line and column, since that is almost always a typo or an unlisted
// missing-value marker that silent conversion would hide. Categories and classes are sorted
// (numerically when all are numbers), so codes do not depend on row order.
func ReadCSV(r io.Reader, opts Options) (*Table, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // ragged rows are reported by us, with the line and counts
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("data: empty input: no header row")
	}
	if err != nil {
		return nil, fmt.Errorf("data: reading header: %w", err)
	}
	header = slices.Clone(header)
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
		if i == 0 {
			header[i] = strings.TrimPrefix(header[i], "\ufeff")
		}
		if header[i] == "" {
			header[i] = fmt.Sprintf("column_%d", i+1)
		}
	}

	var records [][]string
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			return nil, fmt.Errorf("data: line %d: %d fields, the header has %d", line, len(rec), len(header))
		}
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		records = append(records, rec)
		lines = append(lines, line)
	}
	if len(records) == 0 {
		return nil, errors.New("data: no data rows after the header")
	}
	return fromRecords(header, records, lines, "line", opts)
}

// fromRecords turns a header and its string cells into a Table; it is the part of loading that
// CSV and Parquet share, so that both formats infer kinds, treat missing values, read the target
// and check a Schema identically. rows[i] is the number that error messages give for records[i],
// after unit ("line" for CSV, "row" for Parquet).
func fromRecords(header []string, records [][]string, rows []int, unit string, opts Options) (*Table, error) {
	seen := map[string]int{}
	for i, h := range header {
		if j, ok := seen[h]; ok {
			return nil, fmt.Errorf("data: header: columns %d and %d are both named %q", j+1, i+1, h)
		}
		seen[h] = i
	}

	p := &parser{header: header, records: records, rows: rows, unit: unit, missing: opts.Missing}
	if p.missing == nil {
		p.missing = DefaultMissing
	}

	targetName := opts.Target
	if targetName == "" && opts.Schema != nil {
		targetName = opts.Schema.Target
	}
	target := -1
	if targetName == "" {
		target = len(header) - 1
		targetName = header[target]
	} else if j, ok := seen[targetName]; ok {
		target = j
	} else if !opts.TargetOptional {
		return nil, fmt.Errorf("data: target column %q not found; columns are %s", targetName, quoteList(header))
	}

	for _, name := range opts.Categorical {
		if _, ok := seen[name]; !ok && opts.Schema == nil {
			return nil, fmt.Errorf("data: categorical column %q not found; columns are %s", name, quoteList(header))
		}
	}
	t := &Table{Target: targetName}
	if opts.Schema != nil {
		if err := p.featuresFromSchema(t, opts.Schema, target); err != nil {
			return nil, err
		}
	} else if err := p.inferFeatures(t, target, opts.Categorical); err != nil {
		return nil, err
	}
	if target < 0 {
		if opts.Schema != nil {
			t.Classes = opts.Schema.Classes
		}
		return t, nil
	}
	if err := p.readTarget(t, target, opts.Schema); err != nil {
		return nil, err
	}
	return t, nil
}

type parser struct {
	header  []string
	records [][]string
	rows    []int  // where records[i] is in the file, in units of unit
	unit    string // "line" or "row"
	missing []string
}

func (p *parser) isMissing(s string) bool {
	for _, m := range p.missing {
		if strings.EqualFold(s, m) {
			return true
		}
	}
	return false
}

func (p *parser) where(row, col int) string {
	return fmt.Sprintf("%s %d, column %d (%q)", p.unit, p.rows[row], col+1, p.header[col])
}

// parseNumber parses a finite float; infinities and NaN spelled out are not numbers here, so
// they are caught as junk (NaN spellings are missing markers and never reach this).
func parseNumber(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

func (p *parser) inferFeatures(t *Table, target int, forceCat []string) error {
	var cols []int
	for j := range p.header {
		if j != target {
			cols = append(cols, j)
		}
	}
	if len(cols) == 0 {
		return errors.New("data: no feature columns besides the target")
	}
	n := len(p.records)
	t.X = NewMatrix(n, len(cols))
	for k, j := range cols {
		name := p.header[j]
		nonMissing, nonNumeric, firstBad := 0, 0, -1
		for i, rec := range p.records {
			s := rec[j]
			if p.isMissing(s) {
				continue
			}
			nonMissing++
			if _, ok := parseNumber(s); !ok {
				nonNumeric++
				if firstBad < 0 {
					firstBad = i
				}
			}
		}
		categorical := slices.Contains(forceCat, name) || (nonNumeric > 0 && 2*nonNumeric > nonMissing)
		if !categorical && nonNumeric > 0 {
			return fmt.Errorf("data: %s: %q is not a number, yet %d of the %d non-missing values in this column are numbers (fix the value, or list it as a missing-value marker)",
				p.where(firstBad, j), p.records[firstBad][j], nonMissing-nonNumeric, nonMissing)
		}
		if !categorical {
			t.Columns = append(t.Columns, Column{Name: name, Kind: Numeric})
			for i, rec := range p.records {
				v := math.NaN()
				if !p.isMissing(rec[j]) {
					v, _ = parseNumber(rec[j])
				}
				t.X.Set(i, k, v)
			}
			continue
		}
		set := map[string]bool{}
		for _, rec := range p.records {
			if !p.isMissing(rec[j]) {
				set[rec[j]] = true
			}
		}
		cats := sortedNames(set)
		code := indexOf(cats)
		t.Columns = append(t.Columns, Column{Name: name, Kind: Categorical, Categories: cats})
		for i, rec := range p.records {
			v := math.NaN()
			if c, ok := code[rec[j]]; ok {
				v = float64(c)
			}
			t.X.Set(i, k, v)
		}
	}
	return nil
}

func (p *parser) featuresFromSchema(t *Table, schema *Table, target int) error {
	pos := map[string]int{}
	for j, h := range p.header {
		pos[h] = j
	}
	inSchema := map[string]bool{}
	for _, c := range schema.Columns {
		inSchema[c.Name] = true
		if _, ok := pos[c.Name]; !ok {
			return fmt.Errorf("data: column %q of the training data is missing from this file", c.Name)
		}
	}
	for j, h := range p.header {
		if j != target && !inSchema[h] && h != schema.Target {
			return fmt.Errorf("data: column %d (%q) is not a feature of the training data", j+1, h)
		}
	}
	n := len(p.records)
	t.Columns = schema.Columns
	t.X = NewMatrix(n, len(schema.Columns))
	for k, c := range schema.Columns {
		j := pos[c.Name]
		var code map[string]int
		if c.Kind == Categorical {
			code = indexOf(c.Categories)
		}
		for i, rec := range p.records {
			s := rec[j]
			v := math.NaN()
			switch {
			case p.isMissing(s):
			case c.Kind == Categorical:
				if cc, ok := code[s]; ok {
					v = float64(cc)
				} // a category the training data never had carries no information: missing
			default:
				var ok bool
				if v, ok = parseNumber(s); !ok {
					return fmt.Errorf("data: %s: %q is not a number, and this column is numeric in the training data", p.where(i, j), s)
				}
			}
			t.X.Set(i, k, v)
		}
	}
	return nil
}

func (p *parser) readTarget(t *Table, target int, schema *Table) error {
	for i, rec := range p.records {
		if p.isMissing(rec[target]) {
			return fmt.Errorf("data: %s: the class label is missing", p.where(i, target))
		}
	}
	if schema != nil {
		code := indexOf(schema.Classes)
		t.Classes = schema.Classes
		t.Y = make([]int, len(p.records))
		for i, rec := range p.records {
			c, ok := code[rec[target]]
			if !ok {
				return fmt.Errorf("data: %s: class %q does not occur in the training data (classes: %s)",
					p.where(i, target), rec[target], quoteList(schema.Classes))
			}
			t.Y[i] = c
		}
		return nil
	}
	set := map[string]bool{}
	for _, rec := range p.records {
		set[rec[target]] = true
	}
	if len(set) < 2 {
		return fmt.Errorf("data: target column %q has only one class (%s); classification needs at least two",
			p.header[target], quoteList(sortedNames(set)))
	}
	t.Classes = sortedNames(set)
	code := indexOf(t.Classes)
	t.Y = make([]int, len(p.records))
	for i, rec := range p.records {
		t.Y[i] = code[rec[target]]
	}
	return nil
}

// sortedNames returns the keys sorted numerically when every key is a number (so classes
// "2" and "10" keep their numeric order), lexically otherwise.
func sortedNames(set map[string]bool) []string {
	names := make([]string, 0, len(set))
	allNum := true
	for s := range set {
		names = append(names, s)
		if _, ok := parseNumber(s); !ok {
			allNum = false
		}
	}
	if allNum {
		slices.SortFunc(names, func(a, b string) int {
			x, _ := parseNumber(a)
			y, _ := parseNumber(b)
			if x != y {
				if x < y {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b) // "1" and "1.0" are distinct names: keep them ordered
		})
	} else {
		slices.Sort(names)
	}
	return names
}

func indexOf(names []string) map[string]int {
	m := make(map[string]int, len(names))
	for i, s := range names {
		m[s] = i
	}
	return m
}

func quoteList(s []string) string {
	const max = 12
	var b strings.Builder
	for i, x := range s {
		if i == max {
			fmt.Fprintf(&b, ", ... (%d in all)", len(s))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(x))
	}
	return b.String()
}
