//go:build cuda || cudaemu

package cuda

import (
	"math"
	"unsafe"

	"github.com/kiln-ml/kiln/device"
)

// OptimizerStep runs one fused multi-tensor update with kernels/optim.cu: the host builds the
// descriptor table that file documents (8 int64 per tensor: param, grad, three state
// pointers, n, first chunk), uploads it, and launches one block per chunk of optimChunk
// elements across the whole group (LAMB: two launches over the same grid, the first writing
// per-chunk norm partials). The per-step constants (bias corrections, gradient scale) are
// computed here in float64 exactly as device/cpu's newOptimCoef computes them; the update
// equations are package optim's fused-step contract.
//
// CPU reference: device/cpu (*Device).OptimizerStep.
func (d *Device) OptimizerStep(kind device.OptimKind, group []device.OptimTensor, h device.OptimHyper) error {
	if device.OptimizerGroupHasHalf(group) {
		return device.OptimizerStepInFloat32(d, group, func(g []device.OptimTensor) error { return d.OptimizerStep(kind, g, h) })
	}
	const op = "OptimizerStep"
	nstate := 0
	switch kind {
	case device.OptimSGD:
		if h.Momentum != 0 {
			nstate = 1
		}
	case device.OptimAdamW:
		nstate = 2
		if h.AMSGrad {
			nstate = 3
		}
	case device.OptimLAMB:
		nstate = 2
	case device.OptimSophia:
		nstate = 2
	case device.OptimAdaHessian:
		nstate = 3
	default:
		return device.ErrUnsupported
	}
	const chunk = optimChunk
	var desc []int64
	var dt device.DType
	blocks := int64(0)
	nt := 0
	for i, t := range group {
		p, g := d.buf(op, t.Param), d.buf(op, t.Grad)
		if i == 0 {
			dt = p.dtype
			checkFloat(op, dt)
		}
		sameDType(op, p, g)
		if p.dtype != dt {
			device.Panicf(op, "tensor %d is %v, the group is %v", i, p.dtype, dt)
		}
		if t.N < 0 {
			device.Panicf(op, "tensor %d has negative length %d", i, t.N)
		}
		checkLen(op, "param", p, t.N)
		checkLen(op, "grad", g, t.N)
		if len(t.State) < nstate {
			device.Panicf(op, "%s step of tensor %d has %d state buffers, need %d", kind, i, len(t.State), nstate)
		}
		var st [3]int64
		for k := 0; k < nstate; k++ {
			sb := d.buf(op, t.State[k])
			sameDType(op, p, sb)
			checkLen(op, "state", sb, t.N)
			st[k] = int64(sb.ptr)
		}
		if t.N == 0 {
			continue
		}
		desc = append(desc, int64(p.ptr), int64(g.ptr), st[0], st[1], st[2], int64(t.N), blocks, 0)
		blocks += (int64(t.N) + chunk - 1) / chunk
		nt++
	}
	if nt == 0 {
		return nil
	}
	// Per-step constants, as device/cpu's newOptimCoef computes them.
	scale := h.GradScale
	if scale == 0 {
		scale = 1
	}
	bc1, bc2 := 1.0, 1.0
	if h.BiasCorrection || kind == device.OptimAdaHessian {
		t := float64(max(h.Step, 1))
		bc1, bc2 = 1-math.Pow(h.Beta1, t), 1-math.Pow(h.Beta2, t)
	}

	d.enter()
	defer d.leave()
	dp, dsize, err := d.alloc.alloc(int64(len(desc)) * 8)
	if err != nil {
		return err
	}
	defer d.alloc.release(dp, dsize) // stream-ordered: reused only by later work
	if err := d.drv.htod(dp, unsafe.Pointer(&desc[0]), int64(len(desc))*8); err != nil {
		return err
	}
	l, desc64, ch := d.kernel(dim3{x: int(blocks)}, dim3{x: 256}), ptr[int64](dp), int(chunk)
	switch kind {
	case device.OptimSGD:
		l.optimSgd(dt, desc64, nt, ch, h.LR, h.Momentum, h.Dampening, h.WeightDecay, scale, b2i(h.Step <= 1), b2i(h.Nesterov))
	case device.OptimAdamW:
		l.optimAdamw(dt, desc64, nt, ch, h.LR, h.Beta1, h.Beta2, h.Eps, h.WeightDecay, scale, bc1, bc2, b2i(h.AMSGrad))
	case device.OptimLAMB:
		pp, psize, err := d.alloc.alloc(2 * blocks * 8)
		if err != nil {
			return err
		}
		defer d.alloc.release(pp, psize)
		l.optimLambStage1(dt, desc64, nt, ch, ptr[float64](pp), h.Beta1, h.Beta2, h.Eps, h.WeightDecay, scale, bc1, bc2)
		l.optimLambStage2(dt, desc64, nt, ch, ptr[float64](pp), h.LR, h.Eps, h.WeightDecay, bc1, bc2,
			b2i(h.NVLamb || h.WeightDecay != 0))
	case device.OptimSophia:
		l.optimSophia(dt, desc64, nt, ch, h.LR, h.Beta1, h.Rho*h.BatchSize, h.Eps, h.WeightDecay, scale)
	case device.OptimAdaHessian:
		l.optimAdahessian(dt, desc64, nt, ch, h.LR, h.Beta1, h.Beta2, h.Eps, h.WeightDecay, scale, bc1, bc2, h.HessianPower)
	}
	return d.sticky
}

// optimChunk is the number of elements one block of an optimizer launch updates.
const optimChunk = 1 << 14
