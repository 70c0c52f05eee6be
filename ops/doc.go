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
// # Memory and the training step
//
// Tensors are reference counted and released by scopes (see package tensor), never by
// finalizers. Every tensor an op creates, forward or backward, is recorded in the innermost
// open tensor.Scope. A training step therefore looks like this:
//
//	// Parameters live across steps: create them outside any scope (or Detach them from
//	// the scope they were made in) and mark them as leaves that need gradients.
//	w := tensor.Normal(dev, tensor.Float32, 1, 0, 0, 0.1, 16, 4).Detach().SetRequiresGrad(true)
//	for step := 0; step < n; step++ {
//		s := tensor.NewScope()
//		loss := ops.MeanAll(ops.Square(ops.Sub(ops.Matmul(x, w), y)))
//		ops.Backward(loss) // w.Grad() now holds dloss/dw; it is owned by w, not the scope
//		// ... update w in place from w.Grad() (package optim) ...
//		ops.ZeroGrad(w)     // releases the gradient buffer
//		s.Close()           // releases the forward graph and every temporary of the step
//	}
//
// Backward releases intermediate gradients as soon as they have been consumed, so the peak
// memory of a backward pass is the forward graph plus a frontier of gradients. Gradients
// accumulated into leaves by Backward are detached from all scopes and owned by the leaf:
// ZeroGrad releases them. Results of Grad and HVP are ordinary tensors of the current scope.
//
// The graph holds pointers to the tensors it needs; once the scope that owns them closes,
// backpropagating through them panics. Use Detach (this package's, which cuts the graph)
// for values carried from one step to the next.
//
// Grad mode and scopes are process-wide and meant for one goroutine at a time.
package ops
