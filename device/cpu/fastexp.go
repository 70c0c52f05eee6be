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
