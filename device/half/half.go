// Package half holds kiln's 16-bit floating-point element types, bfloat16 and IEEE 754
// binary16 (float16), as their bits, with the conversions every backend performs the same
// way: from float32 and float64 by rounding to nearest, ties to even; to float32 exactly.
//
// A float64 is first rounded to float32 with round-to-odd (truncate, then set the last
// mantissa bit when anything was cut), then to 16 bits to nearest-even. Rounding to odd at
// a precision at least two bits above the target's makes the second rounding equal to one
// correct rounding of the float64 (Boldo and Melquiond, "Emulation of FMA and correctly
// rounded sums: proved algorithms using rounding to odd", IEEE Trans. Computers 57(4),
// 2008), so no value suffers double rounding.
//
// The package depends on the standard library only (package tensor imports it). The same
// operations, written in C, convert on the GPU (kernels/half.cuh).
package half

import "math"

// BFloat16 is a bfloat16 value: float32's sign, 8-bit exponent and top 7 mantissa bits.
type BFloat16 uint16

// Float16 is an IEEE 754 binary16 value: sign, 5-bit exponent, 10-bit mantissa.
type Float16 uint16

// BFloat16FromFloat32 rounds f to the nearest bfloat16, ties to even. NaN stays NaN (quiet),
// and values beyond bfloat16's range become ±Inf.
func BFloat16FromFloat32(f float32) BFloat16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 { // NaN: keep the sign and top payload bits, force quiet
		return BFloat16(u>>16 | 0x40)
	}
	u += 0x7fff + (u>>16)&1
	return BFloat16(u >> 16)
}

// Float32 is b's exact value.
func (b BFloat16) Float32() float32 { return math.Float32frombits(uint32(b) << 16) }

// BFloat16FromFloat64 rounds x to the nearest bfloat16, ties to even (see the package doc).
func BFloat16FromFloat64(x float64) BFloat16 { return BFloat16FromFloat32(Float32Odd(x)) }

// Float16FromFloat32 rounds f to the nearest float16, ties to even; NaN stays NaN and values
// beyond float16's range become ±Inf.
func Float16FromFloat32(f float32) Float16 {
	x := math.Float32bits(f)
	sign, ax := uint16(x>>16)&0x8000, x&0x7fffffff
	switch {
	case ax > 0x7f800000: // NaN: quiet, keeping the top payload bits
		return Float16(sign | 0x7e00 | uint16(ax>>13)&0x3ff)
	case ax >= 0x47800000: // 2^16 and above (and Inf): Inf
		return Float16(sign | 0x7c00)
	}
	e := ax >> 23
	if e < 113 { // below 2^-14: a subnormal k·2^-24, or zero
		if ax <= 0x33000000 { // at most 2^-25 (the tie goes to even, zero)
			return Float16(sign)
		}
		m, s := ax&0x7fffff|0x800000, 126-e
		k := m >> s
		rem, halfway := m&(1<<s-1), uint32(1)<<(s-1)
		if rem > halfway || rem == halfway && k&1 == 1 {
			k++
		}
		return Float16(sign | uint16(k))
	}
	h := (e-112)<<10 | (ax&0x7fffff)>>13
	if rem := ax & 0x1fff; rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // a carry into the exponent is right, up to Inf
	}
	return Float16(sign | uint16(h))
}

// Float32 is h's exact value.
func (h Float16) Float32() float32 {
	sign := uint32(h&0x8000) << 16
	e, m := uint32(h>>10)&0x1f, uint32(h&0x3ff)
	switch e {
	case 0: // zero or subnormal: m·2^-24
		return math.Float32frombits(math.Float32bits(float32(m)*0x1p-24) | sign)
	case 31:
		return math.Float32frombits(sign | 0x7f800000 | m<<13)
	}
	return math.Float32frombits(sign | (e+112)<<23 | m<<13)
}

// Float16FromFloat64 rounds x to the nearest float16, ties to even (see the package doc).
func Float16FromFloat64(x float64) Float16 { return Float16FromFloat32(Float32Odd(x)) }

// Value is either 16-bit type.
type Value interface {
	BFloat16 | Float16
	Float32() float32
}

// Float32s is the exact float32 value of every element of h.
func Float32s[T Value](h []T) []float32 {
	f := make([]float32, len(h))
	for i, v := range h {
		f[i] = v.Float32()
	}
	return f
}

// Float32Odd rounds x to float32 with round-to-odd: toward zero, with the last mantissa bit
// set when the result is inexact. Values beyond float32's range become ±MaxFloat32 with
// that bit set (it already is), NaN stays NaN.
func Float32Odd(x float64) float32 {
	f := float32(x) // to nearest
	if float64(f) == x || x != x {
		return f
	}
	u := math.Float32bits(f)
	if math.Abs(float64(f)) > math.Abs(x) { // rounded away from zero: step back one ulp
		u--
	}
	return math.Float32frombits(u | 1)
}
