package ops

import (
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// CrossEntropy is the mean negative log-likelihood of integer targets under softmax(logits):
//
//	loss = Σᵢ wᵢ·(−log softmax(logitsᵢ)[targetᵢ]) / Σᵢ wᵢ
//
// logits is [..., C] (rows × classes, with any leading axes), targets an int32 tensor of the
// leading shape holding classes in [0, C), and weights (nil for all ones) a tensor of the
// leading shape saying how much each row counts, typically a 0/1 mask of the rows that are
// scored. Weights carry no gradient. When every weight is zero the loss is 0. The targets are
// read back to the host once to check their range.
func CrossEntropy(logits, targets, weights *Tensor) *Tensor {
	dev := checkFloat("cross_entropy", logits)
	if logits.Rank() < 2 {
		panic(errorf("cross_entropy", "logits must be [rows, classes], got %s", shp(logits)))
	}
	lead := logits.Shape()[:logits.Rank()-1]
	c := logits.Dim(-1)
	n := numel(lead)
	checkIndex("cross_entropy", targets, dev)
	if !tensor.SameShape(targets.Shape(), lead) {
		panic(errorf("cross_entropy", "targets must have shape %s, got %s", tensor.ShapeString(lead), shp(targets)))
	}
	// The picked entries are looked up as rows of the flattened [N·C, 1] log-probabilities at
	// i·C + targetᵢ (a gather, whose adjoint scatters), rather than multiplied by a one-hot
	// mask, so a −Inf logit of another class does not turn into 0·(−Inf) = NaN.
	flat := make([]int32, n)
	for i, t := range targets.Int32s() {
		if t < 0 || int(t) >= c {
			panic(errorf("cross_entropy", "target %d of row %d is not a class in [0, %d)", t, i, c))
		}
		flat[i] = int32(i*c) + t
	}
	if weights != nil {
		checkFloat("cross_entropy", logits, weights)
		if !tensor.SameShape(weights.Shape(), lead) {
			panic(errorf("cross_entropy", "weights must have shape %s, got %s", tensor.ShapeString(lead), shp(weights)))
		}
		weights = weights.Reshape(n)
	}
	if len(lead) != 1 {
		logits = Reshape(logits, n, c)
	}
	picked := Embedding(Reshape(LogSoftmax(logits, -1), n*c, 1), tensor.ContextOf(logits, weights).FromInt32(dev, flat))
	nll := Neg(Reshape(picked, n)) // [N]
	if weights == nil {
		return Mean(nll, false)
	}
	w := Detach(weights)
	// Divide by max(Σw, 1e-30) so an all-zero mask gives 0 rather than 0/0 (1e-30 is a normal
	// float32, so devices that flush denormals to zero do not turn it into a division by 0).
	denom := unaryRaw(device.UnaryRecip, binaryRaw("cross_entropy", device.BinaryMax, SumAll(w),
		tensor.ContextOf(logits, weights).Scalar(dev, logits.DType(), 1e-30)), 0)
	return Mul(SumAll(Mul(nll, w)), denom)
}

// MSE is the mean squared error mean((pred − target)²) over all elements (broadcasting).
func MSE(pred, target *Tensor) *Tensor { return MeanAll(Square(Sub(pred, target))) }
