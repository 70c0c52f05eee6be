package ops

import "github.com/kiln-ml/kiln/tensor"

// Cast returns x converted to the float dtype dt (to bfloat16 and float16 rounding to
// nearest-even), or x itself when it already has it. Its gradient is the incoming gradient
// cast back to x's dtype: a float32 master weight cast to bfloat16 for a product receives a
// float32 gradient, as mixed-precision training needs.
func Cast(x *Tensor, dt tensor.DType) *Tensor {
	checkFloat("cast", x)
	if !isFloatDType(dt) {
		panic(errorf("cast", "target dtype %s is not a float dtype", dt))
	}
	if x.DType() == dt {
		return x
	}
	from := x.DType()
	return record("cast", x.AsType(dt), []*Tensor{x}, func(g *Tensor, needs []bool) []*Tensor {
		return []*Tensor{Cast(g, from)}
	})
}

// isFloatDType reports whether ops compute in dt: float32, float64, or a 16-bit float
// (stored in 16 bits, computed in float32 by the device).
func isFloatDType(dt tensor.DType) bool {
	return dt == tensor.Float32 || dt == tensor.Float64 || dt.IsHalf()
}
