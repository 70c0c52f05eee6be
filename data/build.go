package data

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/data/csvio"
)

// source yields the rows of a table as text cells, one per header column, and can start over.
// CSV and Parquet are sources, so that both formats infer kinds, treat missing values, read
// the target and check a Schema identically.
type source interface {
	// next returns the next row's cells, trimmed of surrounding white space, and the row's
	// place in the file in the unit the builder reports (a CSV line, a Parquet row); io.EOF
	// after the last row. The slice and its strings are valid until the following call.
	next() (cells []string, place int, err error)
	// rewind makes next start over from the first row.
	rewind() error
}

// build reads a table from src in two passes, so that memory stays proportional to the
// result, never to the text: the first pass counts the rows and checks every cell (which
// columns are numbers, missing labels, values a Schema does not allow), the second fills a
// matrix allocated once at its final size. Categorical values are interned per column (one
// copy of each distinct value) and get their sorted codes at the end. unit names the place
// numbers in error messages ("line" or "row").
func build(header []string, src source, unit string, opts Options) (*Table, error) {
	b := &builder{header: header, unit: unit, missing: opts.Missing}
	if b.missing == nil {
		b.missing = DefaultMissing
	}
	for _, m := range b.missing {
		b.missingASCII = append(b.missingASCII, isASCII(m))
	}
	seen := map[string]int{}
	for i, h := range header {
		if j, ok := seen[h]; ok {
			return nil, fmt.Errorf("data: header: columns %d and %d are both named %s", j+1, i+1, csvio.Quote(h))
		}
		seen[h] = i
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
		return nil, fmt.Errorf("data: target column %s not found; columns are %s", csvio.Quote(targetName), quoteList(header))
	}
	for _, name := range opts.Categorical {
		if _, ok := seen[name]; !ok && opts.Schema == nil {
			return nil, fmt.Errorf("data: categorical column %s not found; columns are %s", csvio.Quote(name), quoteList(header))
		}
	}
	if err := b.plan(seen, target, opts); err != nil {
		return nil, err
	}
	b.target = target
	b.optional = opts.TargetOptional
	b.schema = opts.Schema
	if b.schema != nil && target >= 0 {
		b.classCode = indexOf(b.schema.Classes)
	}

	if err := b.check(src); err != nil {
		return nil, err
	}
	if err := src.rewind(); err != nil {
		return nil, err
	}
	t, err := b.fill(src)
	if err != nil {
		return nil, err
	}
	t.Target = targetName
	return t, nil
}

// column is a feature column being read.
type column struct {
	j    int // position in the header
	name string
	kind Kind
	// inferred: the kind is decided after the first pass (no Schema, not forced categorical).
	inferred bool

	// First pass: the counts that decide an inferred kind, and the first non-number with its
	// place (0 when there is none; places start at 1) and the reason it is not one.
	nonMissing, nonNumeric int
	badPlace               int
	badCell                string // quoted with csvio.Quote
	badErr                 error

	// Second pass: the code of each categorical value. With a Schema these are the training
	// codes; otherwise the order of first appearance (names), sorted into codes at the end.
	code  map[string]int
	names []string
}

type builder struct {
	header  []string
	unit    string
	missing []string
	// missingASCII[k] says whether missing[k] is ASCII.
	missingASCII []bool
	cols         []*column
	target       int // header position of the target, -1 when the file has none
	// optional: a missing label is allowed (Options.TargetOptional) and read as NoLabel.
	optional bool
	schema   *Table

	rows int
	// First pass over the target: the first missing label and the first label the Schema does
	// not know, with their places (0 when there is none).
	missingLabel     int
	unknownLabel     int
	unknownLabelCell string
	classCode        map[string]int // the Schema's class codes
	classIDs         map[string]int // without a Schema: label → order of first appearance
	classNames       []string
}

// isMissing reports whether s is a missing-value marker, ignoring case. It runs for every cell
// in both passes, so it skips the case-folding comparison when both strings are ASCII and of
// different lengths (they cannot be equal then; with other characters they can, "ſ" folding
// to "s").
func (b *builder) isMissing(s string) bool {
	ascii := isASCII(s)
	for k, m := range b.missing {
		if (len(s) == len(m) || !ascii || !b.missingASCII[k]) && strings.EqualFold(s, m) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (b *builder) where(place, col int) string {
	return fmt.Sprintf("%s %d, column %d (%s)", b.unit, place, col+1, csvio.Quote(b.header[col]))
}

// plan decides the feature columns and what is known of their kinds before reading: with a
// Schema the training columns (by name, in the training order) and kinds; otherwise every
// column but the target, categorical when forced, inferred from the values when not.
func (b *builder) plan(pos map[string]int, target int, opts Options) error {
	if s := opts.Schema; s != nil {
		inSchema := map[string]bool{}
		for _, c := range s.Columns {
			inSchema[c.Name] = true
			if _, ok := pos[c.Name]; !ok {
				return fmt.Errorf("data: column %s of the training data is missing from this file", csvio.Quote(c.Name))
			}
		}
		for j, h := range b.header {
			if j != target && !inSchema[h] && h != s.Target {
				return fmt.Errorf("data: column %d (%s) is not a feature of the training data", j+1, csvio.Quote(h))
			}
		}
		for _, c := range s.Columns {
			col := &column{j: pos[c.Name], name: c.Name, kind: c.Kind}
			if c.Kind == Categorical {
				col.code = indexOf(c.Categories)
			}
			b.cols = append(b.cols, col)
		}
		return nil
	}
	for j, h := range b.header {
		if j == target {
			continue
		}
		col := &column{j: j, name: h, inferred: true}
		if slices.Contains(opts.Categorical, h) {
			col.kind, col.inferred = Categorical, false
		}
		if col.kind == Categorical {
			col.code = map[string]int{}
		}
		b.cols = append(b.cols, col)
	}
	if len(b.cols) == 0 {
		return errors.New("data: no feature columns besides the target")
	}
	return nil
}

// check is the first pass: it counts the rows and checks every cell, then reports the first
// problem in the order a reader fixes them: feature columns in order, then the labels.
func (b *builder) check(src source) error {
	for {
		cells, place, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		b.rows++
		for _, c := range b.cols {
			s := cells[c.j]
			if b.isMissing(s) {
				continue
			}
			c.nonMissing++
			if c.kind == Categorical && !c.inferred {
				continue
			}
			if _, err := csvio.ParseNumber(s); err != nil {
				c.nonNumeric++
				if c.badPlace == 0 {
					c.badPlace, c.badCell, c.badErr = place, csvio.Quote(s), err
				}
			}
		}
		if b.target < 0 {
			continue
		}
		s := cells[b.target]
		switch {
		case b.isMissing(s):
			if b.missingLabel == 0 {
				b.missingLabel = place
			}
		case b.classCode != nil:
			if _, ok := b.classCode[s]; !ok && b.unknownLabel == 0 {
				b.unknownLabel, b.unknownLabelCell = place, csvio.Quote(s)
			}
		}
	}
	if b.rows == 0 {
		return errors.New("data: no data rows after the header")
	}
	for _, c := range b.cols {
		if c.inferred {
			// A column where most non-missing values are not numbers is categorical (numbers
			// in it are categories too); one that is mostly numbers with a few non-numbers is an
			// error, since that is almost always a typo or an unlisted missing-value marker.
			c.inferred = false
			if c.nonNumeric > 0 && 2*c.nonNumeric > c.nonMissing {
				c.kind, c.code = Categorical, map[string]int{}
				continue
			}
			if c.nonNumeric > 0 {
				return fmt.Errorf("data: %s: %s is not a number%s, yet %d of the %d non-missing values in this column are numbers (fix the value, or list it as a missing-value marker)",
					b.where(c.badPlace, c.j), c.badCell, rangeNote(c.badErr), c.nonMissing-c.nonNumeric, c.nonMissing)
			}
			continue
		}
		if c.kind == Numeric && c.nonNumeric > 0 {
			return fmt.Errorf("data: %s: %s is not a number%s, and this column is numeric in the training data",
				b.where(c.badPlace, c.j), c.badCell, rangeNote(c.badErr))
		}
	}
	if b.target >= 0 && b.missingLabel > 0 && !b.optional {
		return fmt.Errorf("data: %s: the class label is missing", b.where(b.missingLabel, b.target))
	}
	if b.unknownLabel > 0 {
		return fmt.Errorf("data: %s: class %s does not occur in the training data (classes: %s)",
			b.where(b.unknownLabel, b.target), b.unknownLabelCell, quoteList(b.schema.Classes))
	}
	return nil
}

// rangeNote explains a number that matches the grammar but overflows float64.
func rangeNote(err error) string {
	if errors.Is(err, csvio.ErrRange) {
		return " (it is beyond the float64 range)"
	}
	return ""
}

// fill is the second pass: it reads the values into a matrix of the size the first pass
// counted, then gives inferred categories and classes their sorted codes.
func (b *builder) fill(src source) (*Table, error) {
	t := &Table{X: NewMatrix(b.rows, len(b.cols))}
	for _, c := range b.cols {
		t.Columns = append(t.Columns, Column{Name: c.name, Kind: c.kind})
	}
	if b.target >= 0 {
		t.Y = make([]int, b.rows)
		if b.schema == nil {
			b.classIDs = map[string]int{}
		}
	}
	changed := errors.New("data: the input changed while it was being read")
	i := 0
	for ; ; i++ {
		cells, _, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if i == b.rows {
			return nil, changed
		}
		row := t.X.Row(i)
		for k, c := range b.cols {
			s := cells[c.j]
			v := math.NaN()
			switch {
			case b.isMissing(s):
			case c.kind == Numeric:
				if v, err = csvio.ParseNumber(s); err != nil {
					return nil, changed
				}
			case b.schema != nil:
				if code, ok := c.code[s]; ok {
					v = float64(code)
				} // a category the training data never had carries no information: missing
			default:
				v = float64(intern(c.code, &c.names, s))
			}
			row[k] = v
		}
		if b.target >= 0 {
			s := cells[b.target]
			switch {
			case b.isMissing(s):
				if !b.optional {
					return nil, changed
				}
				t.Y[i] = NoLabel
			case b.schema != nil:
				code, ok := b.classCode[s]
				if !ok {
					return nil, changed
				}
				t.Y[i] = code
			default:
				t.Y[i] = intern(b.classIDs, &b.classNames, s)
			}
		}
	}
	if i != b.rows {
		return nil, changed
	}

	for k, c := range b.cols {
		if c.kind != Categorical || b.schema != nil {
			continue
		}
		cats, perm := sortCodes(c.names)
		t.Columns[k].Categories = cats
		for i := 0; i < b.rows; i++ {
			if v := t.X.At(i, k); !math.IsNaN(v) {
				t.X.Set(i, k, float64(perm[int(v)]))
			}
		}
	}
	switch {
	case b.target < 0:
		if b.schema != nil {
			t.Classes = b.schema.Classes
		}
	case b.schema != nil:
		t.Classes = b.schema.Classes
	default:
		if len(b.classNames) == 0 {
			return nil, fmt.Errorf("data: target column %s has no class labels", csvio.Quote(b.header[b.target]))
		}
		if len(b.classNames) == 1 {
			return nil, fmt.Errorf("data: target column %s has only one class (%s); classification needs at least two",
				csvio.Quote(b.header[b.target]), quoteList(b.classNames))
		}
		cats, perm := sortCodes(b.classNames)
		t.Classes = cats
		for i, c := range t.Y {
			if c != NoLabel {
				t.Y[i] = perm[c]
			}
		}
	}
	return t, nil
}

// intern returns the id of s in ids, adding it (a copy, so that the record s points into is not
// kept alive) with the next id when it is new.
func intern(ids map[string]int, names *[]string, s string) int {
	if id, ok := ids[s]; ok {
		return id
	}
	s = strings.Clone(s)
	id := len(*names)
	ids[s] = id
	*names = append(*names, s)
	return id
}

// sortCodes sorts names (see sortedNames) and returns them with perm, where perm[id] is the
// sorted position of names[id].
func sortCodes(names []string) (sorted []string, perm []int) {
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	cmp := nameOrder(names)
	slices.SortFunc(order, func(a, b int) int { return cmp(names[a], names[b]) })
	sorted = make([]string, len(names))
	perm = make([]int, len(names))
	for code, id := range order {
		sorted[code] = names[id]
		perm[id] = code
	}
	return sorted, perm
}

// nameOrder returns the order of categories and classes: numeric when every name is a number
// (so classes "2" and "10" keep their numeric order), lexical otherwise. The order depends on
// the set of names only, never on the order rows list them.
func nameOrder(names []string) func(a, b string) int {
	for _, s := range names {
		if _, err := csvio.ParseNumber(s); err != nil {
			return strings.Compare
		}
	}
	return func(a, b string) int {
		x, _ := csvio.ParseNumber(a)
		y, _ := csvio.ParseNumber(b)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b) // "1" and "1.0" are distinct names: keep them ordered
	}
}

func indexOf(names []string) map[string]int {
	m := make(map[string]int, len(names))
	for i, s := range names {
		m[s] = i
	}
	return m
}

// quoteList quotes names for an error message, at most 12 of them.
func quoteList(names []string) string { return csvio.QuoteList(names, 12) }
