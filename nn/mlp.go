package nn

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// Activation is an elementwise nonlinearity such as ops.Relu, ops.Gelu or ops.Tanh.
type Activation func(*Tensor) *Tensor

// MLP is a stack of Linear layers with an activation between them (not after the last).
type MLP struct {
	Layers []*Linear
	Act    Activation
}

// NewMLP makes an MLP with layer sizes sizes[0] → sizes[1] → … → sizes[n−1].
func NewMLP(dev device.Device, dtype tensor.DType, sizes []int, act Activation, init Init, gen *tensor.Generator) (*MLP, error) {
	if len(sizes) < 2 {
		return nil, fmt.Errorf("nn: mlp needs at least an input and an output size, got %v", sizes)
	}
	if act == nil {
		return nil, fmt.Errorf("nn: mlp needs an activation")
	}
	m := &MLP{Act: act}
	for i := 0; i+1 < len(sizes); i++ {
		l, err := NewLinear(dev, dtype, sizes[i], sizes[i+1], true, init, gen)
		if err != nil {
			Release(m)
			return nil, err
		}
		m.Layers = append(m.Layers, l)
	}
	return m, nil
}

// Forward applies the layers to x of shape [..., sizes[0]].
func (m *MLP) Forward(x *Tensor) *Tensor {
	for i, l := range m.Layers {
		x = l.Forward(x)
		if i+1 < len(m.Layers) {
			x = m.Act(x)
		}
	}
	return x
}

// NamedParameters lists layers.i.weight and layers.i.bias.
func (m *MLP) NamedParameters() []Named {
	var ns []Named
	for i, l := range m.Layers {
		ns = append(ns, prefixed(fmt.Sprintf("layers.%d", i), l.NamedParameters())...)
	}
	return ns
}

// Parameters lists the layers' parameters in order.
func (m *MLP) Parameters() []*Tensor { return paramsOf(m) }
