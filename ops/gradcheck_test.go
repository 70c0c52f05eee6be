package ops

import (
	"testing"

	"github.com/kiln-ml/kiln/tensor"
)

type gcase struct {
	name   string
	inputs func() []*Tensor
	f      func(x []*Tensor) *Tensor
}

func in(ts ...*Tensor) func() []*Tensor { return func() []*Tensor { return ts } }

// cases lists every op on odd shapes, with broadcasting where the op broadcasts. Inputs are
// drawn where the op is smooth (positive for log, away from 0 for relu, distinct for max).
func cases() []gcase {
	return []gcase{
		{"add_broadcast", in(randT(1, -1, 1, 3, 1, 5), randT(2, -1, 1, 4, 5)), func(x []*Tensor) *Tensor { return Add(x[0], x[1]) }},
		{"sub_broadcast", in(randT(3, -1, 1, 2, 3), randT(4, -1, 1, 3)), func(x []*Tensor) *Tensor { return Sub(x[0], x[1]) }},
		{"mul_broadcast", in(randT(5, -1, 1, 3, 4), randT(6, -1, 1, 1, 4)), func(x []*Tensor) *Tensor { return Mul(x[0], x[1]) }},
		{"mul_self", in(randT(5, -1, 1, 3, 4)), func(x []*Tensor) *Tensor { return Mul(x[0], x[0]) }},
		{"div_broadcast", in(randT(7, -1, 1, 3, 5), randT(8, 0.5, 2, 5)), func(x []*Tensor) *Tensor { return Div(x[0], x[1]) }},
		{"pow", in(randT(9, 0.5, 2, 2, 3), randT(10, -1.5, 2, 3)), func(x []*Tensor) *Tensor { return Pow(x[0], x[1]) }},
		{"maximum", in(randT(11, -1, 1, 3, 4), randT(12, -1, 1, 4)), func(x []*Tensor) *Tensor { return Maximum(x[0], x[1]) }},
		{"minimum", in(randT(13, -1, 1, 3, 4), randT(14, -1, 1, 3, 1)), func(x []*Tensor) *Tensor { return Minimum(x[0], x[1]) }},
		{"neg", in(randT(15, -1, 1, 3, 2)), func(x []*Tensor) *Tensor { return Neg(x[0]) }},
		{"exp", in(randT(16, -1, 1, 3, 2)), func(x []*Tensor) *Tensor { return Exp(x[0]) }},
		{"log", in(randT(17, 0.3, 2, 5)), func(x []*Tensor) *Tensor { return Log(x[0]) }},
		{"sqrt", in(randT(18, 0.3, 2, 2, 3)), func(x []*Tensor) *Tensor { return Sqrt(x[0]) }},
		{"rsqrt", in(randT(19, 0.3, 2, 7)), func(x []*Tensor) *Tensor { return Rsqrt(x[0]) }},
		{"recip", in(awayT(20, 0.4, 2, 3, 3)), func(x []*Tensor) *Tensor { return Recip(x[0]) }},
		{"square", in(randT(21, -2, 2, 5)), func(x []*Tensor) *Tensor { return Square(x[0]) }},
		{"pow_scalar", in(randT(22, 0.3, 2, 2, 5)), func(x []*Tensor) *Tensor { return PowScalar(x[0], 2.5) }},
		{"pow_scalar_neg", in(randT(22, 0.3, 2, 2, 5)), func(x []*Tensor) *Tensor { return PowScalar(x[0], -1.5) }},
		{"abs", in(awayT(23, 0.1, 2, 3, 5)), func(x []*Tensor) *Tensor { return Abs(x[0]) }},
		{"tanh", in(randT(24, -2, 2, 3, 5)), func(x []*Tensor) *Tensor { return Tanh(x[0]) }},
		{"sigmoid", in(randT(25, -3, 3, 3, 5)), func(x []*Tensor) *Tensor { return Sigmoid(x[0]) }},
		{"relu", in(awayT(26, 0.1, 2, 3, 5)), func(x []*Tensor) *Tensor { return Relu(x[0]) }},
		{"leaky_relu", in(awayT(27, 0.1, 2, 3, 5)), func(x []*Tensor) *Tensor { return LeakyRelu(x[0], 0.1) }},
		{"elu", in(awayT(28, 0.1, 2, 3, 5)), func(x []*Tensor) *Tensor { return Elu(x[0], 1.3) }},
		{"gelu", in(randT(29, -3, 3, 3, 5)), func(x []*Tensor) *Tensor { return Gelu(x[0]) }},
		{"gelu_tanh", in(randT(30, -3, 3, 3, 5)), func(x []*Tensor) *Tensor { return GeluTanh(x[0]) }},
		{"erf", in(randT(31, -2, 2, 7)), func(x []*Tensor) *Tensor { return Erf(x[0]) }},
		{"add_mul_scalar", in(randT(32, -1, 1, 4)), func(x []*Tensor) *Tensor { return MulScalar(AddScalar(x[0], 0.7), -1.9) }},
		{"where", in(randT(33, -1, 1, 3, 4), randT(34, -1, 1, 4)), func(x []*Tensor) *Tensor {
			return Where(Gt(x[0], x[1]), Square(x[0]), Exp(x[1]))
		}},
		{"expand", in(randT(35, -1, 1, 3, 1)), func(x []*Tensor) *Tensor { return Expand(x[0], 2, 3, 4) }},
		{"sum_to", in(randT(36, -1, 1, 2, 3, 4)), func(x []*Tensor) *Tensor { return SumTo(x[0], 3, 1) }},

		{"matmul_2d", in(randT(40, -1, 1, 3, 4), randT(41, -1, 1, 4, 5)), func(x []*Tensor) *Tensor { return Matmul(x[0], x[1]) }},
		{"matmul_batch_2d", in(randT(42, -1, 1, 2, 3, 4), randT(43, -1, 1, 4, 5)), func(x []*Tensor) *Tensor { return Matmul(x[0], x[1]) }},
		{"matmul_2d_batch", in(randT(44, -1, 1, 3, 4), randT(45, -1, 1, 2, 4, 5)), func(x []*Tensor) *Tensor { return Matmul(x[0], x[1]) }},
		{"matmul_broadcast", in(randT(46, -1, 1, 2, 1, 3, 4), randT(47, -1, 1, 3, 4, 2)), func(x []*Tensor) *Tensor { return Matmul(x[0], x[1]) }},
		{"matmul_vec_mat", in(randT(48, -1, 1, 4), randT(49, -1, 1, 2, 4, 5)), func(x []*Tensor) *Tensor { return Matmul(x[0], x[1]) }},
		{"matmul_mat_vec", in(randT(50, -1, 1, 2, 3, 4), randT(51, -1, 1, 4)), func(x []*Tensor) *Tensor { return Matmul(x[0], x[1]) }},
		{"matmul_dot", in(randT(52, -1, 1, 5), randT(53, -1, 1, 5)), func(x []*Tensor) *Tensor { return Matmul(x[0], x[1]) }},
		{"matmul_tA", in(randT(54, -1, 1, 2, 4, 3), randT(55, -1, 1, 4, 5)), func(x []*Tensor) *Tensor { return MatmulT(x[0], x[1], true, false) }},
		{"matmul_tB", in(randT(56, -1, 1, 2, 3, 4), randT(57, -1, 1, 5, 4)), func(x []*Tensor) *Tensor { return MatmulT(x[0], x[1], false, true) }},
		{"matmul_tAtB", in(randT(58, -1, 1, 4, 3), randT(59, -1, 1, 2, 5, 4)), func(x []*Tensor) *Tensor { return MatmulT(x[0], x[1], true, true) }},
		{"matmul_square", in(randT(60, -1, 1, 2, 3, 3)), func(x []*Tensor) *Tensor { return Matmul(x[0], x[0]) }},

		{"reshape", in(randT(61, -1, 1, 2, 3, 4)), func(x []*Tensor) *Tensor { return Tanh(Reshape(x[0], 4, -1)) }},
		{"permute", in(randT(62, -1, 1, 2, 3, 4)), func(x []*Tensor) *Tensor { return Mul(Permute(x[0], 2, 0, 1), randT(63, -1, 1, 4, 2, 3)) }},
		{"transpose", in(randT(64, -1, 1, 3, 5)), func(x []*Tensor) *Tensor { return Sin2(T(x[0])) }},
		{"slice", in(randT(65, -1, 1, 3, 7)), func(x []*Tensor) *Tensor { return Square(Slice(x[0], 1, 2, 5)) }},
		{"concat", in(randT(66, -1, 1, 2, 3), randT(67, -1, 1, 2, 1)), func(x []*Tensor) *Tensor {
			return Mul(Concat(1, x[0], x[1], x[0]), randT(68, -1, 1, 2, 7))
		}},
		{"index_select", in(randT(69, -1, 1, 3, 5, 2)), func(x []*Tensor) *Tensor { return Square(IndexSelect(x[0], 1, idxT(4, 0, 4, 2))) }},
		{"embedding", in(randT(70, -1, 1, 6, 3)), func(x []*Tensor) *Tensor {
			return Square(Embedding(x[0], tensor.FromInt32(dev, []int32{1, 5, 1, 0, 3, 1}, 2, 3)))
		}},

		{"sum_axis", in(randT(71, -1, 1, 3, 4, 5)), func(x []*Tensor) *Tensor { return Square(Sum(x[0], false, 1)) }},
		{"sum_axes_keep", in(randT(72, -1, 1, 3, 4, 5)), func(x []*Tensor) *Tensor { return Square(Sum(x[0], true, 0, 2)) }},
		{"sum_all", in(randT(73, -1, 1, 3, 4)), func(x []*Tensor) *Tensor { return Square(SumAll(x[0])) }},
		{"mean", in(randT(74, -1, 1, 3, 4, 2)), func(x []*Tensor) *Tensor { return Square(Mean(x[0], false, -1, 0)) }},
		{"max_axis", in(randT(75, -1, 1, 3, 5, 2)), func(x []*Tensor) *Tensor { return Square(Max(x[0], false, 1)) }},
		{"max_all", in(randT(76, -1, 1, 3, 5)), func(x []*Tensor) *Tensor { return Square(MaxAll(x[0])) }},
		{"min_keep", in(randT(77, -1, 1, 4, 3)), func(x []*Tensor) *Tensor { return Exp(Min(x[0], true, 0)) }},

		{"softmax", in(randT(80, -2, 2, 3, 5)), func(x []*Tensor) *Tensor { return Softmax(x[0], -1) }},
		{"softmax_axis0", in(randT(81, -2, 2, 4, 3, 2)), func(x []*Tensor) *Tensor { return Softmax(x[0], 0) }},
		{"log_softmax", in(randT(82, -2, 2, 3, 5)), func(x []*Tensor) *Tensor { return LogSoftmax(x[0], 1) }},
		{"cross_entropy", in(randT(83, -2, 2, 5, 4)), func(x []*Tensor) *Tensor {
			return CrossEntropy(x[0], idxT(3, 0, 1, 1, 2), tensor.FromFloat64(dev, []float64{1, 0, 1, 1, 0}))
		}},
		{"cross_entropy_3d", in(randT(83, -2, 2, 2, 3, 4)), func(x []*Tensor) *Tensor {
			return CrossEntropy(x[0], tensor.FromInt32(dev, []int32{3, 0, 1, 1, 2, 2}, 2, 3), tensor.FromFloat64(dev, []float64{1, 0, 1, 1, 0.5, 1}, 2, 3))
		}},
		{"cross_entropy_unweighted", in(randT(84, -2, 2, 3, 6)), func(x []*Tensor) *Tensor { return CrossEntropy(x[0], idxT(5, 0, 2), nil) }},
		{"mse", in(randT(85, -1, 1, 3, 4), randT(86, -1, 1, 4)), func(x []*Tensor) *Tensor { return MSE(x[0], x[1]) }},
		{"layer_norm_affine", in(randT(87, -2, 2, 3, 2, 5), randT(88, 0.5, 1.5, 5), randT(89, -1, 1, 5)), func(x []*Tensor) *Tensor {
			return LayerNorm(x[0], x[1], x[2], 1e-5)
		}},
		{"layer_norm_plain", in(randT(90, -2, 2, 4, 6)), func(x []*Tensor) *Tensor { return LayerNorm(x[0], nil, nil, 1e-3) }},
		{"attention_blD", in(randT(91, -1, 1, 2, 4, 3), randT(92, -1, 1, 2, 5, 3), randT(93, -1, 1, 2, 5, 2)), func(x []*Tensor) *Tensor {
			return Attention(x[0], x[1], x[2], 3, 0)
		}},
		{"attention_heads", in(randT(94, -1, 1, 2, 2, 3, 4), randT(95, -1, 1, 2, 2, 3, 4), randT(96, -1, 1, 2, 2, 3, 4)), func(x []*Tensor) *Tensor {
			return Attention(x[0], x[1], x[2], 3, 0.7)
		}},
		{"dropout", in(randT(97, -1, 1, 4, 5)), func(x []*Tensor) *Tensor {
			return Square(Dropout(x[0], 0.3, true, tensor.NewGenerator(7)))
		}},
	}
}

// Sin2 is a smooth non-polynomial test map, x·tanh(x), built from ops.
func Sin2(x *Tensor) *Tensor { return Mul(x, Tanh(x)) }

func TestGradCheckOps(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			if err := GradCheck(c.f, c.inputs(), 1e-6, 1e-6); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGradCheckComposed runs the first-order check with the fused backward primitives
// replaced by their differentiable compositions, so both paths are checked against finite
// differences (and therefore against each other).
func TestGradCheckComposed(t *testing.T) {
	forceComposed = true
	defer func() { forceComposed = false }()
	for _, c := range cases() {
		switch c.name {
		case "softmax", "softmax_axis0", "log_softmax", "cross_entropy", "layer_norm_affine", "layer_norm_plain",
			"attention_blD", "attention_heads":
		default:
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			if err := GradCheck(c.f, c.inputs(), 1e-6, 1e-6); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHVPCheckOps checks double backward for every op: the Hessian-vector product from
// differentiating the recorded gradient against finite differences of the gradient.
func TestHVPCheckOps(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			if err := HVPCheck(c.f, c.inputs(), 1e-5, 1e-5); err != nil {
				t.Fatal(err)
			}
		})
	}
}
