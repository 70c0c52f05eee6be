package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runLinalg runs the command with args through the shared execute helper.
func runLinalg(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return execute(newLinalgCmd(), args...)
}

func TestLinalgRSVDRandomJSON(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "spectrum.png")
	out, err := runLinalg(t, "rsvd", "--random", "300,200,0.8", "--rank", "12", "--json", "--plot", png)
	if err != nil {
		t.Fatal(err, out)
	}
	var r rsvdOutput
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err, out)
	}
	if r.Rows != 300 || r.Cols != 200 || len(r.Singular) != 12 || r.OptimalError == nil {
		t.Fatalf("unexpected output %+v", r)
	}
	// The matrix has singular values 0.8^i, which the full SVD must reproduce.
	for i := 0; i < 12; i++ {
		if want := math.Pow(0.8, float64(i)); math.Abs(r.Singular[i]-want) > 1e-10 {
			t.Errorf("σ%d = %v, want %v", i+1, r.Singular[i], want)
		}
	}
	if r.RelError > 1.01**r.OptimalError {
		t.Errorf("relative error %v vs optimal %v", r.RelError, *r.OptimalError)
	}
	if r.OptimalFrom != "full SVD" {
		t.Errorf("optimal error from %q", r.OptimalFrom)
	}
	checkPNG(t, png)

	// Above --exact-limit the optimum comes from the generated spectrum: Σ_{i≥k} 0.8^{2i}
	// over Σ_i 0.8^{2i}, which is 0.8^k up to the truncation at 1e-18.
	// --repeat: same answer (the seed fixes the sketch), the count reported.
	first := r.RelError
	out, err = runLinalg(t, "rsvd", "--random", "300,200,0.8", "--rank", "12", "--json", "--exact-limit", "100", "--repeat", "3")
	if err != nil {
		t.Fatal(err, out)
	}
	r = rsvdOutput{}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err, out)
	}
	if r.Repeats != 3 || !(r.Seconds > 0) || r.RelError != first {
		t.Errorf("--repeat 3: repeats %d, seconds %g, error %g (first run %g)", r.Repeats, r.Seconds, r.RelError, first)
	}
	if r.OptimalFrom != "generated spectrum" || r.OptimalError == nil || math.Abs(*r.OptimalError-math.Pow(0.8, 12)) > 1e-12 {
		t.Errorf("optimal error %v from %q, want 0.8^12 from the generated spectrum", r.OptimalError, r.OptimalFrom)
	}
	if r.ExactSingular != nil || r.ExactSkipped == "" {
		t.Errorf("full SVD ran above the limit")
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("%s is not a PNG plot (%d bytes)", path, len(b))
	}
}

func TestLinalgRSVDFileAndErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "m.csv")
	os.WriteFile(good, []byte("1,2,3\n4,5,6\n7,8,10\n9,1,2\n"), 0o644)
	out, err := runLinalg(t, "rsvd", "--matrix", good, "--rank", "2")
	if err != nil {
		t.Fatal(err, out)
	}
	for _, want := range []string{"4×3 float64", "relative error", "optimal rank-2 error", "time"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	ragged := filepath.Join(dir, "ragged.csv")
	os.WriteFile(ragged, []byte("1,2,3\n4,5\n"), 0o644)
	nan := filepath.Join(dir, "nan.csv")
	os.WriteFile(nan, []byte("1,2\nnan,5\n"), 0o644)
	fixtures := filepath.Join("..", "..", "linalg", "testdata")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"rsvd", "--matrix", good, "--rank", "4"}, "larger than min(m, n)"},
		{[]string{"rsvd", "--matrix", good, "--rank", "0"}, `invalid argument "0" for "--rank" flag`},
		{[]string{"rsvd", "--matrix", good}, "--rank is required"},
		{[]string{"rsvd", "--matrix", good, "--rank", "1", "--repeat", "0"}, `"0" for "--repeat" flag`},
		{[]string{"rsvd", "--matrix", ragged, "--rank", "1"}, "ragged"},
		{[]string{"rsvd", "--matrix", nan, "--rank", "1"}, "non-finite"},
		{[]string{"rsvd", "--matrix", filepath.Join(fixtures, "fortran_3x4.npy"), "--rank", "1"}, "Fortran"},
		{[]string{"rsvd", "--matrix", filepath.Join(fixtures, "int64_3x4.npy"), "--rank", "1"}, "unsupported dtype"},
		{[]string{"rsvd", "--matrix", good, "--random", "4,4", "--rank", "1"}, "exactly one"},
		{[]string{"rsvd", "--random", "40,30,1.5", "--rank", "1"}, "decay"},
		{[]string{"rsvd", "--random", "40", "--rank", "1"}, "m,n"},
		{[]string{"rsvd", "--random", "40,30", "--rank", "1", "--device", "tpu"}, "unknown device"},
		{[]string{"rsvd", "--random", "40,30", "--rank", "1", "--normalizer", "svd"}, "normaliser"},
		{[]string{"tt", "--random", "4,4,4"}, "--rank"},
		{[]string{"tt", "--random", "4,x,4", "--rank", "2"}, "positive integer"},
		{[]string{"tt", "--random", "4,4", "--eps", "-1"}, `"-1" for "--eps" flag: -1 is out of range: want a number in (0, 1]`},
		{[]string{"tt", "--file", filepath.Join(fixtures, "f8_vector.npy"), "--rank", "2"}, "at least 2 axes"},
		{[]string{"sparse", "--n", "100", "--block", "16"}, "does not divide"},
		{[]string{"sparse", "--kind", "banded"}, "unknown sparsity kind"},
		{[]string{"sparse", "--density", "2"}, "--density"},
	}
	for _, c := range cases {
		_, err := runLinalg(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}

func TestLinalgTTJSON(t *testing.T) {
	for _, args := range [][]string{{"--rank", "4"}, {"--eps", "0.1"}} {
		out, err := runLinalg(t, append([]string{"tt", "--random", "6,7,5,6", "--json"}, args...)...)
		if err != nil {
			t.Fatal(err, out)
		}
		var r ttOutput
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err, out)
		}
		// A rank-4 train with 1% noise: with --rank 4 TT-SVD keeps ranks 4 and the error is
		// about the noise; with --eps 0.1 it may drop a weak direction but stays within ε.
		for i, v := range []int{1, 4, 4, 4, 1} {
			if args[0] == "--rank" && r.Ranks[i] != v || r.Ranks[i] > v {
				t.Fatalf("%v: ranks %v", args, r.Ranks)
			}
		}
		if r.RelError > r.Bound*(1+1e-9) || r.RelError < 0.002 {
			t.Errorf("%v: error %v, bound %v", args, r.RelError, r.Bound)
		}
		if args[0] == "--rank" && r.RelError > 0.02 || args[0] == "--eps" && r.Bound > 0.1 {
			t.Errorf("%v: error %v, bound %v", args, r.RelError, r.Bound)
		}
		params := 0
		for k, n := range []int{6, 7, 5, 6} {
			params += r.Ranks[k] * n * r.Ranks[k+1]
			if c := r.CoreShapes[k]; c[0] != r.Ranks[k] || c[1] != n || c[2] != r.Ranks[k+1] {
				t.Errorf("%v: core %d shape %v", args, k, c)
			}
		}
		if r.Params != params {
			t.Errorf("%v: params %d, want %d", args, r.Params, params)
		}
	}
}

func TestLinalgSparseJSON(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "pattern.png")
	for _, kind := range []string{"block", "hierarchical"} {
		out, err := runLinalg(t, "sparse", "--kind", kind, "--n", "256", "--block", "8", "--density", "0.07", "--cols", "16", "--json", "--plot", png)
		if err != nil {
			t.Fatal(err, out)
		}
		var r sparseOutput
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err, out)
		}
		if math.Abs(r.Density-0.07) > 0.5/1024 || r.TotalBlocks != 1024 || r.Blocks != 72 {
			t.Errorf("%s: density %v with %d of %d blocks", kind, r.Density, r.Blocks, r.TotalBlocks)
		}
		if r.MaxRelDiff > 1e-12 {
			t.Errorf("%s: BSR and dense products differ by %v", kind, r.MaxRelDiff)
		}
		checkPNG(t, png)
	}
}
