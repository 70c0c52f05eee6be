package scaling

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot size of WritePlot.
const (
	PlotWidth  = 18 * vg.Centimeter
	PlotHeight = 13 * vg.Centimeter
)

// lossGrid is the fitted law over a log-spaced (C, N) grid, for iso-loss contours in the
// space of Hoffmann et al.'s Figure 4 (compute on x, parameters on y).
type lossGrid struct {
	cs, ns []float64
	law    Law
}

func (g lossGrid) Dims() (c, r int)   { return len(g.cs), len(g.ns) }
func (g lossGrid) X(c int) float64    { return g.cs[c] }
func (g lossGrid) Y(r int) float64    { return g.ns[r] }
func (g lossGrid) Z(c, r int) float64 { return g.law.Loss(g.ns[r], g.cs[c]/(6*g.ns[r])) }

func geomspace(lo, hi float64, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo * math.Pow(hi/lo, float64(i)/float64(n-1))
	}
	return v
}

// WritePlot draws the runs, iso-loss contours of law and its compute-optimal frontier
// N_opt(C) in (C, N) space, log–log, and writes a PNG. Runs and contour lines share one
// colour scale so a run's colour says which contour it should sit near.
func WritePlot(w io.Writer, runs []Run, law Law, title string) error {
	if len(runs) == 0 {
		return errors.New("scaling plot: no runs")
	}
	if err := law.Validate(); err != nil {
		return err
	}
	cMin, cMax := math.Inf(1), math.Inf(-1)
	nMin, nMax := math.Inf(1), math.Inf(-1)
	losses := make([]float64, len(runs))
	for i, r := range runs {
		c := 6 * r.N * r.D
		cMin, cMax = min(cMin, c), max(cMax, c)
		nMin, nMax = min(nMin, r.N), max(nMax, r.N)
		losses[i] = r.Loss
	}
	// Pad the ranges by a factor of 2 so that the edge runs are not on the frame.
	cMin, cMax, nMin, nMax = cMin/2, cMax*2, nMin/2, nMax*2

	sort.Float64s(losses)
	lLo, lHi := quantileSorted(losses, 0.02), quantileSorted(losses, 0.98)
	const nLevels = 10
	levels := make([]float64, nLevels)
	for i := range levels {
		levels[i] = lLo + (lHi-lLo)*float64(i)/float64(nLevels-1)
	}
	pal := palette.Rainbow(nLevels, palette.Blue, palette.Red, 1, 1, 1)
	colours := pal.Colors()
	colourOf := func(loss float64) color.Color {
		t := (loss - lLo) / (lHi - lLo)
		i := int(math.Round(t * float64(nLevels-1)))
		return colours[max(0, min(nLevels-1, i))]
	}

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "training compute C (FLOPs)"
	p.Y.Label.Text = "parameters N"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = cMin, cMax, nMin, nMax

	contour := plotter.NewContour(lossGrid{cs: geomspace(cMin, cMax, 120), ns: geomspace(nMin, nMax, 120), law: law}, levels, pal)
	p.Add(contour)

	for _, r := range runs {
		s, err := plotter.NewScatter(plotter.XYs{{X: 6 * r.N * r.D, Y: r.N}})
		if err != nil {
			return err
		}
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		s.GlyphStyle.Radius = vg.Points(2.2)
		s.GlyphStyle.Color = colourOf(r.Loss)
		p.Add(s)
	}

	var frontier plotter.XYs
	for _, c := range geomspace(cMin, cMax, 100) {
		a, err := law.ComputeOptimal(c)
		if err != nil {
			return err
		}
		if a.N >= nMin && a.N <= nMax {
			frontier = append(frontier, plotter.XY{X: c, Y: a.N})
		}
	}
	if len(frontier) > 1 {
		line, err := plotter.NewLine(frontier)
		if err != nil {
			return err
		}
		line.Width = vg.Points(2)
		line.Color = color.Black
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(line)
		p.Legend.Add("compute-optimal N(C)", line)
	}
	key := make([]string, 0, nLevels)
	for _, l := range levels {
		key = append(key, fmt.Sprintf("%.2f", l))
	}
	legendLine := &plotter.Line{LineStyle: draw.LineStyle{Color: colours[nLevels/2], Width: vg.Points(1)}}
	p.Legend.Add("iso-loss, blue→red: "+strings.Join([]string{key[0], key[nLevels-1]}, "→"), legendLine)
	p.Legend.Top, p.Legend.Left = true, true

	wt, err := p.WriterTo(PlotWidth, PlotHeight, "png")
	if err != nil {
		return fmt.Errorf("scaling plot: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("scaling plot: %w", err)
	}
	return nil
}
