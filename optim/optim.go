package optim

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// Param is a parameter tensor with the name that identifies it in errors and saved state.
type Param struct {
	Name string
	T    *tensor.Tensor
}

// Group is a set of parameters that share hyper-parameters.
type Group struct {
	Name   string
	Params []Param
	// NoWeightDecay turns weight decay off for the group (biases and normalisation gains,
	// as is usual for AdamW and LAMB).
	NoWeightDecay bool
	// LRScale multiplies the optimizer's learning rate for this group; 0 means 1.
	LRScale float64
}

func (g *Group) lrScale() float64 {
	if g.LRScale == 0 {
		return 1
	}
	return g.LRScale
}

// Params makes one group of the given tensors, named p0, p1, ...
func Params(ts ...*tensor.Tensor) []Group {
	ps := make([]Param, len(ts))
	for i, t := range ts {
		ps[i] = Param{Name: fmt.Sprintf("p%d", i), T: t}
	}
	return []Group{{Name: "default", Params: ps}}
}

// Named pairs names with tensors.
func Named(names []string, ts []*tensor.Tensor) ([]Param, error) {
	if len(names) != len(ts) {
		return nil, fmt.Errorf("optim: %d names for %d tensors", len(names), len(ts))
	}
	ps := make([]Param, len(ts))
	for i := range ts {
		ps[i] = Param{Name: names[i], T: ts[i]}
	}
	return ps, nil
}

// SplitDecay splits parameters into a "decay" group and a "no_decay" group (NoWeightDecay
// set): a parameter goes without decay when its rank is below 2 (biases, layer-norm gains)
// or its name contains "bias" or "norm" (case-insensitively). Empty groups are dropped. This
// is the usual recipe for AdamW and LAMB (e.g. BERT pre-training, You et al. 2019, §5).
func SplitDecay(params []Param) []Group {
	var dec, nodec []Param
	for _, p := range params {
		n := strings.ToLower(p.Name)
		if p.T.Rank() < 2 || strings.Contains(n, "bias") || strings.Contains(n, "norm") {
			nodec = append(nodec, p)
		} else {
			dec = append(dec, p)
		}
	}
	var gs []Group
	if len(dec) > 0 {
		gs = append(gs, Group{Name: "decay", Params: dec})
	}
	if len(nodec) > 0 {
		gs = append(gs, Group{Name: "no_decay", Params: nodec, NoWeightDecay: true})
	}
	return gs
}

// Options are the behaviours every optimizer shares.
type Options struct {
	// MaxGradNorm > 0 clips the global gradient norm (over all groups) to this value. The
	// clipping factor is applied inside the fused step; gradients are not rewritten.
	MaxGradNorm float64
	// GradScale multiplies every gradient (e.g. 1/loss-scale in mixed precision); 0 means 1.
	GradScale float64
	// SkipNonFinite skips (and counts) steps whose gradients hold a NaN or Inf instead of
	// refusing them with an error: the loss-scaling behaviour.
	SkipNonFinite bool
}

// Optimizer is the interface every optimizer in this package implements.
type Optimizer interface {
	// Name is the optimizer's kind: "sgd", "adamw", "lamb", "sophia", "adahessian".
	Name() string
	// Step applies one update from the parameters' current gradients.
	Step() error
	// ZeroGrad releases every parameter's gradient (sets it to nil).
	ZeroGrad()
	LR() float64
	SetLR(lr float64)
	// StepCount is the number of updates applied (skipped steps excluded).
	StepCount() int
	// Skipped counts steps skipped for non-finite gradients (Options.SkipNonFinite).
	Skipped() int
	// LastSkipped reports whether the most recent Step was skipped.
	LastSkipped() bool
	// GradNorm is the global norm of the last step's gradients (after GradScale, before
	// clipping).
	GradNorm() float64
	Groups() []Group
	// State snapshots the optimizer (step counters, learning rate, every state tensor as
	// float64, which round-trips float32 exactly); LoadState restores it.
	State() (*State, error)
	LoadState(s *State) error
	// Release frees the optimizer's state tensors.
	Release()
}

// State is a serialisable snapshot of an optimizer. Tensors are keyed "<param>/<state>".
type State struct {
	Optimizer string               `json:"optimizer"`
	Step      int                  `json:"step"`
	Skipped   int                  `json:"skipped"`
	LR        float64              `json:"lr"`
	Tensors   map[string][]float64 `json:"tensors"`
	Scalars   map[string]float64   `json:"scalars,omitempty"`
}

// base holds what every optimizer shares: groups, state tensors, the step machinery.
type base struct {
	kind        device.OptimKind
	groups      []Group
	opts        Options
	lr, wd      float64
	step        int
	skipped     int
	lastSkipped bool
	gradNorm    float64

	stateNames []string // saved state per parameter
	transient  int      // further per-parameter buffers, not saved (AdaHessian's estimate)
	state      [][][]*tensor.Tensor

	// hyper fills the kind's fields of h.
	hyper func(h *device.OptimHyper)
	// prepare runs after the gradient checks and before the update (may refuse the step).
	prepare func(active []ref) error
	// finish runs after a successful update.
	finish func()
	// scalars adds kind-specific scalars to State and restores them.
	saveScalars func(map[string]float64)
	loadScalars func(map[string]float64) error
}

// forceComposed makes every step take the composed path (tests compare both paths).
var forceComposed bool

// ref locates one parameter.
type ref struct{ g, p int }

func newBase(kind device.OptimKind, groups []Group, lr, wd float64, opts Options, stateNames []string, transient int) (*base, error) {
	if len(groups) == 0 {
		return nil, errors.New("optim: no parameter groups")
	}
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return nil, fmt.Errorf("optim: learning rate %v must be finite and ≥ 0", lr)
	}
	if !(wd >= 0) || math.IsInf(wd, 0) {
		return nil, fmt.Errorf("optim: weight decay %v must be finite and ≥ 0", wd)
	}
	if !(opts.MaxGradNorm >= 0) || !(opts.GradScale >= 0) || math.IsInf(opts.GradScale, 0) {
		return nil, fmt.Errorf("optim: MaxGradNorm (%v) and GradScale (%v) must be ≥ 0", opts.MaxGradNorm, opts.GradScale)
	}
	b := &base{kind: kind, groups: make([]Group, len(groups)), opts: opts, lr: lr, wd: wd,
		stateNames: stateNames, transient: transient}
	seen := map[string]bool{}
	var dev device.Device
	for gi, g := range groups {
		if !(g.LRScale >= 0) {
			return nil, fmt.Errorf("optim: group %q has LRScale %v < 0", g.Name, g.LRScale)
		}
		g.Params = append([]Param(nil), g.Params...)
		for pi := range g.Params {
			p := &g.Params[pi]
			if p.T == nil || p.T.Released() {
				return nil, fmt.Errorf("optim: group %q parameter %d (%q) is nil or released", g.Name, pi, p.Name)
			}
			if p.Name == "" {
				p.Name = fmt.Sprintf("g%d.p%d", gi, pi)
			}
			if seen[p.Name] {
				return nil, fmt.Errorf("optim: two parameters are named %q", p.Name)
			}
			seen[p.Name] = true
			if dt := p.T.DType(); dt != tensor.Float32 && dt != tensor.Float64 {
				return nil, fmt.Errorf("optim: parameter %q has dtype %s, want float32 or float64", p.Name, dt)
			}
			if dev == nil {
				dev = p.T.Device()
			} else if p.T.Device() != dev {
				return nil, fmt.Errorf("optim: parameter %q is on %s, others on %s", p.Name, p.T.Device().Name(), dev.Name())
			}
		}
		b.groups[gi] = g
	}
	// State lives on the parameters' device, zero-initialised, outside any scope.
	err := tensor.Catch(func() error {
		b.state = make([][][]*tensor.Tensor, len(b.groups))
		for gi, g := range b.groups {
			b.state[gi] = make([][]*tensor.Tensor, len(g.Params))
			for pi, p := range g.Params {
				for k := 0; k < len(stateNames)+transient; k++ {
					t := tensor.Zeros(p.T.Device(), p.T.DType(), p.T.Shape()...).Detach()
					b.state[gi][pi] = append(b.state[gi][pi], t)
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Release()
		return nil, fmt.Errorf("optim: allocating state: %w", err)
	}
	return b, nil
}

func (b *base) Name() string       { return b.kind.String() }
func (b *base) LR() float64        { return b.lr }
func (b *base) SetLR(lr float64)   { b.lr = lr }
func (b *base) StepCount() int     { return b.step }
func (b *base) Skipped() int       { return b.skipped }
func (b *base) LastSkipped() bool  { return b.lastSkipped }
func (b *base) GradNorm() float64  { return b.gradNorm }
func (b *base) Groups() []Group    { return b.groups }
func (b *base) param(r ref) *Param { return &b.groups[r.g].Params[r.p] }

// Parameters lists every parameter in group order.
func (b *base) Parameters() []Param {
	var ps []Param
	for _, g := range b.groups {
		ps = append(ps, g.Params...)
	}
	return ps
}

// ZeroGrad releases every parameter's gradient.
func (b *base) ZeroGrad() {
	for _, g := range b.groups {
		for _, p := range g.Params {
			if gr := p.T.Grad(); gr != nil {
				gr.Release()
				p.T.SetGrad(nil)
			}
		}
	}
}

// Release frees the state tensors; the optimizer must not be used afterwards.
func (b *base) Release() {
	for _, gs := range b.state {
		for _, ps := range gs {
			for _, t := range ps {
				if t != nil {
					t.Release()
				}
			}
		}
	}
	b.state = nil
}

// Step validates the gradients, refuses (or skips) non-finite ones, and applies one fused
// update per group and dtype.
func (b *base) Step() error {
	if b.state == nil {
		return errors.New("optim: Step after Release")
	}
	return tensor.Catch(b.doStep)
}

func (b *base) doStep() error {
	b.lastSkipped = false
	var active []ref
	for gi, g := range b.groups {
		for pi, p := range g.Params {
			gr := p.T.Grad()
			if gr == nil {
				continue
			}
			if gr.Released() || p.T.Released() {
				return fmt.Errorf("optim: parameter %q or its gradient was released", p.Name)
			}
			if !tensor.SameShape(gr.Shape(), p.T.Shape()) || gr.DType() != p.T.DType() || gr.Device() != p.T.Device() {
				return fmt.Errorf("optim: parameter %q is %v %s on %s but its gradient is %v %s on %s", p.Name,
					p.T.Shape(), p.T.DType(), p.T.Device().Name(), gr.Shape(), gr.DType(), gr.Device().Name())
			}
			if p.T.Len() > 0 {
				active = append(active, ref{gi, pi})
			}
		}
	}
	if len(active) == 0 {
		return nil
	}
	grads := make([]*tensor.Tensor, len(active))
	for i, r := range active {
		grads[i] = b.param(r).T.Grad()
	}
	sq, err := sumSquares(grads)
	if err != nil {
		return err
	}
	total := 0.0
	for i, s := range sq {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			if b.opts.SkipNonFinite {
				b.skipped++
				b.lastSkipped = true
				return nil
			}
			return fmt.Errorf("optim: %s step %d refused: the gradient of parameter %q holds NaN or Inf",
				b.Name(), b.step+1, b.param(active[i]).Name)
		}
		total += s
	}
	scale := b.opts.GradScale
	if scale == 0 {
		scale = 1
	}
	b.gradNorm = scale * math.Sqrt(total)
	if m := b.opts.MaxGradNorm; m > 0 && b.gradNorm > m {
		scale *= m / b.gradNorm
	}
	if b.prepare != nil {
		if err := b.prepare(active); err != nil {
			return err
		}
	}
	b.step++
	if err := b.update(active, scale); err != nil {
		return err
	}
	if b.finish != nil {
		b.finish()
	}
	return nil
}

// update issues one device.OptimizerStep per (group, dtype), falling back to the composed
// path when the backend does not fuse this kind.
func (b *base) update(active []ref, scale float64) error {
	for gi := range b.groups {
		g := &b.groups[gi]
		h := device.OptimHyper{LR: b.lr * g.lrScale(), WeightDecay: b.wd, GradScale: scale, Step: b.step}
		if g.NoWeightDecay {
			h.WeightDecay = 0
		}
		b.hyper(&h)
		for _, dt := range []device.DType{device.Float32, device.Float64} {
			var ts []device.OptimTensor
			var dev device.Device
			for _, r := range active {
				if r.g != gi {
					continue
				}
				p := b.param(r)
				if p.T.DType() != dt {
					continue
				}
				st := b.state[r.g][r.p]
				bufs := make([]device.Buffer, len(st))
				for k, t := range st {
					bufs[k] = t.Buffer()
				}
				if b.kind == device.OptimAdamW && !h.AMSGrad {
					bufs = bufs[:2]
				}
				if b.kind == device.OptimSGD && h.Momentum == 0 {
					bufs = nil
				}
				ts = append(ts, device.OptimTensor{Param: p.T.Buffer(), Grad: p.T.Grad().Buffer(), State: bufs, N: p.T.Len()})
				dev = p.T.Device()
			}
			if len(ts) == 0 {
				continue
			}
			err := device.ErrUnsupported
			if !forceComposed {
				err = dev.OptimizerStep(b.kind, ts, h)
			}
			if errors.Is(err, device.ErrUnsupported) {
				err = ComposedStep(dev, b.kind, ts, h)
			}
			if err != nil {
				return fmt.Errorf("optim: %s step of group %q: %w", b.Name(), g.Name, err)
			}
		}
	}
	return nil
}

// sumSquares returns Σg² of every tensor, computed on the device and read back in one copy.
// A float32 sum that overflows to +Inf although every element is finite is recomputed on a
// scaled copy, so that huge but finite gradients are clipped rather than refused.
func sumSquares(ts []*tensor.Tensor) ([]float64, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	dev := ts[0].Device()
	all, err := dev.Alloc(device.Float64, len(ts))
	if err != nil {
		return nil, err
	}
	defer all.Free()
	// One scalar per dtype receives each reduction before it is converted into its slot
	// (Reduce has no output offset); work is stream-ordered, so reusing it is safe.
	scalars := map[device.DType]device.Buffer{}
	defer func() {
		for _, b := range scalars {
			b.Free()
		}
	}()
	for i, t := range ts {
		one := scalars[t.DType()]
		if one == nil {
			if one, err = dev.Alloc(t.DType(), 1); err != nil {
				return nil, err
			}
			scalars[t.DType()] = one
		}
		dev.Reduce(device.ReduceSumSquares, t.Buffer(), 1, t.Len(), 1, one)
		dev.Convert(all, i, one, 0, 1)
	}
	out := make([]float64, len(ts))
	if err := dev.CopyToHost(out, all); err != nil {
		return nil, err
	}
	for i, s := range out {
		if math.IsInf(s, 1) {
			fin, err := allFinite(ts[i])
			if err != nil {
				return nil, err
			}
			if fin {
				out[i], err = scaledSumSquares(ts[i])
				if err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

func allFinite(t *tensor.Tensor) (bool, error) {
	dev := t.Device()
	n := t.Len()
	tmp, err := dev.Alloc(t.DType(), n)
	if err != nil {
		return false, err
	}
	defer tmp.Free()
	l := device.Contiguous([]int{n})
	dev.Unary(device.UnaryIsFinite, t.Buffer(), l, tmp, l, 0)
	one, err := dev.Alloc(device.Float64, 1)
	if err != nil {
		return false, err
	}
	defer one.Free()
	mn, err := dev.Alloc(t.DType(), 1)
	if err != nil {
		return false, err
	}
	defer mn.Free()
	dev.Reduce(device.ReduceMin, tmp, 1, n, 1, mn)
	dev.Convert(one, 0, mn, 0, 1)
	v := make([]float64, 1)
	if err := dev.CopyToHost(v, one); err != nil {
		return false, err
	}
	return v[0] == 1, nil
}

// scaledSumSquares computes Σg² as 2¹²⁸·Σ(2⁻⁶⁴g)², in float64 on the host side of the sum.
func scaledSumSquares(t *tensor.Tensor) (float64, error) {
	dev := t.Device()
	n := t.Len()
	tmp, err := dev.Alloc(t.DType(), n)
	if err != nil {
		return 0, err
	}
	defer tmp.Free()
	l := device.Contiguous([]int{n})
	dev.Unary(device.UnaryScale, t.Buffer(), l, tmp, l, 0x1p-64)
	s, err := dev.Alloc(t.DType(), 1)
	if err != nil {
		return 0, err
	}
	defer s.Free()
	dev.Reduce(device.ReduceSumSquares, tmp, 1, n, 1, s)
	one, err := dev.Alloc(device.Float64, 1)
	if err != nil {
		return 0, err
	}
	defer one.Free()
	dev.Convert(one, 0, s, 0, 1)
	v := make([]float64, 1)
	if err := dev.CopyToHost(v, one); err != nil {
		return 0, err
	}
	return v[0] * 0x1p128, nil
}

// State snapshots the optimizer.
func (b *base) State() (*State, error) {
	if b.state == nil {
		return nil, errors.New("optim: State after Release")
	}
	s := &State{Optimizer: b.Name(), Step: b.step, Skipped: b.skipped, LR: b.lr,
		Tensors: map[string][]float64{}, Scalars: map[string]float64{}}
	err := tensor.Catch(func() error {
		for gi, g := range b.groups {
			for pi, p := range g.Params {
				for k, name := range b.stateNames {
					s.Tensors[p.Name+"/"+name] = b.state[gi][pi][k].Float64s()
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if b.saveScalars != nil {
		b.saveScalars(s.Scalars)
	}
	return s, nil
}

// LoadState restores a snapshot taken by State from an optimizer of the same kind over
// parameters of the same names and sizes. Nothing changes when it returns an error.
func (b *base) LoadState(s *State) error {
	if b.state == nil {
		return errors.New("optim: LoadState after Release")
	}
	if s == nil {
		return errors.New("optim: LoadState of a nil state")
	}
	if s.Optimizer != b.Name() {
		return fmt.Errorf("optim: state of a %q optimizer loaded into %q", s.Optimizer, b.Name())
	}
	if s.Step < 0 || s.Skipped < 0 || !(s.LR >= 0) {
		return fmt.Errorf("optim: bad state counters (step %d, skipped %d, lr %v)", s.Step, s.Skipped, s.LR)
	}
	want := map[string]bool{}
	for _, g := range b.groups {
		for _, p := range g.Params {
			for _, name := range b.stateNames {
				key := p.Name + "/" + name
				want[key] = true
				v, ok := s.Tensors[key]
				if !ok {
					return fmt.Errorf("optim: state has no tensor %q", key)
				}
				if len(v) != p.T.Len() {
					return fmt.Errorf("optim: state tensor %q has %d values, parameter has %d", key, len(v), p.T.Len())
				}
			}
		}
	}
	var extra []string
	for k := range s.Tensors {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("optim: state holds tensors for unknown parameters: %s", strings.Join(extra, ", "))
	}
	if b.loadScalars != nil {
		if err := b.loadScalars(s.Scalars); err != nil {
			return err
		}
	}
	err := tensor.Catch(func() error {
		for gi, g := range b.groups {
			for pi, p := range g.Params {
				for k, name := range b.stateNames {
					if err := copyIn(b.state[gi][pi][k], s.Tensors[p.Name+"/"+name]); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.step, b.skipped, b.lr = s.Step, s.Skipped, s.LR
	return nil
}

// copyIn writes host values into an existing tensor's buffer.
func copyIn(t *tensor.Tensor, v []float64) error {
	if len(v) == 0 {
		return nil
	}
	switch t.DType() {
	case tensor.Float64:
		return t.Device().CopyFromHost(t.Buffer(), v)
	case tensor.Float32:
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		return t.Device().CopyFromHost(t.Buffer(), f)
	}
	return fmt.Errorf("optim: state tensor of dtype %s", t.DType())
}

// checkBeta validates a decay rate in [0, 1).
func checkBeta(name string, v float64) error {
	if !(v >= 0 && v < 1) {
		return fmt.Errorf("optim: %s = %v, want 0 ≤ %s < 1", name, v, name)
	}
	return nil
}

func checkPositive(name string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return fmt.Errorf("optim: %s = %v, want a finite value > 0", name, v)
	}
	return nil
}
