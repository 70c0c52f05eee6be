// Package devicetest is the conformance suite every kiln backend must pass. Run executes each
// device primitive, for float32 and float64, on random inputs of awkward sizes (1, 7, 33, 130,
// …: never multiples of a tile) and layouts, and compares the result with a float64
// reference computed on the host from the same (dtype-rounded) inputs. It is ordinary
// non-test code so that both `go test` and `kiln selftest` can run it; tests loop over the
// returned results.
//
// # Error measure and tolerances
//
// Every comparison reports the largest per-element error err_i = |got_i − want_i| / s_i,
// where the scale s_i is what rounding errors are proportional to for that primitive, and a
// case passes when that maximum is at most its tolerance. u is the unit roundoff of the
// dtype (2⁻²⁴ for float32, 2⁻⁵³ for float64). Error analysis bounds a length-n sum or dot
// product by γ_n·Σ|x_i y_i| with γ_n ≈ n·u in the worst case (Higham, "Accuracy and Stability
// of Numerical Algorithms", 2nd ed., section 3.1), but that bound is so loose for long sums
// in float32 that a wrong result of 1e-4 relative would pass. The tolerances therefore use
// the probabilistic bound of Higham and Mary ("A new approach to probabilistic rounding error
// analysis", SIAM J. Sci. Comput. 41(5), 2019, theorem 2.4): with independent mean-zero
// rounding errors the same sum errs by at most about λ·√n·u with probability at least
// 1 − 2n·exp(−λ²(1−u)²/2). λ = 8 (failure probability about 3e-14·n) is multiplied by the
// number of rounding-error sources chained in the primitive (exp, division, two products):
//
//	primitive          scale s_i                                     tolerance
//	Unary, Binary      |want_i| + 1                                  16·u            (≈1e-6 f32, 1.8e-15 f64)
//	Gemm               |α|·Σ_k|a_ik||b_kj| + |β|·|c_ij|               8·√(K+3)·u
//	Reduce sum(sq)     Σ|x| (Σx² for sum_squares) along the axis     8·√(n+2)·u
//	Reduce max/min     |want_i| + 1                                  0 (exact)
//	Softmax            |want_i| (softmax), |x_i|+|want_i|+1 (log)    16·√(cols+32)·u
//	SoftmaxBackward    the formula evaluated on absolute values      16·√(cols+32)·u
//	LayerNorm y        |γ_j|·(|x_ij| + |μ_i|)·rstd_i + |β_j|           16·√(cols+32)·u
//	LayerNorm μ, rstd  mean|x_i·|, rstd_i                            16·√(cols+32)·u
//	LayerNormBackward  the formulas evaluated on absolute values     32·√(rows+cols+32)·u
//	Attention O        Σ_j p_ij·|v_jc|;  lse: |lse_i| + 1            32·√(D+Dv+NContext+64)·u
//	AttentionBackward  the formulas evaluated on absolute values     32·√(D+Dv+NContext+Lq+64)·u
//	ScatterAdd         Σ|terms| per element                          8·√(n+2)·u
//	BSRMatMul          Σ_q|a_iq·b_qj| over A's stored entries        8·√(K+2)·u, K the longest row's terms
//	OptimizerStep      the update evaluated on absolute values       32·u            (≈1.9e-6 f32, 3.6e-15 f64)
//	                   (LAMB's parameters: plus ratio·|u_i|·κ, below)
//	Gather, Fill,      |want_i| + 1                                  0 (exact: pure data movement)
//	Convert, Alloc
//	RandomFill         1 (absolute error)                            0 (bit-exact with package rng)
//
// OptimizerStep's reference applies each kind's update rule as its paper states it (package
// optim's fused-step contract fixes the arrangement) in float64 and checks every parameter
// and state buffer after one call, or after each of three consecutive calls that start from
// the device's own state. The chain of an update is about a dozen roundings, each bounded by
// u times the update on absolute values (β1·|m| + (1−β1)·|ĝ| for a first moment, for
// instance), so 32·u leaves a factor of two over the worst case. A LAMB parameter also
// carries the relative error of the trust ratio ‖p‖/‖u‖: the elements' errors reach ‖u‖
// amplified by κ = ‖ū‖/‖u‖ (ū the bound on absolute values), and the two sums of n squares
// add about 8·√n·u, so its scale gains ratio·|u_i|·(κ + √(n+2)/4). β1 and β2 are rounded to
// the dtype first, as inputs are: 1−β2 of float32(0.999) differs from 0.001 by 6e-5
// relative, a property of float32 storage that is not the backend's to fix.
//
// "Evaluated on absolute values" means the reference is run a second time with every operand
// replaced by its magnitude and every subtraction by an addition, which bounds the size of
// the intermediate terms whose cancellation the rounding errors are relative to. Elements of
// an output buffer that a primitive must not write (padding between strided rows, a guard
// element after the last one written, the rest of a partly filled buffer) must keep their
// old values: they are compared like written elements, with scale |old| + 1. Besides the
// hand-written shapes and layouts, unary and binary maps run on random strided layouts
// (rank 1 to 4, permuted, padded, reversed, broadcast). A primitive that panics fails its
// case with the panic message; cases that check argument validation pass only if the
// primitive panics with a *device.Error.
package devicetest

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/rng"
)

// Options selects what Run covers.
type Options struct {
	// Quick runs a reduced set of sizes (the same primitives and layouts), for unit tests.
	Quick bool
	// Seed keys the host random inputs; 0 means 1.
	Seed uint64
	// DTypes to test; nil means float32 and float64.
	DTypes []device.DType
	// Primitives restricts the run to these primitive names (case-insensitive, as in
	// Result.Primitive); nil means all.
	Primitives []string

	// mutation breaks one rule of a reference on purpose, for the suite's own tests: a
	// wrong reference must make some case fail. Empty in every real run.
	mutation string
}

// Result is the outcome of one case.
type Result struct {
	Primitive string  `json:"primitive"`
	Case      string  `json:"case"`
	MaxErr    float64 `json:"max_err"`
	Tol       float64 `json:"tol"`
	Pass      bool    `json:"pass"`
	Err       string  `json:"err,omitempty"`
}

// Primitives lists the primitive names the suite covers, in the order it runs them.
func Primitives() []string {
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.name
	}
	return names
}

type group struct {
	name string
	run  func(s *suite, dt device.DType)
}

var groups = []group{
	{"Alloc", allocCases},
	{"Fill", fillCases},
	{"Convert", convertCases},
	{"Gemm", gemmCases},
	{"Unary", unaryCases},
	{"Binary", binaryCases},
	{"Reduce", reduceCases},
	{"Softmax", softmaxCases},
	{"SoftmaxBackward", softmaxBackwardCases},
	{"LayerNorm", layerNormCases},
	{"LayerNormBackward", layerNormBackwardCases},
	{"Attention", attentionCases},
	{"AttentionBackward", attentionBackwardCases},
	{"Gather", gatherCases},
	{"ScatterAdd", scatterCases},
	{"RandomFill", randomCases},
	{"OptimizerStep", optimizerCases},
	{"BSRMatMul", bsrCases},
}

// Run executes the suite on dev and returns one Result per case. It never panics because of
// the device: a panicking primitive becomes a failed Result. A final "MemStats" case checks
// that the suite's buffers were all released.
func Run(dev device.Device, opts Options) []Result {
	s := &suite{dev: dev, opts: opts}
	seed := opts.Seed
	if seed == 0 {
		seed = 1
	}
	s.stream = &rng.Stream{Seed: seed}
	dts := opts.DTypes
	if dts == nil {
		dts = []device.DType{device.Float32, device.Float64}
	}
	want := func(name string) bool {
		if opts.Primitives == nil {
			return true
		}
		return slices.ContainsFunc(opts.Primitives, func(p string) bool { return strings.EqualFold(p, name) })
	}
	before := dev.MemStats().LiveBuffers
	for _, g := range groups {
		if !want(g.name) {
			continue
		}
		for _, dt := range dts {
			g.run(s, dt)
		}
	}
	after := dev.MemStats().LiveBuffers
	r := Result{Primitive: "MemStats", Case: "live buffers after the suite equal those before", MaxErr: float64(after - before), Pass: after == before}
	if !r.Pass {
		r.Err = fmt.Sprintf("%d buffers live before, %d after", before, after)
	}
	s.results = append(s.results, r)
	return s.results
}

// Summary counts passes and failures.
func Summary(rs []Result) (passed, failed int) {
	for _, r := range rs {
		if r.Pass {
			passed++
		} else {
			failed++
		}
	}
	return
}

type suite struct {
	dev     device.Device
	opts    Options
	stream  *rng.Stream
	results []Result
}

// sizes returns quick in quick mode and full otherwise.
func pick[T any](s *suite, quick, full []T) []T {
	if s.opts.Quick {
		return quick
	}
	return full
}

// env is the state of one running case: its buffers (freed at the end) and its error.
type env struct {
	s      *suite
	dev    device.Device
	dt     device.DType
	u      float64 // unit roundoff of dt
	bufs   []device.Buffer
	maxErr float64
	failed string
	note   string // appended to the case's name in brackets (e.g. how it was checked)
}

// tol is the probabilistic tolerance c·√n·u of the table in the package comment.
func (e *env) tol(c float64, n int) float64 { return c * math.Sqrt(float64(n)) * e.u }

// unitRoundoff is u for dt: 2⁻²⁴ for float32, 2⁻⁵³ for float64.
func unitRoundoff(dt device.DType) float64 {
	if dt == device.Float32 {
		return 0x1p-24
	}
	return 0x1p-53
}

func dtName(dt device.DType) string {
	if dt == device.Float32 {
		return "f32"
	}
	return "f64"
}

// run executes one case. tol is computed by the case (it may depend on its sizes) through
// the returned value of f.
func (s *suite) run(prim string, dt device.DType, name string, f func(e *env) (tol float64)) {
	e := &env{s: s, dev: s.dev, dt: dt, u: unitRoundoff(dt)}
	r := Result{Primitive: prim, Case: dtName(dt) + " " + name}
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.Err = fmt.Sprintf("panic: %v", p)
			}
		}()
		r.Tol = f(e)
		if err := s.dev.Sync(); err != nil {
			r.Err = "Sync: " + err.Error()
		}
	}()
	for _, b := range e.bufs {
		b.Free()
	}
	if e.note != "" {
		r.Case += " [" + e.note + "]"
	}
	if e.failed != "" && r.Err == "" {
		r.Err = e.failed
	}
	r.MaxErr = e.maxErr
	r.Pass = r.Err == "" && e.maxErr <= r.Tol
	s.results = append(s.results, r)
}

// fail records a non-numeric failure (an expected panic that did not happen, a failed copy).
func (e *env) fail(format string, args ...any) {
	if e.failed == "" {
		e.failed = fmt.Sprintf(format, args...)
	}
}

// round rounds x in place to the precision of dt, so that references see exactly the
// numbers the device sees.
func (e *env) round(x []float64) []float64 {
	if e.dt == device.Float32 {
		for i, v := range x {
			x[i] = float64(float32(v))
		}
	}
	return x
}

// uniform and normal draw host inputs from the suite's Philox stream, rounded to dt.
func (e *env) uniform(n int, a, b float64) []float64 {
	x := make([]float64, n)
	rng.FillUniform(x, e.s.stream.Seed, e.s.stream.Next(n), 0, a, b)
	return e.round(x)
}

func (e *env) normal(n int, mean, sd float64) []float64 {
	x := make([]float64, n)
	rng.FillNormal(x, e.s.stream.Seed, e.s.stream.Next(n), 0, mean, sd)
	return e.round(x)
}

// alloc allocates a buffer freed when the case ends.
func (e *env) alloc(dt device.DType, n int) device.Buffer {
	b, err := e.dev.Alloc(dt, n)
	if err != nil {
		panic(fmt.Sprintf("Alloc(%s, %d): %v", dt, n, err))
	}
	e.bufs = append(e.bufs, b)
	return b
}

// upload copies x (rounded to dt) into a new buffer of dtype dt.
func (e *env) upload(x []float64) device.Buffer {
	b := e.alloc(e.dt, len(x))
	var err error
	if e.dt == device.Float32 {
		f := make([]float32, len(x))
		for i, v := range x {
			f[i] = float32(v)
		}
		err = e.dev.CopyFromHost(b, f)
	} else {
		err = e.dev.CopyFromHost(b, slices.Clone(x))
	}
	if err != nil {
		panic("CopyFromHost: " + err.Error())
	}
	return b
}

func (e *env) uploadIdx(ix []int32) device.Buffer {
	b := e.alloc(device.Int32, len(ix))
	if err := e.dev.CopyFromHost(b, slices.Clone(ix)); err != nil {
		panic("CopyFromHost: " + err.Error())
	}
	return b
}

// download copies a float buffer to the host as float64.
func (e *env) download(b device.Buffer) []float64 {
	x := make([]float64, b.Len())
	switch b.DType() {
	case device.Float32:
		f := make([]float32, b.Len())
		if err := e.dev.CopyToHost(f, b); err != nil {
			panic("CopyToHost: " + err.Error())
		}
		for i, v := range f {
			x[i] = float64(v)
		}
	case device.Float64:
		if err := e.dev.CopyToHost(x, b); err != nil {
			panic("CopyToHost: " + err.Error())
		}
	case device.Int32:
		f := make([]int32, b.Len())
		if err := e.dev.CopyToHost(f, b); err != nil {
			panic("CopyToHost: " + err.Error())
		}
		for i, v := range f {
			x[i] = float64(v)
		}
	}
	return x
}

// compare folds max_i |got_i − want_i| / scale_i into the case's error. Equal values
// (including equal infinities and NaN against NaN) contribute 0; a NaN where a number was
// expected, or the reverse, contributes +Inf. scale nil means |want_i| + 1.
func (e *env) compare(got, want, scale []float64) {
	if len(got) != len(want) {
		e.fail("result has %d elements, want %d", len(got), len(want))
		return
	}
	for i, g := range got {
		w := want[i]
		if g == w || (math.IsNaN(g) && math.IsNaN(w)) {
			continue
		}
		var err float64
		switch {
		case math.IsNaN(g) || math.IsNaN(w) || math.IsInf(g, 0) || math.IsInf(w, 0):
			err = math.Inf(1)
		default:
			s := math.Abs(w) + 1
			if scale != nil {
				s = scale[i]
			}
			err = math.Abs(g-w) / s
			if s == 0 || math.IsNaN(err) {
				err = math.Inf(1)
			}
		}
		if err > e.maxErr || math.IsNaN(err) {
			e.maxErr = err
		}
	}
}

// expectPanic runs f and records a failure unless it panics with a *device.Error.
func (e *env) expectPanic(what string, f func()) {
	defer func() {
		r := recover()
		if r == nil {
			e.fail("%s did not panic", what)
			return
		}
		if _, ok := r.(*device.Error); !ok {
			e.fail("%s panicked with %T (%v), want *device.Error", what, r, r)
		}
	}()
	f()
}

func abs(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = math.Abs(v)
	}
	return y
}

func plusOne(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = math.Abs(v) + 1
	}
	return y
}
