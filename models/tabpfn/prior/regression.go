package prior

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/kiln-ml/kiln/data/preprocess"
)

// Regression targets (Config.Regression). The graph and the features are drawn exactly as
// for classification; the target node's value is kept continuous instead of cut into
// classes, and then shaped the way real regression targets are (TabPFN v2's regression
// prior, Hollmann et al., Nature 2025, draws continuous targets from the same causal
// graphs):
//
//   - a skew, on a share of the datasets: the standardised value z becomes ±exp(a·z), so
//     that prices, wages and counts, which are skewed to the right, have synthetic
//     counterparts;
//   - observation noise with a signal-to-noise ratio of its own per dataset, so that the
//     best achievable R² ranges from almost 1 to about 0.3;
//   - heteroscedasticity, on a share of the datasets: the noise scale varies with a feature
//     or with the target's own level (noise that grows with the price);
//   - outliers, on a share of the datasets: a few rows shifted by 3 to 12 standard
//     deviations.
//
// The result is standardised on the training rows (mean 0, standard deviation 1): the
// model predicts a distribution over the standardised target, whose units the regressor
// restores.
const (
	regSkewFraction    = 0.3
	regHeteroFraction  = 0.5
	regOutlierFraction = 0.3
)

// regressionTarget turns the target node's values y into the dataset's target, drawing its
// skew, noise, heteroscedasticity and outliers from r, standardised on the first nTrain
// rows; cols are the features (before standardisation), one of which may drive the
// heteroscedastic noise. ok is false when the result has fewer than two distinct training
// values or a non-finite value.
func regressionTarget(r *rand.Rand, y []float64, cols [][]float64, nTrain int) (target []float32, ok bool) {
	m, sd := preprocess.MeanStd(y)
	if !(sd > 0) {
		return nil, false
	}
	t := make([]float64, len(y))
	for i, v := range y {
		t[i] = (v - m) / sd
	}
	if r.Float64() < regSkewFraction {
		a := logUniform(r, 0.2, 1.2)
		sign := 1.0
		if r.IntN(2) == 0 {
			sign = -1
		}
		for i, z := range t {
			t[i] = sign * math.Exp(a*z)
		}
		if _, s := preprocess.MeanStd(t); !(s > 0) {
			return nil, false
		}
	}
	_, sd = preprocess.MeanStd(t)
	// Noise scale relative to the signal's spread: log-uniform, from nearly noiseless to
	// noise as large as the signal.
	noise := sd * logUniform(r, 0.01, 1)
	scale := make([]float64, len(t))
	for i := range scale {
		scale[i] = 1
	}
	if r.Float64() < regHeteroFraction {
		// The scale is exp(b·u) for a standardised driver u (a feature, or the signal
		// itself), normalised to a mean square of 1 so that the noise level stays the drawn
		// one on average.
		driver := t
		if len(cols) > 0 && r.IntN(2) == 0 {
			driver = cols[r.IntN(len(cols))]
		}
		dm, ds := preprocess.MeanStd(driver)
		b := uniform(r, 0.3, 1.5)
		var ms float64
		for i, u := range driver {
			z := 0.0
			if ds > 0 {
				z = (u - dm) / ds
			}
			scale[i] = math.Exp(b * max(-4, min(4, z)))
			ms += scale[i] * scale[i]
		}
		ms = math.Sqrt(ms / float64(len(scale)))
		for i := range scale {
			scale[i] /= ms
		}
	}
	for i := range t {
		t[i] += noise * scale[i] * r.NormFloat64()
	}
	if r.Float64() < regOutlierFraction {
		rate := uniform(r, 0.005, 0.05)
		for i := range t {
			if r.Float64() < rate {
				shift := uniform(r, 3, 12) * sd
				if r.IntN(2) == 0 {
					shift = -shift
				}
				t[i] += shift
			}
		}
	}
	return StandardizeTarget(t, nTrain)
}

// StandardizeTarget z-scores a regression target with the mean and standard deviation of
// its first nTrain entries, as every regression dataset's Target is (the model predicts a
// distribution over the standardised target; the regressor restores its units). Outliers are
// kept, not clipped: they are part of what the model learns to predict. ok is false when the
// training entries have fewer than two distinct values or a value, or the result, is not
// finite.
func StandardizeTarget(t []float64, nTrain int) (target []float32, ok bool) {
	m, sd := preprocess.MeanStd(t[:nTrain])
	if !(sd > 0) || math.IsInf(sd, 0) || math.IsNaN(m) || math.IsInf(m, 0) {
		return nil, false
	}
	u := slices.Clone(t[:nTrain])
	slices.Sort(u)
	if len(slices.Compact(u)) < 2 {
		return nil, false
	}
	target = make([]float32, len(t))
	for i, v := range t {
		z := (v - m) / sd
		if math.IsNaN(z) || math.IsInf(z, 0) {
			return nil, false
		}
		target[i] = float32(z)
	}
	return target, true
}
