package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/synth"
	"github.com/kiln-ml/kiln/optim/compare"
)

// runOptim runs the command with args through the shared execute helper.
func runOptim(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return execute(newOptimCmd(), args...)
}

// blobsCSV writes 120 rows of three well-separated Gaussian classes in four features.
func blobsCSV(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blobs.csv")
	if err := os.WriteFile(p, []byte(synth.BlobsCSV(120, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOptimCompareJSONAndPlot(t *testing.T) {
	csv := blobsCSV(t)
	png := filepath.Join(t.TempDir(), "curves.png")
	out, err := runOptim(t, "compare", "--dataset", csv, "--steps", "60", "--batch", "32", "--hidden", "8",
		"--sweep=false", "--json", "--plot", png)
	if err != nil {
		t.Fatal(err, out)
	}
	var rep compare.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if rep.Classes != 3 || rep.Features != 4 || rep.Rows+rep.TestRows != 120 || len(rep.Results) != 5 {
		t.Fatalf("report header %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			t.Fatalf("%s failed: %s", r.Optimizer, r.Error)
		}
		if len(r.Curve) != 60 || math.IsNaN(r.FinalLoss) || r.MsPerStep <= 0 {
			t.Fatalf("%s: %d curve points, loss %v, %v ms/step", r.Optimizer, len(r.Curve), r.FinalLoss, r.MsPerStep)
		}
		// The classes are separated by 4 standard deviations: SGD with momentum and
		// AdaHessian at their learning rates classify the held-out rows almost perfectly in 60
		// steps; AdamW (lr 1e-3) at least lowers the loss from its start (about log 3).
		if (r.Optimizer == "sgd" || r.Optimizer == "adahessian") && r.TestAccuracy < 0.9 {
			t.Errorf("%s: test accuracy %.3f", r.Optimizer, r.TestAccuracy)
		}
		if r.Optimizer != "sophia" && r.FinalLoss >= r.Curve[0] {
			t.Errorf("%s: final loss %.3f, first minibatch loss %.3f", r.Optimizer, r.FinalLoss, r.Curve[0])
		}
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Fatalf("plot not written: %v", err)
	}
}

func TestOptimCompareTableAndSweep(t *testing.T) {
	out, err := runOptim(t, "compare", "--dataset", blobsCSV(t), "--steps", "20", "--batch", "16", "--hidden", "4",
		"--optimizers", "adamw,lamb")
	if err != nil {
		t.Fatal(err, out)
	}
	if !strings.Contains(out, "final train loss") || !strings.Contains(out, "adamw") || !strings.Contains(out, "lamb") || strings.Contains(out, "sophia") {
		t.Fatalf("table:\n%s", out)
	}
	// The sweep keeps one of 0.1×, 1×, 10× the default (1e-3).
	if !strings.Contains(out, "0.0001") && !strings.Contains(out, "0.001") && !strings.Contains(out, "0.01") {
		t.Fatalf("no swept learning rate in:\n%s", out)
	}
}

// TestOptimCompareMemoryLimit: the CLI hands the memory limit to the library, which refuses
// the minibatches before building them.
func TestOptimCompareMemoryLimit(t *testing.T) {
	t.Setenv(flagbound.MemoryEnv, "1M")
	_, err := runOptim(t, "compare", "--dataset", blobsCSV(t), "--steps", "100000", "--batch", "64")
	if err == nil || !strings.Contains(err.Error(), "optim compare: 100000 minibatches") || !strings.Contains(err.Error(), "memory limit") {
		t.Fatalf("error %v", err)
	}
}

func TestOptimCompareErrors(t *testing.T) {
	csv := blobsCSV(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"compare", "--dataset", filepath.Join(t.TempDir(), "none.csv")}, "none.csv"},
		{[]string{"compare", "--dataset", csv, "--steps", "0"}, "--steps"},
		{[]string{"compare", "--dataset", csv, "--optimizers", "adam,rmsprop"}, "unknown optimizer"},
		{[]string{"compare", "--dataset", csv, "--test-fraction", "1"}, "--test-fraction"},
		{[]string{"compare", "--dataset", csv, "--device", "tpu"}, "tpu"},
	} {
		_, err := runOptim(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

// TestOptimCompareDigits runs the default dataset briefly when the shared data is present.
func TestOptimCompareDigits(t *testing.T) {
	p := filepath.Join("..", "..", "..", "shared", "data", "tabular", "digits.csv")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data absent: %v", err)
	}
	out, err := runOptim(t, "compare", "--dataset", p, "--steps", "100", "--sweep=false", "--optimizers", "sgd", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep compare.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Error != "" || r.TestAccuracy < 0.9 {
		t.Fatalf("digits, SGD with momentum, 100 steps: %+v", r)
	}
}
