//go:build cuda || cudaemu

package cuda

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/kiln-ml/kiln/device"
)

// clockDriver is a driver whose GPU is a virtual clock: each launch advances it by the cost
// given for the kernel's name, and events read it. It lets the profiler's accounting be
// checked exactly, without a GPU or the emulator.
type clockDriver struct {
	ms       float64
	cost     map[string]float64
	next     uintptr
	resolved int // calls of elapsed, to see that events are resolved in batches
}

func (c *clockDriver) makeCurrent() error                        { return nil }
func (c *clockDriver) malloc(n int64) (uintptr, error)           { c.next += 256; return c.next, nil }
func (c *clockDriver) free(uintptr) error                        { return nil }
func (c *clockDriver) memInfo() (int64, int64, error)            { return 1 << 30, 1 << 30, nil }
func (c *clockDriver) memsetD32(uintptr, uint32, int64) error    { c.ms += 0.5; return nil }
func (c *clockDriver) htod(uintptr, unsafe.Pointer, int64) error { return nil }
func (c *clockDriver) dtoh(unsafe.Pointer, uintptr, int64) error { return nil }
func (c *clockDriver) dtod(uintptr, uintptr, int64) error        { c.ms += 0.25; return nil }
func (c *clockDriver) sync() error                               { return nil }
func (c *clockDriver) record() (any, error)                      { return c.ms, nil }
func (c *clockDriver) launch(name, _ string, _, _ dim3, _ int, _ []uint64) error {
	c.ms += c.cost[name]
	return nil
}
func (c *clockDriver) elapsed(s, e any) (float64, error) {
	c.resolved++
	return e.(float64) - s.(float64), nil
}

// profileRow returns the launches and GPU ms of one kernel row of a report.
func profileRow(t *testing.T, report, name string) (int, float64) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s+(\d+)\s+([\d.]+)\s`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no row for %s in\n%s", name, report)
	}
	n, _ := strconv.Atoi(m[1])
	ms, _ := strconv.ParseFloat(m[2], 64)
	return n, ms
}

func TestProfilerAccountsKernelsAndCopies(t *testing.T) {
	clock := &clockDriver{cost: map[string]float64{"gemm": 2, "softmax": 1, "tiny": 0.001}}
	p := newProfDriver(clock)
	for range 3 {
		p.launch("gemm", "", dim3{1, 1, 1}, dim3{128, 1, 1}, 0, nil)
	}
	p.launch("softmax", "", dim3{1, 1, 1}, dim3{128, 1, 1}, 0, nil)
	for range maxPending + 904 { // more than one batch of pending events
		p.launch("tiny", "", dim3{1, 1, 1}, dim3{32, 1, 1}, 0, nil)
	}
	p.dtod(0, 0, 1000)
	p.memsetD32(0, 0, 250)
	p.htod(0, nil, 4096)
	p.dtoh(nil, 0, 64)
	p.sync()
	if clock.resolved != maxPending {
		t.Errorf("%d events resolved before the report, want one batch of %d", clock.resolved, maxPending)
	}
	var buf bytes.Buffer
	if err := p.report(&buf, 25); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []struct {
		name string
		n    int
		ms   float64
	}{{"gemm", 3, 6}, {"softmax", 1, 1}, {"tiny", maxPending + 904, 5}, {"(memcpy DtoD)", 1, 0.25}, {"(memset)", 1, 0.5}} {
		n, ms := profileRow(t, out, want.name)
		if n != want.n || ms != want.ms {
			t.Errorf("%s: %d launches, %.1f ms; want %d, %.1f\n%s", want.name, n, ms, want.n, want.ms, out)
		}
	}
	// Sorted by GPU time: gemm first.
	if strings.Index(out, "gemm") > strings.Index(out, "softmax") {
		t.Errorf("rows not sorted by GPU time:\n%s", out)
	}
	for _, want := range []string{"memcpy HtoD", "memcpy DtoD", "memset", "synchronize", "device-to-host read by", "testing.tRunner"} {
		if !strings.Contains(out, want) {
			t.Errorf("driver call %q missing:\n%s", want, out)
		}
	}
	if !strings.Contains(out, fmt.Sprintf("GPU busy in kernels and copies %.3f s", (6+1+5+0.25+0.5)/1e3)) {
		t.Errorf("GPU total wrong:\n%s", out)
	}
	// The report starts a new profile.
	buf.Reset()
	p.report(&buf, 25)
	if strings.Contains(buf.String(), "gemm") {
		t.Errorf("second report still lists the first profile's kernels:\n%s", buf.String())
	}
}

func TestProfileReportOnlyWhenRequested(t *testing.T) {
	info := device.Info{Name: "cuda:9", Kind: "cuda", Cores: 1}
	t.Setenv(ProfileEnv, "")
	d, err := newDevice(9, &clockDriver{}, info)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if on, err := d.ProfileReport(&buf); on || err != nil || buf.Len() != 0 {
		t.Errorf("profiling off: ProfileReport = %v, %v, wrote %q", on, err, buf.String())
	}
	t.Setenv(ProfileEnv, "1")
	d, err = newDevice(9, &clockDriver{cost: map[string]float64{"k": 3}}, info)
	if err != nil {
		t.Fatal(err)
	}
	d.enter()
	d.kernel(dim3{1, 0, 0}, dim3{32, 0, 0}).run("k", "i64,f64", []uint64{1, 0x4004000000000000})
	d.leave()
	var p device.Profiler = d
	if on, err := p.ProfileReport(&buf); !on || err != nil {
		t.Fatalf("profiling on: ProfileReport = %v, %v", on, err)
	}
	if n, ms := profileRow(t, buf.String(), "k"); n != 1 || ms != 3 {
		t.Errorf("k: %d launches, %.1f ms; want 1, 3.0", n, ms)
	}
}
