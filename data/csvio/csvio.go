// Package csvio is the one CSV reader and number parser of kiln's loaders: package data reads
// tables with it and package linalg reads matrices with it, so both accept the same files,
// spell numbers the same way and quote cells in errors the same way.
//
// # Records
//
// Reader reads RFC 4180 CSV (encoding/csv: comma-separated, double quotes around fields that
// hold commas, quotes or line breaks, a quote inside such a field doubled) one record at a
// time, so a loader never holds more than one record of text. Surrounding white space of each
// field is trimmed, and UTF-8 byte order marks at the start of the input are dropped: a writer
// may add one to text that already began with one, and U+FEFF as a character has long been
// deprecated, so a first column name never begins with it. Records may have different field
// counts; the caller checks them against its header or first row.
//
// # Numbers
//
// A cell is a number when it matches this grammar in full (after the trimming above):
//
//	number   = [ sign ] mantissa [ exponent ]
//	sign     = "+" | "-"
//	mantissa = digits [ "." [ digits ] ] | "." digits
//	exponent = ( "e" | "E" ) [ sign ] digits
//	digits   = digit { digit }
//	digit    = "0" … "9"
//
// So "1", "-2.50", "+3", ".5", "5.", "007", "1e3", "1E-3" and "-2.5e+10" are numbers, and the
// value is the float64 nearest to the decimal (correctly rounded, as strconv.ParseFloat
// rounds). Everything else is not a number, in particular the forms that Go's ParseFloat
// accepts beyond this grammar: hexadecimal mantissas ("0x1p3", "0x10"), underscores between
// digits ("1_000"), and the spellings "Inf", "+Infinity" and "NaN" in any case. A decimal
// whose magnitude rounds beyond the largest float64 ("1e400") is not a number either: it is
// reported as out of range rather than loaded as an infinity. A decimal too small for a float64
// rounds to a subnormal or to zero ("1e-400" is 0), as any float parser rounds it. Thousands
// separators, currency signs, percent signs and decimal commas are not part of the grammar.
//
// There is deliberately no spelling of infinity or NaN: a table cell that means "no value" is a
// missing-value marker of the loader (package data lists "NaN" among them), and an infinite
// measurement is almost always an export bug that should be seen, not computed with.
//
// # Quoting cells in errors
//
// Quote writes a cell for an error message, cut to MaxQuoted characters with the original length
// appended, so that a multi-megabyte field (a missing closing quote swallows the rest of the file
// into one) does not flood the terminal.
package csvio

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
)

// ErrSyntax is ParseNumber's error for text that does not match the number grammar.
var ErrSyntax = errors.New("not a decimal number")

// ErrRange is ParseNumber's error for a decimal whose magnitude exceeds the largest float64.
var ErrRange = errors.New("beyond the float64 range")

// ParseNumber returns the value of s when s matches the number grammar of the package
// documentation, ErrSyntax when it does not and ErrRange when it does but overflows float64.
// The errors are the bare sentinels, so rejecting a non-number allocates nothing (categorical
// columns hold mostly non-numbers); callers add the place and the quoted cell.
func ParseNumber(s string) (float64, error) {
	if !validNumber(s) {
		return 0, ErrSyntax
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// The grammar is a subset of ParseFloat's decimal syntax, so only overflow remains.
		return 0, ErrRange
	}
	return v, nil
}

// validNumber reports whether s matches the number grammar.
func validNumber(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	intDigits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		intDigits++
	}
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			fracDigits++
		}
	}
	if intDigits+fracDigits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		expDigits := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			expDigits++
		}
		if expDigits == 0 {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// MaxQuoted is the number of characters of a cell that Quote keeps.
const MaxQuoted = 40

// Quote returns s as strconv.Quote writes it when s has at most MaxQuoted characters; a longer
// s is cut to its first MaxQuoted characters, quoted, followed by an ellipsis and the length of
// the whole cell in bytes: "aaaa…aaaa"… (1048576 bytes). The cut never splits a UTF-8
// sequence; invalid bytes count as one character each.
func Quote(s string) string { return QuoteMax(s, MaxQuoted) }

// QuoteMax is Quote with a limit of max characters, for text that is longer than a cell by
// nature but still unbounded (a file header).
func QuoteMax(s string, max int) string {
	n, cut := 0, len(s)
	for i := range s { // i steps over runes; invalid bytes are one rune each
		if n == max {
			cut = i
			break
		}
		n++
	}
	if cut == len(s) {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// QuoteList quotes up to max names with Quote, separated by ", ", and says how many there are
// in all when it leaves some out.
func QuoteList(names []string, max int) string {
	var b strings.Builder
	for i, x := range names {
		if i == max {
			fmt.Fprintf(&b, ", ... (%d in all)", len(names))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(Quote(x))
	}
	return b.String()
}

// Reader reads CSV records one at a time; see the package documentation.
type Reader struct {
	cr    *csv.Reader
	first bool
}

// NewReader returns a Reader of r. It buffers r itself.
func NewReader(r io.Reader) *Reader {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // callers report ragged rows with their own counts
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	return &Reader{cr: cr, first: true}
}

// Read returns the next record with its fields trimmed of surrounding white space, and the line
// on which the record starts (1-based). It returns io.EOF after the last record. The slice is
// reused by the next call; the strings stay valid, but each one shares its memory with the
// whole record, so a caller that keeps a field beyond the record should strings.Clone it.
// Syntax errors (a bare quote in an unquoted field, a quote that never closes) are
// *csv.ParseError values naming the line and column.
func (r *Reader) Read() (fields []string, line int, err error) {
	rec, err := r.cr.Read()
	if err != nil {
		return nil, 0, err
	}
	line, _ = r.cr.FieldPos(0)
	for i, f := range rec {
		rec[i] = strings.TrimSpace(f)
	}
	if r.first {
		r.first = false
		if len(rec) > 0 {
			rec[0] = strings.TrimLeftFunc(rec[0], func(r rune) bool { return r == '\ufeff' || unicode.IsSpace(r) })
		}
	}
	return rec, line, nil
}
