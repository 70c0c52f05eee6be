package tabpfn

import (
	"math"
	"slices"
)

// A TargetMixed regressor's distribution is a mixture of bar distributions over different
// target maps, so its parts have no bins in common. The code here works on their bins
// merged: the inner borders of every part in the target's units (mixtureGrid.inner), with
// the parts' standardised values at those borders and at the midpoints between them
// computed once per distribution, so that a row's mixture CDF at all of them is one pass
// over each part's bins (Bars.CDFs). Between two merged borders every part stays within
// one of its bins, so the mixture's CDF is smooth there, which the quantile function and
// CRPS rely on.

// mixtureGrid is a mixture's merged bins.
type mixtureGrid struct {
	inner  []float64   // the parts' inner bin borders in the target's units, sorted, without repeats
	zInner [][]float64 // each part's standardised value of each inner border (part.target.standardise)
	zMids  [][]float64 // … and of each midpoint between consecutive inner borders
	// lo and hi bound the tails: below lo (above hi) every part's CDF is 0 (1) to within
	// the half-normal's mass beyond 8 scales, 1e-15, or its transform's clamp.
	lo, hi float64
}

// tailScales is how many half-normal scales past the outer inner border the mixture's
// tails are integrated over.
const tailScales = 8

// newDistribution returns the distribution of parts, whose weights sum to one.
func newDistribution(bars *Bars, parts []distPart) *Distribution {
	d := &Distribution{bars: bars, parts: parts}
	if len(parts) == 1 {
		return d
	}
	g := &mixtureGrid{lo: math.Inf(1), hi: math.Inf(-1)}
	b := bars.Borders()
	n := bars.Bins()
	for _, p := range parts {
		for _, v := range b[1:n] {
			g.inner = append(g.inner, p.target.inverse(v))
		}
		g.lo = min(g.lo, p.target.inverse(b[1]-tailScales*bars.lowScale))
		g.hi = max(g.hi, p.target.inverse(b[n-1]+tailScales*bars.highScale))
	}
	slices.Sort(g.inner)
	g.inner = slices.Compact(g.inner)
	g.lo, g.hi = min(g.lo, g.inner[0]), max(g.hi, g.inner[len(g.inner)-1])
	mids := make([]float64, len(g.inner)-1)
	for j := range mids {
		mids[j] = g.inner[j] + (g.inner[j+1]-g.inner[j])/2
	}
	standardise := func(t targetMap, xs []float64) []float64 {
		z := make([]float64, len(xs))
		for i, x := range xs {
			z[i] = t.standardise(x)
		}
		return z
	}
	for _, p := range parts {
		g.zInner = append(g.zInner, standardise(p.target, g.inner))
		g.zMids = append(g.zMids, standardise(p.target, mids))
	}
	d.mix = g
	return d
}

// standardise maps a target x to the model's standardised scale, for the CDF: −∞ below
// and +∞ at or above a transformed map's clamp [lo, hi], where inverse puts all the mass
// beyond it.
func (t targetMap) standardise(x float64) float64 {
	if t.yeoJohnson {
		switch {
		case x < t.lo:
			return math.Inf(-1)
		case x >= t.hi:
			return math.Inf(1)
		}
	}
	return t.forward(x)
}

// mixtureCDFs writes to out the mixture's CDF of row r at the increasing points whose
// standardised values for each part are zs[part], using scratch (len(out)).
func (d *Distribution) mixtureCDFs(r int, zs [][]float64, out, scratch []float64) {
	clear(out)
	for c := range d.parts {
		p := &d.parts[c]
		d.bars.CDFs(p.probs.Row(r), zs[c], scratch)
		for j, v := range scratch {
			out[j] += p.weight * v
		}
	}
}

// cdfs writes to out the CDF of row r at the increasing points xs, in the target's units.
func (d *Distribution) cdfs(r int, xs, out []float64) {
	clear(out)
	z, f := make([]float64, len(xs)), make([]float64, len(xs))
	for c := range d.parts {
		p := &d.parts[c]
		for i, x := range xs {
			z[i] = p.target.standardise(x)
		}
		d.bars.CDFs(p.probs.Row(r), z, f)
		for i, v := range f {
			out[i] += p.weight * v
		}
	}
}

// mixtureScratch is the working space of a mixture's quantile function and CRPS for one
// row.
type mixtureScratch struct {
	fInner, fMids, tmp []float64   // the CDF at the inner borders and midpoints, and a part's share
	cum                [][]float64 // each part's cumulative bin probabilities: cum[c][k] = Σ_{i<k} p_i
}

// quantileScratch returns the working space rowQuantiles needs (nil for a single part).
func (d *Distribution) quantileScratch() *mixtureScratch {
	if d.mix == nil {
		return nil
	}
	m := len(d.mix.inner)
	s := &mixtureScratch{fInner: make([]float64, m), fMids: make([]float64, m), tmp: make([]float64, m)}
	for range d.parts {
		s.cum = append(s.cum, make([]float64, d.bars.Bins()+1))
	}
	return s
}

// prepare fills s for row r: the parts' cumulative bin probabilities, and the mixture's
// CDF at the inner borders and, with mids, at the midpoints between them.
func (d *Distribution) prepare(r int, s *mixtureScratch, mids bool) {
	for c := range d.parts {
		row, cum := d.parts[c].probs.Row(r), s.cum[c]
		cum[0], cum[1] = 0, row[0] // summed as Bars.CDF sums: from p_0
		for k := 1; k < len(row); k++ {
			cum[k+1] = cum[k] + row[k]
		}
	}
	g := d.mix
	d.mixtureCDFs(r, g.zInner, s.fInner, s.tmp)
	if mids {
		k := len(g.inner) - 1 // the midpoints
		d.mixtureCDFs(r, g.zMids, s.fMids[:k], s.tmp[:k])
	}
}

// mixtureCDF is the mixture's CDF of row r at x, with the parts' cumulative sums in s: the
// bin of each part's standardised x by binary search, so O(log Bins).
func (d *Distribution) mixtureCDF(r int, s *mixtureScratch, x float64) float64 {
	n, e := d.bars.Bins(), d.bars.borders
	var f float64
	for c := range d.parts {
		p := &d.parts[c]
		row := p.probs.Row(r)
		z := p.target.standardise(x)
		var v float64
		if z < e[1] || z >= e[n-1] {
			v = d.bars.CDF(row, z) // the tails, in closed form
		} else {
			k := d.bars.Bin(z)
			v = s.cum[c][k] + row[k]*(z-e[k])/(e[k+1]-e[k])
		}
		f += p.weight * v
	}
	return f
}

// mixtureQuantiles writes to out the mixture's quantiles of row r at the increasing levels
// qs. The CDF at the inner borders brackets each level: between two borders the CDF is
// smooth, and regula falsi (the Illinois variant) solves it in a few steps, in one when
// no part is transformed; beyond the outermost borders, in the tails, bisection between
// the parts' own quantiles, which bracket the mixture's, does.
func (d *Distribution) mixtureQuantiles(r int, qs, out []float64, s *mixtureScratch) {
	d.prepare(r, s, false)
	u, fu := d.mix.inner, s.fInner
	m := len(u)
	j := 0
	for i, q := range qs {
		for j < m && fu[j] < q {
			j++
		}
		if j > 0 && j < m {
			out[i] = d.illinois(r, s, q, u[j-1], u[j], fu[j-1]-q, fu[j]-q)
			continue
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range d.parts {
			v := p.target.inverse(d.bars.Quantile(p.probs.Row(r), q))
			lo, hi = min(lo, v), max(hi, v)
		}
		if j == 0 {
			hi = min(hi, u[0])
		} else {
			lo = max(lo, u[m-1])
		}
		for range 200 {
			mid := lo + (hi-lo)/2
			if !(mid > lo && mid < hi) {
				break
			}
			if d.mixtureCDF(r, s, mid) < q {
				lo = mid
			} else {
				hi = mid
			}
		}
		out[i] = hi
	}
}

// illinois finds the x in [a, b] where the mixture's CDF of row r is q, given fa =
// F(a) − q < 0 ≤ fb = F(b) − q and F smooth between them: regula falsi with the Illinois
// modification (Dowell and Jarratt, BIT 1971), which halves the weight of an end kept
// twice so that the bracket shrinks from both sides.
func (d *Distribution) illinois(r int, s *mixtureScratch, q, a, b, fa, fb float64) float64 {
	x := b
	side := 0
	for range 40 {
		x = b - fb*(b-a)/(fb-fa)
		if !(x > a && x < b) {
			x = a + (b-a)/2
			if !(x > a && x < b) {
				return b
			}
		}
		fx := d.mixtureCDF(r, s, x) - q
		switch {
		case math.Abs(fx) <= 1e-13:
			return x
		case fx < 0:
			a, fa = x, fx
			if side == -1 {
				fb /= 2
			}
			side = -1
		default:
			b, fb = x, fx
			if side == 1 {
				fa /= 2
			}
			side = 1
		}
	}
	return x
}

// mixtureCRPS is the CRPS of row r's mixture at the observation y, ∫ (F(x) − 1{x ≥ y})² dx:
// Simpson's rule between consecutive inner borders (exact where F is linear there, as it
// is for an untransformed part; the interval holding y split at y), and 3-point
// Gauss–Legendre on 16 panels over each tail out to the grid's bounds, split at y and at
// the transformed parts' clamps, where F jumps.
func (d *Distribution) mixtureCRPS(r int, y float64, s *mixtureScratch) float64 {
	d.prepare(r, s, true)
	g := d.mix
	u, fu, fm := g.inner, s.fInner, s.fMids
	sq := func(f, x float64) float64 {
		if x >= y {
			f--
		}
		return f * f
	}
	F := func(x float64) float64 { return d.mixtureCDF(r, s, x) }
	simpson := func(a, b, fa, fmid, fb float64) float64 {
		return (b - a) / 6 * (sq(fa, a) + 4*sq(fmid, a+(b-a)/2) + sq(fb, b))
	}
	var total float64
	for j := 0; j+1 < len(u); j++ {
		a, b := u[j], u[j+1]
		if a < y && y < b { // the indicator jumps at y: split there
			fy := F(y)
			ma, mb := a+(y-a)/2, y+(b-y)/2
			total += simpson(a, y, fu[j], F(ma), fy) + simpson(y, b, fy, F(mb), fu[j+1])
			continue
		}
		total += simpson(a, b, fu[j], fm[j], fu[j+1])
	}
	// The tails, with the breakpoints of their integrand.
	tail := func(a, b float64) float64 {
		cuts := []float64{a, b}
		if a < y && y < b {
			cuts = append(cuts, y)
		}
		for _, p := range d.parts {
			if t := p.target; t.yeoJohnson {
				for _, c := range []float64{t.lo, t.hi} {
					if a < c && c < b {
						cuts = append(cuts, c)
					}
				}
			}
		}
		slices.Sort(cuts)
		var v float64
		for i := 0; i+1 < len(cuts); i++ {
			v += gaussLegendre(func(x float64) float64 { return sq(F(x), x) }, cuts[i], cuts[i+1], 16)
		}
		return v
	}
	total += tail(g.lo, u[0]) + tail(u[len(u)-1], g.hi)
	// Beyond the bounds F is 0 (1), and only the indicator's side of y counts.
	return total + max(0, g.lo-y) + max(0, y-g.hi)
}

// gaussLegendre integrates f over [a, b] with 3-point Gauss–Legendre on panels equal panels.
func gaussLegendre(f func(float64) float64, a, b float64, panels int) float64 {
	if !(b > a) {
		return 0
	}
	w := (b - a) / float64(panels)
	var v float64
	for i := range panels {
		c := a + (float64(i)+0.5)*w
		for _, nw := range gaussLegendre3 {
			v += nw[1] * f(c+0.5*w*nw[0])
		}
	}
	return v * w / 2
}
