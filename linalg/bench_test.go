package linalg

import (
	"sync"
	"testing"

	"github.com/kiln-ml/kiln/rng"
	"github.com/kiln-ml/kiln/tensor"
)

// The benchmark matrix: 4096×4096 float64, A = U·diag(0.95^i)·Vᵀ with Haar-random U, V
// (singular values below 1e-18 dropped, 808 of them kept), built once per process. The
// same kind of matrix is built by bench/numpy/rsvd.py for the scikit-learn anchor.
var (
	benchOnce   sync.Once
	benchMatrix *tensor.Tensor
	benchOpt    float64
)

func benchA(b *testing.B) *tensor.Tensor {
	b.Helper()
	benchOnce.Do(func() {
		s, _ := GeometricSpectrum(4096, 0.95)
		a, err := KnownSpectrum(cpuDev, tensor.Float64, 4096, 4096, s, 1)
		if err != nil {
			b.Fatal(err)
		}
		benchMatrix = a.Detach()
		benchOpt = OptimalRankError(s, 50)
	})
	return benchMatrix
}

// BenchmarkRSVD4096Rank50 times RandomizedSVD with the default options (p = 10, q = 7,
// CholeskyQR2 normaliser) and reports the relative error beside the optimal one.
func BenchmarkRSVD4096Rank50(b *testing.B) {
	benchRSVD(b, NormalizerAuto)
}

// BenchmarkRSVD4096Rank50LU uses scikit-learn's LU normaliser (host LU of the panel).
func BenchmarkRSVD4096Rank50LU(b *testing.B) {
	benchRSVD(b, NormalizerLU)
}

func benchRSVD(b *testing.B, norm Normalizer) {
	a := benchA(b)
	opt := DefaultRSVDOptions()
	opt.Normalizer = norm
	b.ResetTimer()
	var res *SVD
	for i := 0; i < b.N; i++ {
		res.Release()
		var err error
		if res, err = RandomizedSVD(a, 50, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rel, err := RelativeError(a, res)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rel, "relerr")
	b.ReportMetric(rel/benchOpt, "relerr/optimal")
	b.Logf("GEMM kernel: %s; rel. error %.6e, optimal %.6e", cpuDev.Info().Kernel, rel, benchOpt)
	res.Release()
}

// BenchmarkCholeskyQR2 times the QR of a 4096×60 panel (the randomized SVD's k+p for k = 50).
func BenchmarkCholeskyQR2(b *testing.B) {
	y := tensor.Normal(cpuDev, tensor.Float64, 3, 0, 0, 1, 4096, 60).Detach()
	defer y.Release()
	for _, m := range []QRMethod{QRCholesky2, QRHouseholder} {
		b.Run(m.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r, err := QR(y, m)
				if err != nil {
					b.Fatal(err)
				}
				r.Release()
			}
		})
	}
}

// BenchmarkBSRMulDense times a 4096×4096 block-sparse (16×16 blocks, 5%) times 4096×64 product.
func BenchmarkBSRMulDense(b *testing.B) {
	a, err := RandomBlockSparse[float64](4096, 16, 0.05, 1)
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float64, 4096*64)
	rng.FillNormal(x, 2, 0, 0, 0, 1)
	b.SetBytes(int64(8 * len(a.Values)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.MulDense(x, 64); err != nil {
			b.Fatal(err)
		}
	}
}
