package bench

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// WriteTable prints results as an aligned text table.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tdevice\tkiln\tanchor\tratio\t")
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\terror: %s\t\t\t\n", r.Name, r.Device, r.Error)
			continue
		}
		anchor, ratio := "-", "-"
		if r.AnchorRate > 0 {
			anchor = fmt.Sprintf("%.2f %s", r.AnchorRate, r.Unit)
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f %s\t%s\t%s\t\n", r.Name, r.Device, r.Rate, r.Unit, anchor, ratio)
	}
	return tw.Flush()
}

// WriteMarkdown prints results as a markdown table with a header naming the anchor.
func WriteMarkdown(w io.Writer, rs []Result) {
	fmt.Fprintln(w, "| case | kiln | anchor | ratio (kiln/anchor) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	anchors := map[string]bool{}
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintf(w, "| %s | error: %s | | |\n", r.Name, r.Error)
			continue
		}
		anchor, ratio := "-", "-"
		if r.AnchorRate > 0 {
			anchor = fmt.Sprintf("%.2f %s", r.AnchorRate, r.Unit)
			ratio = fmt.Sprintf("%.2f", r.Ratio)
			anchors[r.Anchor] = true
		}
		fmt.Fprintf(w, "| %s | %.2f %s | %s | %s |\n", r.Name, r.Rate, r.Unit, anchor, ratio)
	}
	for a := range anchors {
		fmt.Fprintf(w, "\nAnchor: %s\n", a)
	}
}

// Plot draws a horizontal bar chart of the ratios to path (PNG or SVG by extension), written
// atomically as every output of kiln: a reader never sees a torn file.
func Plot(path, title string, rs []Result) error {
	return atomicfile.WriteFunc(path, func(w io.Writer) error { return PlotTo(w, PlotFormat(path), title, rs) })
}

// PlotFormat is the image format of path's extension ("png" when it has none).
func PlotFormat(path string) string {
	if f := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), ".")); f != "" {
		return f
	}
	return "png"
}

// PlotTo draws the bar chart of Plot to w in format (png, svg, pdf, ...).
func PlotTo(w io.Writer, format, title string, rs []Result) error {
	var vals plotter.Values
	var names []string
	for _, r := range rs {
		if r.Ratio > 0 {
			vals = append(vals, r.Ratio)
			names = append(names, r.Name)
		}
	}
	if len(vals) == 0 {
		return fmt.Errorf("bench: no ratios to plot (did the anchors run?)")
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "kiln rate / anchor rate (1 = parity)"
	bars, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return err
	}
	bars.Horizontal = true
	p.Add(bars)
	line, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: float64(len(vals)) - 0.5}})
	if err == nil {
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
		p.Add(line)
	}
	p.NominalY(names...)
	height := vg.Length(len(vals))*vg.Points(22) + vg.Points(80)
	wt, err := p.WriterTo(8*vg.Inch, height, format)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	_, err = wt.WriteTo(w)
	return err
}

// Slug makes a file-name-safe string.
func Slug(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}
