package tabpfn

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// Bars is the regression model's output distribution: a bar ("Riemann") distribution over
// the standardised target (Müller et al., "Transformers can do Bayesian inference", ICLR
// 2022, section 4.1): B bins with borders e_0 < e_1 < … < e_B, the model giving each bin a
// probability p_k, spread uniformly over the bin, so that the density of an interior bin is
// p_k / (e_{k+1} − e_k). The support is the whole line, as in TabPFN's full-support bar
// distribution: the mass of the first bin is a half-normal tail below e_1 and that of the
// last a half-normal tail above e_{B−1}, each scaled so that half of the tail's mass lies
// within the bin's width (its median is at e_0, respectively e_B), so a target beyond the
// borders still has a finite likelihood. Borders come from quantiles of the prior's targets
// (BordersFromSamples), so that every bin carries about the same prior mass.
//
// Probability vectors passed to the methods have one entry per bin and sum to one.
type Bars struct {
	borders []float64
	// lowScale and highScale are the half-normal scales of the tails.
	lowScale, highScale float64
}

// halfNormalMedian is the median of the standard half-normal distribution, √2·erf⁻¹(½).
const halfNormalMedian = 0.6744897501960817

// MaxBins bounds the bins of a bar distribution (Config.Bins); TabPFN v2 uses 5000.
const MaxBins = 10000

// NewBars checks borders (at least 3, finite, strictly increasing) and returns the
// distribution with len(borders)−1 bins.
func NewBars(borders []float64) (*Bars, error) {
	if len(borders) < 3 || len(borders) > MaxBins+1 {
		return nil, fmt.Errorf("tabpfn: a bar distribution needs 2 to %d bins, got %d borders", MaxBins, len(borders))
	}
	for i, e := range borders {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return nil, fmt.Errorf("tabpfn: bar border %d is %v", i, e)
		}
		if i > 0 && !(e > borders[i-1]) {
			return nil, fmt.Errorf("tabpfn: bar borders must increase strictly: border %d (%v) after %v", i, e, borders[i-1])
		}
	}
	b := &Bars{borders: slices.Clone(borders)}
	n := len(borders) - 1
	b.lowScale = (borders[1] - borders[0]) / halfNormalMedian
	b.highScale = (borders[n] - borders[n-1]) / halfNormalMedian
	return b, nil
}

// BordersFromSamples returns bins+1 borders: e_1 … e_{bins−1} at the quantiles k/bins of
// the samples (linear interpolation), nudged apart where ties would make them equal, so that
// every bin holds about the same share of the samples, and the outer borders one
// neighbouring bin's width beyond them: e_0 = e_1 − (e_2 − e_1), e_bins likewise. The outer
// borders only scale the half-normal tails (Bars), which carry every target beyond e_1 and
// e_{bins−1}; at the samples' extremes instead, as the quantiles 0 and 1, a heavy-tailed
// sample puts them hundreds of standard deviations out (the regression prior's standardised
// test targets reach −148 and 534), and a tail with 0.1% of the mass then moves the mean by
// more than half a standard deviation.
func BordersFromSamples(ys []float64, bins int) ([]float64, error) {
	if bins < 2 || bins > MaxBins {
		return nil, fmt.Errorf("tabpfn: bins must be 2 to %d, got %d", MaxBins, bins)
	}
	s := make([]float64, 0, len(ys))
	for _, y := range ys {
		if !math.IsNaN(y) && !math.IsInf(y, 0) {
			s = append(s, y)
		}
	}
	if len(s) < 2 {
		return nil, errors.New("tabpfn: need at least two finite samples for bar borders")
	}
	slices.Sort(s)
	if s[0] == s[len(s)-1] {
		return nil, errors.New("tabpfn: the samples for bar borders are all equal")
	}
	out := make([]float64, bins+1)
	for k := range out {
		pos := float64(k) / float64(bins) * float64(len(s)-1)
		i := int(pos)
		if i >= len(s)-1 {
			out[k] = s[len(s)-1]
			continue
		}
		f := pos - float64(i)
		out[k] = s[i] + f*(s[i+1]-s[i])
	}
	gap := 1e-6 * (s[len(s)-1] - s[0]) / float64(bins)
	for k := 1; k < len(out); k++ {
		out[k] = max(out[k], out[k-1]+gap)
	}
	if bins >= 3 {
		out[0] = out[1] - (out[2] - out[1])
		out[bins] = out[bins-1] + (out[bins-1] - out[bins-2])
	}
	return out, nil
}

// Borders returns a copy of the bin borders.
func (b *Bars) Borders() []float64 { return slices.Clone(b.borders) }

// Bins returns the number of bins.
func (b *Bars) Bins() int { return len(b.borders) - 1 }

// Bin returns the bin of y: k with e_k ≤ y < e_{k+1}, the first bin for y below e_1 and the
// last for y at or above e_{B−1} (the tails).
func (b *Bars) Bin(y float64) int {
	n := b.Bins()
	k, _ := slices.BinarySearch(b.borders[1:n], y) // borders e_1..e_{B−1} at or below y …
	if k < n-1 && b.borders[k+1] == y {
		k++ // … with y on a border belonging to the bin above it
	}
	return k
}

// logDensityIn is log f(y | bin k): the log density of y under the bin's own distribution
// (uniform over an interior bin, half-normal in a tail). k must be y's bin.
func (b *Bars) logDensityIn(k int, y float64) float64 {
	n := b.Bins()
	switch k {
	case 0:
		return halfNormalLogPDF(b.borders[1]-y, b.lowScale)
	case n - 1:
		return halfNormalLogPDF(y-b.borders[n-1], b.highScale)
	}
	return -math.Log(b.borders[k+1] - b.borders[k])
}

// halfNormalLogPDF is the log density of the half-normal of scale s at t ≥ 0.
func halfNormalLogPDF(t, s float64) float64 {
	return 0.5*math.Log(2/math.Pi) - math.Log(s) - t*t/(2*s*s)
}

// NLL is the mean negative log-likelihood of the targets y (one per row) under the bar
// distributions whose bin logits are the rows of logits ([rows, Bins]): −log p_k(y) −
// log f(y | k), the cross-entropy of y's bin plus the log of the bin's density at y, which
// for an interior bin is the log of its width. The second term does not depend on the
// logits, so the gradient is the cross-entropy's. The result belongs to logits' context.
func (b *Bars) NLL(logits *tensor.Tensor, y []float64) *tensor.Tensor {
	n := logits.Dim(0)
	if logits.Rank() != 2 || logits.Dim(1) != b.Bins() || len(y) != n {
		panic(fmt.Errorf("tabpfn: bar NLL of %v logits and %d targets with %d bins", logits.Shape(), len(y), b.Bins()))
	}
	bins := make([]int32, n)
	var dens float64
	for i, v := range y {
		k := b.Bin(v)
		bins[i] = int32(k)
		dens += b.logDensityIn(k, v)
	}
	ce := ops.CrossEntropy(logits, tensor.ContextOf(logits).FromInt32(logits.Device(), bins, n), nil)
	return ops.AddScalar(ce, -dens/float64(n))
}

// LogPDF is the log density at y of the distribution with bin probabilities p.
func (b *Bars) LogPDF(p []float64, y float64) float64 {
	k := b.Bin(y)
	return math.Log(p[k]) + b.logDensityIn(k, y)
}

// Mean is the distribution's expectation: interior bins contribute their midpoints, the
// tails e_1 − s√(2/π) and e_{B−1} + s√(2/π).
func (b *Bars) Mean(p []float64) float64 {
	n, e := b.Bins(), b.borders
	c := math.Sqrt(2 / math.Pi)
	m := p[0]*(e[1]-b.lowScale*c) + p[n-1]*(e[n-1]+b.highScale*c)
	for k := 1; k < n-1; k++ {
		m += p[k] * 0.5 * (e[k] + e[k+1])
	}
	return m
}

// tailPanels is the number of panels of [0, 8] over which Expect integrates a tail's
// half-normal density, each with 3-point Gauss–Legendre (the mass beyond 8 standard
// deviations, 1e-15, is left out).
const tailPanels = 32

// gaussLegendre3 holds the nodes (on [−1, 1]) and weights of 3-point Gauss–Legendre
// quadrature, exact for polynomials up to degree 5.
var gaussLegendre3 = [3][2]float64{{-0.7745966692414834, 5.0 / 9}, {0, 8.0 / 9}, {0.7745966692414834, 5.0 / 9}}

// Expect is the expectation of h(Y): 3-point Gauss–Legendre quadrature over each interior
// bin (exact for polynomials of degree 5, so exact for h linear), and over 32 panels of
// the half-normal density of each tail out to 8 scales. It is what the mean of a
// transformed target needs (h the inverse transform).
func (b *Bars) Expect(p []float64, h func(float64) float64) float64 {
	return b.ExpectBins(p, b.BinExpectations(h))
}

// BinExpectations returns E[h(Y) | bin k] for each bin k, by Expect's quadrature; Expect
// is their mean under the bin probabilities (ExpectBins), so distributions over the same
// bins share them.
func (b *Bars) BinExpectations(h func(float64) float64) []float64 {
	n, e := b.Bins(), b.borders
	out := make([]float64, n)
	for k := 1; k < n-1; k++ {
		c, r := 0.5*(e[k]+e[k+1]), 0.5*(e[k+1]-e[k])
		var s float64
		for _, nw := range gaussLegendre3 {
			s += nw[1] * h(c+r*nw[0])
		}
		out[k] = 0.5 * s
	}
	var lo, hi float64
	const w = 8.0 / tailPanels
	for j := range tailPanels {
		c := (float64(j) + 0.5) * w
		for _, nw := range gaussLegendre3 {
			x := c + 0.5*w*nw[0]
			f := nw[1] * 0.5 * w * 2 * math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) // half-normal density
			lo += f * h(e[1]-b.lowScale*x)
			hi += f * h(e[n-1]+b.highScale*x)
		}
	}
	out[0], out[n-1] = lo, hi
	return out
}

// ExpectBins is the expectation under bin probabilities p of the per-bin expectations
// eh (BinExpectations).
func (b *Bars) ExpectBins(p, eh []float64) float64 {
	n := len(p)
	var m float64
	for k := 1; k < n-1; k++ {
		if p[k] != 0 {
			m += p[k] * eh[k]
		}
	}
	return m + p[0]*eh[0] + p[n-1]*eh[n-1]
}

// CDF is P(Y ≤ x).
func (b *Bars) CDF(p []float64, x float64) float64 {
	n, e := b.Bins(), b.borders
	if x < e[1] {
		return p[0] * math.Erfc((e[1]-x)/(b.lowScale*math.Sqrt2))
	}
	if x >= e[n-1] {
		return 1 - p[n-1]*math.Erfc((x-e[n-1])/(b.highScale*math.Sqrt2))
	}
	c := p[0]
	k := 1
	for ; e[k+1] <= x; k++ {
		c += p[k]
	}
	return c + p[k]*(x-e[k])/(e[k+1]-e[k])
}

// CDFs writes to out the CDF at each of the increasing points xs, as CDF would, in one
// pass over the bins; out may be xs.
func (b *Bars) CDFs(p, xs, out []float64) {
	n, e := b.Bins(), b.borders
	k, c := 1, p[0] // bin k's lower cumulative probability is c
	for i, x := range xs {
		if x < e[1] || x >= e[n-1] {
			out[i] = b.CDF(p, x)
			continue
		}
		for e[k+1] <= x {
			c += p[k]
			k++
		}
		out[i] = c + p[k]*(x-e[k])/(e[k+1]-e[k])
	}
}

// Quantile is the q-quantile, 0 < q < 1: the x with CDF(x) = q (the smallest such x where
// bins of zero probability make it an interval).
func (b *Bars) Quantile(p []float64, q float64) float64 {
	n, e := b.Bins(), b.borders
	switch {
	case math.IsNaN(q) || q <= 0:
		return math.Inf(-1)
	case q >= 1:
		return math.Inf(1)
	case q <= p[0]:
		return e[1] - b.lowScale*math.Sqrt2*math.Erfcinv(q/p[0])
	}
	c := p[0]
	for k := 1; k < n-1; k++ {
		if p[k] > 0 && q <= c+p[k] {
			return e[k] + (q-c)/p[k]*(e[k+1]-e[k])
		}
		c += p[k]
	}
	if p[n-1] <= 0 {
		return e[n-1] // rounding left q above the total mass of the bins
	}
	u := min(max((q-c)/p[n-1], 0), 1)
	return e[n-1] + b.highScale*math.Sqrt2*math.Erfinv(u)
}

// Quantiles writes to out the quantiles at the increasing levels qs, each in (0, 1), as
// Quantile would, in one pass over the bins.
func (b *Bars) Quantiles(p, qs, out []float64) {
	n, e := b.Bins(), b.borders
	k, c := 1, p[0] // bin k's lower cumulative probability is c
	for i, q := range qs {
		if q <= p[0] || q >= 1 {
			out[i] = b.Quantile(p, q)
			continue
		}
		for k < n-1 && (p[k] <= 0 || q > c+p[k]) {
			c += p[k]
			k++
		}
		switch {
		case k < n-1:
			out[i] = e[k] + (q-c)/p[k]*(e[k+1]-e[k])
		case p[n-1] <= 0:
			out[i] = e[n-1]
		default:
			out[i] = e[n-1] + b.highScale*math.Sqrt2*math.Erfinv(min(max((q-c)/p[n-1], 0), 1))
		}
	}
}

// CRPS is the continuous ranked probability score of the distribution at the observation
// y, ∫ (F(x) − 1{x ≥ y})² dx (Gneiting and Raftery, "Strictly proper scoring rules,
// prediction, and estimation", JASA 2007), in closed form: F is linear within an interior
// bin, and the half-normal tails integrate with erfcSquaredIntegral.
func (b *Bars) CRPS(p []float64, y float64) float64 {
	n, e := b.Bins(), b.borders
	total := 0.0
	// Left tail, x ≤ e_1: F = p_0·erfc(u) with u = (e_1 − x)/c.
	c := b.lowScale * math.Sqrt2
	if uy := (e[1] - y) / c; uy > 0 {
		total += c * (tailIntegral(p[0], 0, uy, 1) + tailIntegral(p[0], uy, math.Inf(1), 0))
	} else {
		total += c * tailIntegral(p[0], 0, math.Inf(1), 0)
	}
	// Right tail, x ≥ e_{B−1}: 1 − F = p_{B−1}·erfc(u) with u = (x − e_{B−1})/c, so
	// (F − 1)² = (p·erfc(u))² and F² = (p·erfc(u) − 1)².
	c = b.highScale * math.Sqrt2
	if uy := (y - e[n-1]) / c; uy > 0 {
		total += c * (tailIntegral(p[n-1], 0, uy, 1) + tailIntegral(p[n-1], uy, math.Inf(1), 0))
	} else {
		total += c * tailIntegral(p[n-1], 0, math.Inf(1), 0)
	}
	// Interior bins: F linear from cum to cum + p_k.
	cum := p[0]
	for k := 1; k < n-1; k++ {
		lo, hi := e[k], e[k+1]
		flo, fhi := cum, cum+p[k]
		switch {
		case y >= hi:
			total += linearSquareIntegral(hi-lo, flo, fhi)
		case y <= lo:
			total += linearSquareIntegral(hi-lo, flo-1, fhi-1)
		default:
			fy := flo + p[k]*(y-lo)/(hi-lo)
			total += linearSquareIntegral(y-lo, flo, fy) + linearSquareIntegral(hi-y, fy-1, fhi-1)
		}
		cum += p[k]
	}
	return total
}

// linearSquareIntegral is ∫ g² over an interval of length w on which g runs linearly from a
// to b.
func linearSquareIntegral(w, a, b float64) float64 { return w * (a*a + a*b + b*b) / 3 }

// tailIntegral is ∫_{u1}^{u2} (a·erfc(u) − h)² du for 0 ≤ u1 ≤ u2 ≤ ∞, from the
// antiderivatives of erfc and erfc².
func tailIntegral(a, u1, u2, h float64) float64 {
	if u2 <= u1 {
		return 0
	}
	v := a * a * (erfcSquaredIntegral(u2) - erfcSquaredIntegral(u1))
	v -= 2 * h * a * (erfcIntegral(u2) - erfcIntegral(u1))
	if h != 0 {
		v += h * h * (u2 - u1)
	}
	return v
}

// erfcIntegral is an antiderivative of erfc: u·erfc(u) − e^{−u²}/√π, 0 at +∞.
func erfcIntegral(u float64) float64 {
	if math.IsInf(u, 1) {
		return 0
	}
	return u*math.Erfc(u) - math.Exp(-u*u)/math.Sqrt(math.Pi)
}

// erfcSquaredIntegral is an antiderivative of erfc²: u·erfc(u)² − (2/√π)·e^{−u²}·erfc(u) +
// √(2/π)·erfc(√2·u), 0 at +∞.
func erfcSquaredIntegral(u float64) float64 {
	if math.IsInf(u, 1) {
		return 0
	}
	ec := math.Erfc(u)
	return u*ec*ec - 2/math.Sqrt(math.Pi)*math.Exp(-u*u)*ec + math.Sqrt(2/math.Pi)*math.Erfc(math.Sqrt2*u)
}
