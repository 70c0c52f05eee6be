package half

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// nearestEven rounds x (a float64) to a binary format with prec significand bits, minimum
// normal exponent emin and maximum finite value max, to nearest, ties to even, with exact
// big-float arithmetic: the reference the conversions are checked against.
func nearestEven(x float64, prec uint, emin int, max float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || x == 0 {
		return x
	}
	e := math.Ilogb(x)
	if e < emin {
		e = emin // subnormal: the spacing of the smallest normals
	}
	ulp := math.Ldexp(1, e-int(prec)+1)
	q := new(big.Float).SetPrec(200).Quo(big.NewFloat(x), big.NewFloat(ulp))
	n, _ := q.Int(nil) // toward zero
	frac := new(big.Float).Sub(q, new(big.Float).SetInt(n))
	half := big.NewFloat(0.5)
	if x < 0 {
		frac.Neg(frac)
	}
	c := frac.Cmp(half)
	if c > 0 || (c == 0 && n.Bit(0) == 1) {
		if x < 0 {
			n.Sub(n, big.NewInt(1))
		} else {
			n.Add(n, big.NewInt(1))
		}
	}
	r, _ := new(big.Float).Mul(new(big.Float).SetInt(n), big.NewFloat(ulp)).Float64()
	r = math.Copysign(r, x) // underflow to zero keeps the sign
	// Overflow: above max plus half an ulp of max rounds to infinity.
	if math.Abs(r) > max {
		return math.Copysign(math.Inf(1), x)
	}
	return r
}

func samples() []float64 {
	xs := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1.0 / 3, 65504, 65519.99, 65520, 1e-8, 5.96e-8, 2.98e-8,
		math.MaxFloat32, 3.3895e38, 3.39e38, 1e39, 1e-40, 1e-45, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1)}
	// Exact ties and their neighbours for both formats.
	for _, shift := range []int{16, 13} {
		for _, m := range []uint32{0x3f800000, 0x40490fdb, 0x00800000, 0x00012345} {
			tie := math.Float32frombits(m&^(1<<shift-1) | 1<<(shift-1))
			xs = append(xs, float64(tie), float64(math.Nextafter32(tie, 0)), float64(math.Nextafter32(tie, 10)))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		xs = append(xs, float64(math.Float32frombits(r.Uint32())), math.Float64frombits(r.Uint64())*1e-280,
			(r.Float64()-0.5)*math.Ldexp(1, r.IntN(300)-150))
	}
	return xs
}

func same(a, b float64) bool { return a == b && math.Signbit(a) == math.Signbit(b) || a != a && b != b }

func TestBFloat16RoundsToNearestEven(t *testing.T) {
	for _, x := range samples() {
		want := nearestEven(x, 8, -126, float64(math.Float32frombits(0x7f7f0000)))
		if got := float64(BFloat16FromFloat64(x).Float32()); !same(got, want) {
			t.Fatalf("BFloat16FromFloat64(%g) = %g, want %g", x, got, want)
		}
		if f := float32(x); !math.IsInf(float64(f), 0) || math.IsInf(x, 0) {
			want := nearestEven(float64(f), 8, -126, float64(math.Float32frombits(0x7f7f0000)))
			if got := float64(BFloat16FromFloat32(f).Float32()); !same(got, want) {
				t.Fatalf("BFloat16FromFloat32(%g) = %g, want %g", f, got, want)
			}
		}
	}
}

func TestFloat16RoundsToNearestEven(t *testing.T) {
	for _, x := range samples() {
		want := nearestEven(x, 11, -14, 65504)
		if got := float64(Float16FromFloat64(x).Float32()); !same(got, want) {
			t.Fatalf("Float16FromFloat64(%g) = %g, want %g", x, got, want)
		}
	}
}

func TestNaNStaysNaN(t *testing.T) {
	for _, x := range []float64{math.NaN(), -math.NaN(), float64(math.Float32frombits(0x7f800001))} {
		if v := BFloat16FromFloat64(x).Float32(); v == v {
			t.Errorf("bfloat16 of NaN %v is %v", x, v)
		}
		if v := Float16FromFloat64(x).Float32(); v == v {
			t.Errorf("float16 of NaN %v is %v", x, v)
		}
	}
}

// TestRoundTripIsExact checks that every 16-bit value survives float32 and back.
func TestRoundTripIsExact(t *testing.T) {
	for u := 0; u < 1<<16; u++ {
		b := BFloat16(u)
		if f := b.Float32(); f == f && BFloat16FromFloat32(f) != b {
			t.Fatalf("bfloat16 %#04x → %g → %#04x", u, f, BFloat16FromFloat32(f))
		}
		h := Float16(u)
		if f := h.Float32(); f == f && Float16FromFloat32(f) != h {
			t.Fatalf("float16 %#04x → %g → %#04x", u, f, Float16FromFloat32(f))
		}
	}
}
