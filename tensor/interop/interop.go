// Package interop converts kiln tensors to and from the matrix and tensor types of two other
// Go libraries: gonum's mat.Dense (float64 matrices) and gorgonia.org/tensor's *Dense.
//
// It is a package of its own so that package tensor depends on nothing but the standard
// library and kiln: gorgonia.org/tensor brings Apache Arrow, flatbuffers and protobuf with
// it, which only programs that import this package pay for.
//
// Every conversion copies: the result shares no memory with its source, and a tensor made
// here belongs to no execution context (release it, or Track it in one). Conversions return
// an error instead of panicking, for misuse (a wrong rank, an unsupported dtype) and for a
// failure of the device alike.
package interop

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
	gt "gorgonia.org/tensor"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// ToMat copies a rank-2 tensor into a new gonum mat.Dense (float64). gonum has no empty
// matrix of a given shape, so a tensor with a zero extent gives an empty mat.Dense{}.
func ToMat(t *tensor.Tensor) (*mat.Dense, error) {
	if t.Rank() != 2 {
		return nil, fmt.Errorf("interop: ToMat of a rank-%d tensor (shape %v)", t.Rank(), t.Shape())
	}
	r, c := t.Dim(0), t.Dim(1)
	if r == 0 || c == 0 {
		return &mat.Dense{}, nil
	}
	var v []float64
	err := tensor.Catch(func() error {
		v = t.Float64s()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return mat.NewDense(r, c, v), nil
}

// FromMat copies a gonum matrix into a new rank-2 tensor of dtype on dev.
func FromMat(dev device.Device, dtype tensor.DType, m mat.Matrix) (*tensor.Tensor, error) {
	r, c := m.Dims()
	v := make([]float64, r*c)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			v[i*c+j] = m.At(i, j)
		}
	}
	var t *tensor.Tensor
	err := tensor.Catch(func() error {
		t = tensor.FromFloat64As(dev, dtype, v, r, c)
		return nil
	})
	return t, err
}

// ToGorgonia copies the tensor into a gorgonia.org/tensor *Dense of the same dtype and shape
// (float32, float64 or int32). A scalar becomes a one-element vector: gorgonia's dense
// tensors have at least one dimension.
func ToGorgonia(t *tensor.Tensor) (*gt.Dense, error) {
	shape := t.Shape()
	if len(shape) == 0 {
		shape = []int{1}
	}
	var d *gt.Dense
	err := tensor.Catch(func() error {
		switch t.DType() {
		case tensor.Float32:
			d = gt.New(gt.WithShape(shape...), gt.WithBacking(t.Float32s()))
		case tensor.Float64:
			d = gt.New(gt.WithShape(shape...), gt.WithBacking(t.Float64s()))
		case tensor.Int32:
			d = gt.New(gt.WithShape(shape...), gt.WithBacking(t.Int32s()))
		default:
			return fmt.Errorf("interop: ToGorgonia of a %s tensor", t.DType())
		}
		return nil
	})
	return d, err
}

// FromGorgonia copies a gorgonia.org/tensor *Dense (float32, float64 or int32) into a new
// tensor on dev. A non-contiguous gorgonia view is materialised first.
func FromGorgonia(dev device.Device, d *gt.Dense) (*tensor.Tensor, error) {
	shape := append([]int(nil), d.Shape()...)
	if d.IsMaterializable() {
		d = d.Materialize().(*gt.Dense)
	}
	var t *tensor.Tensor
	err := tensor.Catch(func() error {
		switch d.Dtype() {
		case gt.Float32:
			t = tensor.FromFloat32(dev, append([]float32(nil), d.Float32s()...), shape...)
		case gt.Float64:
			t = tensor.FromFloat64(dev, append([]float64(nil), d.Float64s()...), shape...)
		case gt.Int32:
			t = tensor.FromInt32(dev, append([]int32(nil), d.Int32s()...), shape...)
		default:
			return fmt.Errorf("interop: FromGorgonia of dtype %v (want float32, float64 or int32)", d.Dtype())
		}
		return nil
	})
	return t, err
}
