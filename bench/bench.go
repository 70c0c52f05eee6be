// Package bench is kiln's benchmark harness: it times engine primitives and end-to-end work
// on a chosen device and, in the same run, the same work through an anchor (numpy/OpenBLAS on
// the CPU; PyTorch on a GPU, through bench/gpu), and reports each as a ratio to its anchor.
// Ratios, not absolute numbers, are what compare across runs: the machines this project
// runs on are shared and noisy, and a ratio measured side by side cancels most of that.
//
// Every timing is the best of several repetitions after one warm-up (the minimum is the
// least noisy estimator of the cost on a loaded machine), with a device Sync inside the
// timed region so asynchronous backends are measured fully.
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"time"

	"github.com/kiln-ml/kiln/device"
)

// Case is one benchmark.
type Case struct {
	Name   string         // e.g. "gemm f32 1024"
	Group  string         // gemm, attention, layernorm, softmax, adamw, copy, reduce, tabpfn, allreduce
	Anchor map[string]any // the case as the anchor script reads it (nil: no anchor)
	Work   float64        // units of work per run (FLOPs, bytes, datasets)
	Unit   string         // what Work/second is reported as: "GFLOP/s", "GB/s", "datasets/s"
	// Setup prepares inputs on dev and returns the function to time and a cleanup.
	Setup func(dev device.Device) (run func() error, cleanup func(), err error)
	// Reps, when positive, times exactly this many runs after the warm-up instead of
	// repeating until Options.MinTime: a collective needs every process to run it as often.
	Reps int
	// AnchorSetup, when set, is an anchor measured in Go in the same run and timed as the
	// case is (AnchorName names it), instead of by the numpy script.
	AnchorSetup func(dev device.Device) (run func() error, cleanup func(), err error)
	AnchorName  string
}

// Result is one case's measurement.
type Result struct {
	Name          string  `json:"name"`
	Group         string  `json:"group"`
	Device        string  `json:"device"`
	Seconds       float64 `json:"seconds"`
	Rate          float64 `json:"rate"`
	Unit          string  `json:"unit"`
	AnchorSeconds float64 `json:"anchor_seconds,omitempty"`
	AnchorRate    float64 `json:"anchor_rate,omitempty"`
	Anchor        string  `json:"anchor,omitempty"`
	// Ratio is kiln's rate over the anchor's (> 1: kiln is faster); 0 when no anchor ran.
	Ratio float64 `json:"ratio,omitempty"`
	Error string  `json:"error,omitempty"`
}

// Options controls a run.
type Options struct {
	MinTime time.Duration // keep repeating a case until this much time has passed
	MinReps int
	MaxReps int
	Anchors bool   // run the anchor script
	Python  string // interpreter for the numpy anchors (default /usr/bin/python3)
	// AnchorScript is the numpy anchor script to run; "" runs the copy built into the
	// binary (NumpyAnchors). A script is never looked for on the filesystem: one found by
	// searching could be any file of that name.
	AnchorScript string
	Progress     func(string)
}

func (o *Options) defaults() {
	if o.MinTime == 0 {
		o.MinTime = 300 * time.Millisecond
	}
	if o.MinReps == 0 {
		o.MinReps = 3
	}
	if o.MaxReps == 0 {
		o.MaxReps = 50
	}
	if o.Python == "" {
		o.Python = "/usr/bin/python3"
	}
}

// Time runs fn once to warm up, then repeatedly, returning the best time.
func Time(dev device.Device, fn func() error, o Options) (float64, error) {
	o.defaults()
	if err := fn(); err != nil {
		return 0, err
	}
	if err := dev.Sync(); err != nil {
		return 0, err
	}
	best := 0.0
	start := time.Now()
	for reps := 0; reps < o.MinReps || (time.Since(start) < o.MinTime && reps < o.MaxReps); reps++ {
		t0 := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		if err := dev.Sync(); err != nil {
			return 0, err
		}
		if s := time.Since(t0).Seconds(); best == 0 || s < best {
			best = s
		}
	}
	return best, nil
}

// timeSetup prepares a run with setup, times it and cleans up.
func timeSetup(dev device.Device, setup func(device.Device) (func() error, func(), error), o Options) (float64, error) {
	run, cleanup, err := setup(dev)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	return Time(dev, run, o)
}

// Run times every case on dev, then (when asked) the anchors in one batch, and pairs them.
func Run(dev device.Device, cases []Case, o Options) ([]Result, error) {
	o.defaults()
	results := make([]Result, 0, len(cases))
	for _, c := range cases {
		if o.Progress != nil {
			o.Progress(c.Name)
		}
		r := Result{Name: c.Name, Group: c.Group, Device: dev.Name(), Unit: c.Unit}
		co := o
		if c.Reps > 0 {
			co.MinReps, co.MaxReps, co.MinTime = c.Reps, c.Reps, time.Nanosecond
		}
		var err error
		r.Seconds, err = timeSetup(dev, c.Setup, co)
		if err != nil {
			r.Error = err.Error()
		} else {
			r.Rate = rate(c, r.Seconds)
		}
		if c.AnchorSetup != nil && err == nil {
			if r.AnchorSeconds, err = timeSetup(dev, c.AnchorSetup, co); err != nil {
				r.Error = c.AnchorName + ": " + err.Error()
			} else {
				r.Anchor, r.AnchorRate, r.Ratio = c.AnchorName, rate(c, r.AnchorSeconds), r.AnchorSeconds/r.Seconds
			}
		}
		results = append(results, r)
		runtime.GC()
	}
	if !o.Anchors || dev.Info().Kind != "cpu" {
		return results, nil
	}
	anchors, err := runNumpy(cases, o)
	if err != nil {
		return results, fmt.Errorf("bench: numpy anchors: %w", err)
	}
	for i, c := range cases {
		a, ok := anchors[c.Name]
		if !ok || a.Seconds <= 0 {
			continue
		}
		results[i].AnchorSeconds = a.Seconds
		results[i].AnchorRate = rate(c, a.Seconds)
		results[i].Anchor = a.Kernel
		if results[i].Seconds > 0 {
			results[i].Ratio = a.Seconds / results[i].Seconds
		}
	}
	return results, nil
}

func rate(c Case, seconds float64) float64 {
	r := c.Work / seconds
	switch c.Unit {
	case "GFLOP/s", "GB/s":
		r /= 1e9
	}
	return r
}

type anchorTiming struct {
	Seconds float64 `json:"seconds"`
	Kernel  string  `json:"kernel"`
}

func runNumpy(cases []Case, o Options) (map[string]anchorTiming, error) {
	var specs []map[string]any
	for _, c := range cases {
		if c.Anchor == nil {
			continue
		}
		s := map[string]any{"name": c.Name}
		for k, v := range c.Anchor {
			s[k] = v
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 {
		return nil, nil
	}
	script := o.AnchorScript
	if script == "" {
		tmp, err := writeTempScript()
		if err != nil {
			return nil, err
		}
		defer os.Remove(tmp)
		script = tmp
	}
	in, _ := json.Marshal(specs)
	// OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE may be set on these machines to work around old
	// OpenBLAS bugs; they force a slower kernel, so the anchor runs without them.
	cmd := exec.Command(o.Python, script)
	cmd.Stdin = bytes.NewReader(in)
	var env []string
	for _, kv := range os.Environ() {
		if !hasPrefix(kv, "OPENBLAS_CORETYPE=") && !hasPrefix(kv, "OPENBLAS_L2_SIZE=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s (install python3-numpy: apt-get install python3-numpy)", o.Python, script, err, stderr.String())
	}
	res := map[string]anchorTiming{}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("reading anchor output: %w", err)
	}
	return res, nil
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// writeTempScript writes the embedded anchor script to a new temporary file and returns its
// path; the caller removes it.
func writeTempScript() (string, error) {
	f, err := os.CreateTemp("", "kiln-numpy-anchors-*.py")
	if err != nil {
		return "", fmt.Errorf("writing the anchor script: %w", err)
	}
	if _, err := f.Write(NumpyAnchors); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("writing the anchor script: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing the anchor script: %w", err)
	}
	return f.Name(), nil
}

// Groups returns the sorted distinct groups of cases.
func Groups(cases []Case) []string {
	seen := map[string]bool{}
	var gs []string
	for _, c := range cases {
		if !seen[c.Group] {
			seen[c.Group] = true
			gs = append(gs, c.Group)
		}
	}
	sort.Strings(gs)
	return gs
}
