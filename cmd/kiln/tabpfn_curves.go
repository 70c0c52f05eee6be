package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/outguard"
	"github.com/kiln-ml/kiln/internal/plotcolor"
)

func init() { tabpfnCmd.AddCommand(newTabpfnCurvesCmd()) }

func newTabpfnCurvesCmd() *cobra.Command {
	var (
		out, title string
		window     int
		median     bool
		offsets    map[string]int
	)
	cmd := &cobra.Command{
		Use:   "curves LOG...",
		Short: "Plot the loss curves of `kiln tabpfn train` logs as PNG",
		Long: `curves reads the progress lines ("step N/M  loss L ...") that kiln tabpfn train writes to
standard error, from one or more log files (a resumed run may append to its log: steps are
read as they come), and plots each log's loss, averaged over a moving window of --window steps,
against the step (--median: the moving median, which a rare outlier batch does not swamp, as
the bar distribution's likelihood of a target far in its tails can). A log is labelled with
its file name, or with LABEL in LABEL=PATH. --offset LABEL=N adds N to that log's steps: a run
started with --init from another run's model counts its steps from 0, and the offset places it
where that model's training ended.`,
		Example: `  kiln tabpfn curves --out curves.png init=init.log scratch=scratch.log frozen=frozen.log
  kiln tabpfn curves --out curves.png --offset continued=2010 first=first.log continued=continued.log`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			all, inputs, err := readCurves(args, offsets)
			if err != nil {
				return err
			}
			if err := checkOutputs(cmd, []outguard.File{outFile("--out", out)}, inputs...); err != nil {
				return err
			}
			p := plot.New()
			p.Title.Text = title
			p.X.Label.Text = "step"
			p.Y.Label.Text = fmt.Sprintf("training loss (%d-step moving average)", window)
			if median {
				p.Y.Label.Text = fmt.Sprintf("training loss (%d-step moving median)", window)
			}
			p.Legend.Top = true
			for i, s := range all {
				smooth := movingWindow(s.loss, window, median)
				first := len(s.loss) - len(smooth)
				pts := make(plotter.XYs, len(smooth))
				for k, v := range smooth {
					pts[k] = plotter.XY{X: float64(s.steps[first+k]), Y: v}
				}
				line, err := plotter.NewLine(pts)
				if err != nil {
					return fmt.Errorf("%s: %w", s.label, err)
				}
				line.Color = plotcolor.Categorical(i)
				line.Width = vg.Points(1.5)
				p.Add(line)
				p.Legend.Add(s.label, line)
			}
			if err := savePlot(p, 8*vg.Inch, 5*vg.Inch, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "the plot (PNG; .svg or .pdf by extension), written atomically")
	f.StringVar(&title, "title", "TabPFN training", "the plot's title")
	flagbound.Int(f, &window, "window", 50, 1, 100_000, "steps of the moving average")
	f.BoolVar(&median, "median", false, "plot the moving median instead of the mean (robust to rare outlier batches)")
	f.StringToIntVar(&offsets, "offset", nil, "LABEL=N: add N to the steps of the log labelled LABEL (a run started with --init counts from 0)")
	return cmd
}

// curveSeries is one training log's loss against the step.
type curveSeries struct {
	label string
	steps []int
	loss  []float64
}

// readCurves reads the logs named by args (PATH or LABEL=PATH) and adds offsets[label] to the
// steps of the logs with that label.
func readCurves(args []string, offsets map[string]int) ([]curveSeries, []outguard.File, error) {
	var all []curveSeries
	var inputs []outguard.File
	for _, a := range args {
		label, path, ok := strings.Cut(a, "=")
		if !ok {
			path, label = a, strings.TrimSuffix(filepath.Base(a), filepath.Ext(a))
		}
		inputs = append(inputs, inFile("LOG", path))
		steps, loss, err := readTrainLog(path)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, curveSeries{label, steps, loss})
	}
	for label, n := range offsets {
		if n < 0 {
			return nil, nil, fmt.Errorf("--offset %s=%d: the offset must not be negative", label, n)
		}
		found := false
		for _, s := range all {
			if s.label != label {
				continue
			}
			found = true
			for k := range s.steps {
				s.steps[k] += n
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("--offset %s=%d: no log is labelled %q", label, n, label)
		}
	}
	return all, inputs, nil
}

// readTrainLog returns the step and loss of every progress line of a training log; a step
// that comes again (a run resumed from an earlier checkpoint) replaces the points from it on.
func readTrainLog(path string) (steps []int, loss []float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[0] != "step" || fields[2] != "loss" {
			continue
		}
		num, _, _ := strings.Cut(fields[1], "/")
		step, err1 := strconv.Atoi(num)
		l, err2 := strconv.ParseFloat(fields[3], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		for len(steps) > 0 && steps[len(steps)-1] >= step {
			steps, loss = steps[:len(steps)-1], loss[:len(loss)-1]
		}
		steps, loss = append(steps, step), append(loss, l)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(steps) == 0 {
		return nil, nil, fmt.Errorf("%s: no training progress lines", path)
	}
	return steps, loss, nil
}

// movingWindow returns the mean (or the median) of each run of window consecutive values of
// v, from the first full window on; a series shorter than the window gives the one value
// over all of it.
func movingWindow(v []float64, window int, median bool) []float64 {
	w := min(window, len(v))
	if w == 0 {
		return nil
	}
	out := make([]float64, 0, len(v)-w+1)
	buf := make([]float64, w)
	sum := 0.0
	for k, x := range v {
		sum += x
		if k >= w {
			sum -= v[k-w]
		}
		if k+1 < w {
			continue
		}
		if !median {
			out = append(out, sum/float64(w))
			continue
		}
		copy(buf, v[k+1-w:k+1])
		slices.Sort(buf)
		m := buf[w/2]
		if w%2 == 0 {
			m = (buf[w/2-1] + buf[w/2]) / 2
		}
		out = append(out, m)
	}
	return out
}
