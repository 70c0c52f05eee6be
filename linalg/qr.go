package linalg

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/tensor"
)

// QRMethod names how a tall-skinny QR factorisation was (or is to be) computed.
type QRMethod int

const (
	// QRAuto tries CholeskyQR2 and falls back to shifted CholeskyQR3, then Householder,
	// when the matrix is too ill-conditioned for the previous method (see QR).
	QRAuto QRMethod = iota
	// QRCholesky2 is CholeskyQR applied twice (Fukaya et al. 2014; Yamamoto et al. 2015).
	QRCholesky2
	// QRShiftedCholesky3 is one shifted CholeskyQR followed by CholeskyQR2 (Fukaya,
	// Kannan, Nakatsukasa, Yamamoto and Yanagisawa 2020).
	QRShiftedCholesky3
	// QRHouseholder is LAPACK's Householder QR (gonum's dgeqrf/dorgqr) on the host.
	QRHouseholder
)

func (m QRMethod) String() string {
	switch m {
	case QRAuto:
		return "auto"
	case QRCholesky2:
		return "cholesky-qr2"
	case QRShiftedCholesky3:
		return "shifted-cholesky-qr3"
	case QRHouseholder:
		return "householder"
	}
	return fmt.Sprintf("qr-method(%d)", int(m))
}

// CholeskyQR2Threshold is the largest condition number κ₂(A) for which QR's automatic mode
// trusts CholeskyQR2: ε^{-1/2} with ε the machine epsilon of dtype, ≈ 6.7e7 for float64 and
// ≈ 2.9e3 for float32. CholeskyQR2 gives orthogonality and a residual at the level of ε when
// κ(A) ≲ ε^{-1/2} (Yamamoto, Nakatsukasa, Yanagisawa and Fukaya 2015, §3, up to factors
// polynomial in the dimensions), because the Gram matrix squares the condition number and its Cholesky
// factor is only as accurate as κ(A)²·ε allows.
func CholeskyQR2Threshold(dtype tensor.DType) float64 { return 1 / math.Sqrt(machineEps(dtype)) }

// orthogonalityLimit bounds ‖Q₁ᵀQ₁ − I‖_F after the first CholeskyQR pass. Past it the
// first pass did not produce a nearly orthonormal Q₁ and the second pass cannot be trusted,
// whatever the condition estimate said. At 0.5, κ(Q₁)² ≤ 3, and the second pass is
// accurate to a small multiple of ε (Yamamoto et al. 2015, §3).
const orthogonalityLimit = 0.5

// QRResult is a thin QR factorisation A = Q·R of an m×n matrix with m ≥ n.
type QRResult struct {
	Q *tensor.Tensor // m×n with orthonormal columns, on A's device and in A's dtype
	R *mat.Dense     // n×n upper triangular with a non-negative diagonal (host, float64)
	// Method is the method that produced the factorisation (never QRAuto).
	Method QRMethod
	// Cond estimates κ₂(A): from the first Cholesky factor (CholeskyQR2) or from the Gram
	// matrix's eigenvalues (shifted CholeskyQR3); +Inf when the Gram matrix does not resolve
	// the smallest singular value, 0 for Householder, which needs no estimate. Near and
	// above ε^{-1/2} the Gram-based estimates saturate.
	Cond float64
	// Fallbacks records why each abandoned method was abandoned.
	Fallbacks []string
}

// Release frees Q.
func (r *QRResult) Release() {
	if r != nil && r.Q != nil {
		r.Q.Release()
	}
}

// QR factorises a tall-skinny matrix (m ≥ n) held in a float32 or float64 tensor.
//
// With QRAuto it runs CholeskyQR2 — two rounds of G = AᵀA (a device GEMM), R = chol(G)
// (host, k×k) and Q = A·R⁻¹ (a device GEMM with the inverted factor, which is how the
// triangular solve stays a GEMM on accelerators) — unless the matrix is too ill-conditioned
// for it, that is when
//
//   - the Cholesky factorisation of the Gram matrix breaks down, or
//   - the condition estimate of the first factor exceeds CholeskyQR2Threshold(dtype), or
//   - the first pass left ‖Q₁ᵀQ₁ − I‖_F > 0.5 (a check on the estimate, free because the
//     second pass forms that Gram matrix anyway).
//
// It then runs shifted CholeskyQR3, which handles κ(A) up to about ε⁻¹, and if that too
// breaks down (numerically rank-deficient input) Householder QR on the host. The other
// methods force one algorithm; a forced Cholesky method that breaks down returns an error.
func QR(a *tensor.Tensor, method QRMethod) (res *QRResult, err error) {
	if err := checkFloat(a); err != nil {
		return nil, err
	}
	if a.Rank() != 2 {
		return nil, fmt.Errorf("linalg: QR of a tensor of shape %v, want a matrix", a.Shape())
	}
	m, n := a.Dim(0), a.Dim(1)
	if m < n || n < 1 {
		return nil, fmt.Errorf("linalg: QR of a %d×%d matrix: want m ≥ n ≥ 1 (tall-skinny)", m, n)
	}
	err = tensor.Catch(func() error {
		res, err = qr(a, method)
		return err
	})
	return res, err
}

func qr(a *tensor.Tensor, method QRMethod) (*QRResult, error) {
	switch method {
	case QRHouseholder:
		return householderQR(a), nil
	case QRCholesky2:
		res, why, _ := choleskyQR2(a, false)
		if res == nil {
			return nil, fmt.Errorf("linalg: CholeskyQR2 failed: %s", why)
		}
		return res, nil
	case QRShiftedCholesky3:
		res, why := shiftedCholeskyQR3(a, nil)
		if res == nil {
			return nil, fmt.Errorf("linalg: shifted CholeskyQR3 failed: %s", why)
		}
		return res, nil
	case QRAuto:
		// The Gram matrix of the failed attempt is reused by the shifted method.
		res, why, g := choleskyQR2(a, true)
		if res != nil {
			return res, nil
		}
		fallbacks := []string{"cholesky-qr2: " + why}
		res, why = shiftedCholeskyQR3(a, g)
		if res != nil {
			res.Fallbacks = fallbacks
			return res, nil
		}
		fallbacks = append(fallbacks, "shifted-cholesky-qr3: "+why)
		res = householderQR(a)
		res.Fallbacks = fallbacks
		return res, nil
	}
	return nil, fmt.Errorf("linalg: unknown QR method %d", int(method))
}

// gram returns AᵀA, formed on A's device by one GEMM and copied to the host as a symmetric
// float64 matrix (the upper triangle is what Cholesky reads).
func gram(a *tensor.Tensor) *mat.SymDense {
	g := matmul(a, true, a, false)
	defer g.Release()
	n := g.Dim(0)
	return mat.NewSymDense(n, g.Float64s())
}

// cholUpper factors g + shift·I = RᵀR and returns R (upper, positive diagonal) and, when
// wantCond is set, κ₂(R) = κ₂(A) (else 0); ok is false when the factorisation breaks down.
func cholUpper(g *mat.SymDense, shift float64, wantCond bool) (r *mat.TriDense, cond float64, ok bool) {
	n := g.SymmetricDim()
	s := mat.NewSymDense(n, nil)
	s.CopySym(g)
	for i := 0; i < n; i++ {
		s.SetSym(i, i, s.At(i, i)+shift)
	}
	raw := s.RawSymmetric()
	t, ok := lapack64.Potrf(raw)
	if !ok {
		return nil, math.Inf(1), false
	}
	// A triangular factor with a non-finite entry has "succeeded" only by overflow.
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			if !finite(t.Data[i*t.Stride+j]) {
				return nil, math.Inf(1), false
			}
		}
	}
	r = mat.NewTriDense(n, mat.Upper, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			r.SetTri(i, j, t.Data[i*t.Stride+j])
		}
	}
	if !wantCond {
		return r, 0, true
	}
	return r, condition2(r), true
}

// condition2 returns κ₂(R) of an upper triangular factor: exactly, from its singular values
// (a host SVD of n×n, cheap next to the m×n² Gram GEMM), for n ≤ 512; beyond that LAPACK's
// 1-norm estimate (dtrcon) divided by √n, since κ₁/n ≤ κ₂ ≤ n·κ₁ and the geometric middle is
// good enough for a threshold test.
func condition2(r *mat.TriDense) float64 {
	n, _ := r.Triangle()
	if n == 0 {
		return 1
	}
	if n <= 512 {
		var svd mat.SVD
		if svd.Factorize(r, mat.SVDNone) {
			v := svd.Values(nil)
			if v[n-1] == 0 {
				return math.Inf(1)
			}
			return v[0] / v[n-1]
		}
	}
	work := make([]float64, 3*n)
	iwork := make([]int, n)
	rcond := lapack64.Trcon(lapack.MaxColumnSum, r.RawTriangular(), work, iwork)
	if rcond <= 0 {
		return math.Inf(1)
	}
	return 1 / rcond / math.Sqrt(float64(n))
}

// applyInverse returns Q = A·R⁻¹ on A's device. R⁻¹ is formed on the host (dtrtri) and the
// product is one GEMM: on accelerators a GEMM with a small dense factor is faster than a
// triangular solve, and the second CholeskyQR pass repairs the extra rounding of the
// explicit inverse (TestCholeskyQR2UpToThreshold checks orthogonality and residual at
// the ε level up to half the threshold).
func applyInverse(a *tensor.Tensor, r *mat.TriDense) (*tensor.Tensor, bool) {
	n, _ := r.Triangle()
	inv := mat.NewTriDense(n, mat.Upper, nil)
	inv.Copy(r)
	if !lapack64.Trtri(inv.RawTriangular()) {
		return nil, false
	}
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			if !finite(inv.At(i, j)) {
				return nil, false
			}
		}
	}
	ri := upload(a, inv)
	defer ri.Release()
	return matmul(a, false, ri, false), true
}

// choleskyQR2 runs CholeskyQR twice. With guard it applies the automatic mode's checks
// (threshold and orthogonality of Q₁) and returns nil with the reason when they fail; it
// returns nil whenever a Cholesky factorisation breaks down. It also returns A's Gram matrix.
func choleskyQR2(a *tensor.Tensor, guard bool) (*QRResult, string, *mat.SymDense) {
	g := gram(a)
	r1, cond, ok := cholUpper(g, 0, true)
	if !ok {
		return nil, "the Gram matrix is not numerically positive definite (Cholesky broke down)", g
	}
	limit := CholeskyQR2Threshold(a.DType())
	if guard && cond > limit {
		return nil, fmt.Sprintf("condition estimate %.3g exceeds the CholeskyQR2 threshold %.3g", cond, limit), g
	}
	q1, ok := applyInverse(a, r1)
	if !ok {
		return nil, "the Cholesky factor is numerically singular", g
	}
	g2 := gram(q1)
	if guard {
		if d := offIdentity(g2); d > orthogonalityLimit {
			q1.Release()
			return nil, fmt.Sprintf("after the first pass ‖Q₁ᵀQ₁ − I‖_F = %.3g > %.3g", d, orthogonalityLimit), g
		}
	}
	r2, _, ok := cholUpper(g2, 0, false)
	if !ok {
		q1.Release()
		return nil, "the second Gram matrix is not numerically positive definite", g
	}
	q, ok := applyInverse(q1, r2)
	q1.Release()
	if !ok {
		return nil, "the second Cholesky factor is numerically singular", g
	}
	var r mat.Dense
	r.Mul(r2, r1)
	return &QRResult{Q: q, R: &r, Method: QRCholesky2, Cond: cond}, "", g
}

// shiftedCholeskyQR3 is the method of Fukaya et al. 2020: one CholeskyQR of A with the
// Gram matrix shifted by s = 11(mn + n(n+1))·ε·‖A‖₂², which keeps the Cholesky
// factorisation from breaking down and leaves κ(Q₁) ≲ ε^{-1/2} for κ(A) up to about
// ε⁻¹/(11(mn + n(n+1))) (their rounding-error analysis, §4), followed by CholeskyQR2 of
// Q₁ (guarded like the first attempt). ‖A‖₂² is the largest eigenvalue of the Gram matrix,
// computed on the host from the k×k matrix we already have. In float32 the admissible range
// is narrow (ε⁻¹ ≈ 8e6 divided by the dimension factor), so there Householder is the usual
// last resort.
func shiftedCholeskyQR3(a *tensor.Tensor, g *mat.SymDense) (*QRResult, string) {
	m, n := a.Dim(0), a.Dim(1)
	if g == nil {
		g = gram(a)
	}
	var eig mat.EigenSym
	if !eig.Factorize(g, false) {
		return nil, "the eigenvalues of the Gram matrix did not converge"
	}
	ev := eig.Values(nil)
	norm2 := ev[len(ev)-1]
	if !finite(norm2) {
		return nil, "the Gram matrix is not finite"
	}
	s := 11 * (float64(m)*float64(n) + float64(n)*float64(n+1)) * machineEps(a.DType()) * norm2
	r1, _, ok := cholUpper(g, s, false)
	if !ok {
		return nil, "the shifted Gram matrix is not numerically positive definite"
	}
	q1, ok := applyInverse(a, r1)
	if !ok {
		return nil, "the shifted Cholesky factor is numerically singular"
	}
	inner, why, _ := choleskyQR2(q1, true)
	q1.Release()
	if inner == nil {
		return nil, "CholeskyQR2 of the shifted factor: " + why
	}
	var r mat.Dense
	r.Mul(inner.R, r1)
	inner.R = &r
	inner.Method = QRShiftedCholesky3
	// κ₂(A)² = λmax/λmin of the Gram matrix, as far as it resolves λmin.
	inner.Cond = math.Inf(1)
	if ev[0] > 0 {
		inner.Cond = math.Sqrt(norm2 / ev[0])
	}
	return inner, ""
}

// householderQR is the host reference: the m×n matrix is copied down, factored with
// LAPACK's dgeqrf, its thin Q formed with dorgqr, and the signs normalised so that R has a
// non-negative diagonal (which makes Q and R unique for full-rank A, equal to what the
// Cholesky methods produce).
func householderQR(a *tensor.Tensor) *QRResult {
	m, n := a.Dim(0), a.Dim(1)
	g := blas64.General{Rows: m, Cols: n, Stride: n, Data: a.Float64s()}
	tau := make([]float64, n)
	work := make([]float64, 1)
	lapack64.Geqrf(g, tau, work, -1)
	work = make([]float64, int(work[0]))
	lapack64.Geqrf(g, tau, work, len(work))
	r := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			r.Set(i, j, g.Data[i*g.Stride+j])
		}
	}
	work = make([]float64, 1)
	lapack64.Orgqr(g, tau, work, -1)
	work = make([]float64, int(work[0]))
	lapack64.Orgqr(g, tau, work, len(work))
	for j := 0; j < n; j++ {
		if r.At(j, j) < 0 {
			for i := j; i < n; i++ {
				r.Set(j, i, -r.At(j, i))
			}
			for i := 0; i < m; i++ {
				g.Data[i*g.Stride+j] = -g.Data[i*g.Stride+j]
			}
		}
	}
	q := a.Context().FromFloat64As(a.Device(), a.DType(), g.Data, m, n)
	return &QRResult{Q: q, R: r, Method: QRHouseholder}
}

// offIdentity is ‖G − I‖_F.
func offIdentity(g mat.Symmetric) float64 {
	n := g.SymmetricDim()
	var s float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			v := g.At(i, j)
			if i == j {
				v--
			}
			s += v * v
		}
	}
	return math.Sqrt(s)
}
