package preprocess

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/data"
)

// BenchmarkFitYeoJohnson fits λ on 1000 log-normal values, one column of a TabPFN-sized fit.
func BenchmarkFitYeoJohnson(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = math.Exp(r.NormFloat64())
	}
	for b.Loop() {
		FitYeoJohnson(xs)
	}
}

// BenchmarkFitPower fits the power variant on 1000 rows × 100 features.
func BenchmarkFitPower(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	X := data.NewMatrix(1000, 100)
	for i := range X.Data {
		X.Data[i] = math.Exp(r.NormFloat64())
	}
	for b.Loop() {
		if err := New(VariantPower.Config(0)).Fit(X, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFitTransformPCA fits the standard-pca variant on 1000 rows × 64 correlated
// features and transforms 2000 more, the largest shape of the shared evaluation (spam).
func BenchmarkFitTransformPCA(b *testing.B) { benchFitTransform(b, VariantStandardPCA) }

// BenchmarkFitTransformStandard is the same without the rotation, for the ratio.
func BenchmarkFitTransformStandard(b *testing.B) { benchFitTransform(b, VariantStandard) }

func benchFitTransform(b *testing.B, v Variant) {
	r := rand.New(rand.NewPCG(5, 6))
	train, test := correlated(r, 1000, 64), correlated(r, 2000, 64)
	for b.Loop() {
		p := New(v.Config(0))
		if err := p.Fit(train, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Transform(test); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyStatistics fits the standard variant with target statistics and group keys on
// the worst shape for the key test: 1000 rows × 200 columns of rounded values, each column
// 50 values of 20 rows, so that every column is a candidate key and is checked against every
// other. BenchmarkKeyStatisticsOff is the same fit without the keys, for the ratio.
func BenchmarkKeyStatistics(b *testing.B) { benchKeys(b, 16) }

// BenchmarkKeyStatisticsOff is BenchmarkKeyStatistics without KeyStatistics.
func BenchmarkKeyStatisticsOff(b *testing.B) { benchKeys(b, 0) }

func benchKeys(b *testing.B, keys int) {
	r := rand.New(rand.NewPCG(7, 8))
	X := data.NewMatrix(1000, 200)
	for i := range X.Data {
		X.Data[i] = float64(r.IntN(50))
	}
	y := make([]float64, X.Rows)
	for i := range y {
		y[i] = r.NormFloat64()
	}
	cfg := VariantStandard.Config(0)
	cfg.OneHotLevels, cfg.TargetStatistics, cfg.KeyStatistics = 16, true, keys
	for b.Loop() {
		if _, err := New(cfg).FitTransformTarget(X, nil, y); err != nil {
			b.Fatal(err)
		}
	}
}
