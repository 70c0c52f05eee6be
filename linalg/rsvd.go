package linalg

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/tensor"
)

// Auto selects scikit-learn's default for an integer option of RSVDOptions.
const Auto = -1

// Normalizer names how the power iterations of the randomized SVD re-normalise the sample
// matrix between multiplications, which keeps the columns from collapsing onto the leading
// singular vector in finite precision (Halko, Martinsson and Tropp 2011, Algorithm 4.4).
type Normalizer int

const (
	// NormalizerAuto follows scikit-learn: no normalisation for at most two power
	// iterations, otherwise a normaliser — here NormalizerQR, where scikit-learn uses LU
	// (see RSVDOptions for why).
	NormalizerAuto Normalizer = iota
	// NormalizerNone multiplies without normalising.
	NormalizerNone
	// NormalizerLU replaces Y by P·L from an LU factorisation with partial pivoting, as
	// scipy.linalg.lu(Y, permute_l=True) does in scikit-learn. Host only: the panel is
	// copied down and up every half-iteration.
	NormalizerLU
	// NormalizerQR orthonormalises with QR(·, QRAuto): CholeskyQR2 on the device, with
	// its fallbacks.
	NormalizerQR
)

func (n Normalizer) String() string {
	switch n {
	case NormalizerAuto:
		return "auto"
	case NormalizerNone:
		return "none"
	case NormalizerLU:
		return "lu"
	case NormalizerQR:
		return "qr"
	}
	return fmt.Sprintf("normalizer(%d)", int(n))
}

// ParseNormalizer reads "auto", "none", "lu" or "qr".
func ParseNormalizer(s string) (Normalizer, error) {
	for _, n := range []Normalizer{NormalizerAuto, NormalizerNone, NormalizerLU, NormalizerQR} {
		if s == n.String() {
			return n, nil
		}
	}
	return 0, fmt.Errorf("linalg: unknown power-iteration normaliser %q (want auto, none, lu or qr)", s)
}

// RSVDOptions are the knobs of RandomizedSVD, named as in scikit-learn's
// sklearn.utils.extmath.randomized_svd. Start from DefaultRSVDOptions.
//
// One deliberate difference: with the automatic normaliser and more than two power
// iterations scikit-learn normalises with LU, we with CholeskyQR2. Both span the same
// subspace in exact arithmetic; CholeskyQR2 is made of GEMMs and k×k host work, so the power
// iterations stay on the device, while LU with partial pivoting of a tall panel would send it
// to the host every half-iteration. NormalizerLU reproduces scikit-learn exactly.
type RSVDOptions struct {
	// Oversamples is p, the extra random samples beyond the rank (Auto: 10).
	Oversamples int
	// PowerIters is the number of power iterations q (Auto: 7 when k < 0.1·min(m, n),
	// else 4, scikit-learn's rule).
	PowerIters int
	// Normalizer is the re-normalisation between power iterations.
	Normalizer Normalizer
	// Transpose: Auto works on Aᵀ when m < n (scikit-learn's transpose='auto'); 0 never,
	// 1 always. The transpose is never materialised: GEMMs read A with swapped flags.
	Transpose int
	// NoFlipSign disables the deterministic sign convention (scikit-learn's svd_flip with
	// the decision based on U: each column of U has its largest-magnitude entry positive).
	NoFlipSign bool
	// Seed keys the Philox stream of the Gaussian test matrix (tensor.Normal).
	Seed uint64
}

// DefaultRSVDOptions are scikit-learn's defaults with seed 0.
func DefaultRSVDOptions() RSVDOptions {
	return RSVDOptions{Oversamples: Auto, PowerIters: Auto, Normalizer: NormalizerAuto, Transpose: Auto}
}

// SVD is a (truncated) singular value decomposition A ≈ U·diag(S)·Vt.
type SVD struct {
	U  *tensor.Tensor // m×k, orthonormal columns, on A's device in A's dtype
	S  []float64      // k singular values, non-increasing
	Vt *tensor.Tensor // k×n, orthonormal rows

	// The settings actually used.
	Oversamples, PowerIters int
	Normalizer              Normalizer
	Transposed              bool
	// QRMethods counts which QR method each orthonormalisation ended with.
	QRMethods map[string]int
}

// Release frees U and Vt.
func (s *SVD) Release() {
	if s == nil {
		return
	}
	if s.U != nil {
		s.U.Release()
	}
	if s.Vt != nil {
		s.Vt.Release()
	}
}

// RandomizedSVD computes a rank-k approximation of the matrix a with the randomized SVD of
// Halko, Martinsson and Tropp (2011): a Gaussian test matrix Ω of k+p columns, q power
// iterations Y = (AAᵀ)^q·A·Ω with re-normalisation (their Algorithm 4.4), an orthonormal
// basis Q of the sampled range (Algorithm 4.1's QR step), and the SVD of the small
// projection B = QᵀA (Algorithm 5.1). The semantics — defaults, the automatic number of
// power iterations, working on the transpose when m < n, the sign convention — are those of
// scikit-learn's randomized_svd, so results agree with it up to the random draws.
//
// The products with A and the QR factorisations run on a's device. B itself is never
// decomposed: its transpose Bᵀ = AᵀQ is reduced on the device by the same QR as the power
// iterations, and only the (k+p)×(k+p) triangular factor goes to the host, where gonum's
// SVD (dgesvd) decomposes it; the device turns the result back into the factors of A.
// k+p is capped at min(m, n).
func RandomizedSVD(a *tensor.Tensor, k int, opt RSVDOptions) (res *SVD, err error) {
	if err := checkFloat(a); err != nil {
		return nil, err
	}
	if a.Rank() != 2 {
		return nil, fmt.Errorf("linalg: randomized SVD of a tensor of shape %v, want a matrix", a.Shape())
	}
	m, n := a.Dim(0), a.Dim(1)
	if m == 0 || n == 0 {
		return nil, fmt.Errorf("linalg: randomized SVD of an empty %d×%d matrix", m, n)
	}
	if k < 1 || k > min(m, n) {
		return nil, fmt.Errorf("linalg: rank %d out of range for a %d×%d matrix (want 1 ≤ k ≤ %d)", k, m, n, min(m, n))
	}
	if opt.Oversamples == Auto {
		opt.Oversamples = 10
	}
	if opt.Oversamples < 0 {
		return nil, fmt.Errorf("linalg: negative oversampling %d", opt.Oversamples)
	}
	if opt.PowerIters == Auto {
		if float64(k) < 0.1*float64(min(m, n)) {
			opt.PowerIters = 7
		} else {
			opt.PowerIters = 4
		}
	}
	if opt.PowerIters < 0 {
		return nil, fmt.Errorf("linalg: negative number of power iterations %d", opt.PowerIters)
	}
	if opt.Normalizer == NormalizerAuto {
		if opt.PowerIters <= 2 {
			opt.Normalizer = NormalizerNone
		} else {
			opt.Normalizer = NormalizerQR
		}
	}
	if opt.Normalizer < NormalizerNone || opt.Normalizer > NormalizerQR {
		return nil, fmt.Errorf("linalg: unknown normaliser %d", int(opt.Normalizer))
	}
	var transpose bool
	switch opt.Transpose {
	case Auto:
		transpose = m < n
	case 0, 1:
		transpose = opt.Transpose == 1
	default:
		return nil, fmt.Errorf("linalg: Transpose must be Auto, 0 or 1, got %d", opt.Transpose)
	}
	err = tensor.Catch(func() error {
		if nrm := frobenius(a); !finite(nrm) {
			return fmt.Errorf("linalg: the matrix has non-finite entries (or its norm overflows)")
		}
		res = rsvd(a, k, opt, transpose)
		return nil
	})
	return res, err
}

// mOp is the matrix the algorithm works on: A, or Aᵀ when transposed, read in place.
type mOp struct {
	a     *tensor.Tensor
	trans bool
}

func (o mOp) dims() (int, int) { return opDims(o.a, o.trans) }

// mul returns M·x.
func (o mOp) mul(x *tensor.Tensor) *tensor.Tensor { return matmul(o.a, o.trans, x, false) }

// mulT returns Mᵀ·x.
func (o mOp) mulT(x *tensor.Tensor) *tensor.Tensor { return matmul(o.a, !o.trans, x, false) }

// rsvd works in an execution context of its own, so every temporary is released on return;
// the factors it returns are detached from it (the caller's).
func rsvd(a *tensor.Tensor, k int, opt RSVDOptions, transpose bool) *SVD {
	ctx := tensor.NewContext()
	defer ctx.Close()
	a = ctx.View(a)
	M := mOp{a, transpose}
	mm, nn := M.dims()
	l := min(k+opt.Oversamples, mm, nn)
	res := &SVD{Oversamples: opt.Oversamples, PowerIters: opt.PowerIters, Normalizer: opt.Normalizer,
		Transposed: transpose, QRMethods: map[string]int{}}

	normalise := func(y *tensor.Tensor) *tensor.Tensor {
		switch opt.Normalizer {
		case NormalizerQR:
			q := orthonormalise(y, res.QRMethods)
			y.Release()
			return q
		case NormalizerLU:
			q := luNormalise(y)
			y.Release()
			return q
		}
		return y
	}

	// randomized_range_finder: Ω is nn×l standard normal, drawn from the Philox stream of
	// the seed, so every backend draws the same numbers.
	q := ctx.Track(tensor.Normal(a.Device(), a.DType(), opt.Seed, 0, 0, 1, nn, l))
	for i := 0; i < opt.PowerIters; i++ {
		y := normalise(M.mul(q))
		q.Release()
		q = normalise(M.mulT(y))
		y.Release()
	}
	y := M.mul(q)
	q.Release()
	q = orthonormalise(y, res.QRMethods)
	y.Release()

	// B = QᵀM is l×nn. We factor C = MᵀQ = Bᵀ (nn×l, tall) instead: C = W·S·Zᵀ gives
	// B = Z·S·Wᵀ, so Û = Z and V = W. C is first reduced on the device by the same QR as the
	// power iterations, C = Q_c·R, so that only the l×l R is decomposed on the host:
	// R = W_r·S·Zᵀ and W = Q_c·W_r. A host SVD of all of C would keep one host core busy
	// with O(nn·l²) work while the device sits idle, longer than the rest of the run
	// (bench/results/gpu-h200-2026-11-26.md).
	c := M.mulT(q)
	cqr := orthonormaliseR(c, res.QRMethods)
	c.Release()
	var svd mat.SVD
	if !svd.Factorize(cqr.R, mat.SVDFull) {
		panic(fmt.Errorf("linalg: the SVD of the %d×%d triangular factor of the projected matrix did not converge", l, l))
	}
	s := svd.Values(nil)
	var uhat, wr, v mat.Dense
	svd.VTo(&uhat) // l×l
	svd.UTo(&wr)   // l×l
	wd := matmul(cqr.Q, false, upload(a, &wr), false)
	cqr.Release()
	v.CloneFrom(download(wd)) // nn×l
	wd.Release()
	uk := uhat.Slice(0, l, 0, k)
	vk := v.Slice(0, nn, 0, k)
	res.S = s[:k]

	if !transpose {
		// U = Q·Û[:, :k] on the device; svd_flip decides the signs from U's columns.
		ukT := upload(a, uk)
		u := matmul(q, false, ukT, false)
		signs := make([]float64, k)
		if !opt.NoFlipSign {
			signs = columnSigns(download(u))
			scaleColumns(u, signs)
		} else {
			for j := range signs {
				signs[j] = 1
			}
		}
		vt := mat.NewDense(k, nn, nil)
		vt.CloneFrom(vk.T())
		for j := 0; j < k; j++ {
			row := vt.RawRowView(j)
			for i := range row {
				row[i] *= signs[j]
			}
		}
		res.U = u.Detach()
		res.Vt = upload(a, vt).Detach()
		return res
	}
	// Transposed: M = Aᵀ = U_M S V_Mᵀ, so A's U is V_M (host, nn×k = m×k) and A's Vt is
	// U_Mᵀ = Û_kᵀ·Qᵀ. scikit-learn's svd_flip(u_based_decision=False) on the transposed
	// problem decides from the rows of V_Mᵀ, i.e. from the columns of A's U.
	u := mat.NewDense(nn, k, nil)
	u.Copy(vk)
	signs := make([]float64, k)
	for j := range signs {
		signs[j] = 1
	}
	if !opt.NoFlipSign {
		signs = columnSigns(u)
		for i := 0; i < nn; i++ {
			row := u.RawRowView(i)
			for j := range row {
				row[j] *= signs[j]
			}
		}
	}
	ukd := mat.NewDense(l, k, nil)
	ukd.Copy(uk)
	for i := 0; i < l; i++ {
		row := ukd.RawRowView(i)
		for j := range row {
			row[j] *= signs[j]
		}
	}
	ukt := upload(a, ukd)
	vt := matmul(ukt, true, q, true) // k×mm = k×n
	res.U = upload(a, u).Detach()
	res.Vt = vt.Detach()
	return res
}

// orthonormalise returns an orthonormal basis of y's columns (QR with QRAuto) and counts
// the method used.
func orthonormalise(y *tensor.Tensor, count map[string]int) *tensor.Tensor {
	return orthonormaliseR(y, count).Q
}

// orthonormaliseR is orthonormalise keeping R as well.
func orthonormaliseR(y *tensor.Tensor, count map[string]int) *QRResult {
	r, err := qr(y, QRAuto)
	if err != nil {
		panic(err)
	}
	count[r.Method.String()]++
	return r
}

// luNormalise returns P·L of the LU factorisation with partial pivoting Y = P·L·U of the
// m×l panel y (m ≥ l), as scipy.linalg.lu(y, permute_l=True): L is unit lower trapezoidal.
func luNormalise(y *tensor.Tensor) *tensor.Tensor {
	m, l := dims2(y)
	g := blas64.General{Rows: m, Cols: l, Stride: l, Data: y.Float64s()}
	ipiv := make([]int, l)
	lapack64.Getrf(g, ipiv) // a zero pivot (rank deficiency) still leaves a valid L
	L := make([]float64, m*l)
	for i := 0; i < m; i++ {
		for j := 0; j < l && j <= i; j++ {
			if i == j {
				L[i*l+j] = 1
			} else {
				L[i*l+j] = g.Data[i*l+j]
			}
		}
	}
	// dgetrf swapped row i with row ipiv[i] in order; P·L undoes the swaps in reverse.
	for i := l - 1; i >= 0; i-- {
		if p := ipiv[i]; p != i {
			ri, rp := L[i*l:(i+1)*l], L[p*l:(p+1)*l]
			for j := range ri {
				ri[j], rp[j] = rp[j], ri[j]
			}
		}
	}
	return y.Context().FromFloat64As(y.Device(), y.DType(), L, m, l)
}

// columnSigns implements scikit-learn's svd_flip decision: for each column the sign of its
// entry of largest magnitude (the first such entry on ties), with sign(0) = 0 as numpy's
// np.sign gives (only possible for an all-zero column, which we leave unflipped).
func columnSigns(u *mat.Dense) []float64 {
	m, k := u.Dims()
	signs := make([]float64, k)
	for j := 0; j < k; j++ {
		best, at := -1.0, 0
		for i := 0; i < m; i++ {
			if v := math.Abs(u.At(i, j)); v > best {
				best, at = v, i
			}
		}
		signs[j] = 1
		if u.At(at, j) < 0 {
			signs[j] = -1
		}
	}
	return signs
}

// Reconstruct returns U·diag(S)·Vt on U's device.
func (s *SVD) Reconstruct() *tensor.Tensor {
	us := s.U.Clone()
	defer us.Release()
	scaleColumns(us, s.S)
	return matmul(us, false, s.Vt, false)
}

// RelativeError is ‖A − U·diag(S)·Vt‖_F / ‖A‖_F, computed on A's device.
func RelativeError(a *tensor.Tensor, s *SVD) (rel float64, err error) {
	err = tensor.Catch(func() error {
		am, an := dims2(a)
		um, _ := dims2(s.U)
		_, vn := dims2(s.Vt)
		if am != um || an != vn {
			return fmt.Errorf("linalg: SVD factors %d×·×%d for a %d×%d matrix", um, vn, am, an)
		}
		us := s.U.Clone()
		defer us.Release()
		scaleColumns(us, s.S)
		r := a.Clone()
		defer r.Release()
		gemmInto(r, us, false, s.Vt, false, -1, 1)
		na := frobenius(a)
		if na == 0 {
			rel = frobenius(r)
			return nil
		}
		rel = frobenius(r) / na
		return nil
	})
	return rel, err
}

// SingularValues returns all singular values of a (copied to the host, gonum's dgesvd),
// the reference the randomized SVD is measured against.
func SingularValues(a *tensor.Tensor) ([]float64, error) {
	if a.Rank() != 2 {
		return nil, fmt.Errorf("linalg: singular values of a tensor of shape %v, want a matrix", a.Shape())
	}
	var svd mat.SVD
	if !svd.Factorize(download(a), mat.SVDNone) {
		return nil, fmt.Errorf("linalg: the SVD did not converge")
	}
	return svd.Values(nil), nil
}

// OptimalRankError is the relative error of the best rank-k approximation (Eckart–Young):
// sqrt(Σ_{i≥k} σᵢ²) / sqrt(Σ σᵢ²), from all singular values s.
func OptimalRankError(s []float64, k int) float64 {
	var tail, total float64
	for i, v := range s {
		total += v * v
		if i >= k {
			tail += v * v
		}
	}
	if total == 0 {
		return 0
	}
	return math.Sqrt(tail / total)
}
