// Package flagbound registers numeric command-line flags with a documented range. The range
// is checked when the flag is parsed, so an out-of-range value fails before a command does
// any work, with an error that names the flag, the value and the range; the range is also
// appended to the flag's help.
//
// A bounded flag keeps the type name of the plain pflag flag ("int", "float64", "uint64"),
// so help and completion read as before; Bounded tells a bounded flag from a plain one, which
// lets a test walk a command tree and fail on a numeric flag registered without a range.
package flagbound

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// Range is an interval of allowed values. Lo and Hi are inclusive unless LoOpen or HiOpen is
// set.
type Range struct {
	Lo, Hi         float64
	LoOpen, HiOpen bool
}

// Closed is [lo, hi].
func Closed(lo, hi float64) Range { return Range{Lo: lo, Hi: hi} }

// Open is (lo, hi).
func Open(lo, hi float64) Range { return Range{Lo: lo, Hi: hi, LoOpen: true, HiOpen: true} }

// LeftOpen is (lo, hi].
func LeftOpen(lo, hi float64) Range { return Range{Lo: lo, Hi: hi, LoOpen: true} }

// Contains reports whether v lies in r; NaN never does.
func (r Range) Contains(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if v < r.Lo || (r.LoOpen && v == r.Lo) {
		return false
	}
	return v <= r.Hi && !(r.HiOpen && v == r.Hi)
}

// String writes the range for help and errors: "1 to 1000", "(0, 1]".
func (r Range) String() string {
	if !r.LoOpen && !r.HiOpen {
		return num(r.Lo) + " to " + num(r.Hi)
	}
	lb, rb := "[", "]"
	if r.LoOpen {
		lb = "("
	}
	if r.HiOpen {
		rb = ")"
	}
	return lb + num(r.Lo) + ", " + num(r.Hi) + rb
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Bounded is a flag value that checks a range.
type Bounded interface {
	pflag.Value
	Range() Range
}

// Of returns the range of a bounded flag, and false for any other flag.
func Of(f *pflag.Flag) (Range, bool) {
	b, ok := f.Value.(Bounded)
	if !ok {
		return Range{}, false
	}
	return b.Range(), true
}

// Numeric reports whether a flag takes a number (or a list of numbers) by its type name:
// the flags that must be bounded.
func Numeric(f *pflag.Flag) bool {
	switch f.Value.Type() {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
		"float32", "float64", "count", "duration",
		"intSlice", "int32Slice", "int64Slice", "uintSlice", "float32Slice", "float64Slice", "durationSlice":
		return true
	}
	return false
}

func help(usage string, r Range) string { return fmt.Sprintf("%s (range %s)", usage, r) }

func outOfRange(s string, r Range, kind string) error {
	return fmt.Errorf("%s is out of range: want %s %s", s, kind, r)
}

// intValue is a bounded signed integer flag of Go type T; typ is the type name pflag shows.
type intValue[T int | int64] struct {
	p   *T
	r   Range
	typ string
}

func (v *intValue[T]) String() string { return strconv.FormatInt(int64(*v.p), 10) }
func (v *intValue[T]) Type() string   { return v.typ }
func (v *intValue[T]) Range() Range   { return v.r }
func (v *intValue[T]) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer (want one from %s)", s, v.r)
	}
	if !v.r.Contains(float64(n)) {
		return outOfRange(s, v.r, "an integer from")
	}
	*v.p = T(n)
	return nil
}

// Int registers an int flag allowed from lo to hi (inclusive).
func Int(fs *pflag.FlagSet, p *int, name string, value, lo, hi int, usage string) {
	r := Closed(float64(lo), float64(hi))
	*p = value
	fs.Var(&intValue[int]{p: p, r: r, typ: "int"}, name, help(usage, r))
}

// Int64 registers an int64 flag allowed from lo to hi (inclusive).
func Int64(fs *pflag.FlagSet, p *int64, name string, value, lo, hi int64, usage string) {
	r := Closed(float64(lo), float64(hi))
	*p = value
	fs.Var(&intValue[int64]{p: p, r: r, typ: "int64"}, name, help(usage, r))
}

type durationValue struct {
	p *time.Duration
	r Range // in seconds
}

func (v *durationValue) String() string { return v.p.String() }
func (v *durationValue) Type() string   { return "duration" }
func (v *durationValue) Range() Range   { return v.r }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 90s or 2m (want one in %s seconds)", s, v.r)
	}
	if !v.r.Contains(d.Seconds()) {
		return outOfRange(s, v.r, "a duration, in seconds,")
	}
	*v.p = d
	return nil
}

// Duration registers a time.Duration flag (Go's syntax: 90s, 1m30s) allowed from lo to hi;
// its range is shown and checked in seconds.
func Duration(fs *pflag.FlagSet, p *time.Duration, name string, value, lo, hi time.Duration, usage string) {
	r := Closed(lo.Seconds(), hi.Seconds())
	*p = value
	fs.Var(&durationValue{p: p, r: r}, name, fmt.Sprintf("%s (range %s to %s)", usage, lo, hi))
}

type floatValue struct {
	p *float64
	r Range
}

func (v *floatValue) String() string { return strconv.FormatFloat(*v.p, 'g', -1, 64) }
func (v *floatValue) Type() string   { return "float64" }
func (v *floatValue) Range() Range   { return v.r }
func (v *floatValue) Set(s string) error {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number (want one in %s)", s, v.r)
	}
	if !v.r.Contains(x) {
		return outOfRange(s, v.r, "a number in")
	}
	*v.p = x
	return nil
}

// Float registers a float64 flag allowed in r. NaN is never allowed, and infinities only
// when r's end is infinite.
func Float(fs *pflag.FlagSet, p *float64, name string, value float64, r Range, usage string) {
	*p = value
	fs.Var(&floatValue{p: p, r: r}, name, help(usage, r))
}

type uintValue struct {
	p      *uint64
	lo, hi uint64
}

func (v *uintValue) String() string { return strconv.FormatUint(*v.p, 10) }
func (v *uintValue) Type() string   { return "uint64" }
func (v *uintValue) Range() Range   { return Closed(float64(v.lo), float64(v.hi)) }
func (v *uintValue) rangeText() string {
	return strconv.FormatUint(v.lo, 10) + " to " + strconv.FormatUint(v.hi, 10)
}
func (v *uintValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an unsigned integer (want one from %s)", s, v.rangeText())
	}
	if n < v.lo || n > v.hi {
		return fmt.Errorf("%s is out of range: want an integer from %s", s, v.rangeText())
	}
	*v.p = n
	return nil
}

// Uint64 registers a uint64 flag allowed from lo to hi (inclusive).
func Uint64(fs *pflag.FlagSet, p *uint64, name string, value, lo, hi uint64, usage string) {
	*p = value
	v := &uintValue{p: p, lo: lo, hi: hi}
	fs.Var(v, name, fmt.Sprintf("%s (range %s)", usage, v.rangeText()))
}

// Seed registers a seed: any uint64 is allowed, so only values that are not unsigned 64-bit
// integers (negative, fractional, too large) are refused.
func Seed(fs *pflag.FlagSet, p *uint64, name string, value uint64, usage string) {
	*p = value
	fs.Var(&uintValue{p: p, lo: 0, hi: math.MaxUint64}, name, usage+" (range 0 to 18446744073709551615: any unsigned 64-bit integer)")
}
