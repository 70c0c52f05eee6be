package ops

import (
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// CrossEntropy is the mean negative log-likelihood of integer targets under softmax(logits):
//
//	loss = Σᵢ wᵢ·(−log softmax(logitsᵢ)[targetᵢ]) / Σᵢ wᵢ
//
// logits is [N, C], targets an int32 tensor of N classes in [0, C), and weights (nil for all
// ones) an [N] tensor saying how much each row counts, typically a 0/1 mask of the rows that
// are scored. Weights carry no gradient. When every weight is zero the loss is 0.
func CrossEntropy(logits, targets, weights *Tensor) *Tensor {
	dev := checkFloat("cross_entropy", logits)
	if logits.Rank() != 2 {
		panic(errorf("cross_entropy", "logits must be [rows, classes], got %s", shp(logits)))
	}
	n, c := logits.Dim(0), logits.Dim(1)
	checkIndex("cross_entropy", targets, dev)
	if targets.Rank() != 1 || targets.Dim(0) != n {
		panic(errorf("cross_entropy", "targets must have shape (%d), got %s", n, shp(targets)))
	}
	for i, t := range targets.Int32s() {
		if t < 0 || int(t) >= c {
			panic(errorf("cross_entropy", "target %d of row %d is not a class in [0, %d)", t, i, c))
		}
	}
	if weights != nil {
		checkFloat("cross_entropy", logits, weights)
		if weights.Rank() != 1 || weights.Dim(0) != n {
			panic(errorf("cross_entropy", "weights must have shape (%d), got %s", n, shp(weights)))
		}
	}
	// One-hot targets built on the device: [targetᵢ == j].
	tf := tensor.Empty(dev, logits.DType(), n, 1)
	if n > 0 {
		dev.Convert(tf.Buffer(), 0, targets.Buffer(), 0, n)
	}
	classes := tensor.Arange(dev, logits.DType(), 0, float64(c), 1).Reshape(1, c)
	onehot := Eq(tf, classes)
	nll := Neg(Sum(Mul(LogSoftmax(logits, -1), onehot), false, -1)) // [N]
	if weights == nil {
		return Mean(nll, false)
	}
	w := Detach(weights)
	// Divide by max(Σw, tiny) so an all-zero mask gives 0 rather than 0/0.
	denom := unaryRaw(device.UnaryRecip, binaryRaw("cross_entropy", device.BinaryMax, SumAll(w),
		tensor.Scalar(dev, logits.DType(), math.SmallestNonzeroFloat32)), 0)
	return Mul(SumAll(Mul(nll, w)), denom)
}

// MSE is the mean squared error mean((pred − target)²) over all elements (broadcasting).
func MSE(pred, target *Tensor) *Tensor { return MeanAll(Square(Sub(pred, target))) }
