package nn

import (
	"fmt"
	"math"
	"strconv"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// Linear is the affine map y = x·Wᵀ + b over the last axis of x.
type Linear struct {
	In, Out int
	Weight  *Tensor // [Out, In]
	Bias    *Tensor // [Out], nil without bias
}

// NewLinear makes a Linear layer with weights drawn by init from gen and a zero bias (when
// bias is true).
func NewLinear(dev device.Device, dtype tensor.DType, in, out int, bias bool, init Init, gen *tensor.Generator) (*Linear, error) {
	if err := checkSizes("linear", in, out); err != nil {
		return nil, err
	}
	if err := checkFloatDType("linear", dtype); err != nil {
		return nil, err
	}
	b := init.bound(in, out)
	l := &Linear{In: in, Out: out, Weight: Param(gen.Uniform(dev, dtype, -b, b, out, in))}
	if bias {
		l.Bias = Param(tensor.Zeros(dev, dtype, out))
	}
	return l, nil
}

// Forward applies the layer to x of shape [..., In]. When x's execution context has an
// autocast dtype (tensor.Context.SetAutocast) and the weight is float32, the product runs in
// that dtype on copies of x and of the weight, and the result is float32.
func (l *Linear) Forward(x *Tensor) *Tensor {
	if x.Rank() == 0 || x.Dim(-1) != l.In {
		panic(&ops.Error{Op: "linear", Msg: "input shape " + tensor.ShapeString(x.Shape()) + " does not end in the layer's input size " + strconv.Itoa(l.In)})
	}
	if x.Rank() == 1 {
		return ops.Reshape(l.Forward(ops.Reshape(x, 1, l.In)), l.Out)
	}
	var y *Tensor
	if c, dt := autocast(x, l.Weight); dt != 0 {
		// Mixed precision: the product of 16-bit copies of x and of the float32 weight
		// (whose gradient reaches the weight in float32 through the cast), returned in
		// float32 like the bias and everything after it.
		w := ops.Cast(ops.In(c, l.Weight)[0], dt)
		y = ops.Cast(ops.MatmulT(ops.Cast(x, dt), w, false, true), l.Weight.DType())
	} else {
		y = ops.MatmulT(x, l.Weight, false, true)
	}
	if l.Bias != nil {
		y = ops.Add(y, l.Bias)
	}
	return y
}

// NamedParameters lists weight and bias.
func (l *Linear) NamedParameters() []Named {
	ns := []Named{{"weight", l.Weight}}
	if l.Bias != nil {
		ns = append(ns, Named{"bias", l.Bias})
	}
	return ns
}

// Parameters lists weight and bias.
func (l *Linear) Parameters() []*Tensor { return paramsOf(l) }

// LayerNorm normalises the last axis with a learned scale (ones) and shift (zeros).
type LayerNorm struct {
	Size  int
	Eps   float64
	Gamma *Tensor // [Size]
	Beta  *Tensor // [Size]
}

// NewLayerNorm makes a LayerNorm over size features.
func NewLayerNorm(dev device.Device, dtype tensor.DType, size int, eps float64) (*LayerNorm, error) {
	if err := checkSizes("layer norm", size); err != nil {
		return nil, err
	}
	if err := checkFloatDType("layer norm", dtype); err != nil {
		return nil, err
	}
	if math.IsNaN(eps) || math.IsInf(eps, 0) || eps < 0 {
		return nil, fmt.Errorf("nn: layer norm: eps must be finite and ≥ 0, got %v", eps)
	}
	return &LayerNorm{Size: size, Eps: eps, Gamma: Param(tensor.Ones(dev, dtype, size)), Beta: Param(tensor.Zeros(dev, dtype, size))}, nil
}

// Forward normalises x of shape [..., Size].
func (n *LayerNorm) Forward(x *Tensor) *Tensor { return ops.LayerNorm(x, n.Gamma, n.Beta, n.Eps) }

// NamedParameters lists weight (γ) and bias (β), PyTorch's names.
func (n *LayerNorm) NamedParameters() []Named {
	return []Named{{"weight", n.Gamma}, {"bias", n.Beta}}
}

// Parameters lists γ and β.
func (n *LayerNorm) Parameters() []*Tensor { return paramsOf(n) }

// Embedding maps integer ids to learned rows of a [Num, Dim] table, initialised N(0, 1).
type Embedding struct {
	Num, Dim int
	Weight   *Tensor
}

// NewEmbedding makes an embedding table.
func NewEmbedding(dev device.Device, dtype tensor.DType, num, dim int, gen *tensor.Generator) (*Embedding, error) {
	if err := checkSizes("embedding", num, dim); err != nil {
		return nil, err
	}
	if err := checkFloatDType("embedding", dtype); err != nil {
		return nil, err
	}
	return &Embedding{Num: num, Dim: dim, Weight: Param(gen.Normal(dev, dtype, 0, 1, num, dim))}, nil
}

// Forward looks up ids (an int32 tensor of any shape) giving ids.Shape() + [Dim].
func (e *Embedding) Forward(ids *Tensor) *Tensor { return ops.Embedding(e.Weight, ids) }

// NamedParameters lists the table.
func (e *Embedding) NamedParameters() []Named { return []Named{{"weight", e.Weight}} }

// Parameters lists the table.
func (e *Embedding) Parameters() []*Tensor { return paramsOf(e) }

// autocast returns x's execution context and its autocast dtype when a layer with the
// parameter p should compute its products in that dtype: the context has one and p is
// float32 (the master weights of mixed precision). Otherwise the dtype is 0.
func autocast(x, p *Tensor) (*tensor.Context, tensor.DType) {
	c := x.Context()
	dt := c.Autocast()
	if dt == 0 || p.DType() != tensor.Float32 {
		return c, 0
	}
	return c, dt
}
