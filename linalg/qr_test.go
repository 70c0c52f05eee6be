package linalg

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/tensor"
)

func TestCholeskyQR2UpToThreshold(t *testing.T) {
	cases := []struct {
		dt    tensor.DType
		kappa float64
		tol   float64 // on orthogonality and residual, a few hundred ε
	}{
		{tensor.Float64, 1, 1e-13},
		{tensor.Float64, 1e4, 1e-13},
		{tensor.Float64, 1e7, 1e-13},
		{tensor.Float64, 0.5 * CholeskyQR2Threshold(tensor.Float64), 1e-13},
		{tensor.Float32, 1, 5e-5},
		{tensor.Float32, 1e2, 5e-5},
		{tensor.Float32, 0.5 * CholeskyQR2Threshold(tensor.Float32), 5e-5},
	}
	for _, c := range cases {
		a := mustKnown(t, c.dt, 500, 40, conditioned(40, c.kappa), 7)
		res, err := QR(a, QRAuto)
		if err != nil {
			t.Fatal(err)
		}
		if res.Method != QRCholesky2 {
			t.Errorf("%s κ=%.2g: method %s (fallbacks %v), want CholeskyQR2 below the threshold", c.dt, c.kappa, res.Method, res.Fallbacks)
		}
		q := download(res.Q)
		oe, re := orthError(q), residual(download(a), q, res.R)
		t.Logf("%s κ=%.2g: ‖QᵀQ−I‖=%.2e ‖A−QR‖/‖A‖=%.2e cond est %.2e", c.dt, c.kappa, oe, re, res.Cond)
		if oe > c.tol || re > c.tol {
			t.Errorf("%s κ=%.2g: orthogonality %.2e, residual %.2e, want ≤ %.0e", c.dt, c.kappa, oe, re, c.tol)
		}
		for i := 0; i < 40; i++ {
			if res.R.At(i, i) <= 0 {
				t.Fatalf("R[%d,%d] = %v, want a positive diagonal", i, i, res.R.At(i, i))
			}
			for j := 0; j < i; j++ {
				if res.R.At(i, j) != 0 {
					t.Fatalf("R[%d,%d] = %v below the diagonal", i, j, res.R.At(i, j))
				}
			}
		}
		res.Release()
		a.Release()
	}
}

// With R's diagonal positive the thin QR of a full-rank matrix is unique, so CholeskyQR2
// must agree with the Householder reference to about κ·ε.
func TestCholeskyQR2MatchesHouseholder(t *testing.T) {
	a := mustKnown(t, tensor.Float64, 300, 25, conditioned(25, 100), 3)
	defer a.Release()
	c, err := QR(a, QRCholesky2)
	if err != nil {
		t.Fatal(err)
	}
	h, err := QR(a, QRHouseholder)
	if err != nil {
		t.Fatal(err)
	}
	var d mat.Dense
	d.Sub(download(c.Q), download(h.Q))
	if e := mat.Norm(&d, 2); e > 1e-12 {
		t.Errorf("‖Q_cqr2 − Q_householder‖_F = %.2e", e)
	}
	d.Reset()
	d.Sub(c.R, h.R)
	if e := mat.Norm(&d, 2) / mat.Norm(h.R, 2); e > 1e-12 {
		t.Errorf("relative ‖R_cqr2 − R_householder‖_F = %.2e", e)
	}
}

func TestQRFallbackBeyondThreshold(t *testing.T) {
	cases := []struct {
		dt    tensor.DType
		kappa float64
		want  []QRMethod
		tol   float64
	}{
		// Past ε^{-1/2} but well below ε⁻¹: shifted CholeskyQR3.
		{tensor.Float64, 2 * CholeskyQR2Threshold(tensor.Float64), []QRMethod{QRShiftedCholesky3}, 1e-13},
		{tensor.Float64, 1e10, []QRMethod{QRShiftedCholesky3}, 1e-13},
		{tensor.Float64, 1e12, []QRMethod{QRShiftedCholesky3}, 1e-13},
		// float32: the shifted method's range, ε⁻¹/(11(mn+n(n+1))), is below the
		// CholeskyQR2 threshold at this size, so Householder takes over.
		{tensor.Float32, 4 * CholeskyQR2Threshold(tensor.Float32), []QRMethod{QRShiftedCholesky3, QRHouseholder}, 5e-5},
		{tensor.Float32, 1e5, []QRMethod{QRShiftedCholesky3, QRHouseholder}, 5e-5},
	}
	for _, c := range cases {
		a := mustKnown(t, c.dt, 500, 40, conditioned(40, c.kappa), 11)
		res, err := QR(a, QRAuto)
		if err != nil {
			t.Fatal(err)
		}
		q := download(res.Q)
		oe, re := orthError(q), residual(download(a), q, res.R)
		t.Logf("%s κ=%.0e: %s after %v; ‖QᵀQ−I‖=%.2e residual %.2e", c.dt, c.kappa, res.Method, res.Fallbacks, oe, re)
		if !slices.Contains(c.want, res.Method) {
			t.Errorf("%s κ=%.0e: method %s, want one of %v", c.dt, c.kappa, res.Method, c.want)
		}
		if len(res.Fallbacks) == 0 {
			t.Errorf("no fallback reason recorded")
		}
		if oe > c.tol || re > c.tol {
			t.Errorf("%s κ=%.0e: orthogonality %.2e, residual %.2e, want ≤ %.0e", c.dt, c.kappa, oe, re, c.tol)
		}
	}
	// Plain CholeskyQR2 forced on the same float64 κ=1e10 matrix is measurably worse, which
	// is why the fallback exists.
	a := mustKnown(t, tensor.Float64, 500, 40, conditioned(40, 1e10), 11)
	if res, err := QR(a, QRCholesky2); err == nil {
		if oe := orthError(download(res.Q)); oe < 1e-10 {
			t.Errorf("forced CholeskyQR2 at κ=1e10 reached ‖QᵀQ−I‖=%.2e; the test matrix is not ill-conditioned enough", oe)
		}
	}
}

func TestQRRankDeficientFallsBackToHouseholder(t *testing.T) {
	s := conditioned(30, 10)
	for i := 20; i < 30; i++ {
		s[i] = 0
	}
	a := mustKnown(t, tensor.Float64, 200, 30, s, 5)
	res, err := QR(a, QRAuto)
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != QRHouseholder {
		t.Errorf("rank-deficient input: method %s, want householder", res.Method)
	}
	q := download(res.Q)
	if oe, re := orthError(q), residual(download(a), q, res.R); oe > 1e-13 || re > 1e-13 {
		t.Errorf("orthogonality %.2e residual %.2e", oe, re)
	}
	if _, err := QR(a, QRCholesky2); err == nil {
		t.Errorf("forced CholeskyQR2 of a rank-deficient matrix reported no error")
	}
}

func TestQRBadInput(t *testing.T) {
	d := cpu(t)
	if _, err := QR(tensor.Zeros(d, tensor.Float64, 3, 5), QRAuto); err == nil {
		t.Error("wide matrix accepted")
	}
	if _, err := QR(tensor.Zeros(d, tensor.Float64, 3, 0), QRAuto); err == nil {
		t.Error("matrix without columns accepted")
	}
	if _, err := QR(tensor.Zeros(d, tensor.Float64, 3, 5, 2), QRAuto); err == nil {
		t.Error("rank-3 tensor accepted")
	}
	if _, err := QR(tensor.Zeros(d, tensor.Int32, 5, 3), QRAuto); err == nil {
		t.Error("int32 tensor accepted")
	}
	if _, err := QR(tensor.Zeros(d, tensor.Float64, 5, 3), QRMethod(99)); err == nil {
		t.Error("unknown method accepted")
	}
	if th := CholeskyQR2Threshold(tensor.Float64); math.Abs(th-6.7e7) > 1e6 {
		t.Errorf("float64 threshold %.3g", th)
	}
}
