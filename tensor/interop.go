package tensor

import (
	"gonum.org/v1/gonum/mat"
	gt "gorgonia.org/tensor"

	"github.com/kiln-ml/kiln/device"
)

// ToMat copies a 2-D tensor into a gonum mat.Dense (float64).
func (t *Tensor) ToMat() *mat.Dense {
	if t.Rank() != 2 {
		panicf("ToMat of a rank-%d tensor", t.Rank())
	}
	return mat.NewDense(t.shape[0], t.shape[1], t.Float64s())
}

// FromMat copies a gonum matrix into a new 2-D tensor of dtype on dev.
func FromMat(dev device.Device, dtype DType, m mat.Matrix) *Tensor {
	r, c := m.Dims()
	v := make([]float64, r*c)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			v[i*c+j] = m.At(i, j)
		}
	}
	return FromFloat64As(dev, dtype, v, r, c)
}

// ToDense copies the tensor into a gorgonia.org/tensor *Dense of the same dtype and shape.
func (t *Tensor) ToDense() *gt.Dense {
	shape := t.Shape()
	if len(shape) == 0 {
		shape = []int{1}
	}
	switch t.dtype {
	case Float32:
		return gt.New(gt.WithShape(shape...), gt.WithBacking(t.Float32s()))
	case Float64:
		return gt.New(gt.WithShape(shape...), gt.WithBacking(t.Float64s()))
	case Int32:
		return gt.New(gt.WithShape(shape...), gt.WithBacking(t.Int32s()))
	}
	panicf("ToDense of a %s tensor", t.dtype)
	return nil
}

// FromDense copies a gorgonia.org/tensor *Dense (float32, float64 or int32) onto dev.
func FromDense(dev device.Device, d *gt.Dense) *Tensor {
	shape := append([]int(nil), d.Shape()...)
	// gorgonia may hold a non-contiguous view; materialise it.
	if d.IsMaterializable() {
		d = d.Materialize().(*gt.Dense)
	}
	switch d.Dtype() {
	case gt.Float32:
		return FromFloat32(dev, append([]float32(nil), d.Float32s()...), shape...)
	case gt.Float64:
		return FromFloat64(dev, append([]float64(nil), d.Float64s()...), shape...)
	case gt.Int32:
		return FromInt32(dev, append([]int32(nil), d.Int32s()...), shape...)
	}
	panicf("FromDense: unsupported dtype %v", d.Dtype())
	return nil
}
