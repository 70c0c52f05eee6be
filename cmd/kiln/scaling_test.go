package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runScaling runs the command with args through the shared execute helper.
func runScaling(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return execute(newScalingCmd(), args...)
}

func TestScalingPlanJSON(t *testing.T) {
	out, err := runScaling(t, "plan", "--compute", "5.76e23", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Optimal struct {
			N float64 `json:"params"`
			D float64 `json:"tokens"`
		} `json:"optimal"`
		Reference struct {
			Name string `json:"name"`
		} `json:"reference"`
		RefOptimal struct {
			N float64 `json:"params"`
		} `json:"reference_optimal"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Hoffmann et al. 2022, eq. 4, with the replication's published law (the default) and,
	// as reference, Hoffmann's published law, written out here from the formula.
	nOpt := func(e, a, b, al, be, c float64) float64 {
		g := math.Pow(al*a/(be*b), 1/(al+be))
		return g * math.Pow(c/6, be/(al+be))
	}
	want := nOpt(1.8172, 482.01, 2085.43, 0.3478, 0.3658, 5.76e23)
	if math.Abs(p.Optimal.N-want)/want > 1e-12 {
		t.Errorf("N_opt = %g, want %g", p.Optimal.N, want)
	}
	if math.Abs(6*p.Optimal.N*p.Optimal.D-5.76e23)/5.76e23 > 1e-12 {
		t.Errorf("6ND = %g", 6*p.Optimal.N*p.Optimal.D)
	}
	if p.Reference.Name != "chinchilla" {
		t.Errorf("reference %q, want chinchilla", p.Reference.Name)
	}
	if w := nOpt(1.69, 406.4, 410.7, 0.34, 0.28, 5.76e23); math.Abs(p.RefOptimal.N-w)/w > 1e-12 {
		t.Errorf("reference N_opt = %g, want %g", p.RefOptimal.N, w)
	}
}

func TestScalingPlanText(t *testing.T) {
	out, err := runScaling(t, "plan", "--compute", "5.76e23", "--inference-tokens", "2e13")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"replication", "chinchilla", "tokens per parameter", "inference-aware", "FLOPs saved"} {
		if !strings.Contains(out, s) {
			t.Errorf("plan output lacks %q:\n%s", s, out)
		}
	}
}

// TestScalingFitJSONFeedsPlan fits noise-free synthetic runs through the CLI and loads the
// result with plan --params.
func TestScalingFitJSONFeedsPlan(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "runs.csv")
	var b strings.Builder
	b.WriteString("params,tokens,val_loss\n")
	E, A, B, al, be := 2.0, 300.0, 1200.0, 0.32, 0.35
	for i := range 6 {
		for j := range 5 {
			n := 1e8 * math.Pow(3, float64(i))
			d := 2e9 * math.Pow(3, float64(j))
			fmt.Fprintf(&b, "%g,%g,%.15g\n", n, d, E+A/math.Pow(n, al)+B/math.Pow(d, be))
		}
	}
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runScaling(t, "fit", csvPath, "--n-col", "params", "--d-col", "tokens", "--loss-col", "val_loss", "--bootstrap", "0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var fit struct {
		Law struct{ E, A, B, Alpha, Beta float64 } `json:"law"`
	}
	if err := json.Unmarshal([]byte(out), &fit); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if math.Abs(fit.Law.Alpha-al) > 1e-3 || math.Abs(fit.Law.Beta-be) > 1e-3 || math.Abs(fit.Law.E-E) > 1e-3 {
		t.Errorf("fitted %+v, truth E=%g alpha=%g beta=%g", fit.Law, E, al, be)
	}
	lawPath := filepath.Join(dir, "law.json")
	if err := os.WriteFile(lawPath, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	planOut, err := runScaling(t, "plan", "--compute", "1e21", "--params", lawPath, "--json")
	if err != nil {
		t.Fatalf("plan --params on fit --json output: %v", err)
	}
	var p struct {
		Optimal struct {
			Loss float64 `json:"loss"`
		} `json:"optimal"`
	}
	if err := json.Unmarshal([]byte(planOut), &p); err != nil {
		t.Fatal(err)
	}
	if !(p.Optimal.Loss > E) {
		t.Errorf("planned loss %g not above E", p.Optimal.Loss)
	}
}

func TestScalingErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	few := filepath.Join(dir, "few.csv")
	for path, body := range map[string]string{
		bad: "Model Size,Training FLOP,loss\n1e8,6e17,3\n-1e8,6e17,3\n",
		few: "Model Size,Training FLOP,loss\n1e8,6e17,3\n2e8,6e17,2.9\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"fit", filepath.Join(dir, "missing.csv")}, "no such file"},
		{[]string{"fit", bad}, "line 3"},
		{[]string{"fit", few, "--bootstrap", "0"}, "at least 5"},
		{[]string{"fit", bad, "--c-col", "x", "--d-col", "y"}, "not both"},
		{[]string{"plan"}, "--compute"},
		{[]string{"plan", "--compute", "1e23", "--law", "kaplan"}, "unknown law"},
		{[]string{"plan", "--compute", "-5"}, `"-5" for "--compute" flag: -5 is out of range`},
		{[]string{"plan", "--compute", "1e23", "--law", "chinchilla", "--params", bad}, "not both"},
		{[]string{"plan", "--compute", "1e23", "--params", bad}, "reading scaling law JSON"},
		{[]string{"plan", "--target-loss", "1.5"}, "irreducible"},
	}
	for _, c := range cases {
		_, err := runScaling(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
