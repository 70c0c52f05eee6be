package cpu

import (
	"math"
)

// Fast exponential for the float32 paths (softmax, attention). math.Exp is correct to under
// one float64 ulp and pays for that with a general special-case ladder and a degree-5
// rational-style evaluation at full float64 precision; a float32 result needs only about 24
// good bits, so a shorter evaluation rounded once to float32 is as accurate for the caller
// and several times cheaper. float64 paths keep math.Exp.
//
// Method: the table-driven reduction of Tang (1989, "Table-driven implementation of the
// exponential function in IEEE floating-point arithmetic", ACM TOMS 15(2)), with Cody and
// Waite's (1980, "Software Manual for the Elementary Functions", chapter 6) two-part
// constant. Write x = (32m + j)·ln2/32 + r with n = 32m + j = round(32x/ln2), 0 ≤ j < 32,
// so |r| ≤ ln2/64 ≈ 0.0108, subtracting n·ln2/32 in two parts (the high part with trailing
// zero bits, so n·expLn2Hi is exact for |n| < 2^16) to keep r exact to float64 rounding;
// then e^x = 2^m · 2^(j/32) · e^r with 2^(j/32) from a table and e^r ≈ 1 + r + r²/2 + r³/6,
// whose truncation error r⁴/4!·e^|r| < 6e-10 relative is 0.005 float32 ulp. Everything runs
// in float64 and 2^m (|m| ≤ 5) enters the table entry's exponent bits, so nothing is
// rounded but the caller's single conversion to float32: the float32 result is within
// ~0.51 ulp of e^x, overflows to +Inf and underflows through the subnormals to 0 exactly
// where the correctly rounded result does.

// The vector forms of the float32 paths (fastexp_amd64.s), in vecLevel.
const (
	vecNone = iota
	vecAVX2
	vecAVX512
)

const (
	expInvLn2x32 = 32 / math.Ln2
	// ln2/32 split as in Go's math package (Sun fdlibm e_exp.c), divided by 32 (exact).
	expLn2Hi = 6.93147180369123816490e-01 / 32
	expLn2Lo = 1.90821492927058770002e-10 / 32
	// expShifter = 1.5·2^52: adding and subtracting it rounds |y| < 2^51 to the nearest
	// integer (ties to even) in two additions, cheaper than math.Round.
	expShifter = 6755399441055744.0
	// Beyond these bounds the float32 result is +Inf or 0 whatever the rounding:
	// e^89 > MaxFloat32 and e^-104 < 2^-150 (half the smallest subnormal).
	expHi = 89.0
	expLo = -104.0
)

// expTable[j] = 2^(j/32), correctly rounded to float64 (math.Exp2 is within 1 float64 ulp,
// far below what a float32 result can see).
var expTable = func() (t [32]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 32)
	}
	return
}()

// exp32 returns e^x accurate to float32 precision (see above); the caller rounds the result
// to float32 once. NaN gives NaN, +Inf gives +Inf and −Inf gives 0.
func exp32(x float64) float64 {
	if !(x > expLo) { // also NaN
		if x != x {
			return x
		}
		return 0
	}
	if x > expHi {
		return math.Inf(1)
	}
	return exp32Core(x)
}

// exp32Core is exp32 for expLo < x ≤ expHi.
func exp32Core(x float64) float64 {
	kf := (x*expInvLn2x32 + expShifter) - expShifter // n = round(32x/ln2)
	n := int64(kf)
	r := x - kf*expLn2Hi - kf*expLn2Lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6)))
	t := math.Float64bits(expTable[n&31]) + uint64(n>>5)<<52 // 2^m · 2^(j/32)
	return p * math.Float64frombits(t)
}

// expShift32 sets dst[i] = float32(e^(src[i]−shift)) and returns Σ e^(src[i]−shift) in
// float64 (before rounding, as the float64 reference normaliser would be). It is exp32 with
// the loop inside, so the hot softmax and attention rows make no call per element. dst may
// be src.
func expShift32(dst, src []float32, shift float64) float64 {
	dst = dst[:len(src)]
	sum := 0.0
	// Four, eight or sixteen lanes at a time where the vector forms run: the same float64
	// evaluation, results within the same 0.51 ulp (fastexp_amd64.s); the scalar loop
	// finishes the last few.
	switch n := len(src) &^ 7; {
	case n > 0 && vecLevel == vecAVX512:
		sum = expShift32AVX512(&dst[0], &src[0], n, shift)
		dst, src = dst[n:], src[n:]
	case n > 0 && vecLevel == vecAVX2:
		sum = expShift32AVX2(&dst[0], &src[0], n, shift)
		dst, src = dst[n:], src[n:]
	}
	for i, v := range src {
		x := float64(v) - shift
		var e float64
		if x > expLo && x <= expHi {
			kf := (x*expInvLn2x32 + expShifter) - expShifter
			n := int64(kf)
			r := x - kf*expLn2Hi - kf*expLn2Lo
			p := 1 + r*(1+r*(0.5+r*(1.0/6)))
			t := math.Float64bits(expTable[n&31]) + uint64(n>>5)<<52
			e = p * math.Float64frombits(t)
		} else {
			e = exp32(x) // NaN, overflow, underflow
		}
		dst[i] = float32(e)
		sum += e
	}
	return sum
}

// maxAbove returns the largest of init and the values of row, NaNs skipped (a NaN score
// compares false, as in the scalar scan).
func maxAbove[T float](row []T, init T) T {
	mt := init
	if r, ok := any(row).([]float32); ok && vecLevel == vecAVX512 {
		if n := len(r) &^ 15; n > 0 {
			mt = T(maxF32AVX512(&r[0], n, float32(mt)))
			row = row[n:]
		}
	}
	for _, x := range row {
		if x > mt {
			mt = x
		}
	}
	return mt
}

// expRow sets row[i] = e^(row[i]−shift) and returns the float64 sum: the fast path for
// float32 rows, math.Exp for float64 ones.
func expRow[T float](row []T, shift float64) float64 {
	if r, ok := any(row).([]float32); ok {
		return expShift32(r, r, shift)
	}
	sum := 0.0
	for j, x := range row {
		e := math.Exp(float64(x) - shift)
		row[j] = T(e)
		sum += e
	}
	return sum
}

// gelu32 is the erf GELU, x·Φ(x) = ½·x·erfc(−x/√2) (Hendrycks and Gimpel 2016), for float32
// outputs. erfc(z), z = |x|/√2, is the Chebyshev-fitted form of Press, Teukolsky, Vetterling
// and Flannery ("Numerical Recipes", 2nd ed., section 6.2, erfcc): with t = 1/(1 + z/2),
// erfc(z) = t·exp(−z² + P(t)), fractional error below 1.2e-7 everywhere, so it stays relative
// in the far negative tail where GELU is tiny (unlike a fit of erf, whose 1 − erf cancels).
// The exponential is exp32. For x < 0, Φ(x) = ½erfc(z); for x ≥ 0, Φ(x) = 1 − ½erfc(z).
// The float32 result is within a few ulp of the correctly rounded one (TestGelu32) at about
// a third of the cost of math.Erfc; float64 keeps math.Erfc.
func gelu32(x float64) float64 {
	z := math.Abs(x) * (1 / math.Sqrt2)
	t := 1 / (1 + 0.5*z)
	p := -1.26551223 + t*(1.00002368+t*(0.37409196+t*(0.09678418+t*(-0.18628806+t*(0.27886807+
		t*(-1.13520398+t*(1.48851587+t*(-0.82215223+t*0.17087277))))))))
	e := 0.5 * t * exp32(p-z*z) // ½erfc(z)
	if x >= 0 {
		return x * (1 - e)
	}
	return x * e
}

// gelu32Row sets dst[i] = float32(gelu32(src[i])), eight (or four) lanes at a time where a vector
// form runs (the same formula in float64; results within an ulp of the scalar ones).
func gelu32Row(dst, src []float32) {
	dst = dst[:len(src)]
	switch n := len(src) &^ 7; {
	case n > 0 && vecLevel == vecAVX512:
		gelu32AVX512(&dst[0], &src[0], n)
		dst, src = dst[n:], src[n:]
	case n > 0 && vecLevel == vecAVX2:
		gelu32AVX2(&dst[0], &src[0], n)
		dst, src = dst[n:], src[n:]
	}
	for i, v := range src {
		dst[i] = float32(gelu32(float64(v)))
	}
}
