package compare

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/internal/synth"
)

// blobsCSV writes 120 rows of three well-separated Gaussian classes in four features.
func blobsCSV(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blobs.csv")
	if err := os.WriteFile(p, []byte(synth.BlobsCSV(120, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func cpu(t *testing.T) device.Device {
	t.Helper()
	d, err := device.Get("cpu")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func small() Config {
	c := DefaultConfig()
	c.Steps, c.Batch, c.Hidden, c.LRFactors = 40, 32, 8, nil
	return c
}

func TestSelect(t *testing.T) {
	all, err := Select(nil)
	if err != nil || len(all) != 5 || all[0].Name != "sgd" || all[4].Name != "adahessian" {
		t.Fatalf("Select(nil) = %v, %v", all, err)
	}
	got, err := Select([]string{" LAMB", "sgd "})
	if err != nil || len(got) != 2 || got[0].Name != "lamb" || got[1].Name != "sgd" {
		t.Fatalf("Select: %v, %v", got, err)
	}
	if _, err := Select([]string{"adam"}); err == nil || !strings.Contains(err.Error(), "unknown optimizer \"adam\"") {
		t.Fatalf("unknown name: %v", err)
	}
	for _, o := range all {
		if !(o.LR > 0) || o.New == nil {
			t.Errorf("%s: lr %v", o.Name, o.LR)
		}
	}
}

// TestRun: every optimizer trains on separable data, the report is complete and valid JSON,
// and the same seed gives the same curves (the minibatches and weights are fixed by it).
func TestRun(t *testing.T) {
	path := blobsCSV(t)
	rep, err := Run(cpu(t), path, small())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Classes != 3 || rep.Features != 4 || rep.Rows+rep.TestRows != 120 || rep.Steps != 40 || rep.Batch != 32 || len(rep.Results) != 5 {
		t.Fatalf("report header %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			t.Fatalf("%s failed: %s", r.Optimizer, r.Error)
		}
		if len(r.Curve) != 40 || math.IsNaN(r.FinalLoss) || r.MsPerStep <= 0 || r.Sweep != nil {
			t.Fatalf("%s: %d curve points, loss %v, %v ms/step, sweep %v", r.Optimizer, len(r.Curve), r.FinalLoss, r.MsPerStep, r.Sweep)
		}
		if r.Optimizer == "sgd" && r.TestAccuracy < 0.9 {
			t.Errorf("sgd: test accuracy %.3f on classes 4 standard deviations apart", r.TestAccuracy)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	cfg := small()
	cfg.Optimizers = []string{"adamw"}
	again, err := Run(cpu(t), path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Results[0].Curve, rep.Results[1].Curve) {
		t.Fatal("the same seed gave a different AdamW curve")
	}
}

// TestSweepKeepsTheBest: with factors, the reported run is the sweep point of lowest loss.
func TestSweepKeepsTheBest(t *testing.T) {
	cfg := small()
	cfg.Optimizers, cfg.LRFactors = []string{"lamb"}, []float64{0.1, 1, 10}
	rep, err := Run(cpu(t), blobsCSV(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if len(r.Sweep) != 3 {
		t.Fatalf("sweep %v", r.Sweep)
	}
	for _, p := range r.Sweep {
		if p.FinalLoss < r.FinalLoss {
			t.Fatalf("kept lr %v (loss %v) over lr %v (loss %v)", r.LR, r.FinalLoss, p.LR, p.FinalLoss)
		}
	}
	if !slices.ContainsFunc(r.Sweep, func(p SweepPoint) bool { return p.LR == r.LR }) {
		t.Fatalf("kept lr %v is not a sweep point", r.LR)
	}
}

// TestDivergenceIsReported: a run that blows up is reported with its error and a finite
// curve, so the report still encodes as JSON.
func TestDivergenceIsReported(t *testing.T) {
	cfg := small()
	d, err := load(cpu(t), blobsCSV(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.release()
	sgd, _ := Select([]string{"sgd"})
	res := d.train(sgd[0], 1e12, 8, 1)
	if res.Error == "" {
		t.Fatalf("SGD at lr 1e12 did not fail: loss %v", res.FinalLoss)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatalf("failed result does not encode: %v", err)
	}
}

func TestConfigAndDataErrors(t *testing.T) {
	path := blobsCSV(t)
	for name, mod := range map[string]func(*Config){
		"steps":    func(c *Config) { c.Steps = 0 },
		"fraction": func(c *Config) { c.TestFraction = 1 },
		"factor":   func(c *Config) { c.LRFactors = []float64{1, math.Inf(1)} },
		"unknown":  func(c *Config) { c.Optimizers = []string{"rmsprop"} },
	} {
		cfg := small()
		mod(&cfg)
		if _, err := Run(cpu(t), path, cfg); err == nil {
			t.Errorf("%s: bad config accepted", name)
		}
	}
	if _, err := Run(cpu(t), filepath.Join(t.TempDir(), "none.csv"), small()); err == nil || !strings.Contains(err.Error(), "none.csv") {
		t.Errorf("missing dataset: %v", err)
	}
}

// TestMemoryCheck: the callback sees both estimates, and its refusal stops the run before
// anything of that size is built.
func TestMemoryCheck(t *testing.T) {
	cfg := small()
	var asked []string
	cfg.CheckMemory = func(what string, bytes float64) error {
		asked = append(asked, what)
		if !(bytes > 0) {
			return fmt.Errorf("estimate %v", bytes)
		}
		return nil
	}
	cfg.Optimizers = []string{"sgd"}
	if _, err := Run(cpu(t), blobsCSV(t), cfg); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || !strings.Contains(asked[0], "40 minibatches of 32 rows") || !strings.Contains(asked[1], "MLP 4-8-3") {
		t.Fatalf("asked %q", asked)
	}
	refuse := errors.New("over the limit")
	cfg.CheckMemory = func(string, float64) error { return refuse }
	before := cpu(t).MemStats().LiveBuffers
	if _, err := Run(cpu(t), blobsCSV(t), cfg); !errors.Is(err, refuse) {
		t.Fatalf("refusal not returned: %v", err)
	}
	if after := cpu(t).MemStats().LiveBuffers; after != before {
		t.Fatalf("live buffers %d → %d after a refused run", before, after)
	}
}

func TestEstimates(t *testing.T) {
	if b := MinibatchBytes(300, 128, 64); b > 64<<20 || b <= 0 {
		t.Errorf("minibatches of the defaults: %v bytes", b)
	}
	if b := MinibatchBytes(1e7, 1e6, 1e5); math.IsInf(b, 0) || b < 1e18 {
		t.Errorf("absurd sizes: %v bytes", b)
	}
	if ModelBytes(128, 64, 64, 10, 1000) >= ModelBytes(128, 64, 128, 10, 1000) {
		t.Error("the model estimate does not grow with the hidden width")
	}
}

func TestReportOutputs(t *testing.T) {
	rep := &Report{Dataset: "x.csv", Device: "cpu", Rows: 8, TestRows: 2, Features: 3, Classes: 2, Hidden: 4, Steps: 3, Batch: 2, Seed: 1,
		Results: []Result{
			{Optimizer: "sgd", LR: 0.05, FinalLoss: 0.5, TestAccuracy: 1, Curve: []float64{0.9, 0.7, 0.5}},
			{Optimizer: "lamb", LR: 0.001, Error: "training diverged (non-finite loss)"},
		}}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"x.csv: 8 training rows, 2 test rows, 3 features, 2 classes; MLP 3-4-2 on cpu", "final train loss", "0.5000", "failed: training diverged"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	if _, err := rep.Plot(); err != nil {
		t.Fatal(err)
	}
	rep.Results = rep.Results[1:]
	if _, err := rep.Plot(); err == nil {
		t.Fatal("a plot without curves succeeded")
	}
	pts := movingAverage([]float64{4, 2, math.NaN(), 1}, 2)
	if len(pts) != 2 || pts[0].Y != 4 || pts[1].Y != 3 {
		t.Fatalf("moving average %v", pts)
	}
}
