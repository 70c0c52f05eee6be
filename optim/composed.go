package optim

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
)

// The composed fallback: the fused-step contract of doc.go written with the Unary, Binary
// and Reduce primitives, for backends that return device.ErrUnsupported from
// OptimizerStep. It launches many small maps per tensor and allocates scratch buffers, so it
// is slower than a fused step, but it gives every backend every optimizer from day one.
// In-place updates go through Binary, whose contract allows the output to alias an input.

// vec is one contiguous run of n elements on a device, with the helpers the steps need.
type vec struct {
	dev   device.Device
	n     int
	dtype device.DType
	l     device.Layout
}

func newVec(dev device.Device, dtype device.DType, n int) vec {
	return vec{dev: dev, n: n, dtype: dtype, l: device.Contiguous([]int{n})}
}

// scratch allocates a buffer of n elements; the caller frees it.
func (v vec) scratch() device.Buffer {
	b, err := v.dev.Alloc(v.dtype, v.n)
	if err != nil {
		panic(err)
	}
	return b
}

// withConst runs fn with a one-element buffer holding c and its broadcasting layout.
func (v vec) withConst(c float64, fn func(b device.Buffer, l device.Layout)) {
	b, err := v.dev.Alloc(v.dtype, 1)
	if err != nil {
		panic(err)
	}
	defer b.Free()
	v.dev.Fill(b, 0, 1, c)
	fn(b, device.Layout{Shape: []int{v.n}, Strides: []int{0}})
}

// unary: y = f(x).
func (v vec) unary(op device.UnaryOp, x, y device.Buffer, alpha float64) {
	v.dev.Unary(op, x, v.l, y, v.l, alpha)
}

// binary: y = f(a, b); y may alias a or b.
func (v vec) binary(op device.BinaryOp, a, b, y device.Buffer) {
	v.dev.Binary(op, a, v.l, b, v.l, y, v.l)
}

// binaryConst: y = f(a, c).
func (v vec) binaryConst(op device.BinaryOp, a device.Buffer, c float64, y device.Buffer) {
	v.withConst(c, func(b device.Buffer, bl device.Layout) { v.dev.Binary(op, a, v.l, b, bl, y, v.l) })
}

// scaleInPlace: y = c·y.
func (v vec) scaleInPlace(y device.Buffer, c float64) {
	if c != 1 {
		v.binaryConst(device.BinaryMul, y, c, y)
	}
}

// axpy: y = y + c·x, using tmp as scratch.
func (v vec) axpy(y device.Buffer, c float64, x, tmp device.Buffer) {
	v.unary(device.UnaryScale, x, tmp, c)
	v.binary(device.BinaryAdd, y, tmp, y)
}

// ema: y = a·y + c·x, using tmp as scratch.
func (v vec) ema(y device.Buffer, a float64, x device.Buffer, c float64, tmp device.Buffer) {
	v.scaleInPlace(y, a)
	v.axpy(y, c, x, tmp)
}

// norm2 returns ‖x‖² read back to the host.
func (v vec) norm2(x device.Buffer) float64 {
	one, err := v.dev.Alloc(v.dtype, 1)
	if err != nil {
		panic(err)
	}
	defer one.Free()
	v.dev.Reduce(device.ReduceSumSquares, x, 1, v.n, 1, one)
	out, err := v.dev.Alloc(device.Float64, 1)
	if err != nil {
		panic(err)
	}
	defer out.Free()
	v.dev.Convert(out, 0, one, 0, 1)
	h := make([]float64, 1)
	if err := v.dev.CopyToHost(h, out); err != nil {
		panic(err)
	}
	return h[0]
}

// ComposedStep applies the fused-step contract of doc.go to every tensor of a group, one
// tensor at a time, through the Unary, Binary and Reduce primitives of dev. Optimizers call
// it when dev.OptimizerStep returns device.ErrUnsupported; backend tests use it as the
// reference their fused kernels must match. Misuse panics like the primitives do.
func ComposedStep(dev device.Device, kind device.OptimKind, ts []device.OptimTensor, h device.OptimHyper) error {
	if device.OptimizerGroupHasHalf(ts) { // 16-bit storage: the whole update in float32, rounded once
		return device.OptimizerStepInFloat32(dev, ts, func(g []device.OptimTensor) error { return ComposedStep(dev, kind, g, h) })
	}
	s := h.GradScale
	if s == 0 {
		s = 1
	}
	bc1, bc2 := 1.0, 1.0
	if h.BiasCorrection || kind == device.OptimAdaHessian {
		t := float64(max(h.Step, 1))
		bc1, bc2 = 1-math.Pow(h.Beta1, t), 1-math.Pow(h.Beta2, t)
	}
	for _, t := range ts {
		v := newVec(dev, t.Param.DType(), t.N)
		p, g := t.Param, t.Grad
		a, b := v.scratch(), v.scratch()
		v.unary(device.UnaryScale, g, a, s) // a = ĝ
		switch kind {
		case device.OptimSGD:
			if h.WeightDecay != 0 {
				v.axpy(a, h.WeightDecay, p, b) // a = ĝ + wd·p
			}
			if h.Momentum != 0 {
				buf := t.State[0]
				if h.Step <= 1 {
					v.unary(device.UnaryCopy, a, buf, 0)
				} else {
					v.ema(buf, h.Momentum, a, 1-h.Dampening, b)
				}
				if h.Nesterov {
					v.axpy(a, h.Momentum, buf, b)
				} else {
					v.unary(device.UnaryCopy, buf, a, 0)
				}
			}
			v.axpy(p, -h.LR, a, b)
		case device.OptimAdamW:
			m, vv := t.State[0], t.State[1]
			v.scaleInPlace(p, 1-h.LR*h.WeightDecay)
			v.ema(m, h.Beta1, a, 1-h.Beta1, b)
			v.unary(device.UnarySquare, a, a, 0)
			v.ema(vv, h.Beta2, a, 1-h.Beta2, b)
			src := vv
			if h.AMSGrad {
				v.binary(device.BinaryMax, t.State[2], vv, t.State[2])
				src = t.State[2]
			}
			v.unary(device.UnarySqrt, src, a, 0)
			v.scaleInPlace(a, 1/math.Sqrt(bc2))
			v.binaryConst(device.BinaryAdd, a, h.Eps, a)
			v.binary(device.BinaryDiv, m, a, a)
			v.axpy(p, -h.LR/bc1, a, b)
		case device.OptimLAMB:
			m, vv := t.State[0], t.State[1]
			v.ema(m, h.Beta1, a, 1-h.Beta1, b)
			v.unary(device.UnarySquare, a, a, 0)
			v.ema(vv, h.Beta2, a, 1-h.Beta2, b)
			v.unary(device.UnaryScale, vv, a, 1/bc2)
			v.unary(device.UnarySqrt, a, a, 0)
			v.binaryConst(device.BinaryAdd, a, h.Eps, a)
			v.unary(device.UnaryScale, m, b, 1/bc1)
			v.binary(device.BinaryDiv, b, a, a) // a = m̂/(√v̂+ε)
			if h.WeightDecay != 0 {
				v.axpy(a, h.WeightDecay, p, b) // a = u
			}
			pn, un := math.Sqrt(v.norm2(p)), math.Sqrt(v.norm2(a))
			r := h.LR
			if (h.NVLamb || h.WeightDecay != 0) && pn != 0 && un != 0 {
				r = h.LR * pn / un
			}
			v.axpy(p, -r, a, b)
		case device.OptimSophia:
			m, hh := t.State[0], t.State[1]
			v.scaleInPlace(p, 1-h.LR*h.WeightDecay)
			v.ema(m, h.Beta1, a, 1-h.Beta1, b)
			v.unary(device.UnaryScale, hh, b, h.Rho*h.BatchSize)
			v.binaryConst(device.BinaryMax, b, h.Eps, b)
			v.unary(device.UnaryAbs, m, a, 0)
			v.binary(device.BinaryDiv, a, b, a)
			v.binaryConst(device.BinaryMin, a, 1, a)
			v.unary(device.UnarySign, m, b, 0)
			v.binary(device.BinaryMul, a, b, a)
			v.axpy(p, -h.LR, a, b)
		case device.OptimAdaHessian:
			m, vv, d := t.State[0], t.State[1], t.State[2]
			v.ema(m, h.Beta1, a, 1-h.Beta1, b)
			v.unary(device.UnarySquare, d, a, 0)
			v.ema(vv, h.Beta2, a, 1-h.Beta2, b)
			v.unary(device.UnarySqrt, vv, a, 0)
			if h.HessianPower != 1 {
				v.unary(device.UnaryPowScalar, a, a, h.HessianPower)
			}
			v.scaleInPlace(a, math.Pow(1/math.Sqrt(bc2), h.HessianPower))
			v.binaryConst(device.BinaryAdd, a, h.Eps, a)
			v.binary(device.BinaryDiv, m, a, a)
			v.scaleInPlace(a, 1/bc1)
			if h.WeightDecay != 0 {
				v.axpy(a, h.WeightDecay, p, b)
			}
			v.axpy(p, -h.LR, a, b)
		default:
			a.Free()
			b.Free()
			return fmt.Errorf("optim: no composed step for %s", kind)
		}
		a.Free()
		b.Free()
	}
	return nil
}
