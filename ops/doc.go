// Package ops holds kiln's differentiable operations and its define-by-run reverse-mode
// automatic differentiation.
//
// Every op takes and returns *tensor.Tensor and computes its forward pass with the
// primitives of the tensor's device (package device), so the same code runs on every backend.
// When grad mode is on and some input requires gradients, the op records an autograd node on
// its output: the inputs and a backward closure. The closure receives the output's gradient
// as a tensor and returns the inputs' gradients computed with ops again, so the gradient
// computation can itself be recorded and differentiated: Grad with createGraph = true gives
// higher derivatives and HVP gives Hessian-vector products by double backward (Pearlmutter,
// "Fast exact multiplication by the Hessian", Neural Computation 6(1), 1994).
//
// Where a device has a fused backward primitive (softmax, layer normalisation, attention) the
// closure uses it when the gradient is not being recorded and falls back to a composition of
// ops, which is differentiable, when it is; tests check that both paths agree.
//
// # Shapes
//
// Elementwise ops broadcast as NumPy does: shapes are aligned at the right and an extent of 1
// (or a missing axis) is stretched. Matmul follows numpy.matmul (1-D operands are promoted
// and the promoted axis removed again; batch axes broadcast). Axes may be negative.
//
// # Errors
//
// Ops panic with an *Error (or a *tensor.Error / *device.Error from below) on programmer
// errors: shapes that do not broadcast, out-of-range axes or slices, dtype or device
// mismatches, NaN scalar parameters. Public boundaries wrap their work in Try, which turns
// those panics into returned errors.
//
// # Execution contexts, memory and the training step
//
// Tensors are reference counted and released by the scopes of an execution context (see
// tensor.Context), never by finalizers. Every tensor an op creates, forward or backward,
// belongs to the context of its operands and is recorded in that context's innermost open
// scope; the grad mode that decides whether ops record is the context's too. Parameters are
// free tensors (owned by no context) that live across steps. A training step looks like this:
//
//	w := tensor.Normal(dev, tensor.Float32, 1, 0, 0, 0.1, 16, 4).SetRequiresGrad(true)
//	c := tensor.NewContext()
//	defer c.Close()
//	x, y := c.FromFloat32(dev, xs, n, 16), c.FromFloat32(dev, ys, n, 4)
//	for step := 0; step < steps; step++ {
//		s := c.NewScope()
//		loss := ops.MeanAll(ops.Square(ops.Sub(ops.Matmul(x, w), y)))
//		ops.Backward(loss) // w.Grad() now holds dloss/dw; it is owned by w, not the scope
//		// ... update w in place from w.Grad() (package optim) ...
//		ops.ZeroGrad(w)     // releases the gradient buffer
//		s.Close()           // releases the forward graph and every temporary of the step
//	}
//
// An op whose operands are all free returns a free tensor, which the caller must release;
// In brings free tensors (a regulariser on the weights alone) into a context, with
// gradients flowing through to them. tensor.FreeTensorsMade lets a test show that a
// computation left nothing outside its context.
//
// Backward runs in the loss's context and releases intermediate gradients as soon as they
// have been consumed, so the peak memory of a backward pass is the forward graph plus a
// frontier of gradients. Gradients accumulated into leaves by Backward are free tensors owned
// by the leaf: ZeroGrad releases them. Results of Grad and HVP belong to the context.
//
// The graph holds pointers to the tensors it needs; once the scope that owns them closes,
// backpropagating through them panics. Use Detach (this package's, which cuts the graph)
// for values carried from one step to the next.
//
// # Concurrency
//
// The package holds no process-wide state that affects results. Goroutines may run ops at
// once, each in its own context, sharing free tensors that none of them writes (a model's
// parameters); each gets the result it would get alone.
package ops
