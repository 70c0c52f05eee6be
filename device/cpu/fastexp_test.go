package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ulps32 is the distance between two float32 values in units in the last place (the number
// of representable floats between them); equal values, including two NaNs, give 0.
func ulps32(a, b float32) int64 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.MaxInt64
	}
	key := func(f float32) int64 {
		u := int64(math.Float32bits(f))
		if u < 0x80000000 {
			return u
		}
		return -(u - 0x80000000) // negative floats below zero, −0 == +0
	}
	d := key(a) - key(b)
	if d < 0 {
		d = -d
	}
	return d
}

// TestExp32 compares exp32, rounded to float32, with math.Exp rounded to float32 over the
// whole range where float32 e^x is neither 0 nor +Inf and beyond, the subnormal results
// included: every result must be within 1 ulp and nearly all identical.
func TestExp32(t *testing.T) {
	check := func(x float64) int64 {
		got, want := float32(exp32(x)), float32(math.Exp(x))
		d := ulps32(got, want)
		if d > 1 {
			t.Fatalf("exp32(%v) = %v, math.Exp = %v (%d ulp)", x, got, want, d)
		}
		return d
	}
	// A dense grid over [-110, 95] plus random points.
	const steps = 400000
	off := 0
	for i := 0; i <= steps; i++ {
		if check(-110+205*float64(i)/steps) != 0 {
			off++
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		x := -110 + 205*rng.Float64()
		if check(x) != 0 {
			off++
		}
		check(rng.NormFloat64()) // around 0, where softmax lives
		check(float64(float32(x)))
	}
	// The 0.56-ulp bound means a few results may round the other way; far from most.
	if frac := float64(off) / (steps + 200000); frac > 0.01 {
		t.Errorf("%.3f%% of results differ from the correctly rounded one by 1 ulp", 100*frac)
	}

	// Boundaries: overflow at ln(MaxFloat32) ≈ 88.7228, the smallest normal (2^-126) and
	// the smallest subnormal (2^-149), and the exact point 0.
	for _, x := range []float64{
		0, math.Copysign(0, -1), 1, -1, 1e-30, -1e-30, math.Ln2, 88.72283, 88.72284, 88.7228394, 88.7228393,
		-87.33654, -87.33655, -103.27892, -103.97207, -103.97208, -103.9721, -104, 89, 89.0001, -103.999,
	} {
		check(x)
		check(math.Nextafter(x, math.Inf(1)))
		check(math.Nextafter(x, math.Inf(-1)))
	}
	if got := exp32(0); got != 1 {
		t.Errorf("exp32(0) = %v, want exactly 1", got)
	}
	if got := exp32(math.Inf(1)); !math.IsInf(got, 1) {
		t.Errorf("exp32(+Inf) = %v", got)
	}
	if got := exp32(1000); !math.IsInf(got, 1) {
		t.Errorf("exp32(1000) = %v", got)
	}
	if got := exp32(math.Inf(-1)); got != 0 {
		t.Errorf("exp32(-Inf) = %v", got)
	}
	if got := exp32(-1000); got != 0 {
		t.Errorf("exp32(-1000) = %v", got)
	}
	if got := exp32(math.NaN()); !math.IsNaN(got) {
		t.Errorf("exp32(NaN) = %v", got)
	}
	// Before rounding to float32 the result is far more accurate than float32 needs.
	for i := 0; i <= 10000; i++ {
		x := -80 + 160*float64(i)/10000
		if rel := math.Abs(exp32(x)-math.Exp(x)) / math.Exp(x); rel > 1e-8 {
			t.Fatalf("exp32(%v): relative error %g before rounding", x, rel)
		}
	}
}

// TestExpShift32 checks the loop form against math.Exp, specials included, and its sum
// against a float64 sum of the exact exponentials.
func TestExpShift32(t *testing.T) { forEachVecLevel(t, testExpShift32) }

func testExpShift32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, 1000)
	for i := range src {
		src[i] = float32(10 * rng.NormFloat64())
	}
	src[3], src[4], src[5], src[6] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 300
	for _, shift := range []float64{0, 7.5, -20, 150} {
		dst := make([]float32, len(src))
		sum := expShift32(dst, src, shift)
		want := 0.0
		for i, v := range src {
			e := math.Exp(float64(v) - shift)
			want += e
			if d := ulps32(dst[i], float32(e)); d > 1 {
				t.Fatalf("shift %v: exp(%v) = %v, want %v", shift, v, dst[i], float32(e))
			}
		}
		if !math.IsNaN(sum) || !math.IsNaN(want) {
			t.Fatalf("shift %v: a NaN input must make the sum NaN, got %v", shift, sum)
		}
		// Without the specials the sum matches the float64 reference to float64 rounding, up
		// to the terms below float32's range (< 2^-150 each) that count as 0.
		clean := src[7:]
		sum = expShift32(dst[7:], clean, shift)
		want = 0
		for _, v := range clean {
			want += math.Exp(float64(v) - shift)
		}
		if math.Abs(sum-want) > 1e-8*want+float64(len(clean))*0x1p-150 {
			t.Fatalf("shift %v: sum %v, want %v", shift, sum, want)
		}
	}
	// In place, as softmax and attention use it.
	row := []float32{1, 2, 3}
	expShift32(row, row, 3)
	for i, w := range []float64{math.Exp(-2), math.Exp(-1), 1} {
		if ulps32(row[i], float32(w)) > 1 {
			t.Fatalf("in place: %v", row)
		}
	}
}

var expSink float64

func BenchmarkExp32(b *testing.B) {
	xs := make([]float64, 1024)
	for i := range xs {
		xs[i] = -20 + 20*float64(i)/1024
	}
	b.Run("exp32", func(b *testing.B) {
		for b.Loop() {
			for _, x := range xs {
				expSink += exp32(x)
			}
		}
	})
	b.Run("math.Exp", func(b *testing.B) {
		for b.Loop() {
			for _, x := range xs {
				expSink += math.Exp(x)
			}
		}
	})
	src, dst := make([]float32, 1024), make([]float32, 1024)
	for i := range src {
		src[i] = float32(xs[i])
	}
	b.Run("expShift32", func(b *testing.B) {
		for b.Loop() {
			expSink += expShift32(dst, src, 0)
		}
	})
}

// TestSoftmax32 checks the float32 softmax rows against a float64 evaluation of the
// definition, in place (y aliasing x) and apart, with a large row offset and a NaN row.
func TestSoftmax32(t *testing.T) {
	const rows, cols = 7, 300
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(4 * rng.NormFloat64())
	}
	for i := 0; i < cols; i++ {
		x[2*cols+i] += 1e4 // a large offset must not lose digits
	}
	x[5*cols+17] = float32(math.NaN())
	for _, log := range []bool{false, true} {
		for _, inPlace := range []bool{false, true} {
			y := make([]float32, len(x))
			in := x
			if inPlace {
				in = append([]float32(nil), x...)
				y = in
			}
			softmax32(in, y, rows, cols, log)
			for r := 0; r < rows; r++ {
				xr := x[r*cols : (r+1)*cols]
				m := math.Inf(-1)
				for _, v := range xr {
					m = math.Max(m, float64(v))
				}
				s := 0.0
				for _, v := range xr {
					s += math.Exp(float64(v) - m)
				}
				for i, v := range xr {
					want := math.Exp(float64(v)-m) / s
					if log {
						want = float64(v) - m - math.Log(s)
					}
					got := y[r*cols+i]
					if r == 5 {
						if !math.IsNaN(float64(got)) {
							t.Fatalf("log=%v: NaN row gives %v", log, got)
						}
						continue
					}
					// Two roundings (e^x, then the scale) for softmax; log-softmax is a
					// difference of exact-ish terms whose error is relative to |x−m|.
					tol := 2 * 0x1p-24 * math.Abs(want)
					if log {
						tol = 4 * 0x1p-24 * (math.Abs(float64(v)-m) + math.Abs(math.Log(s)) + 1e-30)
					}
					if math.Abs(float64(got)-want) > tol+1e-45 {
						t.Fatalf("log=%v inPlace=%v row %d col %d: %v, want %v", log, inPlace, r, i, got, want)
					}
				}
			}
		}
	}
}

// TestGelu32 compares gelu32 rounded to float32 with ½·x·erfc(−x/√2) evaluated by math.Erfc
// in float64 and rounded once, from the far negative tail (subnormal results) to large x.
func TestGelu32(t *testing.T) {
	ref := func(x float64) float32 { return float32(0.5 * x * math.Erfc(-x/math.Sqrt2)) }
	worst := int64(0)
	const steps = 200000
	for i := 0; i <= steps; i++ {
		x := float64(float32(-14 + 34*float64(i)/steps))
		got, want := float32(gelu32(x)), ref(x)
		d := ulps32(got, want)
		// Below 2^-126 the result is subnormal and ulps are absolute (2^-149): allow a few
		// more there, they are far below anything a float32 sum can see.
		lim := int64(4)
		if math.Abs(float64(want)) < 0x1p-126 {
			lim = 64
		}
		if d > lim {
			t.Fatalf("gelu32(%v) = %v, want %v (%d ulp)", x, got, want, d)
		}
		if math.Abs(float64(want)) >= 0x1p-126 {
			worst = max(worst, d)
		}
	}
	t.Logf("worst error %d ulp on normal results", worst)
	for _, c := range []struct{ x, want float64 }{{0, 0}, {math.Inf(1), math.Inf(1)}, {-200, 0}, {200, 200}} {
		if got := gelu32(c.x); got != c.want {
			t.Errorf("gelu32(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := gelu32(math.NaN()); !math.IsNaN(got) {
		t.Errorf("gelu32(NaN) = %v", got)
	}
}

func BenchmarkGelu32(b *testing.B) {
	xs := make([]float64, 1024)
	for i := range xs {
		xs[i] = -6 + 12*float64(i)/1024
	}
	b.Run("gelu32", func(b *testing.B) {
		for b.Loop() {
			for _, x := range xs {
				expSink += gelu32(x)
			}
		}
	})
	b.Run("math.Erfc", func(b *testing.B) {
		for b.Loop() {
			for _, x := range xs {
				expSink += 0.5 * x * math.Erfc(-x/math.Sqrt2)
			}
		}
	})
}

// TestExpShift32Lengths runs every length and alignment the vector form splits into (16- and
// 8-lane blocks, then the scalar tail), specials in each position class: every element within
// 1 ulp of math.Exp rounded to float32, and the sum to float64 accuracy.
func TestExpShift32Lengths(t *testing.T) { forEachVecLevel(t, testExpShift32Lengths) }

func testExpShift32Lengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 70; n++ {
		for off := 0; off < 3; off++ {
			src := make([]float32, n+off)
			for i := range src {
				src[i] = float32(3 * rng.NormFloat64())
			}
			if n > 0 {
				// An overflow, an underflow and −Inf at random positions.
				src[off+rng.IntN(n)] = 95
				src[off+rng.IntN(n)] = -200
				src[off+rng.IntN(n)] = float32(math.Inf(-1))
			}
			s := src[off:]
			dst := make([]float32, n)
			const shift = 1.25
			sum := expShift32(dst, s, shift)
			want := 0.0
			for i, v := range s {
				e := math.Exp(float64(v) - shift)
				if float64(v)-shift > expHi {
					want += math.Inf(1) // beyond float32's range the sum overflows too
				} else {
					want += e
				}
				if d := ulps32(dst[i], float32(e)); d > 1 {
					t.Fatalf("n=%d off=%d: exp(%v−%v) = %v, want %v", n, off, v, shift, dst[i], float32(e))
				}
			}
			if math.IsInf(want, 1) != math.IsInf(sum, 1) || (!math.IsInf(want, 1) && math.Abs(sum-want) > 1e-8*want+float64(n)*0x1p-150) {
				t.Fatalf("n=%d off=%d: sum %v, want %v", n, off, sum, want)
			}
		}
	}
}

// TestMaxAbove checks the attention row maximum, vector form included, against the scalar
// scan: NaNs are skipped, the initial value counts.
func TestMaxAbove(t *testing.T) { forEachVecLevel(t, testMaxAbove) }

func testMaxAbove(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 80; n++ {
		row := make([]float32, n)
		for i := range row {
			row[i] = float32(rng.NormFloat64())
		}
		if n > 2 {
			row[rng.IntN(n)] = float32(math.NaN())
			row[rng.IntN(n)] = 4 + float32(n)
		}
		for _, init := range []float32{float32(math.Inf(-1)), 0, 100} {
			want := init
			for _, x := range row {
				if x > want {
					want = x
				}
			}
			if got := maxAbove(row, init); got != want {
				t.Fatalf("n=%d init=%v: got %v, want %v", n, init, got, want)
			}
		}
	}
}

// TestGelu32Row checks the row form, vector lanes included, against the float64 erf GELU
// over the same grid as TestGelu32 (same bounds), in rows of every length up to 40 so that
// each split between the 8-lane blocks and the scalar tail runs, and ±Inf, NaN, ±0.
func TestGelu32Row(t *testing.T) { forEachVecLevel(t, testGelu32Row) }

func testGelu32Row(t *testing.T) {
	ref := func(x float64) float32 { return float32(0.5 * x * math.Erfc(-x/math.Sqrt2)) }
	const steps = 200000
	src := make([]float32, steps+1)
	for i := range src {
		src[i] = float32(-14 + 34*float64(i)/steps)
	}
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), -200, 200, 3e38, -3e38}
	src = append(src, specials...)
	dst := make([]float32, len(src))
	for lo, n := 0, 1; lo < len(src); lo, n = lo+n, n%40+1 {
		hi := min(lo+n, len(src))
		gelu32Row(dst[lo:hi], src[lo:hi])
	}
	for i, x := range src {
		want := ref(float64(x))
		lim := int64(4)
		if math.Abs(float64(want)) < 0x1p-126 {
			lim = 64
		}
		if d := ulps32(dst[i], want); d > lim {
			t.Fatalf("gelu32Row(%v) = %v, want %v (%d ulp)", x, dst[i], want, d)
		}
	}
	nan := make([]float32, 16)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	gelu32Row(nan, nan)
	for _, v := range nan {
		if v == v {
			t.Fatalf("gelu32Row(NaN) = %v", v)
		}
	}
}

// forEachVecLevel runs f with each vector form this machine has switched on in turn, the
// scalar loops (vecNone) included, so that one machine checks all of them.
func forEachVecLevel(t *testing.T, f func(*testing.T)) {
	withEachVecLevel(func(name string) { t.Run(name, f) })
}

// withEachVecLevel calls f with vecLevel set to each level up to this machine's, by name,
// and restores it.
func withEachVecLevel(f func(name string)) {
	saved := vecLevel
	defer func() { vecLevel = saved }()
	for lvl, name := range []string{"scalar", "avx2", "avx512"} {
		if lvl > saved {
			break
		}
		vecLevel = lvl
		f(name)
	}
}

// BenchmarkExpShift32Row times a 1024-element attention row and a GELU row in each form.
func BenchmarkExpShift32Row(b *testing.B) {
	src := make([]float32, 1024)
	for i := range src {
		src[i] = -20 + 20*float32(i)/1024
	}
	dst := make([]float32, len(src))
	withEachVecLevel(func(name string) {
		b.Run("exp/"+name, func(b *testing.B) {
			for b.Loop() {
				expSink += expShift32(dst, src, 0.5)
			}
		})
		b.Run("gelu/"+name, func(b *testing.B) {
			for b.Loop() {
				gelu32Row(dst, src)
			}
		})
	})
}
