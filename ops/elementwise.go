package ops

import (
	"math"

	"github.com/kiln-ml/kiln/device"
)

// ---------------------------------------------------------------------------------------
// Binary ops with broadcasting

// Add returns a + b.
func Add(a, b *Tensor) *Tensor {
	out := binaryRaw("add", device.BinaryAdd, a, b)
	as, bs := a.Shape(), b.Shape()
	return record("add", out, []*Tensor{a, b}, func(g *Tensor, needs []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if needs[0] {
			r[0] = SumTo(g, as...)
		}
		if needs[1] {
			r[1] = SumTo(g, bs...)
		}
		return r
	})
}

// Sub returns a − b.
func Sub(a, b *Tensor) *Tensor {
	out := binaryRaw("sub", device.BinarySub, a, b)
	as, bs := a.Shape(), b.Shape()
	return record("sub", out, []*Tensor{a, b}, func(g *Tensor, needs []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if needs[0] {
			r[0] = SumTo(g, as...)
		}
		if needs[1] {
			r[1] = Neg(SumTo(g, bs...))
		}
		return r
	})
}

// Mul returns a ⊙ b.
func Mul(a, b *Tensor) *Tensor {
	out := binaryRaw("mul", device.BinaryMul, a, b)
	return record("mul", out, []*Tensor{a, b}, func(g *Tensor, needs []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if needs[0] {
			r[0] = SumTo(Mul(g, b), a.Shape()...)
		}
		if needs[1] {
			r[1] = SumTo(Mul(g, a), b.Shape()...)
		}
		return r
	})
}

// Div returns a / b.
func Div(a, b *Tensor) *Tensor {
	out := binaryRaw("div", device.BinaryDiv, a, b)
	return record("div", out, []*Tensor{a, b}, func(g *Tensor, needs []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if needs[0] {
			r[0] = SumTo(Div(g, b), a.Shape()...)
		}
		if needs[1] {
			// ∂(a/b)/∂b = −a/b²
			r[1] = SumTo(Neg(Div(Mul(g, a), Square(b))), b.Shape()...)
		}
		return r
	})
}

// Pow returns a^b elementwise. The gradient with respect to b involves log a and is only
// finite for a > 0.
func Pow(a, b *Tensor) *Tensor {
	out := binaryRaw("pow", device.BinaryPow, a, b)
	return record("pow", out, []*Tensor{a, b}, func(g *Tensor, needs []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if needs[0] {
			// b·a^(b−1)
			r[0] = SumTo(Mul(g, Mul(b, Pow(a, AddScalar(b, -1)))), a.Shape()...)
		}
		if needs[1] {
			// a^b·ln a, recomputed from a and b so that it is differentiable in both.
			r[1] = SumTo(Mul(g, Mul(Pow(a, b), Log(a))), b.Shape()...)
		}
		return r
	})
}

// Maximum returns the elementwise maximum; ties send the gradient to a.
func Maximum(a, b *Tensor) *Tensor {
	return pairwiseExtremum("maximum", device.BinaryMax, a, b, func() *Tensor { return Gt(b, a) })
}

// Minimum returns the elementwise minimum; ties send the gradient to a.
func Minimum(a, b *Tensor) *Tensor {
	return pairwiseExtremum("minimum", device.BinaryMin, a, b, func() *Tensor { return Gt(a, b) })
}

// pairwiseExtremum is Maximum or Minimum: the gradient goes to b where bWins() is 1, to a elsewhere.
func pairwiseExtremum(name string, op device.BinaryOp, a, b *Tensor, bWins func() *Tensor) *Tensor {
	out := binaryRaw(name, op, a, b)
	return record(name, out, []*Tensor{a, b}, func(g *Tensor, needs []bool) []*Tensor {
		w := bWins()
		r := make([]*Tensor, 2)
		if needs[0] {
			r[0] = SumTo(Mul(g, RSubScalar(1, w)), a.Shape()...)
		}
		if needs[1] {
			r[1] = SumTo(Mul(g, w), b.Shape()...)
		}
		return r
	})
}

// ---------------------------------------------------------------------------------------
// Comparisons and masks: 0/1 tensors that carry no gradient

// Gt is 1 where a > b else 0 (broadcasting); it has no gradient.
func Gt(a, b *Tensor) *Tensor { return binaryRaw("gt", device.BinaryGt, a, b) }

// Lt is 1 where a < b else 0; it has no gradient.
func Lt(a, b *Tensor) *Tensor { return binaryRaw("lt", device.BinaryGt, b, a) }

// Eq is 1 where a == b else 0; it has no gradient.
func Eq(a, b *Tensor) *Tensor { return binaryRaw("eq", device.BinaryEq, a, b) }

// GtScalar is 1 where x > v else 0; it has no gradient.
func GtScalar(x *Tensor, v float64) *Tensor {
	checkFloat("gt_scalar", x)
	checkFinite("gt_scalar", "threshold", v)
	return unaryRaw(device.UnaryGtScalar, x, v)
}

// Sign is −1, 0 or 1 by the sign of x; it has no gradient.
func Sign(x *Tensor) *Tensor {
	checkFloat("sign", x)
	return unaryRaw(device.UnarySign, x, 0)
}

// IsFinite is 1 where x is neither NaN nor ±Inf else 0; it has no gradient.
func IsFinite(x *Tensor) *Tensor {
	checkFloat("isfinite", x)
	return unaryRaw(device.UnaryIsFinite, x, 0)
}

// Where selects a where cond is non-zero and b elsewhere: cond·a + (1−cond)·b for a 0/1 mask
// cond (all three broadcast). The mask carries no gradient.
func Where(cond, a, b *Tensor) *Tensor {
	c := Detach(cond)
	return Add(Mul(c, a), Mul(RSubScalar(1, c), b))
}

// ---------------------------------------------------------------------------------------
// Scalar helpers

// AddScalar returns x + v.
func AddScalar(x *Tensor, v float64) *Tensor {
	checkFloat("add_scalar", x)
	checkFinite("add_scalar", "scalar", v)
	out := unaryRaw(device.UnaryAddScalar, x, v)
	return record("add_scalar", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{g}
	})
}

// MulScalar returns v·x.
func MulScalar(x *Tensor, v float64) *Tensor {
	checkFloat("mul_scalar", x)
	checkFinite("mul_scalar", "scalar", v)
	out := unaryRaw(device.UnaryScale, x, v)
	return record("mul_scalar", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{MulScalar(g, v)}
	})
}

// RSubScalar returns v − x.
func RSubScalar(v float64, x *Tensor) *Tensor { return AddScalar(Neg(x), v) }

// ---------------------------------------------------------------------------------------
// Unary maps

// Neg returns −x.
func Neg(x *Tensor) *Tensor {
	checkFloat("neg", x)
	out := unaryRaw(device.UnaryNeg, x, 0)
	return record("neg", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Neg(g)}
	})
}

// Exp returns eˣ.
func Exp(x *Tensor) *Tensor {
	checkFloat("exp", x)
	out := unaryRaw(device.UnaryExp, x, 0)
	return record("exp", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, out)}
	})
}

// Log returns the natural logarithm.
func Log(x *Tensor) *Tensor {
	checkFloat("log", x)
	out := unaryRaw(device.UnaryLog, x, 0)
	return record("log", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Div(g, x)}
	})
}

// Sqrt returns √x.
func Sqrt(x *Tensor) *Tensor {
	checkFloat("sqrt", x)
	out := unaryRaw(device.UnarySqrt, x, 0)
	return record("sqrt", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Div(MulScalar(g, 0.5), out)}
	})
}

// Rsqrt returns 1/√x.
func Rsqrt(x *Tensor) *Tensor {
	checkFloat("rsqrt", x)
	out := unaryRaw(device.UnaryRsqrt, x, 0)
	return record("rsqrt", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		// d x^(−1/2) = −½ x^(−3/2) = −½ y³
		return []*Tensor{Mul(MulScalar(g, -0.5), PowScalar(out, 3))}
	})
}

// Recip returns 1/x.
func Recip(x *Tensor) *Tensor {
	checkFloat("recip", x)
	out := unaryRaw(device.UnaryRecip, x, 0)
	return record("recip", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Neg(Mul(g, Square(out)))}
	})
}

// Square returns x².
func Square(x *Tensor) *Tensor {
	checkFloat("square", x)
	out := unaryRaw(device.UnarySquare, x, 0)
	return record("square", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, MulScalar(x, 2))}
	})
}

// PowScalar returns x^p.
func PowScalar(x *Tensor, p float64) *Tensor {
	checkFloat("pow_scalar", x)
	checkFinite("pow_scalar", "exponent", p)
	out := unaryRaw(device.UnaryPowScalar, x, p)
	return record("pow_scalar", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		switch p {
		case 0:
			return []*Tensor{g.Context().Zeros(g.Device(), g.DType(), g.Shape()...)}
		case 1:
			return []*Tensor{g}
		case 2:
			return []*Tensor{Mul(g, MulScalar(x, 2))}
		}
		return []*Tensor{Mul(g, MulScalar(PowScalar(x, p-1), p))}
	})
}

// Abs returns |x|; its gradient at 0 is 0.
func Abs(x *Tensor) *Tensor {
	checkFloat("abs", x)
	out := unaryRaw(device.UnaryAbs, x, 0)
	return record("abs", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, Sign(x))}
	})
}

// Tanh returns tanh x.
func Tanh(x *Tensor) *Tensor {
	checkFloat("tanh", x)
	out := unaryRaw(device.UnaryTanh, x, 0)
	return record("tanh", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, RSubScalar(1, Square(out)))}
	})
}

// Sigmoid returns 1/(1+e⁻ˣ).
func Sigmoid(x *Tensor) *Tensor {
	checkFloat("sigmoid", x)
	out := unaryRaw(device.UnarySigmoid, x, 0)
	return record("sigmoid", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, Mul(out, RSubScalar(1, out)))}
	})
}

// Relu returns max(x, 0). Its derivative is the step function (0 at x = 0), whose own
// derivative is zero almost everywhere, so the backward multiplies by a constant mask.
func Relu(x *Tensor) *Tensor {
	checkFloat("relu", x)
	out := unaryRaw(device.UnaryRelu, x, 0)
	return record("relu", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, unaryRaw(device.UnaryReluGrad, x, 0))}
	})
}

// LeakyRelu returns x for x > 0 and slope·x otherwise.
func LeakyRelu(x *Tensor, slope float64) *Tensor {
	checkFloat("leaky_relu", x)
	checkFinite("leaky_relu", "slope", slope)
	out := unaryRaw(device.UnaryLeakyRelu, x, slope)
	return record("leaky_relu", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, unaryRaw(device.UnaryLeakyGrad, x, slope))}
	})
}

// Elu returns x for x > 0 and alpha·(eˣ−1) otherwise (Clevert et al., ICLR 2016).
func Elu(x *Tensor, alpha float64) *Tensor {
	checkFloat("elu", x)
	checkFinite("elu", "alpha", alpha)
	out := unaryRaw(device.UnaryElu, x, alpha)
	return record("elu", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Mul(g, eluGrad(x, alpha))}
	})
}

// eluGrad is dElu/dx: 1 for x > 0, alpha·eˣ otherwise. Its own derivative is alpha·eˣ for
// x ≤ 0 and 0 elsewhere, i.e. eluGrad(x)·(1 − step(x)).
func eluGrad(x *Tensor, alpha float64) *Tensor {
	out := unaryRaw(device.UnaryEluGrad, x, alpha)
	return record("elu_grad", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		neg := RSubScalar(1, unaryRaw(device.UnaryReluGrad, x, 0))
		return []*Tensor{Mul(g, Mul(out, neg))}
	})
}

// Erf returns the error function.
func Erf(x *Tensor) *Tensor {
	checkFloat("erf", x)
	out := unaryRaw(device.UnaryErf, x, 0)
	return record("erf", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		// erf'(x) = 2/√π·e^(−x²)
		return []*Tensor{Mul(g, MulScalar(Exp(Neg(Square(x))), 2/math.Sqrt(math.Pi)))}
	})
}

// Gelu is the exact GELU x·Φ(x) with Φ the standard normal CDF (Hendrycks and Gimpel,
// "Gaussian Error Linear Units", 2016).
func Gelu(x *Tensor) *Tensor {
	checkFloat("gelu", x)
	out := unaryRaw(device.UnaryGeluErf, x, 0)
	return record("gelu", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		// d/dx x·Φ(x) = Φ(x) + x·φ(x), Φ(x) = ½(1+erf(x/√2)), φ(x) = e^(−x²/2)/√(2π).
		cdf := MulScalar(AddScalar(Erf(MulScalar(x, 1/math.Sqrt2)), 1), 0.5)
		pdf := MulScalar(Exp(MulScalar(Square(x), -0.5)), 1/math.Sqrt(2*math.Pi))
		return []*Tensor{Mul(g, Add(cdf, Mul(x, pdf)))}
	})
}

// GeluTanh is the tanh approximation 0.5x(1+tanh(√(2/π)(x+0.044715x³))) of GELU
// (Hendrycks and Gimpel 2016, section 2).
func GeluTanh(x *Tensor) *Tensor {
	checkFloat("gelu_tanh", x)
	out := unaryRaw(device.UnaryGeluTanh, x, 0)
	return record("gelu_tanh", out, []*Tensor{x}, func(g *Tensor, _ []bool) []*Tensor {
		const k = 0.044715
		c := math.Sqrt(2 / math.Pi)
		// u = c(x + kx³); y = ½x(1+tanh u); y' = ½(1+t) + ½x(1−t²)·c(1+3kx²).
		x2 := Square(x)
		t := Tanh(MulScalar(Mul(x, AddScalar(MulScalar(x2, k), 1)), c))
		a := MulScalar(AddScalar(t, 1), 0.5)
		du := MulScalar(AddScalar(MulScalar(x2, 3*k), 1), c)
		b := Mul(MulScalar(x, 0.5), Mul(RSubScalar(1, Square(t)), du))
		return []*Tensor{Mul(g, Add(a, b))}
	})
}
