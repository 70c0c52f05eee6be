package main

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kiln-ml/kiln/internal/flagbound"
)

var rootOnce sync.Once

// testRoot is the command tree main builds: every registered command under kiln.
func testRoot() *cobra.Command {
	rootOnce.Do(func() { rootCmd.AddCommand(registered...) })
	return rootCmd
}

// errParsed stands in for a command's work in TestEveryNumericFlagIsBounded: a value that
// parses reaches it instead of running the command.
var errParsed = errors.New("flags parsed")

// executeRoot runs kiln with args, turning a panic into a test failure.
func executeRoot(t *testing.T, root *cobra.Command, args []string) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("kiln %s panicked: %v", strings.Join(args, " "), r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	root.SetArgs(args)
	return root.Execute()
}

// outOfRange returns values just outside r (and NaN for floats), as the command line writes
// them.
func outOfRange(f *pflag.Flag, r flagbound.Range) []string {
	switch f.Value.Type() {
	case "uint64":
		vs := []string{"-1", "18446744073709551616"}
		if r.Hi < math.MaxUint64 {
			vs = append(vs, strconv.FormatUint(uint64(r.Hi)+1, 10))
		}
		if r.Lo > 0 {
			vs = append(vs, strconv.FormatUint(uint64(r.Lo)-1, 10))
		}
		return vs
	case "int":
		return []string{strconv.FormatInt(int64(r.Lo)-1, 10), strconv.FormatInt(int64(r.Hi)+1, 10), "1e99"}
	}
	below, above := r.Lo, r.Hi
	if !r.LoOpen {
		below = r.Lo - math.Max(1, math.Abs(r.Lo))
	}
	if !r.HiOpen {
		above = r.Hi + math.Max(1, math.Abs(r.Hi))
	}
	vs := []string{strconv.FormatFloat(below, 'g', -1, 64), "NaN"}
	if !math.IsInf(above, 0) {
		vs = append(vs, strconv.FormatFloat(above, 'g', -1, 64))
	}
	return vs
}

// Every numeric flag of every command has a range, shown in its help, and a value outside it
// fails with an error naming the flag, the value and the range, before the command runs. A
// numeric flag added without a bound fails this test.
func TestEveryNumericFlagIsBounded(t *testing.T) {
	root := testRoot()
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return errParsed }
	defer func() { root.PersistentPreRunE = nil }()
	checked := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.Fields(c.CommandPath())[1:]
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if !flagbound.Numeric(f) {
				return
			}
			r, ok := flagbound.Of(f)
			if !ok {
				t.Errorf("%s --%s is a numeric flag without a bound: register it with package flagbound", c.CommandPath(), f.Name)
				return
			}
			if !strings.Contains(f.Usage, "(range ") {
				t.Errorf("%s --%s: help %q does not give the range", c.CommandPath(), f.Name, f.Usage)
			}
			for _, v := range outOfRange(f, r) {
				args := append(append([]string{}, path...), "--"+f.Name, v)
				err := executeRoot(t, root, args)
				checked++
				switch {
				case err == nil || errors.Is(err, errParsed):
					t.Errorf("kiln %s: accepted", strings.Join(args, " "))
					continue
				case !strings.Contains(err.Error(), `"--`+f.Name+`"`) || !strings.Contains(err.Error(), `"`+v+`"`):
					t.Errorf("kiln %s: error %q does not name the flag and the value", strings.Join(args, " "), err)
				case f.Value.Type() != "uint64" && !strings.Contains(err.Error(), r.String()):
					t.Errorf("kiln %s: error %q does not give the range %s", strings.Join(args, " "), err, r)
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	t.Logf("%d out-of-range values refused", checked)
	if checked < 100 {
		t.Fatalf("only %d out-of-range values checked: is the command tree complete?", checked)
	}
}

// Sizes that imply memory are refused with an estimate before anything is allocated: a
// dimension above its flag's range by the range, one inside it by the memory limit.
func TestSizesImplyingMemoryAreRefused(t *testing.T) {
	t.Setenv(flagbound.MemoryEnv, "64G")
	root := testRoot()
	// A small model on huge synthetic tables: about 0.5 TB of activations, far above the limit.
	small := `{"layers":1,"width":64,"heads":2,"mlp_width":128,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"linalg", "sparse", "--n", "100000000"}, []string{`"--n"`, "100000000", "1 to 1048576"}},
		{[]string{"linalg", "sparse", "--n", "1048576"}, []string{"linalg sparse --n 1048576", "needs about 16.4 TiB", "64 GiB"}},
		{[]string{"linalg", "rsvd", "--random", "100000000,100000000", "--rank", "5"}, []string{"--random", "100000000", "1 to 1048576"}},
		{[]string{"linalg", "rsvd", "--random", "1000000,1000000", "--rank", "5"}, []string{"linalg rsvd --random 1000000,1000000", "needs about", "TiB", "memory limit"}},
		{[]string{"linalg", "rsvd", "--random", "100,50", "--rank", "60"}, []string{"--rank 60 is larger than min(m, n) = 50"}},
		{[]string{"linalg", "rsvd", "--random", "100,50", "--rank", "100000000"}, []string{`"--rank"`, "1 to 1048576"}},
		{[]string{"linalg", "tt", "--random", "100000,100000,100000", "--rank", "2"}, []string{"linalg tt --random 100000,100000,100000", "needs about"}},
		{[]string{"tabpfn", "train", "--out", filepath.Join(t.TempDir(), "big.safetensors"), "--config", small,
			"--max-rows", "100000", "--max-features", "1000", "--batch", "2"}, []string{"tabpfn train needs about", "memory limit"}},
	} {
		err := executeRoot(t, root, c.args)
		if err == nil {
			t.Errorf("kiln %s: accepted", strings.Join(c.args, " "))
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("kiln %s: error %q does not contain %q", strings.Join(c.args, " "), err, w)
			}
		}
	}
}

// The estimates grow with the sizes and stay finite and small for the defaults.
func TestMemoryEstimates(t *testing.T) {
	if b := sparseBytes(512, 64, 0.05); b > 16<<20 || b < 4<<20 {
		t.Errorf("default sparse estimate %v", b)
	}
	if b := sparseBytes(100_000_000, 64, 0.05); !(b > 1e16) || math.IsInf(b, 0) {
		t.Errorf("sparse estimate for n=1e8: %v", b)
	}
	if rsvdBytes(2000, 1500, 20, 10, 8, true) > 200<<20 {
		t.Error("rsvd estimate for the example is too large")
	}
	if ttBytes([]int{8, 8, 8, 8}, 4) > 1<<20 {
		t.Error("tt estimate for the example is too large")
	}
}
