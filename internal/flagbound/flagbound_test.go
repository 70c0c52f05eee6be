package flagbound

import (
	"math"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestRange(t *testing.T) {
	for _, c := range []struct {
		r    Range
		v    float64
		want bool
	}{
		{Closed(1, 3), 1, true}, {Closed(1, 3), 3, true}, {Closed(1, 3), 0.5, false}, {Closed(1, 3), 4, false},
		{Open(0, 1), 0, false}, {Open(0, 1), 1, false}, {Open(0, 1), 0.5, true},
		{LeftOpen(0, 1), 1, true}, {LeftOpen(0, 1), 0, false},
		{Closed(0, math.Inf(1)), math.Inf(1), true}, {Closed(0, 1), math.NaN(), false},
	} {
		if got := c.r.Contains(c.v); got != c.want {
			t.Errorf("%v contains %v = %v, want %v", c.r, c.v, got, c.want)
		}
	}
	if s := LeftOpen(0, 1).String(); s != "(0, 1]" {
		t.Errorf("String = %q", s)
	}
	if s := Closed(1, 1e6).String(); s != "1 to 1000000" {
		t.Errorf("String = %q", s)
	}
}

func TestFlagsCheckOnParse(t *testing.T) {
	var n int
	var x float64
	var u, seed uint64
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	Int(fs, &n, "steps", 5, 1, 100, "steps")
	Float(fs, &x, "lr", 0.1, LeftOpen(0, 1), "learning rate")
	Uint64(fs, &u, "reps", 3, 1, 10, "repetitions")
	Seed(fs, &seed, "seed", 7, "seed")
	if n != 5 || x != 0.1 || u != 3 || seed != 7 {
		t.Fatalf("defaults not set: %d %v %d %d", n, x, u, seed)
	}
	for _, name := range []string{"steps", "lr", "reps", "seed"} {
		f := fs.Lookup(name)
		if _, ok := Of(f); !ok || !Numeric(f) {
			t.Errorf("--%s: bounded %v, numeric %v", name, ok, Numeric(f))
		}
		if !strings.Contains(f.Usage, "range") {
			t.Errorf("--%s help %q does not give the range", name, f.Usage)
		}
	}
	if err := fs.Parse([]string{"--steps", "100", "--lr", "1", "--reps", "10", "--seed", "18446744073709551615"}); err != nil {
		t.Fatal(err)
	}
	if n != 100 || x != 1 || u != 10 || seed != math.MaxUint64 {
		t.Fatalf("values not set: %d %v %d %d", n, x, u, seed)
	}
	for _, c := range []struct{ args, want []string }{
		{[]string{"--steps", "0"}, []string{"--steps", `"0"`, "1 to 100"}},
		{[]string{"--steps", "101"}, []string{"--steps", "101", "1 to 100"}},
		{[]string{"--steps", "1e99"}, []string{"--steps", "1e99", "1 to 100"}},
		{[]string{"--lr", "0"}, []string{"--lr", "(0, 1]"}},
		{[]string{"--lr", "NaN"}, []string{"--lr", "NaN", "(0, 1]"}},
		{[]string{"--lr", "inf"}, []string{"--lr", "inf"}},
		{[]string{"--reps", "11"}, []string{"--reps", "1 to 10"}},
		{[]string{"--reps", "-1"}, []string{"--reps", "-1", "1 to 10"}},
		{[]string{"--seed", "-1"}, []string{"--seed", "-1"}},
	} {
		err := fs.Parse(c.args)
		if err == nil {
			t.Errorf("%v accepted", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not contain %q", c.args, err, w)
			}
		}
	}
	var plain int
	fs.IntVar(&plain, "plain", 0, "unbounded")
	if _, ok := Of(fs.Lookup("plain")); ok || !Numeric(fs.Lookup("plain")) {
		t.Error("a plain int flag is reported bounded or not numeric")
	}
}

func TestCheckMemory(t *testing.T) {
	t.Setenv(MemoryEnv, "1G")
	if err := CheckMemory("small", 1<<20); err != nil {
		t.Fatal(err)
	}
	err := CheckMemory("linalg sparse --n 100000000", 8e16)
	if err == nil || !strings.Contains(err.Error(), "--n 100000000") || !strings.Contains(err.Error(), "71.1 PiB") ||
		!strings.Contains(err.Error(), "1 GiB") {
		t.Fatalf("error %v", err)
	}
	if err := CheckMemory("overflow", math.Inf(1)); err == nil {
		t.Fatal("an infinite estimate passed")
	}
	if err := CheckMemory("nan", math.NaN()); err == nil {
		t.Fatal("a NaN estimate passed")
	}
	t.Setenv(MemoryEnv, "lots")
	if err := CheckMemory("x", 1); err == nil || !strings.Contains(err.Error(), MemoryEnv) {
		t.Fatalf("a bad %s was accepted: %v", MemoryEnv, err)
	}
	t.Setenv(MemoryEnv, "")
	if lim, why, err := MemoryLimit(); err != nil || !(lim > 0) || why == "" {
		t.Fatalf("default limit %v %q %v", lim, why, err)
	}
}

func TestParseBytes(t *testing.T) {
	for s, want := range map[string]float64{"1024": 1024, "2K": 2048, "1.5G": 1.5 * (1 << 30), "1T": 1 << 40, "3m": 3 << 20} {
		if got, err := ParseBytes(s); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "G", "-1", "0", "x"} {
		if _, err := ParseBytes(s); err == nil {
			t.Errorf("ParseBytes(%q) accepted", s)
		}
	}
}
