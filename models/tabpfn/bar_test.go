package tabpfn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

func testBars(t *testing.T) *Bars {
	t.Helper()
	b, err := NewBars([]float64{-3, -1, -0.2, 0, 0.5, 2, 4.5})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomProbs(r *rand.Rand, n int) []float64 {
	p := make([]float64, n)
	var s float64
	for i := range p {
		p[i] = r.Float64() + 0.05
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*max(1, math.Abs(b)) }

func TestBarsRejectsBadBorders(t *testing.T) {
	for _, bs := range [][]float64{{0, 1}, {0, 1, 1}, {0, 2, 1}, {0, math.NaN(), 1}, {0, 1, math.Inf(1)}} {
		if _, err := NewBars(bs); err == nil {
			t.Errorf("borders %v accepted", bs)
		}
	}
}

func TestBarsBin(t *testing.T) {
	b := testBars(t)
	for _, c := range []struct {
		y    float64
		want int
	}{{-100, 0}, {-3, 0}, {-1.0001, 0}, {-1, 1}, {-0.5, 1}, {-0.2, 2}, {0, 3}, {0.49, 3}, {0.5, 4}, {1.9, 4}, {2, 5}, {4.5, 5}, {1e9, 5}} {
		if got := b.Bin(c.y); got != c.want {
			t.Errorf("Bin(%v) = %d, want %d", c.y, got, c.want)
		}
	}
}

// TestBarsClosedForms checks mean, median and quantiles against closed forms: a uniform bin
// has its midpoint as mean and e_k + q·w as q-quantile; a half-normal tail of scale s has
// mean e_1 − s√(2/π), median at the outer border and quantiles e_1 − s√2·erfc⁻¹(q).
func TestBarsClosedForms(t *testing.T) {
	b := testBars(t)
	e := b.Borders()
	onehot := func(k int) []float64 {
		p := make([]float64, b.Bins())
		p[k] = 1
		return p
	}
	p := onehot(4)
	if got := b.Mean(p); !near(got, 1.25, 1e-12) {
		t.Errorf("mean of bin [0.5, 2) = %v, want 1.25", got)
	}
	for _, q := range []float64{0.05, 0.5, 0.95} {
		if got, want := b.Quantile(p, q), 0.5+q*1.5; !near(got, want, 1e-12) {
			t.Errorf("quantile %v of bin [0.5, 2) = %v, want %v", q, got, want)
		}
	}
	s := (e[1] - e[0]) / halfNormalMedian
	p = onehot(0)
	if got, want := b.Mean(p), e[1]-s*math.Sqrt(2/math.Pi); !near(got, want, 1e-12) {
		t.Errorf("mean of the low tail %v, want %v", got, want)
	}
	if got := b.Quantile(p, 0.5); !near(got, e[0], 1e-9) {
		t.Errorf("median of the low tail %v, want the outer border %v", got, e[0])
	}
	if got, want := b.Quantile(p, 0.1), e[1]-s*math.Sqrt2*math.Erfcinv(0.1); !near(got, want, 1e-12) {
		t.Errorf("0.1-quantile of the low tail %v, want %v", got, want)
	}
	n := b.Bins()
	p = onehot(n - 1)
	sh := (e[n] - e[n-1]) / halfNormalMedian
	if got, want := b.Mean(p), e[n-1]+sh*math.Sqrt(2/math.Pi); !near(got, want, 1e-12) {
		t.Errorf("mean of the high tail %v, want %v", got, want)
	}
	if got := b.Quantile(p, 0.5); !near(got, e[n], 1e-9) {
		t.Errorf("median of the high tail %v, want the outer border %v", got, e[n])
	}
	// A mixture: the mean is the probability-weighted mean of the parts.
	r := rand.New(rand.NewPCG(1, 2))
	p = randomProbs(r, n)
	want := 0.0
	for k := range n {
		want += p[k] * b.Mean(onehot(k))
	}
	if got := b.Mean(p); !near(got, want, 1e-12) {
		t.Errorf("mixture mean %v, want %v", got, want)
	}
	// Expect by quadrature: the mean for h the identity, and the second moment against the
	// closed forms (uniform: (a²+ab+b²)/3; tail: e² ∓ 2e·s√(2/π) + s²).
	if got := b.Expect(p, func(x float64) float64 { return x }); !near(got, want, 1e-9) {
		t.Errorf("Expect(identity) %v, want the mean %v", got, want)
	}
	second := p[0]*(e[1]*e[1]-2*e[1]*s*math.Sqrt(2/math.Pi)+s*s) + p[n-1]*(e[n-1]*e[n-1]+2*e[n-1]*sh*math.Sqrt(2/math.Pi)+sh*sh)
	for k := 1; k < n-1; k++ {
		second += p[k] * (e[k]*e[k] + e[k]*e[k+1] + e[k+1]*e[k+1]) / 3
	}
	if got := b.Expect(p, func(x float64) float64 { return x * x }); !near(got, second, 1e-9) {
		t.Errorf("Expect(x²) %v, want %v", got, second)
	}
}

// TestBarsQuantileInvertsCDF checks CDF(Quantile(q)) = q for random distributions, in the
// tails and inside, and that the CDF is continuous and increasing across the borders.
func TestBarsQuantileInvertsCDF(t *testing.T) {
	b := testBars(t)
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		p := randomProbs(r, b.Bins())
		p[2] = 0 // an empty bin: the quantile function jumps over it
		var s float64
		for _, v := range p {
			s += v
		}
		for i := range p {
			p[i] /= s
		}
		prev := math.Inf(-1)
		for _, q := range []float64{1e-6, 0.01, 0.05, 0.2, 0.5, 0.7, 0.95, 0.99, 1 - 1e-6} {
			x := b.Quantile(p, q)
			if got := b.CDF(p, x); !near(got, q, 1e-9) {
				t.Fatalf("CDF(Quantile(%v)) = %v", q, got)
			}
			if !(x > prev) {
				t.Fatalf("quantiles not increasing: %v after %v", x, prev)
			}
			prev = x
		}
		qs := []float64{1e-6, 0.01, 0.05, 0.2, 0.5, 0.7, 0.95, 0.99, 1 - 1e-6}
		all := make([]float64, len(qs))
		b.Quantiles(p, qs, all)
		for i, q := range qs {
			if want := b.Quantile(p, q); !near(all[i], want, 1e-12) {
				t.Fatalf("Quantiles at %v: %v, Quantile %v", q, all[i], want)
			}
		}
		for _, e := range b.Borders()[1:b.Bins()] {
			if lo, hi := b.CDF(p, math.Nextafter(e, math.Inf(-1))), b.CDF(p, e); !near(lo, hi, 1e-12) {
				t.Fatalf("CDF jumps at border %v: %v to %v", e, lo, hi)
			}
		}
	}
}

// TestBarsCDFs checks the one-pass CDF at increasing points, tails and borders included,
// against CDF.
func TestBarsCDFs(t *testing.T) {
	b := testBars(t)
	r := rand.New(rand.NewPCG(5, 6))
	p := randomProbs(r, b.Bins())
	xs := []float64{-9, -3, -1.5, -1, -0.2, -0.1, 0, 0.5, 1, 2, 3, 4.5, 7}
	got := make([]float64, len(xs))
	b.CDFs(p, xs, got)
	for i, x := range xs {
		if want := b.CDF(p, x); got[i] != want {
			t.Fatalf("CDFs at %v: %v, CDF %v", x, got[i], want)
		}
	}
}

// integrate is the trapezoid rule on n intervals of [lo, hi].
func integrate(f func(float64) float64, lo, hi float64, n int) float64 {
	h := (hi - lo) / float64(n)
	s := 0.5 * (f(lo) + f(hi))
	for i := 1; i < n; i++ {
		s += f(lo + float64(i)*h)
	}
	return s * h
}

// TestBarsDensity checks that the density integrates to one and that its integral up to x
// is the CDF.
func TestBarsDensity(t *testing.T) {
	b := testBars(t)
	p := randomProbs(rand.New(rand.NewPCG(5, 6)), b.Bins())
	pdf := func(x float64) float64 { return math.Exp(b.LogPDF(p, x)) }
	if got := integrate(pdf, -40, 60, 400000); !near(got, 1, 1e-5) {
		t.Errorf("density integrates to %v", got)
	}
	for _, x := range []float64{-4, -0.6, 1, 3} {
		if got, want := integrate(pdf, -40, x, 400000), b.CDF(p, x); !near(got, want, 1e-4) {
			t.Errorf("∫pdf up to %v = %v, CDF %v", x, got, want)
		}
	}
}

// TestBarsCRPS checks the closed-form CRPS against numerical integration of
// (F(x) − 1{x ≥ y})², and against the closed form for one uniform bin.
func TestBarsCRPS(t *testing.T) {
	b := testBars(t)
	r := rand.New(rand.NewPCG(7, 8))
	for _, y := range []float64{-20, -5, -1.5, -0.1, 0.7, 3, 6, 30} {
		p := randomProbs(r, b.Bins())
		below := func(x float64) float64 { return math.Pow(b.CDF(p, x), 2) }
		above := func(x float64) float64 { return math.Pow(b.CDF(p, x)-1, 2) }
		lo, hi := min(y, -3)-40, max(y, 4.5)+60
		want := integrate(below, lo, y, 400000) + integrate(above, y, hi, 400000)
		if got := b.CRPS(p, y); !near(got, want, 1e-5) {
			t.Errorf("CRPS at %v = %v, numerically %v", y, got, want)
		}
	}
	// All mass in the uniform bin [0.5, 2): CRPS of U(a, b) at y inside is
	// (b−a)·(u³ + (1−u)³)/3 with u = (y−a)/(b−a), and (b−a)/3 + (y − b) above it.
	p := make([]float64, b.Bins())
	p[4] = 1
	if got, want := b.CRPS(p, 1), 1.5*(math.Pow(1.0/3, 3)+math.Pow(2.0/3, 3))/3; !near(got, want, 1e-12) {
		t.Errorf("CRPS of U(0.5, 2) at 1 = %v, want %v", got, want)
	}
	if got, want := b.CRPS(p, 3), 0.5+1.0; !near(got, want, 1e-12) {
		t.Errorf("CRPS of U(0.5, 2) at 3 = %v, want %v", got, want)
	}
}

// TestBarsNLL checks the loss against the log density of the softmax probabilities, and
// its gradient with respect to the logits against finite differences.
func TestBarsNLL(t *testing.T) {
	b := testBars(t)
	dev := device.MustGet("cpu")
	r := rand.New(rand.NewPCG(9, 10))
	const rows = 5
	n := b.Bins()
	logits := make([]float64, rows*n)
	for i := range logits {
		logits[i] = r.NormFloat64()
	}
	y := []float64{-7, -0.5, 0.25, 2.2, 11}
	c := tensor.NewContext()
	defer c.Close()
	lt := c.FromFloat64(dev, logits, rows, n)
	got := b.NLL(lt, y).Item()
	want := 0.0
	for i := range rows {
		row := logits[i*n : (i+1)*n]
		var z float64
		for _, v := range row {
			z += math.Exp(v)
		}
		p := make([]float64, n)
		for k, v := range row {
			p[k] = math.Exp(v) / z
		}
		want -= b.LogPDF(p, y[i]) / rows
	}
	if !near(got, want, 1e-10) {
		t.Fatalf("NLL %v, want %v", got, want)
	}
	x := tensor.FromFloat64(dev, logits, rows, n)
	defer x.Release()
	if err := ops.GradCheck(func(xs []*tensor.Tensor) *tensor.Tensor { return b.NLL(xs[0], y) }, []*tensor.Tensor{x}, 1e-6, 1e-6); err != nil {
		t.Fatal(err)
	}
}

func TestBordersFromSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	ys := make([]float64, 20000)
	for i := range ys {
		ys[i] = r.NormFloat64()
		if i%10 == 0 {
			ys[i] = 1 // ties
		}
	}
	bs, err := BordersFromSamples(ys, 50)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBars(bs)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, b.Bins())
	for _, y := range ys {
		counts[b.Bin(y)]++
	}
	for k, n := range counts {
		// Equal shares (400 each) away from the ties: the 2000 samples at 1 fill the bin
		// holding 1, the borders at quantiles that fall on them are nudged apart into empty
		// bins just above it, and the bins on either side take the remainders.
		nearTie := bs[k] < 1.05 && bs[k+1] > 0.9
		if !nearTie && (n < 300 || n > 500) {
			t.Errorf("bin %d [%v, %v) holds %d of 20000 samples", k, bs[k], bs[k+1], n)
		}
	}
	// The outer borders lie one neighbouring bin's width beyond, not at the extremes.
	if n := len(bs) - 1; bs[0] != bs[1]-(bs[2]-bs[1]) || bs[n] != bs[n-1]+(bs[n-1]-bs[n-2]) {
		t.Errorf("outer borders %v, %v from %v", bs[0], bs[n], bs)
	}
	if _, err := BordersFromSamples([]float64{2, 2, 2}, 4); err == nil {
		t.Error("constant samples accepted")
	}
}
