// Package nn holds neural-network building blocks written with package ops: Linear,
// LayerNorm, MLP, multi-head attention with the PFN context mask, and Embedding, behind a
// small Module interface that lists parameters by name (for optimizers and checkpoints).
//
// Parameters are leaf tensors that require gradients and belong to no execution context
// (they are free tensors, see tensor.Context), so a training step can open a scope of its
// context, run the model on inputs of that context, backpropagate with ops.Backward, update
// the parameters in place and close the scope without releasing them. Every op of a forward
// pass has an input of the context, so all activations belong to it. ZeroGrad releases the
// accumulated gradients; Release frees the parameters themselves. Forward only reads the
// parameters, so goroutines may run one module at once, each in its own context. Weight
// matrices use PyTorch's [out, in] layout so checkpoints map one to one.
package nn

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// Tensor is tensor.Tensor.
type Tensor = tensor.Tensor

// Named is a parameter with its dotted path in the module tree ("layers.0.weight").
type Named struct {
	Name   string
	Tensor *Tensor
}

// Module is anything with parameters.
type Module interface {
	// NamedParameters lists the parameters in a fixed order with unique names.
	NamedParameters() []Named
	// Parameters lists the same tensors in the same order.
	Parameters() []*Tensor
}

// paramsOf implements Parameters from NamedParameters.
func paramsOf(m Module) []*Tensor {
	ns := m.NamedParameters()
	ps := make([]*Tensor, len(ns))
	for i, n := range ns {
		ps[i] = n.Tensor
	}
	return ps
}

// prefixed prepends prefix + "." to the names of a child's parameters.
func prefixed(prefix string, ns []Named) []Named {
	out := make([]Named, len(ns))
	for i, n := range ns {
		out[i] = Named{prefix + "." + n.Name, n.Tensor}
	}
	return out
}

// ZeroGrad releases and clears the gradients of m's parameters.
func ZeroGrad(m Module) { ops.ZeroGrad(m.Parameters()...) }

// Release frees m's parameters and their gradients; m must not be used afterwards.
func Release(m Module) {
	for _, p := range m.Parameters() {
		ops.ZeroGrad(p)
		p.Release()
	}
}

// NumParameters counts the scalar parameters of m.
func NumParameters(m Module) int {
	n := 0
	for _, p := range m.Parameters() {
		n += p.Len()
	}
	return n
}

// Param turns t into a parameter: out of every scope, requiring gradients.
func Param(t *Tensor) *Tensor { return t.Detach().SetRequiresGrad(true) }

// Init selects a weight initialisation.
type Init int

const (
	// KaimingUniform draws U(±√(6/fan_in)): the variance 2/fan_in that keeps activations'
	// scale through ReLU layers (He, Zhang, Ren and Sun, "Delving deep into rectifiers",
	// ICCV 2015, eq. 10).
	KaimingUniform Init = iota
	// XavierUniform draws U(±√(6/(fan_in+fan_out))) (Glorot and Bengio, "Understanding the
	// difficulty of training deep feedforward neural networks", AISTATS 2010, eq. 16), suited
	// to tanh and GELU layers and attention projections.
	XavierUniform
)

// bound is the half-width of the uniform initialisation.
func (in Init) bound(fanIn, fanOut int) float64 {
	switch in {
	case XavierUniform:
		return math.Sqrt(6 / float64(fanIn+fanOut))
	default:
		return math.Sqrt(6 / float64(fanIn))
	}
}

func checkSizes(what string, sizes ...int) error {
	for _, s := range sizes {
		if s <= 0 {
			return fmt.Errorf("nn: %s: sizes must be positive, got %v", what, sizes)
		}
	}
	return nil
}

func checkFloatDType(what string, dt tensor.DType) error {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("nn: %s: parameters must be float32 or float64, got %s", what, dt)
	}
	return nil
}
