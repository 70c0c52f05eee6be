package main

import (
	"bufio"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"encoding/json"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/kiln-ml/kiln/models/tabpfn"
)

// readResults reads one JSON result per line; a missing file reads as none.
func readResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rs = append(rs, r)
	}
	return rs, sc.Err()
}

// latest keeps the last measured result of each rows × features cell (a later run of a cell
// replaces an earlier one), and the last skip of cells never measured.
func latest(rs []Result) []Result {
	type key struct{ r, f int }
	m := map[key]Result{}
	var order []key
	for _, r := range rs {
		k := key{r.Rows, r.Features}
		old, seen := m[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || (r.Skipped == "" && r.Partial == "") || old.Skipped != "" || old.Partial != "" {
			m[k] = r
		}
	}
	out := make([]Result, 0, len(order))
	for _, k := range order {
		out = append(out, m[k])
	}
	slices.SortFunc(out, func(a, b Result) int {
		if a.Features != b.Features {
			return a.Features - b.Features
		}
		return a.Rows - b.Rows
	})
	return out
}

func ok(r Result) bool { return r.Error == "" && r.Skipped == "" && r.Partial == "" && r.WallSec > 0 }

func rss(r Result) int64 { return max(r.PeakRSS, r.ChildMaxRSS) }

// exponent fits time ∝ rows^b over the measured cells of one feature count, of CPU time
// (user+system) or of wall time, and returns b (NaN with fewer than two cells).
func exponent(rs []Result, feats int, cpu bool) (b float64, n int) {
	var xs, ys []float64
	for _, r := range rs {
		if ok(r) && r.Features == feats {
			t := r.WallSec
			if cpu {
				t = r.CPUSec
			}
			xs = append(xs, math.Log(float64(r.Rows)))
			ys = append(ys, math.Log(t))
		}
	}
	if len(xs) < 2 {
		return math.NaN(), len(xs)
	}
	_, b = stat.LinearRegression(xs, ys, nil, false)
	return b, len(xs)
}

// plotResults reads DIR/raw.jsonl (and DIR/before.jsonl, if there is one, drawn dashed),
// writes DIR/scale.png and prints a markdown table and the fitted exponents.
func plotResults(dir string) error {
	after, err := readResults(filepath.Join(dir, "raw.jsonl"))
	if err != nil {
		return err
	}
	before, err := readResults(filepath.Join(dir, "before.jsonl"))
	if err != nil {
		return err
	}
	after, before = latest(after), latest(before)
	if len(after) == 0 {
		return fmt.Errorf("%s: no results", filepath.Join(dir, "raw.jsonl"))
	}
	if err := writeTable(os.Stdout, after, before); err != nil {
		return err
	}
	tp, mp := plot.New(), plot.New()
	tp.Title.Text, mp.Title.Text = "fit + predict CPU time (1,000 test rows)", "peak resident memory"
	tp.X.Label.Text, mp.X.Label.Text = "training rows", "training rows"
	tp.Y.Label.Text, mp.Y.Label.Text = "CPU seconds (user + system, 2 cores)", "GB"
	for _, p := range []*plot.Plot{tp, mp} {
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker, p.Y.Tick.Marker = ticks125{}, ticks125{}
		p.Legend.Top, p.Legend.Left = true, true
		p.Add(plotter.NewGrid())
	}
	mp.Legend.Left = false // the memory curves rise to the right, under the top-right corner
	palette := []color.Color{color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff},
		color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}}
	var feats []int
	for _, r := range append(after, before...) {
		if !slices.Contains(feats, r.Features) {
			feats = append(feats, r.Features)
		}
	}
	slices.Sort(feats)
	for i, f := range feats {
		col := palette[i%len(palette)]
		for _, set := range []struct {
			rs     []Result
			label  string
			dashed bool
		}{{after, "", false}, {before, " (before)", true}} {
			var tpts, mpts plotter.XYs
			for _, r := range set.rs {
				if ok(r) && r.Features == f {
					tpts = append(tpts, plotter.XY{X: float64(r.Rows), Y: r.CPUSec})
					mpts = append(mpts, plotter.XY{X: float64(r.Rows), Y: float64(rss(r)) / 1e9})
				}
			}
			if len(tpts) == 0 {
				continue
			}
			for j, pair := range []struct {
				p   *plot.Plot
				pts plotter.XYs
			}{{tp, tpts}, {mp, mpts}} {
				l, s, err := plotter.NewLinePoints(pair.pts)
				if err != nil {
					return err
				}
				l.Color, s.Color = col, col
				if set.dashed {
					l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
					s.Shape = draw.RingGlyph{}
				} else {
					s.Shape = draw.CircleGlyph{}
				}
				pair.p.Add(l, s)
				label := fmt.Sprintf("%d features%s", f, set.label)
				if j == 0 && !set.dashed {
					if b, n := exponent(set.rs, f, true); n >= 2 {
						label += fmt.Sprintf(", ∝ rows^%.2f", b)
					}
				}
				pair.p.Legend.Add(label, l, s)
			}
		}
	}
	const w, h = 12 * vg.Inch, 5 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{tp, mp}}, tiles, dc)
	tp.Draw(canvases[0][0])
	mp.Draw(canvases[0][1])
	f, err := os.Create(filepath.Join(dir, "scale.png"))
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeTable prints the cells as a markdown table, with the estimate of
// tabpfn.EstimateMemory beside the measured peak, and the fitted exponents.
func writeTable(w io.Writer, after, before []Result) error {
	find := func(rs []Result, r, f int) (Result, bool) {
		for _, x := range rs {
			if x.Rows == r && x.Features == f && ok(x) {
				return x, true
			}
		}
		return Result{}, false
	}
	gb := func(b int64) string { return fmt.Sprintf("%.2f", float64(b)/1e9) }
	fmt.Fprintln(w, "| rows × features | wall s | CPU s | peak RSS GB | live tensors GB | estimate GB | before: wall s | before: peak RSS GB |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range after {
		b, hasB := find(before, r.Rows, r.Features)
		bw, bm := "", ""
		if hasB {
			bw, bm = fmt.Sprintf("%.1f", b.WallSec), gb(rss(b))
		}
		if r.Partial != "" {
			est := tabpfn.EstimateMemory(tabpfn.ShippedConfig(), nil, r.Rows, r.Features, r.Test).Total
			fmt.Fprintf(w, "| %d × %d | %s | %.1f (so far) | %s (so far) | %s (so far) | %.2f | %s | %s |\n", r.Rows, r.Features,
				r.Partial, r.CPUSec, gb(rss(r)), gb(r.DevicePeak), est/1e9, bw, bm)
			continue
		}
		if !ok(r) {
			why := r.Skipped
			if why == "" {
				why = "error: " + r.Error
			}
			fmt.Fprintf(w, "| %d × %d | %s | | | | | %s | %s |\n", r.Rows, r.Features, why, bw, bm)
			continue
		}
		est := tabpfn.EstimateMemory(tabpfn.ShippedConfig(), nil, r.ContextRows, r.ContextFeatures, r.Test).Total
		fmt.Fprintf(w, "| %d × %d | %.1f | %.1f | %s | %s | %.2f | %s | %s |\n", r.Rows, r.Features, r.WallSec, r.CPUSec,
			gb(rss(r)), gb(r.DevicePeak), est/1e9, bw, bm)
	}
	fmt.Fprintln(w)
	for _, f := range featureCounts(after) {
		for _, set := range []struct {
			rs   []Result
			name string
		}{{after, ""}, {before, ", before"}} {
			bc, n := exponent(set.rs, f, true)
			bw, _ := exponent(set.rs, f, false)
			if n >= 2 {
				fmt.Fprintf(w, "- %d features%s: CPU time ∝ rows^%.2f, wall time ∝ rows^%.2f (least squares on log–log, %d cells); "+
					"the row attention's cost, rows·(rows+test), ∝ rows^%.2f over the same cells\n",
					f, set.name, bc, bw, n, attentionExponent(set.rs, f))
			}
		}
	}
	return nil
}

// attentionExponent fits rows^b, like exponent, to the row attention's share of the cost of
// each measured cell of feats features: every training and test row attends to every
// training row, rows·(rows+test) per column. A measured exponent at or below it means time
// grows no faster than the attention predicts.
func attentionExponent(rs []Result, feats int) float64 {
	var xs, ys []float64
	for _, r := range rs {
		if ok(r) && r.Features == feats {
			n := float64(r.ContextRows)
			xs = append(xs, math.Log(float64(r.Rows)))
			ys = append(ys, math.Log(n*(n+float64(r.Test))))
		}
	}
	if len(xs) < 2 {
		return math.NaN()
	}
	_, b := stat.LinearRegression(xs, ys, nil, false)
	return b
}

// ticks125 marks 1, 2 and 5 times the powers of ten in an axis's range, for log scales.
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)) - 1; e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo*0.999 && v <= hi*1.001 {
				ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("%g", v)})
			}
		}
	}
	return ts
}

func featureCounts(rs []Result) []int {
	var fs []int
	for _, r := range rs {
		if !slices.Contains(fs, r.Features) {
			fs = append(fs, r.Features)
		}
	}
	slices.Sort(fs)
	return fs
}
