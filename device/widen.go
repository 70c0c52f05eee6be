package device

// AnyHalf reports whether any of bufs (nil ones skipped) holds a 16-bit float dtype.
func AnyHalf(bufs ...Buffer) bool {
	for _, b := range bufs {
		if b != nil && b.DType().IsHalf() {
			return true
		}
	}
	return false
}

// InFloat32 is how a backend runs primitive op on 16-bit float operands: it copies every
// bfloat16 or float16 buffer among operands into a new float32 buffer on dev (a buffer
// given twice gets one copy, so in-place updates stay in place), calls run with a function
// that maps each operand to its float32 stand-in (other buffers, and nil, to themselves),
// then rounds the stand-ins of outputs back into them, to nearest-even, and frees the
// copies. Converting a whole buffer and back is exact, so elements the primitive does not
// write keep their values. The operands' float dtypes must agree (int32 index buffers
// aside), as every primitive requires.
func InFloat32(dev Device, op string, operands, outputs []Buffer, run func(f32 func(Buffer) Buffer)) {
	var dt DType
	for _, b := range operands {
		if b == nil || b.DType() == Int32 {
			continue
		}
		if dt == 0 {
			dt = b.DType()
		} else if b.DType() != dt {
			Panicf(op, "mixed dtypes %s and %s", dt, b.DType())
		}
	}
	wide := map[Buffer]Buffer{}
	defer func() {
		for _, w := range wide {
			w.Free()
		}
	}()
	for _, b := range operands {
		if b == nil || !b.DType().IsHalf() || wide[b] != nil {
			continue
		}
		w, err := dev.Alloc(Float32, b.Len())
		if err != nil {
			Panicf(op, "float32 copy of a %s operand of %d elements: %v", b.DType(), b.Len(), err)
		}
		wide[b] = w
		if b.Len() > 0 {
			dev.Convert(w, 0, b, 0, b.Len())
		}
	}
	run(func(b Buffer) Buffer {
		if w := wide[b]; w != nil {
			return w
		}
		return b
	})
	for _, b := range outputs {
		if w := wide[b]; w != nil && b.Len() > 0 {
			dev.Convert(b, 0, w, 0, b.Len())
		}
	}
}

// OptimizerStepInFloat32 is InFloat32 for a fused optimizer step: every parameter, gradient
// and state buffer of group takes part, and parameters and states are written back.
func OptimizerStepInFloat32(dev Device, group []OptimTensor, step func([]OptimTensor) error) error {
	var all, outs []Buffer
	for _, t := range group {
		all = append(all, t.Param, t.Grad)
		all = append(all, t.State...)
		outs = append(outs, t.Param)
		outs = append(outs, t.State...)
	}
	var err error
	InFloat32(dev, "OptimizerStep", all, outs, func(f32 func(Buffer) Buffer) {
		wide := make([]OptimTensor, len(group))
		for i, t := range group {
			wide[i] = OptimTensor{Param: f32(t.Param), Grad: f32(t.Grad), N: t.N}
			for _, s := range t.State {
				wide[i].State = append(wide[i].State, f32(s))
			}
		}
		err = step(wide)
	})
	return err
}

// OptimizerGroupHasHalf reports whether any buffer of group holds a 16-bit float dtype.
func OptimizerGroupHasHalf(group []OptimTensor) bool {
	for _, t := range group {
		if AnyHalf(t.Param, t.Grad) || AnyHalf(t.State...) {
			return true
		}
	}
	return false
}
