// Command tabpfnscale measures what a TabPFN fit+predict costs as the training table grows:
// wall time, CPU time and peak resident memory of one fit of N training rows × F features
// followed by predictions for a number of test rows (1,000 by default), on a synthetic
// two-class table with a linear boundary plus noise.
//
// Peak memory is a property of a whole process, so each measurement runs in a process of
// its own. The command has three modes:
//
//	tabpfnscale -rows 1024 -features 100           one measurement, one JSON line on stdout
//	tabpfnscale -sweep -out DIR                    every cell of -grid-rows × -grid-features,
//	                                               each in a child process, into DIR/raw.jsonl
//	tabpfnscale -plot DIR                          DIR/raw.jsonl → DIR/scale.png and a table
//
// A measurement reports the peak resident set size twice: VmHWM of /proc/self/status read
// by the process itself at the end, and (in a sweep) the child's maximum RSS from getrusage
// as its parent sees it. It also reports the CPU device's peak of live tensor bytes and the
// Go heap's totals, which tell memory held by tensors from memory held by the Go runtime.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu" // the pure-Go backend
	"github.com/kiln-ml/kiln/internal/synth"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// Result is one measurement, one line of raw.jsonl.
type Result struct {
	Rows     int `json:"rows"`
	Features int `json:"features"`
	Test     int `json:"test"`
	Ensemble int `json:"ensemble"`
	// Context is the training rows and features one member presented to the model.
	ContextRows     int      `json:"context_rows"`
	ContextFeatures int      `json:"context_features"`
	FitSec          float64  `json:"fit_s"`
	PredictSec      float64  `json:"predict_s"`
	WallSec         float64  `json:"wall_s"`
	CPUSec          float64  `json:"cpu_s"`
	PeakRSS         int64    `json:"peak_rss_bytes"`            // VmHWM at the end
	ChildMaxRSS     int64    `json:"child_maxrss_bytes"`        // getrusage of the child (sweep only)
	DevicePeak      int64    `json:"device_peak_bytes"`         // peak live tensor bytes on the device
	HeapAllocTotal  uint64   `json:"go_heap_alloc_total_bytes"` // bytes allocated over the run
	GCCycles        uint64   `json:"go_gc_cycles"`
	GOGC            string   `json:"gogc,omitempty"`
	GOMEMLIMIT      string   `json:"gomemlimit,omitempty"`
	Warnings        []string `json:"warnings,omitempty"`
	Error           string   `json:"error,omitempty"`
	Skipped         string   `json:"skipped,omitempty"`
	// Partial says that the run was stopped at -deadline before it finished: the times
	// and peaks are those reached by then.
	Partial string `json:"partial,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Host    string `json:"host,omitempty"`
	Time    string `json:"time"`
}

func main() {
	var (
		rows, feats, test, ensemble, maxRows, maxFeats int
		chunk, local                                   int
		sweep                                          bool
		out, plotDir, gridRows, gridFeats, memprof     string
		cpuprof, commit, rssTrace                      string
		deadline                                       time.Duration
		cellTimeout                                    time.Duration
		skipOver                                       float64
	)
	flag.IntVar(&rows, "rows", 1024, "training rows")
	flag.IntVar(&feats, "features", 100, "features")
	flag.IntVar(&test, "test", 1000, "test rows")
	flag.IntVar(&ensemble, "ensemble", 0, "ensemble members (0: the classifier's automatic size)")
	flag.IntVar(&maxRows, "max-rows", 0, "tabpfn.WithMaxRows (0: the default; -1: the table's rows, no subsample)")
	flag.IntVar(&maxFeats, "max-features", 0, "tabpfn.WithMaxFeatures (0: the default; -1: the table's features, no subset)")
	flag.IntVar(&chunk, "chunk", 0, "tabpfn.WithTestBatch rows per chunk (0: the default)")
	flag.IntVar(&local, "local", 0, "tabpfn.WithLocalContexts: each test row's context is its this many nearest training rows (0: one context of the whole table)")
	flag.StringVar(&memprof, "memprofile", "", "write a heap profile (allocations) here after the run")
	flag.StringVar(&cpuprof, "cpuprofile", "", "write a CPU profile here")
	flag.BoolVar(&sweep, "sweep", false, "measure every cell of the grid, each in a child process")
	flag.StringVar(&out, "out", "", "sweep: folder for raw.jsonl (appended) and the children's stderr")
	flag.StringVar(&gridRows, "grid-rows", "1000,2000,5000,10000", "sweep: training rows")
	flag.StringVar(&gridFeats, "grid-features", "20,100,500", "sweep: features")
	flag.Float64Var(&skipOver, "skip-over", 600, "sweep: skip a cell whose estimated time on an idle machine exceeds this many seconds (0: none)")
	flag.DurationVar(&cellTimeout, "cell-timeout", 20*time.Minute, "sweep: kill a cell after this long")
	flag.StringVar(&commit, "commit", "", "commit to record with each result")
	flag.StringVar(&rssTrace, "rss-trace", "", "write elapsed seconds, CPU seconds, resident and live tensor bytes here every second")
	flag.DurationVar(&deadline, "deadline", 0, "stop a single measurement after this long and report what it reached (0: none)")
	flag.StringVar(&plotDir, "plot", "", "plot DIR/raw.jsonl into DIR/scale.png and print the table")
	flag.Parse()

	var err error
	switch {
	case plotDir != "":
		err = plotResults(plotDir)
	case sweep:
		err = runSweep(out, gridRows, gridFeats, test, ensemble, skipOver, cellTimeout, commit, flag.Args())
	default:
		var r Result
		if rssTrace != "" || deadline > 0 {
			if err := watch(rssTrace, deadline, Result{Rows: rows, Features: feats, Test: test, Commit: commit}); err != nil {
				fmt.Fprintln(os.Stderr, "tabpfnscale:", err)
				os.Exit(1)
			}
		}
		r, err = measure(rows, feats, test, ensemble, maxRows, maxFeats, chunk, local, memprof, cpuprof)
		r.Commit = commit
		if err != nil {
			r.Error = err.Error()
		}
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tabpfnscale:", err)
		os.Exit(1)
	}
}

func measure(rows, feats, test, ensemble, maxRows, maxFeats, chunk, local int, memprof, cpuprof string) (Result, error) {
	res := Result{Rows: rows, Features: feats, Test: test, GOGC: os.Getenv("GOGC"), GOMEMLIMIT: os.Getenv("GOMEMLIMIT"),
		Time: time.Now().UTC().Format(time.RFC3339)}
	res.Host, _ = os.Hostname()
	r := rand.New(rand.NewPCG(1, 2))
	xtr, ytr := synth.LinearBoundary(r, rows, feats)
	xte, _ := synth.LinearBoundary(r, test, feats)
	dev, err := device.Get("cpu")
	if err != nil {
		return res, err
	}
	model, err := tabpfn.DefaultModel(dev)
	if err != nil {
		return res, err
	}
	defer model.Release()
	if maxRows < 0 {
		maxRows = rows
	}
	if maxFeats < 0 {
		maxFeats = feats
	}
	// By default one context of every training row: the cost this command measures is the
	// whole context's, which local contexts (the default above the model's trained rows)
	// avoid; -local measures theirs instead.
	opts := []tabpfn.Option{tabpfn.WithModel(model), tabpfn.WithEnsemble(ensemble),
		tabpfn.WithMaxRows(maxRows), tabpfn.WithMaxFeatures(maxFeats), tabpfn.WithLocalContexts(local)}
	if chunk > 0 {
		opts = append(opts, tabpfn.WithTestBatch(chunk))
	}
	c, err := tabpfn.NewClassifier(opts...)
	if err != nil {
		return res, err
	}
	defer c.Close()
	if cpuprof != "" {
		f, err := os.Create(cpuprof)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	if memprof != "" {
		runtime.MemProfileRate = 64 << 10
	}
	gc0, alloc0 := gcStats()
	cpu0 := cpuTime()
	start := time.Now()
	if err := c.Fit(xtr, ytr, 2); err != nil {
		return res, err
	}
	res.FitSec = time.Since(start).Seconds()
	res.Warnings = c.Warnings()
	res.Ensemble = c.Ensemble()
	// The classifier's limits: the options', else MaxContextRows and MaxContextFeatures or
	// the model's own where larger.
	limRows, limFeats := max(c.Config().MaxRows, tabpfn.MaxContextRows), max(c.Config().MaxFeatures, tabpfn.MaxContextFeatures)
	if maxRows > 0 {
		limRows = maxRows
	}
	if maxFeats > 0 {
		limFeats = maxFeats
	}
	res.ContextRows = min(rows, limRows)
	if local > 0 {
		// Each test row's own context of its nearest training rows.
		res.ContextRows = min(rows, local)
	}
	mid := time.Now()
	if _, err := c.PredictProba(xte); err != nil {
		return res, err
	}
	res.PredictSec = time.Since(mid).Seconds()
	res.WallSec = time.Since(start).Seconds()
	res.CPUSec = cpuTime() - cpu0
	gc1, alloc1 := gcStats()
	res.GCCycles, res.HeapAllocTotal = gc1-gc0, alloc1-alloc0
	res.ContextFeatures = min(feats, limFeats)
	res.DevicePeak = dev.MemStats().PeakBytes
	res.PeakRSS = vmHWM()
	if memprof != "" {
		f, err := os.Create(memprof)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return res, err
		}
	}
	return res, nil
}

func gcStats() (cycles, allocBytes uint64) {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// watch samples the process every second into path (when given) and, after deadline (when
// positive), prints base as a partial result with the peaks reached so far and exits: a
// cell too slow to finish still shows the memory of the part of the pass it ran.
func watch(path string, deadline time.Duration, base Result) error {
	var f *os.File
	if path != "" {
		var err error
		if f, err = os.Create(path); err != nil {
			return err
		}
		fmt.Fprintln(f, "elapsed_s cpu_s rss_bytes hwm_bytes live_tensor_bytes")
	}
	dev, err := device.Get("cpu")
	if err != nil {
		return err
	}
	start := time.Now()
	go func() {
		tick := time.NewTicker(time.Second)
		for range tick.C {
			el := time.Since(start)
			if f != nil {
				fmt.Fprintf(f, "%.0f %.1f %d %d %d\n", el.Seconds(), cpuTime(), statusBytes("VmRSS:"), statusBytes("VmHWM:"),
					dev.MemStats().LiveBytes)
			}
			if deadline > 0 && el >= deadline {
				r := base
				r.Partial = fmt.Sprintf("stopped after %.0f s", el.Seconds())
				r.WallSec, r.CPUSec, r.PeakRSS = el.Seconds(), cpuTime(), vmHWM()
				r.DevicePeak = dev.MemStats().PeakBytes
				r.Time = time.Now().UTC().Format(time.RFC3339)
				b, _ := json.Marshal(r)
				fmt.Println(string(b))
				if f != nil {
					f.Close()
				}
				os.Exit(0)
			}
		}
	}()
	return nil
}

// vmHWM returns the process's peak resident set size from /proc/self/status (0 where there
// is none).
func vmHWM() int64 { return statusBytes("VmHWM:") }

// statusBytes reads a size field of /proc/self/status (0 where there is none).
func statusBytes(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// estimateSec guesses a cell's wall time on an otherwise idle machine from the last cell
// measured, by the cost model of a forward pass, whose row attention dominates: time ∝
// (features+1)·rows·(rows+test). The measured cell's CPU time divided by the cores stands
// for its wall time, which a busy machine inflates.
func estimateSec(done []Result, rows, feats, test int) float64 {
	for i := len(done) - 1; i >= 0; i-- {
		d := done[i]
		if d.Error != "" || d.Skipped != "" || d.CPUSec == 0 {
			continue
		}
		w := func(r, f int) float64 { return float64(f+1) * float64(r) * float64(r+test) }
		return d.CPUSec / float64(runtime.NumCPU()) * w(rows, feats) / w(d.ContextRows, d.ContextFeatures)
	}
	return 0
}

func runSweep(out, gridRows, gridFeats string, test, ensemble int, skipOver float64, timeout time.Duration, commit string, extra []string) error {
	if out == "" {
		return errors.New("-sweep needs -out")
	}
	rs, err := ints(gridRows)
	if err != nil {
		return err
	}
	fs, err := ints(gridFeats)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(out, "raw.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var done []Result
	for _, nf := range fs {
		for _, nr := range rs {
			res := Result{Rows: nr, Features: nf, Test: test, Commit: commit, Time: time.Now().UTC().Format(time.RFC3339)}
			if est := estimateSec(done, nr, nf, test); skipOver > 0 && est > skipOver {
				res.Skipped = fmt.Sprintf("estimated %.0f s > %.0f s", est, skipOver)
				fmt.Fprintf(os.Stderr, "%d×%d: skipped (%s)\n", nr, nf, res.Skipped)
				if err := writeLine(f, res); err != nil {
					return err
				}
				continue
			}
			args := append([]string{"-rows", strconv.Itoa(nr), "-features", strconv.Itoa(nf), "-test", strconv.Itoa(test),
				"-ensemble", strconv.Itoa(ensemble), "-commit", commit}, extra...)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			cmd := exec.CommandContext(ctx, self, args...)
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			logf, err := os.Create(filepath.Join(out, fmt.Sprintf("cell-%dx%d.stderr", nr, nf)))
			if err != nil {
				cancel()
				return err
			}
			cmd.Stderr = logf
			fmt.Fprintf(os.Stderr, "%d×%d: running...\n", nr, nf)
			runErr := cmd.Run()
			cancel()
			logf.Close()
			sc := bufio.NewScanner(&stdout)
			var line []byte
			for sc.Scan() {
				line = append(line[:0], sc.Bytes()...)
			}
			if len(line) > 0 {
				if err := json.Unmarshal(line, &res); err != nil {
					res.Error = fmt.Sprintf("unreadable result %q: %v", line, err)
				}
			}
			if runErr != nil && res.Error == "" {
				res.Error = runErr.Error()
			}
			if ps := cmd.ProcessState; ps != nil {
				if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
					res.ChildMaxRSS = ru.Maxrss << 10
				}
			}
			fmt.Fprintf(os.Stderr, "%d×%d: %.1f s, peak RSS %.2f GB %s\n", nr, nf, res.WallSec, float64(res.ChildMaxRSS)/1e9, res.Error)
			if err := writeLine(f, res); err != nil {
				return err
			}
			done = append(done, res)
		}
	}
	return nil
}

func writeLine(f *os.File, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return err
}
