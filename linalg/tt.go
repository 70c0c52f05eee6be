package linalg

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/tensor"
)

// TTOptions choose the truncation of TTSVD. With both zero the decomposition is exact (up to
// rounding) with ranks capped only by the unfolding sizes.
type TTOptions struct {
	// MaxRank caps every TT rank r_k (0: no cap).
	MaxRank int
	// Eps is the requested relative accuracy ε: each of the d−1 truncated SVDs discards
	// singular values of total Frobenius norm at most δ = ε·‖A‖_F/√(d−1), which bounds
	// ‖A − B‖_F ≤ ε·‖A‖_F (Oseledets 2011, Algorithm 1 and Theorem 2.2). 0 keeps every
	// singular value (up to MaxRank).
	Eps float64
}

// TT is a tensor train: A(i₁,…,i_d) ≈ G₁[:, i₁, :]·G₂[:, i₂, :]⋯G_d[:, i_d, :].
type TT struct {
	Cores []*tensor.Tensor // core k has shape (r_{k−1}, n_k, r_k), on A's device in A's dtype
	Dims  []int            // n_1 … n_d
	Ranks []int            // r_0 … r_d with r_0 = r_d = 1
	// Norm is ‖A‖_F.
	Norm float64
	// Eps is the requested relative accuracy (0 when only ranks were given).
	Eps float64
	// Bound is the a-priori relative error bound sqrt(Σ_k ‖E_k‖_F²)/‖A‖_F from the singular
	// values each step discarded (Theorem 2.2); it is ≤ Eps when Eps was given.
	Bound float64
}

// Release frees the cores.
func (t *TT) Release() {
	for _, c := range t.Cores {
		c.Release()
	}
}

// Params is the number of stored values Σ r_{k−1}·n_k·r_k.
func (t *TT) Params() int {
	p := 0
	for k, n := range t.Dims {
		p += t.Ranks[k] * n * t.Ranks[k+1]
	}
	return p
}

// CompressionRatio is the number of entries of the full tensor divided by Params.
func (t *TT) CompressionRatio() float64 {
	full := 1.0
	for _, n := range t.Dims {
		full *= float64(n)
	}
	return full / float64(t.Params())
}

// TTSVD decomposes a d-way tensor (d ≥ 2) into a tensor train by the TT-SVD algorithm of
// Oseledets (2011, Algorithm 1): for k = 1 … d−1 the remainder is reshaped to an
// (r_{k−1}·n_k) × (n_{k+1}⋯n_d) unfolding, its truncated SVD U·S·Vᵀ gives the core
// reshape(U, r_{k−1}, n_k, r_k), and S·Vᵀ is the next remainder; the last remainder is G_d.
// Each rank is the smallest that meets the δ of opts.Eps, capped by opts.MaxRank and by
// the unfolding's smaller side.
//
// The SVDs of the unfoldings run on the host in float64 (gonum's dgesvd) on one copy of the
// tensor; the cores are copied back to a's device.
func TTSVD(a *tensor.Tensor, opts TTOptions) (res *TT, err error) {
	if err := checkFloat(a); err != nil {
		return nil, err
	}
	d := a.Rank()
	if d < 2 {
		return nil, fmt.Errorf("linalg: TT-SVD needs a tensor with at least 2 axes, got shape %v", a.Shape())
	}
	dims := a.Shape()
	for _, n := range dims {
		if n < 1 {
			return nil, fmt.Errorf("linalg: TT-SVD of a tensor with an empty axis, shape %v", dims)
		}
	}
	if opts.MaxRank < 0 {
		return nil, fmt.Errorf("linalg: negative maximal TT rank %d", opts.MaxRank)
	}
	if !finite(opts.Eps) || opts.Eps < 0 {
		return nil, fmt.Errorf("linalg: TT accuracy ε = %v must be finite and ≥ 0", opts.Eps)
	}
	err = tensor.Catch(func() error {
		data := a.Float64s()
		var norm2 float64
		for _, v := range data {
			if !finite(v) {
				return fmt.Errorf("linalg: the tensor has non-finite entries")
			}
			norm2 += v * v
		}
		res, err = ttsvd(a, data, dims, math.Sqrt(norm2), opts)
		return err
	})
	return res, err
}

func ttsvd(a *tensor.Tensor, data []float64, dims []int, norm float64, opts TTOptions) (*TT, error) {
	d := len(dims)
	res := &TT{Dims: append([]int(nil), dims...), Ranks: make([]int, d+1), Norm: norm, Eps: opts.Eps}
	res.Ranks[0], res.Ranks[d] = 1, 1
	delta := opts.Eps * norm / math.Sqrt(float64(d-1))
	var discarded2 float64

	rest := len(data) // entries of the remainder C
	c := data
	for k := 0; k < d-1; k++ {
		rows := res.Ranks[k] * dims[k]
		cols := rest / rows
		var svd mat.SVD
		if !svd.Factorize(mat.NewDense(rows, cols, c), mat.SVDThin) {
			res.Release()
			return nil, fmt.Errorf("linalg: SVD of the %d×%d unfolding %d did not converge", rows, cols, k+1)
		}
		s := svd.Values(nil)
		r := truncationRank(s, delta, opts.MaxRank)
		for _, v := range s[r:] {
			discarded2 += v * v
		}
		res.Ranks[k+1] = r
		var u, v mat.Dense
		svd.UTo(&u)
		svd.VTo(&v)
		core := make([]float64, rows*r) // reshape(U[:, :r], r_{k−1}, n_k, r_k), row-major
		for i := 0; i < rows; i++ {
			for j := 0; j < r; j++ {
				core[i*r+j] = u.At(i, j)
			}
		}
		res.Cores = append(res.Cores, tensor.FromFloat64As(a.Device(), a.DType(), core, res.Ranks[k], dims[k], r))
		// C ← S·Vᵀ restricted to r rows: r × cols, which is the next unfolding's data in
		// row-major order (r_k, n_{k+1}, …, n_d).
		next := make([]float64, r*cols)
		for i := 0; i < r; i++ {
			for j := 0; j < cols; j++ {
				next[i*cols+j] = s[i] * v.At(j, i)
			}
		}
		c, rest = next, r*cols
	}
	res.Cores = append(res.Cores, tensor.FromFloat64As(a.Device(), a.DType(), c, res.Ranks[d-1], dims[d-1], 1))
	if norm > 0 {
		res.Bound = math.Sqrt(discarded2) / norm
	}
	return res, nil
}

// truncationRank is the δ-rank of singular values s (non-increasing): the smallest r ≥ 1
// with sqrt(Σ_{i≥r} sᵢ²) ≤ δ, capped by maxRank when positive. With δ = 0 every value is
// kept, so ranks are bounded only by the unfolding's smaller side (len(s)).
func truncationRank(s []float64, delta float64, maxRank int) int {
	r := len(s)
	if delta > 0 {
		tail := 0.0
		for r > 1 {
			v := s[r-1]
			if math.Sqrt(tail+v*v) > delta {
				break
			}
			tail += v * v
			r--
		}
	}
	if maxRank > 0 && r > maxRank {
		r = maxRank
	}
	return max(r, 1)
}

// Full reconstructs the tensor from its cores on their device: the partial product
// X_k of shape (n_1⋯n_k) × r_k is multiplied by core k+1 viewed as r_k × (n_{k+1}·r_{k+1}),
// one GEMM per core.
func (t *TT) Full() (out *tensor.Tensor, err error) {
	err = tensor.Catch(func() error {
		x := t.Cores[0].Reshape(t.Dims[0], t.Ranks[1])
		rows := t.Dims[0]
		for k := 1; k < len(t.Cores); k++ {
			g := t.Cores[k].Reshape(t.Ranks[k], t.Dims[k]*t.Ranks[k+1])
			y := matmul(x, false, g, false)
			g.Release()
			x.Release()
			rows *= t.Dims[k]
			x = y.Reshape(rows, t.Ranks[k+1])
			y.Release()
		}
		out = x.Reshape(t.Dims...)
		x.Release()
		return nil
	})
	return out, err
}

// RelativeError is ‖A − TT‖_F / ‖A‖_F, reconstructing on the cores' device.
func (t *TT) RelativeError(a *tensor.Tensor) (rel float64, err error) {
	full, err := t.Full()
	if err != nil {
		return 0, err
	}
	defer full.Release()
	err = tensor.Catch(func() error {
		if !tensor.SameShape(full.Shape(), a.Shape()) {
			return fmt.Errorf("linalg: tensor train of shape %v against a tensor of shape %v", full.Shape(), a.Shape())
		}
		subInPlace(full, a)
		num := frobenius(full)
		den := frobenius(a)
		if den == 0 {
			rel = num
		} else {
			rel = num / den
		}
		return nil
	})
	return rel, err
}
