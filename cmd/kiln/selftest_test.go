package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/device/devicetest"
)

func execute(c *cobra.Command, args ...string) (string, error) {
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), err
}

func TestSelftestCPU(t *testing.T) {
	out, err := execute(newSelftestCmd(), "--quick", "--only", "gemm,Softmax")
	if err != nil {
		t.Fatalf("selftest failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, " passed, 0 failed") || !strings.Contains(out, "Softmax") || !strings.Contains(out, "MAX ERROR") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	out, err = execute(newSelftestCmd(), "--quick", "--only", "Reduce", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var j selftestJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if j.Device != "cpu" || j.Failed != 0 || j.Passed != len(j.Results) || j.Passed < 10 {
		t.Fatalf("JSON summary %+v", j)
	}
}

// TestSelftestListsEveryGroup: the help names, and --only accepts, every primitive of the
// conformance suite, the optimizer steps and the block-sparse product included.
func TestSelftestListsEveryGroup(t *testing.T) {
	long := newSelftestCmd().Long
	for _, p := range devicetest.Primitives() {
		if !strings.Contains(long, p) {
			t.Errorf("selftest help does not name %s", p)
		}
	}
	out, err := execute(newSelftestCmd(), "--quick", "--only", "BSRMatMul,optimizerstep", "--failed")
	if err != nil || !strings.Contains(out, " 0 failed") {
		t.Fatalf("selftest --only BSRMatMul,optimizerstep: %v\n%s", err, out)
	}
}

func TestSelftestBadInput(t *testing.T) {
	if _, err := execute(newSelftestCmd(), "--only", "nosuchprimitive"); err == nil || !strings.Contains(err.Error(), "Gemm") {
		t.Fatalf("unknown primitive: err = %v", err)
	}
	if _, err := execute(newSelftestCmd(), "--device", "tpu"); err == nil {
		t.Fatal("unknown device accepted")
	}
}

// brokenBackend registers a device whose Softmax output is off by 1e-3, to check that
// selftest reports the failure and returns an error (a non-zero exit).
type brokenBackend struct{}

func (brokenBackend) Kind() string { return "selftestbroken" }
func (brokenBackend) Count() int   { return 1 }
func (brokenBackend) Open(int) (device.Device, error) {
	return brokenDevice{cpu.Default()}, nil
}

type brokenDevice struct{ *cpu.Device }

func (d brokenDevice) Name() string { return "selftestbroken:0" }
func (d brokenDevice) Softmax(x, y device.Buffer, rows, cols int, log bool) {
	d.Device.Softmax(x, y, rows, cols, log)
	if y.DType() == device.Float64 {
		cpu.Float64s(y)[0] += 1e-3
	}
}

func TestSelftestReportsFailure(t *testing.T) {
	device.Register(brokenBackend{})
	out, err := execute(newSelftestCmd(), "--quick", "--only", "Softmax", "--device", "selftestbroken")
	if err == nil {
		t.Fatalf("selftest of a broken device succeeded:\n%s", out)
	}
	if !strings.Contains(out, "FAIL") || strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("failures not shown:\n%s", out)
	}
}

func TestDevices(t *testing.T) {
	out, err := execute(newDevicesCmd(), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []deviceEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	found := false
	for _, e := range entries {
		if e.Name == "cpu" {
			found = true
			if e.Info == nil || e.Info.Cores != runtime.NumCPU() || e.Info.Kernel == "" {
				t.Fatalf("cpu entry %+v", e)
			}
		}
	}
	if !found {
		t.Fatalf("no cpu device in %s", out)
	}
	out, err = execute(newDevicesCmd())
	if err != nil {
		t.Fatal(err)
	}
	row := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[0] == "cpu" && f[1] == "cpu" && f[2] == fmt.Sprint(runtime.NumCPU()) {
			row = true
		}
	}
	if !row {
		t.Fatalf("no cpu row with %d cores in:\n%s", runtime.NumCPU(), out)
	}
}
