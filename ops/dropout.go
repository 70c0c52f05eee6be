package ops

import (
	"math"

	"github.com/kiln-ml/kiln/tensor"
)

// Dropout zeroes each element of x with probability p and scales the survivors by 1/(1−p)
// (inverted dropout, Srivastava et al., JMLR 15, 2014), so the expectation is unchanged. The
// mask comes from the next counter range of gen (Philox), so CPU and GPU drop the same
// elements for the same seed. When training is false, or p is 0, it returns x unchanged.
func Dropout(x *Tensor, p float64, training bool, gen *tensor.Generator) *Tensor {
	checkFloat("dropout", x)
	if math.IsNaN(p) || p < 0 || p >= 1 {
		panic(errorf("dropout", "probability must be in [0, 1), got %v", p))
	}
	if !training || p == 0 {
		return x
	}
	if gen == nil {
		panic(errorf("dropout", "training mode needs a random generator"))
	}
	u := gen.Uniform(x.Device(), x.DType(), 0, 1, x.Shape()...)
	mask := MulScalar(GtScalar(u, p), 1/(1-p))
	return Mul(x, mask)
}
