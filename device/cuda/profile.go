//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unsafe"
)

// ProfileEnv names the environment variable that turns the profiler on: when it is set to
// anything but "" or "0" as a device opens, every driver call of that device goes through
// profDriver.
const ProfileEnv = "KILN_CUDA_PROFILE"

func profileRequested() bool {
	v := os.Getenv(ProfileEnv)
	return v != "" && v != "0"
}

// profDriver wraps a driver and records where a run's time goes, for machines where no
// hardware profiler (nsys) is at hand. Each kernel launch, device-to-device copy and memset
// is bracketed by two events, so the report gives GPU time per kernel name; the host time spent inside every driver call is measured too,
// and the wall time minus all of it is the time the host spent in Go (the model's own code,
// waiting for the prior) with the GPU possibly idle. The events cost a few microseconds per
// launch, so a profiled run is slower than a plain one: use it to rank costs, not to time.
//
// All calls arrive under the device's lock (enter/leave), so profDriver needs none of its own.
type profDriver struct {
	driver
	start   time.Time
	kernels map[string]*kernelStat
	calls   map[string]*callStat
	readers map[string]*callStat // device-to-host reads by the code that asked for them
	pending []pendingSpan
}

type kernelStat struct {
	launches int
	gpuMS    float64
	host     time.Duration // inside the driver's launch call
}

type callStat struct {
	calls int
	bytes int64
	host  time.Duration
}

type pendingSpan struct {
	name       string
	start, end any
}

// maxPending bounds the events alive at once; resolving them waits for the GPU to reach the
// last one, which is harmless for a profile.
const maxPending = 4096

func newProfDriver(inner driver) *profDriver {
	return &profDriver{driver: inner, start: time.Now(), kernels: map[string]*kernelStat{}, calls: map[string]*callStat{}, readers: map[string]*callStat{}}
}

func (p *profDriver) call(name string, bytes int64, since time.Time) {
	p.callOf(name, bytes).host += time.Since(since)
}

// entry returns m[name], adding a zero one first if there is none.
func entry[T any](m map[string]*T, name string) *T {
	v := m[name]
	if v == nil {
		v = new(T)
		m[name] = v
	}
	return v
}

// callOf counts one call of name moving bytes.
func (p *profDriver) callOf(name string, bytes int64) *callStat {
	c := entry(p.calls, name)
	c.calls++
	c.bytes += bytes
	return c
}

// span runs f between two events attributed to name.
func (p *profDriver) span(name string, f func() error) error {
	s, errS := p.driver.record()
	t := time.Now()
	err := f()
	host := time.Since(t)
	e, errE := p.driver.record()
	k := entry(p.kernels, name)
	k.launches++
	k.host += host
	if errS == nil && errE == nil {
		p.pending = append(p.pending, pendingSpan{name, s, e})
		if len(p.pending) >= maxPending {
			p.resolve()
		}
	}
	return err
}

// resolve turns the pending event pairs into GPU milliseconds (and releases the events).
func (p *profDriver) resolve() {
	for _, s := range p.pending {
		if ms, err := p.driver.elapsed(s.start, s.end); err == nil {
			p.kernels[s.name].gpuMS += ms
		}
	}
	p.pending = p.pending[:0]
}

func (p *profDriver) launch(name string, grid, block dim3, smem int, slots []uint64) error {
	return p.span(name, func() error { return p.driver.launch(name, grid, block, smem, slots) })
}

func (p *profDriver) dtod(dst, src uintptr, bytes int64) error {
	p.callOf("memcpy DtoD", bytes) // its time is the span's
	return p.span("(memcpy DtoD)", func() error { return p.driver.dtod(dst, src, bytes) })
}

func (p *profDriver) memsetD32(ptr uintptr, v uint32, n int64) error {
	p.callOf("memset", 4*n)
	return p.span("(memset)", func() error { return p.driver.memsetD32(ptr, v, n) })
}

func (p *profDriver) htod(dst uintptr, src unsafe.Pointer, bytes int64) error {
	t := time.Now()
	defer p.call("memcpy HtoD", bytes, t)
	return p.driver.htod(dst, src, bytes)
}

func (p *profDriver) dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error {
	t := time.Now()
	defer func() {
		d := time.Since(t)
		p.call("memcpy DtoH (waits for the GPU)", bytes, t)
		r := entry(p.readers, reader())
		r.calls++
		r.bytes += bytes
		r.host += d
	}()
	return p.driver.dtoh(dst, src, bytes)
}

// reader names the code a device-to-host read serves: the first caller outside this package
// and the tensor package (whose Float64s and Item only pass the request on), as
// "function:line". Each such read makes the host wait for the GPU, so this is the list of
// synchronisation points to remove.
func reader() string {
	var pcs [24]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for {
		f, more := frames.Next()
		fn := f.Function
		if !strings.Contains(fn, "kiln/device/cuda.") && !strings.Contains(fn, "kiln/tensor.") &&
			!strings.HasPrefix(fn, "runtime.") {
			return fmt.Sprintf("%s:%d", fn[strings.LastIndex(fn, "/")+1:], f.Line)
		}
		if !more {
			return "(unknown)"
		}
	}
}

func (p *profDriver) malloc(n int64) (uintptr, error) {
	t := time.Now()
	defer p.call("malloc", n, t)
	return p.driver.malloc(n)
}

func (p *profDriver) free(ptr uintptr) error {
	t := time.Now()
	defer p.call("free", 0, t)
	return p.driver.free(ptr)
}

func (p *profDriver) sync() error {
	t := time.Now()
	defer p.call("synchronize (waits for the GPU)", 0, t)
	return p.driver.sync()
}

// report writes the profile since the device opened (or the last reset) to w and starts a
// new one.
func (p *profDriver) report(w io.Writer, top int) error {
	p.resolve()
	wall := time.Since(p.start)
	var gpuMS float64
	var launchHost, callHost time.Duration
	names := make([]string, 0, len(p.kernels))
	for n, k := range p.kernels {
		names = append(names, n)
		gpuMS += k.gpuMS
		launchHost += k.host
	}
	for _, c := range p.calls {
		callHost += c.host
	}
	slices.SortFunc(names, func(a, b string) int {
		ka, kb := p.kernels[a], p.kernels[b]
		switch {
		case ka.gpuMS > kb.gpuMS:
			return -1
		case ka.gpuMS < kb.gpuMS:
			return 1
		}
		return 0
	})
	pct := func(d float64) float64 { return 100 * d / max(wall.Seconds()*1e3, 1e-9) }
	fmt.Fprintf(w, "cuda profile (%s): wall %.3f s; GPU busy in kernels and copies %.3f s (%.0f%% of wall); "+
		"host inside launches %.3f s, inside other driver calls %.3f s, outside the driver %.3f s\n",
		ProfileEnv, wall.Seconds(), gpuMS/1e3, pct(gpuMS), launchHost.Seconds(), callHost.Seconds(),
		(wall - launchHost - callHost).Seconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "kernel\tlaunches\tGPU ms\t% wall\tGPU µs/launch\thost µs/launch\t")
	for i, n := range names {
		if top > 0 && i == top {
			var rest kernelStat
			for _, m := range names[i:] {
				rest.launches += p.kernels[m].launches
				rest.gpuMS += p.kernels[m].gpuMS
				rest.host += p.kernels[m].host
			}
			fmt.Fprintf(tw, "(%d others)\t%d\t%.2f\t%.1f\t\t\t\n", len(names)-i, rest.launches, rest.gpuMS, pct(rest.gpuMS))
			break
		}
		k := p.kernels[n]
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.1f\t%.1f\t%.1f\t\n", n, k.launches, k.gpuMS, pct(k.gpuMS),
			1e3*k.gpuMS/float64(k.launches), float64(k.host.Microseconds())/float64(k.launches))
	}
	fmt.Fprintln(tw, "driver call\tcalls\tMB\thost ms\t\t\t")
	calls := make([]string, 0, len(p.calls))
	for n := range p.calls {
		calls = append(calls, n)
	}
	slices.Sort(calls)
	for _, n := range calls {
		c := p.calls[n]
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t\t\t\n", n, c.calls, float64(c.bytes)/1e6, float64(c.host.Microseconds())/1e3)
	}
	if len(p.readers) > 0 {
		fmt.Fprintln(tw, "device-to-host read by\treads\tMB\thost ms\t\t\t")
		rs := make([]string, 0, len(p.readers))
		for n := range p.readers {
			rs = append(rs, n)
		}
		slices.SortFunc(rs, func(a, b string) int { return p.readers[b].calls - p.readers[a].calls })
		for i, n := range rs {
			if i == 12 {
				fmt.Fprintf(tw, "(%d others)\t\t\t\t\t\t\n", len(rs)-i)
				break
			}
			r := p.readers[n]
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t\t\t\n", n, r.calls, float64(r.bytes)/1e6, float64(r.host.Microseconds())/1e3)
		}
	}
	err := tw.Flush()
	p.start = time.Now()
	clear(p.kernels)
	clear(p.calls)
	clear(p.readers)
	return err
}

// ProfileReport writes where the device's time went since it opened (or since the last
// report) when the profiler is on (KILN_CUDA_PROFILE=1 at open), listing the top kernels by
// GPU time, and starts a new profile. It reports false, writing nothing, when it is off.
func (d *Device) ProfileReport(w io.Writer) (bool, error) {
	d.enter()
	defer d.leave()
	p, ok := d.drv.(*profDriver)
	if !ok {
		return false, nil
	}
	return true, p.report(w, 25)
}
