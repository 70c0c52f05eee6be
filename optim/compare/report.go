package compare

import (
	"errors"
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kiln-ml/kiln/internal/plotcolor"
)

// WriteText writes the report as `kiln optim compare` prints it: a line describing the data,
// the model and the budget, then one table row per optimizer (failed runs with their error).
func (r *Report) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "%s: %d training rows, %d test rows, %d features, %d classes; MLP %d-%d-%d on %s; %d steps of %d rows, seed %d\n",
		r.Dataset, r.Rows, r.TestRows, r.Features, r.Classes, r.Features, r.Hidden, r.Classes,
		r.Device, r.Steps, r.Batch, r.Seed); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "optimizer\tlr\tfinal train loss\ttest accuracy\twall s\tms/step\t")
	for _, res := range r.Results {
		if res.Error != "" {
			fmt.Fprintf(tw, "%s\t%.3g\tfailed: %s\t\t\t\t\n", res.Optimizer, res.LR, res.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.3g\t%.4f\t%.4f\t%.2f\t%.2f\t\n", res.Optimizer, res.LR, res.FinalLoss, res.TestAccuracy, res.WallSeconds, res.MsPerStep)
	}
	return tw.Flush()
}

// Plot draws each optimizer's minibatch loss (10-step moving average) on a log scale, one
// line per run that produced a curve. It fails when no run did.
func (r *Report) Plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("training loss (10-step moving average), %d-%d-%d MLP", r.Features, r.Hidden, r.Classes)
	p.X.Label.Text = "step"
	p.Y.Label.Text = "cross-entropy"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{}
	p.Legend.Top = true
	drawn := 0
	for i, res := range r.Results {
		pts := movingAverage(res.Curve, 10)
		if res.Error != "" || len(pts) == 0 {
			continue
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = plotcolor.Categorical(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (lr %.3g)", res.Optimizer, res.LR), line)
		drawn++
	}
	if drawn == 0 {
		return nil, errors.New("compare: no optimizer produced a loss curve to plot")
	}
	return p, nil
}

// movingAverage returns the points (step, mean of the last k losses) that a log scale can
// show: positive and finite.
func movingAverage(curve []float64, k int) plotter.XYs {
	pts := make(plotter.XYs, 0, len(curve))
	sum := 0.0
	for s, v := range curve {
		sum += v
		if s >= k {
			sum -= curve[s-k]
		}
		avg := sum / float64(min(s+1, k))
		if avg > 0 && !math.IsInf(avg, 0) {
			pts = append(pts, plotter.XY{X: float64(s + 1), Y: avg})
		}
	}
	return pts
}
