package tensor

import "sync/atomic"

// Context is an execution context: the state that a computation with tensors carries
// besides the tensors themselves. It holds
//
//   - a stack of scopes, which own the tensors made under the context and release them when
//     they close, so a loop of training steps or requests keeps its memory flat; and
//   - the grad mode, which tells package ops whether to record autograd nodes; and
//   - the autocast dtype, which tells layers (package nn) to run their matrix products in
//     a 16-bit float dtype on float32 parameters (mixed precision; see SetAutocast).
//
// Nothing of this is process-wide. A Context is used by one goroutine at a time (like a
// bufio.Writer); any number of goroutines can run at once, each with its own Context, and
// they may share tensors that none of them writes (a model's parameters). Results do not
// depend on what other contexts do.
//
// # Which context a tensor belongs to
//
// A tensor made by a Context method (c.Zeros, c.FromFloat32, …) or taken in with Track
// belongs to c and is recorded in c's innermost open scope. An op's output belongs to the
// context of its operands (ContextOf): operands of one context, or of none, may be mixed
// freely; operands of two different contexts are an error. A tensor that belongs to no
// context is free: the package-level constructors (Zeros, FromFloat32, …) make free tensors,
// Detach frees a tensor from its context, and an op whose operands are all free returns a
// free tensor. The caller owns a free tensor and releases it with Release; parameters,
// optimizer state and cached model inputs are free tensors.
//
// A nil *Context is valid wherever one is expected: its constructors make free tensors and
// its grad mode is on.
type Context struct {
	root   Scope  // the outermost scope, closed by Close
	top    *Scope // the innermost open scope
	noGrad bool
	closed bool
	// autocast is the dtype of the products of layers (package nn) in mixed precision; 0
	// when off.
	autocast DType
}

// NewContext returns an open context with grad mode on.
func NewContext() *Context {
	c := &Context{}
	c.root.ctx = c
	c.top = &c.root
	return c
}

// Close releases every tensor still recorded in the context's scopes and closes the context.
// A closed context cannot make tensors; closing twice is a no-op.
func (c *Context) Close() {
	if c == nil || c.closed {
		return
	}
	c.root.Close()
	c.closed = true
}

func (c *Context) checkOpen() {
	if c != nil && c.closed {
		panicf("use of a closed execution context")
	}
}

// freeMade counts the free tensors made so far; see FreeTensorsMade.
var freeMade atomic.Int64

// FreeTensorsMade is the number of free tensors (owned by no context) made so far in the
// process, by constructors, views or ops. Code that computes in an execution context makes
// none; tests compare the count before and after a computation to show that nothing
// escaped its context. It is a diagnostic counter: nothing reads it to decide anything.
func FreeTensorsMade() int64 { return freeMade.Load() }

// track records t in c's innermost scope (nothing when c is nil) and returns t.
func (c *Context) track(t *Tensor) *Tensor {
	if c == nil {
		freeMade.Add(1)
		return t
	}
	c.checkOpen()
	t.ctx = c
	t.scope = c.top
	c.top.tensors = append(c.top.tensors, t)
	return t
}

// Track takes ownership of free tensors: each is recorded in c's innermost scope, so the
// scope's Close releases it. A tensor that already belongs to c stays where it is; one that
// belongs to another context is an error. It returns its first argument for chaining.
func (c *Context) Track(ts ...*Tensor) *Tensor {
	if c == nil {
		panicf("Track on a nil context")
	}
	for _, t := range ts {
		if t == nil || t.ctx == c {
			continue
		}
		if t.ctx != nil {
			panicf("Track: the tensor of shape %v belongs to another execution context", t.shape)
		}
		c.track(t)
	}
	if len(ts) == 0 {
		return nil
	}
	return ts[0]
}

// View returns a view of t (sharing its storage, with its own reference) that belongs to c,
// whatever context t belongs to. It carries no autograd history: package ops's In makes a
// view that gradients flow through.
func (c *Context) View(t *Tensor) *Tensor {
	if c == nil {
		panicf("View on a nil context")
	}
	st := t.st
	if st == nil {
		panicf("view of a released tensor of shape %v", t.shape)
	}
	c.checkOpen()
	st.refs.Add(1)
	return c.track(&Tensor{shape: append([]int(nil), t.shape...), dtype: t.dtype, st: st})
}

// GradEnabled reports whether ops record autograd nodes for outputs of this context. It is
// true for a nil context.
func (c *Context) GradEnabled() bool { return c == nil || !c.noGrad }

// SetGradEnabled switches recording on or off for this context and returns the previous
// setting.
func (c *Context) SetGradEnabled(on bool) (prev bool) {
	if c == nil {
		panicf("SetGradEnabled on a nil context")
	}
	prev = !c.noGrad
	c.noGrad = !on
	return prev
}

// Autocast is the 16-bit float dtype in which layers run their matrix products for tensors
// of this context (mixed precision), or 0 when they compute in their parameters' dtype. It
// is 0 for a nil context.
func (c *Context) Autocast() DType {
	if c == nil {
		return 0
	}
	return c.autocast
}

// SetAutocast sets the dtype of Autocast, BFloat16 or Float16, or turns it off with 0 (or
// Float32), and returns the previous setting. It is mixed-precision training as Micikevicius
// et al., "Mixed Precision Training" (ICLR 2018), describe it, and as PyTorch's autocast
// applies it: the layers of package nn multiply 16-bit copies of their activations and of
// their float32 (master) weights, and return float32 results, so that normalisation,
// softmax, losses, the residual stream, gradients and optimizer state stay float32. Like the
// grad mode, it is state of the context, not of the tensors or the device: code written with
// layers runs unchanged in either precision.
func (c *Context) SetAutocast(dt DType) (prev DType) {
	if c == nil {
		panicf("SetAutocast on a nil context")
	}
	if dt == Float32 {
		dt = 0
	}
	if dt != 0 && !dt.IsHalf() {
		panicf("SetAutocast: %s is not a 16-bit float dtype", dt)
	}
	prev = c.autocast
	c.autocast = dt
	return prev
}

// NoGrad runs fn with recording off in this context (inference, optimizer updates), and
// restores the previous mode afterwards even if fn panics.
func (c *Context) NoGrad(fn func()) {
	prev := c.SetGradEnabled(false)
	defer c.SetGradEnabled(prev)
	fn()
}

// Context is the execution context t belongs to, or nil for a free tensor.
func (t *Tensor) Context() *Context { return t.ctx }

// ContextOf is the context that an op's output on operands ts belongs to: the one context
// among the operands that belong to one, or nil when all are free. Operands of two different
// contexts, or of a closed one, are an error. Nil operands are skipped.
func ContextOf(ts ...*Tensor) *Context {
	var c *Context
	for _, t := range ts {
		if t == nil || t.ctx == nil {
			continue
		}
		if c == nil {
			c = t.ctx
		} else if t.ctx != c {
			panicf("operands of shapes %v and %v belong to different execution contexts", firstOf(ts, c).shape, t.shape)
		}
	}
	c.checkOpen()
	return c
}

func firstOf(ts []*Tensor, c *Context) *Tensor {
	for _, t := range ts {
		if t != nil && t.ctx == c {
			return t
		}
	}
	return nil
}

// Scope records the tensors made under its context while it is the innermost open scope.
type Scope struct {
	ctx     *Context
	parent  *Scope
	tensors []*Tensor
	closed  bool
}

// NewScope opens a scope nested in the context's innermost one. Close it with
// defer s.Close().
func (c *Context) NewScope() *Scope {
	if c == nil {
		panicf("NewScope on a nil context")
	}
	c.checkOpen()
	s := &Scope{ctx: c, parent: c.top}
	c.top = s
	return s
}

// Context is the context the scope belongs to.
func (s *Scope) Context() *Context { return s.ctx }

// Keep moves tensors recorded in s into its parent scope (the context's outermost scope when
// s is outermost of those opened with NewScope), so Close does not release them. Tensors
// recorded elsewhere are left alone. It returns its first argument for chaining.
func (s *Scope) Keep(ts ...*Tensor) *Tensor {
	for _, t := range ts {
		if t == nil || t.scope != s {
			continue
		}
		if s.parent == nil {
			// The context's own scope has no parent: keeping frees the tensor.
			t.scope, t.ctx = nil, nil
			continue
		}
		t.scope = s.parent
		s.parent.tensors = append(s.parent.tensors, t)
	}
	if len(ts) == 0 {
		return nil
	}
	return ts[0]
}

// Close releases every tensor recorded in the scope and not kept, and pops the scope.
// Closing a scope that is not innermost closes the inner ones first. Closing twice is a
// no-op.
func (s *Scope) Close() {
	if s.closed {
		return
	}
	c := s.ctx
	for c.top != s && c.top != nil {
		c.top.Close()
	}
	c.top = s.parent
	s.closed = true
	ts := s.tensors
	s.tensors = nil
	for _, t := range ts {
		if t.scope == s {
			t.scope, t.ctx = nil, nil
			t.Release()
		}
	}
}

// Detach takes t out of its context: its lifetime is then the caller's (release it
// explicitly), and ops on it alone make free tensors. Parameters and optimizer state are
// detached.
func (t *Tensor) Detach() *Tensor {
	t.scope, t.ctx = nil, nil
	return t
}
