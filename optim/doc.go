// Package optim holds kiln's optimizers: SGD (momentum, dampening, Nesterov, PyTorch
// semantics), AdamW (Loshchilov & Hutter 2019, optional AMSGrad), LAMB (You et al. 2019, with
// NVIDIA apex FusedLAMB's semantics), SophiaG/SophiaH (Liu et al. 2023) and AdaHessian (Yao
// et al. 2020); learning-rate schedules, gradient clipping by global norm, gradient
// accumulation, and Hessian-diagonal estimators for the second-order methods.
//
// # Steps are fused
//
// Every optimizer's Step issues one device.OptimizerStep per parameter group (and dtype):
// the backend updates all tensors of the group in one multi-tensor pass (on the CPU, in
// parallel over chunks of all tensors; on CUDA, one launch — LAMB two). Optimizer state
// (moments, momentum buffers, Hessian EMAs) lives on the parameters' device as tensors. A
// backend that does not fuse a kind returns device.ErrUnsupported and the optimizer falls
// back to a composed path through the Unary, Binary and Reduce primitives, so a new backend
// trains before it has fused kernels. Both paths implement the same equations, below.
//
// # The fused-step contract
//
// For every kind, ĝ = s·g where s = OptimHyper.GradScale (0 means 1): the optimizer folds
// global-norm clipping and loss-scale division into s, so gradients are never rewritten.
// t = OptimHyper.Step is the 1-based step count; bc1 = 1−β1ᵗ and bc2 = 1−β2ᵗ when
// BiasCorrection is set (AdaHessian always), else 1.
//
//	OptimSGD        State: [buf] when Momentum ≠ 0, else none.
//	                d = ĝ + wd·p; if μ ≠ 0: buf = d at t = 1, else buf = μ·buf + (1−dampening)·d;
//	                d = d + μ·buf (Nesterov) or d = buf; p = p − lr·d.
//	OptimAdamW      State: [m, v] or [m, v, vmax] with AMSGrad.
//	                p = p·(1 − lr·wd); m = β1·m + (1−β1)·ĝ; v = β2·v + (1−β2)·ĝ²;
//	                vmax = max(vmax, v) (AMSGrad, then used for v); p = p − (lr/bc1)·m/(√v/√bc2 + ε).
//	OptimLAMB       State: [m, v]. Two stages.
//	                Stage 1: m = β1·m + (1−β1)·ĝ; v = β2·v + (1−β2)·ĝ²;
//	                u = (m/bc1)/(√(v/bc2) + ε) + wd·p; per tensor ‖p‖ and ‖u‖.
//	                Stage 2: r = lr·‖p‖/‖u‖ if (wd ≠ 0 or NVLamb) and both norms ≠ 0, else lr;
//	                p = p − r·u. (Backends may recompute u in stage 2 instead of storing it.)
//	OptimSophia     State: [m, h] (h, the Hessian EMA, is read only).
//	                p = p·(1 − lr·wd); m = β1·m + (1−β1)·ĝ;
//	                p = p − lr·sign(m)·min(|m|/max(Rho·BatchSize·h, Eps), 1).
//	OptimAdaHessian State: [m, v, d] (d, this step's spatially averaged |diag H| estimate,
//	                is read only). m = β1·m + (1−β1)·ĝ; v = β2·v + (1−β2)·d²;
//	                p = p − lr·((m/bc1)/((√v)^k/(√bc2)^k + ε) + wd·p), k = HessianPower.
//
// # Non-finite gradients
//
// Before each step the optimizer computes every gradient's squared norm (one reduction per
// tensor, read back to the host together). A NaN or Inf gradient is never applied: by default
// Step refuses with an error naming the first such parameter and leaves parameters, state
// and the step count untouched. With Options.SkipNonFinite (the loss-scaling behaviour of
// mixed-precision training) the step is skipped instead, Step returns nil, Skipped() counts
// it and LastSkipped() reports it, so a dynamic loss scaler can back off.
//
// # Parameters without gradients
//
// Parameters whose Grad is nil are left out of a step (as in PyTorch); their state does not
// advance, while bias corrections use the optimizer's global step count.
package optim
