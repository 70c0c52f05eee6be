package csvio

import (
	"encoding/csv"
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseNumberAccepts(t *testing.T) {
	for s, want := range map[string]float64{
		"0":                       0,
		"1":                       1,
		"-2":                      -2,
		"+3":                      3,
		"007":                     7,
		"1.5":                     1.5,
		"-2.50":                   -2.5,
		".5":                      0.5,
		"-.5":                     -0.5,
		"+.25":                    0.25,
		"5.":                      5,
		"-5.":                     -5,
		"1e3":                     1000,
		"1E3":                     1000,
		"1e+3":                    1000,
		"1e-3":                    0.001,
		"-2.5e+10":                -2.5e10,
		".5e1":                    5,
		"5.e-1":                   0.5,
		"0.1":                     0.1,
		"1e-400":                  0, // below the smallest subnormal: rounds to zero
		"4.9e-324":                math.SmallestNonzeroFloat64,
		"1.7976931348623157e308":  math.MaxFloat64,
		"9007199254740993":        9007199254740992, // round half to even, as ParseFloat rounds
		"0.30000000000000004":     0.30000000000000004,
		"00000000000000000000001": 1,
	} {
		got, err := ParseNumber(s)
		if err != nil || got != want {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v, nil", s, got, err, want)
		}
	}
	// Negative zero keeps its sign.
	if v, err := ParseNumber("-0"); err != nil || !math.Signbit(v) {
		t.Errorf("ParseNumber(-0) = %v, %v; want -0", v, err)
	}
}

func TestParseNumberRejects(t *testing.T) {
	for _, s := range []string{
		// Go syntax that strconv.ParseFloat accepts.
		"0x1p3", "0X1P3", "0x10", "0x_1p3", "0x1.8p1", "1_000", "1_0.5", "0b101", "0o17",
		"Inf", "inf", "+Inf", "-inf", "Infinity", "-infinity", "INF", "NaN", "nan", "+NaN",
		// Not decimals at all, or broken ones.
		"", " ", "+", "-", ".", "+.", "-.", "e5", ".e5", "1e", "1e+", "1e-", "1ee5", "1e5.0",
		"1.2.3", "--1", "+-1", "1-", "1+", " 1", "1 ", "1 000", "1,000", "1,5", "$5", "5%",
		"½", "١", "１", "1e1_0", "1d5", "1f", "0x", "true", "4O", "1.5\x00",
	} {
		if v, err := ParseNumber(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseNumber(%q) = %v, %v; want ErrSyntax", s, v, err)
		}
	}
	for _, s := range []string{"1e400", "-1e400", "1.8e308", "1e99999999999999999999"} {
		if v, err := ParseNumber(s); !errors.Is(err, ErrRange) {
			t.Errorf("ParseNumber(%q) = %v, %v; want ErrRange", s, v, err)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"abc", `"abc"`},
		{`a"b`, `"a\"b"`},
		{strings.Repeat("x", 40), `"` + strings.Repeat("x", 40) + `"`},
		{strings.Repeat("x", 41), `"` + strings.Repeat("x", 40) + `"… (41 bytes)`},
		{strings.Repeat("y", 1<<20), `"` + strings.Repeat("y", 40) + `"… (1048576 bytes)`},
		// Multi-byte characters count as one and are never split: 41 × "é" is 82 bytes.
		{strings.Repeat("é", 41), `"` + strings.Repeat("é", 40) + `"… (82 bytes)`},
		// Invalid bytes count as one character each and are escaped.
		{strings.Repeat("\xff", 41), `"` + strings.Repeat(`\xff`, 40) + `"… (41 bytes)`},
		{"tab\there", `"tab\there"`},
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%.50q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestQuoteList(t *testing.T) {
	long := strings.Repeat("z", 50)
	if got, want := QuoteList([]string{"a", long, "c"}, 12), `"a", "`+strings.Repeat("z", 40)+`"… (50 bytes), "c"`; got != want {
		t.Errorf("QuoteList = %s, want %s", got, want)
	}
	if got, want := QuoteList([]string{"a", "b", "c"}, 2), `"a", "b", ... (3 in all)`; got != want {
		t.Errorf("QuoteList = %s, want %s", got, want)
	}
	if got := QuoteList(nil, 3); got != "" {
		t.Errorf("QuoteList(nil) = %q, want empty", got)
	}
}

func TestReader(t *testing.T) {
	in := "\ufeff a ,b\n\" q,1 \",  2\n\n3,\"multi\nline\"\n4\n"
	r := NewReader(strings.NewReader(in))
	want := []struct {
		fields []string
		line   int
	}{
		{[]string{"a", "b"}, 1},
		{[]string{"q,1", "2"}, 2},
		{[]string{"3", "multi\nline"}, 4},
		{[]string{"4"}, 6},
	}
	for _, w := range want {
		got, line, err := r.Read()
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if strings.Join(got, "|") != strings.Join(w.fields, "|") || line != w.line {
			t.Errorf("Read = %q at line %d, want %q at line %d", got, line, w.fields, w.line)
		}
	}
	if _, _, err := r.Read(); err != io.EOF {
		t.Errorf("Read at the end = %v, want io.EOF", err)
	}

	// Byte order marks at the start of the input are dropped, however many, with the spaces
	// between them, so a first field never begins with one and a table's own rendering (which
	// a writer may prefix with another) reads back the same.
	r = NewReader(strings.NewReader("\ufeff\ufeff \ufeffa,b\n"))
	if got, _, _ := r.Read(); got[0] != "a" {
		t.Errorf("first field %q, want \"a\"", got[0])
	}

	// A byte order mark is dropped only at the start of the input.
	r = NewReader(strings.NewReader("x\n\ufeffy\n"))
	r.Read()
	if got, _, _ := r.Read(); got[0] != "\ufeffy" {
		t.Errorf("second record %q: a BOM inside the input is data", got)
	}

	// Syntax errors are encoding/csv's, with the line and column.
	_, _, err := NewReader(strings.NewReader("a,b\n1,x\"y\n")).Read()
	if err != nil {
		t.Fatalf("first record: %v", err)
	}
	r = NewReader(strings.NewReader("a,b\n1,x\"y\n"))
	r.Read()
	_, _, err = r.Read()
	var pe *csv.ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || pe.Column != 4 || !errors.Is(err, csv.ErrBareQuote) {
		t.Errorf("bare quote error = %v, want a ParseError at line 2, column 4", err)
	}
}

func TestQuoteMax(t *testing.T) {
	if got, want := QuoteMax("abcdef", 3), `"abc"… (6 bytes)`; got != want {
		t.Errorf("QuoteMax = %s, want %s", got, want)
	}
	if got, want := QuoteMax("abc", 3), `"abc"`; got != want {
		t.Errorf("QuoteMax = %s, want %s", got, want)
	}
}

// grammar is the number grammar of the package documentation as a regular expression, written
// independently of validNumber.
var grammar = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// FuzzParseNumber checks ParseNumber against the grammar and strconv.ParseFloat: it accepts
// exactly the strings the grammar matches and that ParseFloat reads as finite, with the same
// value, and rejects the other matches as out of range.
func FuzzParseNumber(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseNumber(s)
		if !grammar.MatchString(s) {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("ParseNumber(%q) = %v, %v; the grammar does not match it", s, v, err)
			}
			return
		}
		want, perr := strconv.ParseFloat(s, 64)
		switch {
		case perr == nil && err == nil && (v == want || math.IsNaN(v) && math.IsNaN(want)):
		case perr != nil && math.IsInf(want, 0) && errors.Is(err, ErrRange):
		default:
			t.Fatalf("ParseNumber(%q) = %v, %v; ParseFloat says %v, %v", s, v, err, want, perr)
		}
	})
}
