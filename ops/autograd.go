package ops

import (
	"fmt"

	"github.com/kiln-ml/kiln/tensor"
)

// Tensor is tensor.Tensor, re-exported so code using ops reads naturally.
type Tensor = tensor.Tensor

// backwardFn maps the gradient of an op's output to the gradients of its inputs. needs[i]
// says whether input i's gradient is wanted; entries not wanted may be nil. The returned
// gradients have the shapes of the inputs and are computed with ops, so they are recorded
// when grad mode is on (create_graph).
type backwardFn func(g *Tensor, needs []bool) []*Tensor

// node is the autograd record attached to an op's output with SetNode.
type node struct {
	op       string
	inputs   []*Tensor
	backward backwardFn
}

// In returns tensors of context c standing for the free tensors ts: each shares its
// tensor's storage, and where the tensor requires gradients the stand-in is recorded as an
// identity of it, so gradients flow through to the original. Use it to bring parameters or
// other long-lived tensors into a computation whose ops would otherwise see only free
// operands (a regulariser on the weights alone, a gradient check), so that every temporary
// belongs to c. Tensors that already belong to c are returned as they are.
func In(c *tensor.Context, ts ...*Tensor) []*Tensor {
	if c == nil {
		panic(errorf("in", "nil execution context"))
	}
	out := make([]*Tensor, len(ts))
	for i, t := range ts {
		if t.Context() == c {
			out[i] = t
			continue
		}
		out[i] = record("in", c.View(t), []*Tensor{t}, func(g *Tensor, _ []bool) []*Tensor { return []*Tensor{g} })
	}
	return out
}

// Try runs fn and turns panics raised by kiln's layers (shape mismatches, out-of-range
// slices, bad parameters) into a returned error. It is tensor.Catch, named for the public
// boundary of code written with ops.
func Try(fn func() error) error { return tensor.Catch(fn) }

// record attaches an autograd node to out when grad mode is on in out's context and some
// input requires gradients, and returns out.
func record(op string, out *Tensor, inputs []*Tensor, bw backwardFn) *Tensor {
	if !out.Context().GradEnabled() {
		return out
	}
	need := false
	for _, in := range inputs {
		if in != nil && in.RequiresGrad() {
			need = true
			break
		}
	}
	if !need {
		return out
	}
	out.SetRequiresGrad(true)
	out.SetNode(&node{op: op, inputs: inputs, backward: bw})
	return out
}

// recording reports whether an op applied now to any of ts would be recorded; backward
// closures use it to choose between a fused primitive and a differentiable composition.
func recording(ts ...*Tensor) bool {
	if forceComposed {
		return true
	}
	if !tensor.ContextOf(ts...).GradEnabled() {
		return false
	}
	for _, t := range ts {
		if t != nil && t.RequiresGrad() {
			return true
		}
	}
	return false
}

// forceComposed makes closures take the composed (differentiable) path even when nothing is
// recorded; tests use it to compare the fused and composed backward passes.
var forceComposed bool

func nodeOf(t *Tensor) *node {
	if n, ok := t.Node().(*node); ok {
		return n
	}
	return nil
}

// Detach returns a tensor sharing t's storage that is cut from the autograd graph: it has no
// node and does not require gradients. (tensor.Tensor.Detach is a different thing: it takes a
// tensor out of its scope.)
func Detach(t *Tensor) *Tensor { return t.Reshape(t.Shape()...) }

// IsLeaf reports whether t requires gradients and was not produced by a recorded op.
func IsLeaf(t *Tensor) bool { return t.RequiresGrad() && nodeOf(t) == nil }

// ZeroGrad releases and clears the gradients accumulated in ts.
func ZeroGrad(ts ...*Tensor) {
	for _, t := range ts {
		if g := t.Grad(); g != nil {
			g.Release()
			t.SetGrad(nil)
		}
	}
}

// Backward computes the gradient of the scalar loss with respect to every leaf it depends on
// and accumulates it into the leaves' Grad (adding to a gradient already there). Gradients
// stored in leaves are free tensors owned by the leaf; release them with ZeroGrad. The
// backward pass runs in the loss's execution context, with grad mode off while it runs.
func Backward(loss *Tensor) {
	if loss.Len() != 1 {
		panic(errorf("backward", "loss must have one element, got shape %s", tensor.ShapeString(loss.Shape())))
	}
	if !loss.RequiresGrad() {
		panic(errorf("backward", "loss does not require gradients (no parameter marked with SetRequiresGrad, or computed with grad mode off)"))
	}
	run([]*Tensor{loss}, nil, nil, false)
}

// Grad returns the gradients of outputs (weighted by gradOutputs, which may be nil for
// one-element outputs) with respect to inputs, like torch.autograd.grad. Leaves' Grad fields
// are not touched. An input the outputs do not depend on gets a zero gradient. With
// createGraph the gradient computation is recorded, so the results can be differentiated
// again; otherwise intermediate gradients are released as soon as they are consumed. The
// results belong to the outputs' execution context (they are free when the outputs are);
// createGraph needs outputs of a context, which keeps the recorded graph alive.
func Grad(outputs, inputs, gradOutputs []*Tensor, createGraph bool) []*Tensor {
	if len(outputs) == 0 {
		panic(errorf("grad", "no outputs"))
	}
	if gradOutputs != nil && len(gradOutputs) != len(outputs) {
		panic(errorf("grad", "%d gradOutputs for %d outputs", len(gradOutputs), len(outputs)))
	}
	for i, in := range inputs {
		if !in.RequiresGrad() {
			panic(errorf("grad", "input %d (shape %s) does not require gradients", i, tensor.ShapeString(in.Shape())))
		}
	}
	res := run(outputs, gradOutputs, inputs, createGraph)
	c := tensor.ContextOf(outputs...)
	out := make([]*Tensor, len(inputs))
	for i, in := range inputs {
		if g := res[in]; g != nil {
			out[i] = g
		} else {
			out[i] = c.Zeros(in.Device(), in.DType(), in.Shape()...)
		}
	}
	return out
}

// HVP returns the Hessian-vector products H·v of the scalar f() with respect to params, by
// double backward (Pearlmutter 1994): g = ∂f/∂θ is computed with its graph recorded, and
// ∂(Σᵢ gᵢ·vᵢ)/∂θ = H·v. f runs in a new scope of c with grad mode on and must compute in c
// (its data tensors belong to c, or it brings the parameters in with In). The graph is
// released before returning; the results belong to c's current scope.
func HVP(c *tensor.Context, f func() *Tensor, params, v []*Tensor) []*Tensor {
	loss, grads, hv := GradHVP(c, f, params, v)
	loss.Release()
	for _, g := range grads {
		g.Release()
	}
	return hv
}

// GradHVP evaluates the scalar f() once and returns its value, its gradients with respect to
// params and the Hessian-vector products H·v, all cut from the graph (second-order optimizers
// such as AdaHessian and Sophia need all three from one forward pass). Further directions
// can be handled by calling HVP again. f runs as in HVP.
func GradHVP(c *tensor.Context, f func() *Tensor, params, v []*Tensor) (loss *Tensor, grads, hv []*Tensor) {
	if len(params) != len(v) {
		panic(errorf("hvp", "%d vectors for %d parameters", len(v), len(params)))
	}
	if c == nil {
		panic(errorf("hvp", "nil execution context"))
	}
	s := c.NewScope()
	defer s.Close()
	prev := c.SetGradEnabled(true)
	defer c.SetGradEnabled(prev)
	l := f()
	if l.Len() != 1 {
		panic(errorf("hvp", "f must return one element, got shape %s", tensor.ShapeString(l.Shape())))
	}
	if l.Context() != c {
		panic(errorf("hvp", "f's result does not belong to the execution context (compute on tensors of the context, or bring the parameters in with In)"))
	}
	g := Grad([]*Tensor{l}, params, nil, true)
	var dot *Tensor
	for i := range g {
		if !tensor.SameShape(params[i].Shape(), v[i].Shape()) {
			panic(errorf("hvp", "vector %d has shape %s, parameter has %s", i,
				tensor.ShapeString(v[i].Shape()), tensor.ShapeString(params[i].Shape())))
		}
		if d := SumAll(Mul(g[i], Detach(v[i]))); dot == nil {
			dot = d
		} else {
			dot = Add(dot, d)
		}
	}
	if dot.RequiresGrad() {
		hv = Grad([]*Tensor{dot}, params, nil, false)
	} else {
		for _, p := range params {
			hv = append(hv, c.Zeros(p.Device(), p.DType(), p.Shape()...))
		}
	}
	loss = Detach(l)
	grads = make([]*Tensor, len(g))
	for i := range g {
		grads[i] = Detach(g[i])
	}
	s.Keep(loss)
	s.Keep(grads...)
	s.Keep(hv...)
	return loss, grads, hv
}

// run is the backward engine. It propagates gradients from roots (seeded with rootGrads, or
// ones) in reverse topological order. With targets nil it accumulates into the Grad of every
// leaf reached (Backward); otherwise it returns the gradients of the targets.
//
// The engine works in the roots' execution context: gradients and the backward closures'
// temporaries belong to it, and its grad mode is createGraph while the engine runs. Roots
// that belong to no context get a private one, closed on return; what the engine hands out
// from it (leaf gradients, Grad's results) is detached first.
func run(roots, rootGrads, targets []*Tensor, createGraph bool) map[*Tensor]*Tensor {
	c := tensor.ContextOf(append(append([]*Tensor(nil), roots...), rootGrads...)...)
	private := c == nil
	if private {
		if createGraph {
			panic(errorf("grad", "createGraph needs outputs that belong to an execution context, which keeps the recorded graph alive"))
		}
		c = tensor.NewContext()
		defer c.Close()
	}
	prev := c.SetGradEnabled(createGraph)
	defer c.SetGradEnabled(prev)

	isTarget := map[*Tensor]bool{}
	for _, t := range targets {
		isTarget[t] = true
	}
	wanted := func(t *Tensor) bool {
		if targets == nil {
			return IsLeaf(t)
		}
		return isTarget[t]
	}

	// Post-order DFS: order lists each tensor after all tensors it depends on; needed marks
	// tensors through which a gradient reaches something wanted.
	needed := map[*Tensor]bool{}
	visited := map[*Tensor]bool{}
	var order []*Tensor
	var visit func(t *Tensor) bool
	visit = func(t *Tensor) bool {
		if visited[t] {
			return needed[t]
		}
		visited[t] = true
		nd := wanted(t)
		if n := nodeOf(t); n != nil {
			for _, in := range n.inputs {
				if in != nil && in.RequiresGrad() && visit(in) {
					nd = true
				}
			}
		}
		needed[t] = nd
		order = append(order, t)
		return nd
	}
	for _, r := range roots {
		if r.RequiresGrad() {
			visit(r)
		}
	}

	grads := map[*Tensor]*Tensor{}
	owned := map[*Tensor]bool{} // gradients the engine made and may release
	release := func(g *Tensor) {
		if !createGraph && owned[g] {
			g.Release()
			delete(owned, g)
		}
	}
	accumulate := func(t, g *Tensor) {
		old := grads[t]
		if old == nil {
			grads[t] = g
			return
		}
		sum := Add(old, g)
		release(old)
		release(g)
		if !createGraph {
			owned[sum] = true
		}
		grads[t] = sum
	}
	for i, r := range roots {
		if !r.RequiresGrad() || !needed[r] {
			continue
		}
		var g *Tensor
		if rootGrads != nil && rootGrads[i] != nil {
			g = rootGrads[i]
			if !tensor.SameShape(g.Shape(), r.Shape()) {
				panic(errorf("grad", "gradOutput %d has shape %s, output has %s", i,
					tensor.ShapeString(g.Shape()), tensor.ShapeString(r.Shape())))
			}
		} else {
			if r.Len() != 1 {
				panic(errorf("grad", "output %d has shape %s: gradOutputs are needed for outputs that are not scalars",
					i, tensor.ShapeString(r.Shape())))
			}
			g = c.Ones(r.Device(), r.DType(), r.Shape()...)
			owned[g] = true
		}
		accumulate(r, g)
	}

	result := map[*Tensor]*Tensor{}
	for k := len(order) - 1; k >= 0; k-- {
		t := order[k]
		g := grads[t]
		if g == nil {
			continue
		}
		delete(grads, t)
		if wanted(t) {
			if targets == nil {
				accumulateLeaf(c, t, g, owned[g])
				delete(owned, g)
				leafReady(c, t)
			} else {
				if private && g.Context() == c {
					g.Detach() // out of the private context: the caller's now
				}
				result[t] = g
				delete(owned, g) // the caller's now
			}
		}
		n := nodeOf(t)
		if n == nil {
			release(g)
			continue
		}
		needs := make([]bool, len(n.inputs))
		anyNeed := false
		for i, in := range n.inputs {
			needs[i] = in != nil && in.RequiresGrad() && needed[in]
			anyNeed = anyNeed || needs[i]
		}
		if !anyNeed {
			release(g)
			continue
		}
		gin := callBackward(c, n, g, needs, createGraph)
		release(g)
		for i, in := range n.inputs {
			if !needs[i] || gin[i] == nil {
				continue
			}
			if !tensor.SameShape(gin[i].Shape(), in.Shape()) {
				panic(errorf(n.op, "internal error: backward produced a gradient of shape %s for an input of shape %s",
					tensor.ShapeString(gin[i].Shape()), tensor.ShapeString(in.Shape())))
			}
			if !createGraph {
				owned[gin[i]] = true
			}
			accumulate(in, gin[i])
		}
	}
	return result
}

// callBackward runs a node's closure in context c. Without createGraph it runs inside a scope
// of its own, so the closure's temporaries are released at once; each returned gradient
// comes back as a fresh view (its own reference) in c, so the engine may release it without
// disturbing a tensor the closure returned twice or passed through unchanged.
func callBackward(c *tensor.Context, n *node, g *Tensor, needs []bool, createGraph bool) []*Tensor {
	if createGraph {
		gin := n.backward(g, needs)
		checkArity(n, gin)
		return gin
	}
	s := c.NewScope()
	defer s.Close()
	gin := n.backward(g, needs)
	checkArity(n, gin)
	out := make([]*Tensor, len(gin))
	for i, gi := range gin {
		if gi != nil && needs[i] {
			out[i] = gi.Reshape(gi.Shape()...)
			if out[i].Context() == nil {
				c.Track(out[i])
			}
			s.Keep(out[i])
		}
	}
	return out
}

func checkArity(n *node, gin []*Tensor) {
	if len(gin) != len(n.inputs) {
		panic(fmt.Errorf("ops: %s: internal error: backward returned %d gradients for %d inputs", n.op, len(gin), len(n.inputs)))
	}
}

// accumulateLeaf adds g into leaf.Grad(). The stored gradient is taken out of its context:
// the leaf owns it until ZeroGrad.
func accumulateLeaf(c *tensor.Context, leaf, g *Tensor, owned bool) {
	old := leaf.Grad()
	if old == nil {
		if owned {
			leaf.SetGrad(g.Detach())
		} else {
			v := g.Reshape(g.Shape()...)
			leaf.SetGrad(v.Detach())
		}
		return
	}
	var sum *Tensor
	c.NoGrad(func() { sum = Add(old, g) })
	sum.Detach()
	old.Release()
	if owned {
		g.Release()
	}
	leaf.SetGrad(sum)
}
