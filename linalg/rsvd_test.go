package linalg

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/tensor"
)

func rsvdErrors(t *testing.T, a *tensor.Tensor, k int, opt RSVDOptions) (*SVD, float64, float64, []float64) {
	t.Helper()
	res, err := RandomizedSVD(a, k, opt)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := RelativeError(a, res)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := SingularValues(a)
	if err != nil {
		t.Fatal(err)
	}
	return res, rel, OptimalRankError(sv, k), sv
}

func checkFactors(t *testing.T, res *SVD, tol float64) {
	t.Helper()
	u := download(res.U)
	vt := download(res.Vt)
	if e := orthError(u); e > tol {
		t.Errorf("‖UᵀU − I‖_F = %.2e", e)
	}
	if e := orthError(mat.DenseCopyOf(vt.T())); e > tol {
		t.Errorf("‖VᵀV − I‖_F = %.2e", e)
	}
	for i := 1; i < len(res.S); i++ {
		if res.S[i] > res.S[i-1] {
			t.Errorf("singular values not sorted: s[%d]=%v > s[%d]=%v", i, res.S[i], i-1, res.S[i-1])
		}
	}
	// svd_flip's convention: each column of U has its largest-magnitude entry positive.
	signs := columnSigns(u)
	for j, s := range signs {
		if s < 0 {
			t.Errorf("column %d of U has a negative largest entry", j)
		}
	}
}

func TestRSVDFastDecayNearOptimal(t *testing.T) {
	for _, shape := range [][2]int{{400, 300}, {250, 420}} { // the second runs on Aᵀ
		s, _ := GeometricSpectrum(250, 0.8)
		a := mustKnown(t, tensor.Float64, shape[0], shape[1], s, 1)
		res, rel, opt, _ := rsvdErrors(t, a, 20, DefaultRSVDOptions())
		t.Logf("%v: rel error %.6e, optimal %.6e (ratio %.5f), q=%d, transposed=%v, qr %v",
			shape, rel, opt, rel/opt, res.PowerIters, res.Transposed, res.QRMethods)
		if rel > 1.01*opt {
			t.Errorf("%v: relative error %.4e is more than 1%% above the optimal %.4e", shape, rel, opt)
		}
		if res.Transposed != (shape[0] < shape[1]) {
			t.Errorf("%v: transposed = %v", shape, res.Transposed)
		}
		if res.PowerIters != 7 || res.Oversamples != 10 {
			t.Errorf("defaults: q=%d p=%d, want 7 and 10 (k < 0.1·min(m,n))", res.PowerIters, res.Oversamples)
		}
		checkFactors(t, res, 1e-12)
	}
}

func TestRSVDSlowDecay(t *testing.T) {
	s := make([]float64, 200)
	for i := range s {
		s[i] = 1 / float64(i+1)
	}
	a := mustKnown(t, tensor.Float64, 300, 200, s, 2)
	for _, norm := range []Normalizer{NormalizerAuto, NormalizerLU, NormalizerNone} {
		opt := DefaultRSVDOptions()
		opt.Normalizer = norm
		res, rel, best, _ := rsvdErrors(t, a, 25, opt)
		t.Logf("normaliser %s: rel error %.5e, optimal %.5e (ratio %.4f)", norm, rel, best, rel/best)
		// Slow decay is the hard case for randomized range finders; with 4 power
		// iterations (k ≥ 0.1·min(m,n)) the error stays within a few per cent.
		if rel > 1.05*best {
			t.Errorf("normaliser %s: relative error %.4e vs optimal %.4e", norm, rel, best)
		}
		if res.PowerIters != 4 {
			t.Errorf("q = %d, want 4 for k ≥ 0.1·min(m,n)", res.PowerIters)
		}
		checkFactors(t, res, 1e-12)
	}
	// The tolerance is tight enough to tell: without power iterations and oversampling the
	// plain range finder misses it.
	opt := DefaultRSVDOptions()
	opt.PowerIters, opt.Oversamples = 0, 0
	_, rel, best, _ := rsvdErrors(t, a, 25, opt)
	if rel < 1.05*best {
		t.Errorf("q=0, p=0: relative error %.4e within 5%% of the optimal %.4e; the test cannot discriminate", rel, best)
	}
}

func TestRSVDExactlyLowRank(t *testing.T) {
	s := []float64{10, 7, 5, 3, 2, 1.5, 1, 0.7, 0.5, 0.3, 0.2, 0.1}
	a := mustKnown(t, tensor.Float64, 300, 180, s, 3)
	for _, k := range []int{len(s), 5} {
		res, rel, _, sv := rsvdErrors(t, a, k, DefaultRSVDOptions())
		for i := 0; i < k; i++ {
			if d := math.Abs(res.S[i]-sv[i]) / sv[i]; d > 1e-6 {
				t.Errorf("k=%d: s[%d] = %.15g, full SVD %.15g (rel diff %.1e)", k, i, res.S[i], sv[i], d)
			}
		}
		if k == len(s) && rel > 1e-12 {
			t.Errorf("rank-%d input, k=%d: relative error %.2e, want rounding level", len(s), k, rel)
		}
		t.Logf("k=%d: rel error %.2e, qr methods %v", k, rel, res.QRMethods)
		checkFactors(t, res, 1e-12)
	}
}

func TestRSVDDeterministic(t *testing.T) {
	s, _ := GeometricSpectrum(100, 0.9)
	a := mustKnown(t, tensor.Float64, 150, 120, s, 4)
	opt := DefaultRSVDOptions()
	opt.Seed = 42
	r1, _ := RandomizedSVD(a, 10, opt)
	r2, _ := RandomizedSVD(a, 10, opt)
	u1, u2 := r1.U.Float64s(), r2.U.Float64s()
	for i := range u1 {
		if u1[i] != u2[i] {
			t.Fatalf("same seed, U differs at %d: %v vs %v", i, u1[i], u2[i])
		}
	}
	v1, v2 := r1.Vt.Float64s(), r2.Vt.Float64s()
	for i := range v1 {
		if v1[i] != v2[i] {
			t.Fatalf("same seed, Vt differs at %d", i)
		}
	}
	for i := range r1.S {
		if r1.S[i] != r2.S[i] {
			t.Fatalf("same seed, S differs at %d", i)
		}
	}
	// A different seed draws a different Ω: with only two power iterations the results
	// differ in the trailing digits.
	opt.Seed = 43
	opt.PowerIters = 1
	r3, _ := RandomizedSVD(a, 10, opt)
	opt.Seed = 42
	r4, _ := RandomizedSVD(a, 10, opt)
	if r3.S[9] == r4.S[9] {
		t.Errorf("seeds 42 and 43 gave identical s[9] = %v", r3.S[9])
	}
}

func TestRSVDFloat32(t *testing.T) {
	s, _ := GeometricSpectrum(150, 0.85)
	a := mustKnown(t, tensor.Float32, 300, 200, s, 5)
	res, rel, best, sv := rsvdErrors(t, a, 15, DefaultRSVDOptions())
	t.Logf("float32: rel error %.5e, optimal %.5e, qr %v", rel, best, res.QRMethods)
	if rel > 1.01*best+1e-6 {
		t.Errorf("float32: relative error %.4e vs optimal %.4e", rel, best)
	}
	for i := range res.S {
		if d := math.Abs(res.S[i]-sv[i]) / sv[i]; d > 1e-4 {
			t.Errorf("float32: s[%d] = %v vs %v", i, res.S[i], sv[i])
		}
	}
	checkFactors(t, res, 1e-5)
}

func TestRSVDBadInput(t *testing.T) {
	d := cpu(t)
	a := tensor.Ones(d, tensor.Float64, 6, 4)
	for _, k := range []int{0, -1, 5} {
		if _, err := RandomizedSVD(a, k, DefaultRSVDOptions()); err == nil {
			t.Errorf("rank %d of a 6×4 matrix accepted", k)
		}
	}
	nan := tensor.FromFloat64(d, []float64{1, 2, math.NaN(), 4}, 2, 2)
	if _, err := RandomizedSVD(nan, 1, DefaultRSVDOptions()); err == nil {
		t.Error("NaN entry accepted")
	}
	if _, err := RandomizedSVD(tensor.Ones(d, tensor.Float64, 2, 2, 2), 1, DefaultRSVDOptions()); err == nil {
		t.Error("rank-3 tensor accepted")
	}
	opt := DefaultRSVDOptions()
	opt.Oversamples = -3
	if _, err := RandomizedSVD(a, 2, opt); err == nil {
		t.Error("negative oversampling accepted")
	}
	opt = DefaultRSVDOptions()
	opt.Transpose = 7
	if _, err := RandomizedSVD(a, 2, opt); err == nil {
		t.Error("bad transpose mode accepted")
	}
	if _, err := ParseNormalizer("cholesky"); err == nil {
		t.Error("unknown normaliser name accepted")
	}
}

// scipy.linalg.lu(Y, permute_l=True) returns P·L with Y = P·L·U: L unit lower trapezoidal
// with entries of magnitude ≤ 1 (partial pivoting). Check those properties directly.
func TestLUNormaliser(t *testing.T) {
	y := tensor.Normal(cpu(t), tensor.Float64, 8, 0, 0, 1, 40, 6)
	pl := download(luNormalise(y))
	yd := download(y)
	// Rows of P·L that are pivot rows: row with a 1 in column j and zeros to its right.
	seen := map[int]bool{}
	for i := 0; i < 40; i++ {
		for j := 0; j < 6; j++ {
			if math.Abs(pl.At(i, j)) > 1+1e-15 {
				t.Fatalf("|PL[%d,%d]| = %v > 1", i, j, pl.At(i, j))
			}
		}
		for j := 0; j < 6; j++ {
			if pl.At(i, j) == 1 {
				zeros := true
				for q := j + 1; q < 6; q++ {
					zeros = zeros && pl.At(i, q) == 0
				}
				if zeros {
					seen[j] = true
				}
			}
		}
	}
	if len(seen) != 6 {
		t.Errorf("pivot rows found for columns %v, want all 6", seen)
	}
	// Y = (P·L)·U with U upper triangular: the least-squares solution is exact and upper.
	var u mat.Dense
	if err := u.Solve(pl, yd); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		for j := 0; j < i; j++ {
			if math.Abs(u.At(i, j)) > 1e-12 {
				t.Errorf("U[%d,%d] = %v, want 0", i, j, u.At(i, j))
			}
		}
	}
	if r := residual(yd, pl, &u); r > 1e-13 {
		t.Errorf("‖Y − PL·U‖/‖Y‖ = %.2e", r)
	}
}

// Everything RandomizedSVD allocates is released with the result.
func TestRSVDReleasesMemory(t *testing.T) {
	d := cpu(t)
	s, _ := GeometricSpectrum(60, 0.9)
	a := mustKnown(t, tensor.Float64, 120, 80, s, 6)
	defer a.Release()
	before := d.MemStats().LiveBuffers
	for _, norm := range []Normalizer{NormalizerQR, NormalizerLU, NormalizerNone} {
		opt := DefaultRSVDOptions()
		opt.Normalizer = norm
		res, err := RandomizedSVD(a, 8, opt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RelativeError(a, res); err != nil {
			t.Fatal(err)
		}
		res.Release()
	}
	if after := d.MemStats().LiveBuffers; after != before {
		t.Errorf("live buffers %d before, %d after", before, after)
	}
}

// QR's fallback chain and TT-SVD leave nothing behind either.
func TestQRAndTTReleaseMemory(t *testing.T) {
	d := cpu(t)
	s := conditioned(20, 1e12)
	a := mustKnown(t, tensor.Float64, 100, 20, s, 6)
	s[19] = 0
	deficient := mustKnown(t, tensor.Float64, 100, 20, s, 7)
	x := tensor.Normal(d, tensor.Float64, 1, 0, 0, 1, 4, 5, 6)
	before := d.MemStats().LiveBuffers
	for _, m := range []*tensor.Tensor{a, deficient} {
		r, err := QR(m, QRAuto)
		if err != nil {
			t.Fatal(err)
		}
		r.Release()
	}
	tt, err := TTSVD(x, TTOptions{MaxRank: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tt.RelativeError(x); err != nil {
		t.Fatal(err)
	}
	tt.Release()
	if after := d.MemStats().LiveBuffers; after != before {
		t.Errorf("live buffers %d before, %d after", before, after)
	}
}

// k + p beyond min(m, n) is capped: the sample then spans the whole row space and the
// result is the exact truncated SVD. Forcing the transpose changes nothing but rounding.
func TestRSVDCappedSamplesAndForcedTranspose(t *testing.T) {
	a := tensor.Normal(cpu(t), tensor.Float64, 12, 0, 0, 1, 30, 20)
	sv, _ := SingularValues(a)
	for _, tr := range []int{0, 1} {
		opt := DefaultRSVDOptions()
		opt.Transpose = tr
		res, err := RandomizedSVD(a, 15, opt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Transposed != (tr == 1) {
			t.Errorf("Transpose=%d: transposed = %v", tr, res.Transposed)
		}
		for i := range res.S {
			if math.Abs(res.S[i]-sv[i]) > 1e-12*sv[0] {
				t.Errorf("Transpose=%d: s[%d] = %v, want %v", tr, i, res.S[i], sv[i])
			}
		}
		rel, _ := RelativeError(a, res)
		if best := OptimalRankError(sv, 15); math.Abs(rel-best) > 1e-12 {
			t.Errorf("Transpose=%d: error %v, optimal %v", tr, rel, best)
		}
		checkFactors(t, res, 1e-12)
	}
}

// scikit-learn's randomized_svd on the same matrix (testdata/README.md): with singular values
// 0.5^i both converge to the exact leading triplets, so U, S and Vt must agree to rounding —
// signs included, which checks the svd_flip convention in the plain and the transposed case.
func TestRSVDMatchesScikitLearn(t *testing.T) {
	load := func(name string) *Array {
		a, err := LoadArray("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	am := load("sk_a_60x40.npy")
	a, _ := am.Tensor(cpu(t))
	for _, c := range []struct {
		name string
		m    *tensor.Tensor
	}{{"tall", a}, {"wide", a.T()}} {
		res, err := RandomizedSVD(c.m, 5, DefaultRSVDOptions())
		if err != nil {
			t.Fatal(err)
		}
		if res.Transposed != (c.name == "wide") {
			t.Errorf("%s: transposed = %v", c.name, res.Transposed)
		}
		for what, pair := range map[string][2][]float64{
			"S":  {res.S, load("sk_" + c.name + "_s.npy").F64},
			"U":  {res.U.Float64s(), load("sk_" + c.name + "_u.npy").F64},
			"Vt": {res.Vt.Float64s(), load("sk_" + c.name + "_vt.npy").F64},
		} {
			got, want := pair[0], pair[1]
			if len(got) != len(want) {
				t.Fatalf("%s %s: %d values, scikit-learn %d", c.name, what, len(got), len(want))
			}
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-10 {
					t.Errorf("%s %s[%d] = %.15f, scikit-learn %.15f", c.name, what, i, got[i], want[i])
					break
				}
			}
		}
	}
}
