package linalg

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// GeometricSpectrum returns s_i = decay^i for i < n, dropping the values below 1e-18 (they
// are below float64's resolution relative to s_0 = 1 and would only cost work): the spectrum
// of a matrix whose singular values decay exponentially. decay = 1 gives n ones.
func GeometricSpectrum(n int, decay float64) ([]float64, error) {
	if n < 1 {
		return nil, fmt.Errorf("linalg: spectrum of length %d", n)
	}
	if !(decay > 0 && decay <= 1) {
		return nil, fmt.Errorf("linalg: spectral decay %v must lie in (0, 1]", decay)
	}
	s := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		v := math.Pow(decay, float64(i))
		if v < 1e-18 {
			break
		}
		s = append(s, v)
	}
	return s, nil
}

// RandomOrthonormal returns an m×r matrix (m ≥ r) with orthonormal columns distributed
// uniformly (Haar): the Q factor of an m×r standard Gaussian matrix whose R has a positive
// diagonal (Mezzadri 2007, "How to generate random matrices from the classical compact
// groups"). The Gaussian numbers come from the Philox stream of seed at
// counter offset; the QR is the host Householder reference.
func RandomOrthonormal(dev device.Device, dtype tensor.DType, m, r int, seed, offset uint64) (q *tensor.Tensor, err error) {
	if m < r || r < 0 {
		return nil, fmt.Errorf("linalg: a %d×%d matrix cannot have orthonormal columns", m, r)
	}
	err = tensor.Catch(func() error {
		g := tensor.Normal(dev, dtype, seed, offset, 0, 1, m, r)
		defer g.Release()
		// householderQR already normalises R's diagonal to be non-negative.
		q = householderQR(g).Q
		return nil
	})
	return q, err
}

// KnownSpectrum returns A = U·diag(s)·Vᵀ (m×n) with U (m×r) and V (n×r) independent
// Haar-random orthonormal matrices, r = len(s) ≤ min(m, n): a test matrix whose singular
// values are exactly s (up to rounding) and whose singular vectors are generic. The product
// runs on dev.
func KnownSpectrum(dev device.Device, dtype tensor.DType, m, n int, s []float64, seed uint64) (a *tensor.Tensor, err error) {
	r := len(s)
	if r > min(m, n) {
		return nil, fmt.Errorf("linalg: %d singular values for a %d×%d matrix", r, m, n)
	}
	for _, v := range s {
		if !finite(v) || v < 0 {
			return nil, fmt.Errorf("linalg: singular value %v is not finite and non-negative", v)
		}
	}
	if m < 1 || n < 1 {
		return nil, fmt.Errorf("linalg: empty %d×%d matrix", m, n)
	}
	if r == 0 {
		return tensor.Zeros(dev, dtype, m, n), nil
	}
	u, err := RandomOrthonormal(dev, dtype, m, r, seed, 0)
	if err != nil {
		return nil, err
	}
	defer u.Release()
	// V's draws start where U's end, so the two are independent.
	v, err := RandomOrthonormal(dev, dtype, n, r, seed, uint64((m*r+3)/4))
	if err != nil {
		return nil, err
	}
	defer v.Release()
	err = tensor.Catch(func() error {
		scaleColumns(u, s)
		a = matmul(u, false, v, true)
		return nil
	})
	return a, err
}
