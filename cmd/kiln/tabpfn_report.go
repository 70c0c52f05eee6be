package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kiln-ml/kiln/internal/outguard"
	"github.com/kiln-ml/kiln/internal/plotcolor"
)

func init() { tabpfnCmd.AddCommand(newTabpfnReportCmd()) }

// maxReportBytes bounds an eval report read by `kiln tabpfn report`: the JSON of thousands
// of tables and splits is a few megabytes, so a larger file is not a report.
const maxReportBytes = 64 << 20

func newTabpfnReportCmd() *cobra.Command {
	var plotPath, title string
	cmd := &cobra.Command{
		Use:   "report REPORT.json...",
		Short: "Combine `kiln tabpfn eval --json` reports and compare each table with the forest",
		Long: `report reads the JSON reports of kiln tabpfn eval (classification or regression, all of one
task), combines the splits they hold (a long evaluation is often run a table or a split at a
time: --first-split K --splits 1), and prints a markdown table of each dataset's mean score
over its splits beside the 300-tree random forest's and logistic regression's (regression:
ridge's) reference scores, with the differences, and the means over the datasets that have
references. A split of a dataset that two reports hold is taken from the later one (a rerun
replaces a run). A dataset with fewer splits than the most any dataset has is marked, as
its mean is not comparable with a 5-split reference. Score is ROC AUC, or R² for regression.

--plot writes a chart of each dataset's score less the forest's and less logistic
regression's (ridge's), largest gap to the forest at the bottom (PNG; .svg or .pdf by
extension), written atomically.`,
		Example: `  kiln tabpfn eval ../shared/data/tabular --max-classes 10 --json > eval.json
  kiln tabpfn report eval.json --plot auc-vs-forest.svg
  kiln tabpfn report split0.json split1.json split2.json split3.json split4.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			inputs := make([]outguard.File, len(args))
			for i, a := range args {
				inputs[i] = inFile("REPORT", a)
			}
			var outputs []outguard.File
			if plotPath != "" {
				outputs = append(outputs, outFile("--plot", plotPath))
			}
			if err := checkOutputs(cmd, outputs, inputs...); err != nil {
				return err
			}
			sum, err := readEvalReports(args)
			if err != nil {
				return err
			}
			if err := sum.writeMarkdown(cmd.OutOrStdout()); err != nil {
				return err
			}
			if plotPath == "" {
				return nil
			}
			t := title
			if t == "" {
				t = sum.defaultTitle()
			}
			p, err := sum.plot(t)
			if err != nil {
				return err
			}
			height := vg.Length(len(p.rows))*vg.Points(26) + vg.Points(110)
			if err := savePlot(p.Plot, 8*vg.Inch, height, plotPath); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nwrote %s\n", plotPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&plotPath, "plot", "", "write a chart of each dataset's score less the forest's and the linear model's (PNG; .svg or .pdf by extension)")
	f.StringVar(&title, "title", "", "the chart's title (default: the task, the datasets and the mean gap to the forest)")
	return cmd
}

// reportFile is the part of an eval report that `kiln tabpfn report` reads: both tasks' JSON
// share it, with the score of a split and of a reference named auc or r2.
type reportFile struct {
	Task     string          `json:"task"` // "regression", or absent for classification
	Datasets []reportDataset `json:"datasets"`
}

type reportDataset struct {
	Dataset string `json:"dataset"`
	Skipped string `json:"skipped"`
	Error   string `json:"error"`
	Result  *struct {
		Splits []reportSplit `json:"splits"`
	} `json:"result"`
	Baselines map[string]reportScore `json:"baselines"`
}

type reportSplit struct {
	Seed uint64 `json:"seed"`
	reportScore
}

// reportScore is a split's or a reference's score: auc or r2 by task.
type reportScore struct {
	AUC *float64 `json:"auc"`
	R2  *float64 `json:"r2"`
}

// reportTask names a task's score and reference models.
type reportTask struct {
	name, score, linear, linearName string
}

var (
	classificationReport = reportTask{name: "classification", score: "ROC AUC", linear: "logreg", linearName: "logistic regression"}
	regressionReport     = reportTask{name: "regression", score: "R²", linear: "ridge", linearName: "ridge"}
)

// pick returns the task's score from a split's or a reference's, or false where it has
// none that is finite.
func (t reportTask) pick(s reportScore) (float64, bool) {
	v := s.AUC
	if t == regressionReport {
		v = s.R2
	}
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return 0, false
	}
	return *v, true
}

// reportRow is one dataset of the combined reports.
type reportRow struct {
	dataset string
	note    string // why it has no score (skipped or failed)
	splits  int
	score   float64
	// The forest's and the linear model's reference scores; ok is false where the reports
	// carry none.
	forest, linear     float64
	forestOK, linearOK bool
}

// reportSummary is the combined reports of one task.
type reportSummary struct {
	task reportTask
	rows []reportRow
	// mostSplits is the most splits any dataset has.
	mostSplits int
}

// readEvalReports reads and combines the eval reports at paths.
func readEvalReports(paths []string) (*reportSummary, error) {
	type key struct {
		dataset string
		seed    uint64
	}
	var (
		task     *reportTask
		order    []string
		byName   = map[string]*reportRow{}
		scores   = map[key]float64{}
		seedsOf  = map[string][]uint64{}
		taskFrom string // the first report, whose task the others must share
	)
	for _, path := range paths {
		rep, err := readReportFile(path)
		if err != nil {
			return nil, err
		}
		t := classificationReport
		switch rep.Task {
		case "", "classification":
		case "regression":
			t = regressionReport
		default:
			return nil, fmt.Errorf("%s: unknown task %q", path, rep.Task)
		}
		if task == nil {
			task, taskFrom = &t, path
		} else if *task != t {
			return nil, fmt.Errorf("%s is a %s report and %s a %s one: combine reports of one task", path, t.name, taskFrom, task.name)
		}
		for _, d := range rep.Datasets {
			if d.Dataset == "" {
				return nil, fmt.Errorf("%s: a dataset without a name", path)
			}
			row, seen := byName[d.Dataset]
			if !seen {
				row = &reportRow{dataset: d.Dataset}
				byName[d.Dataset] = row
				order = append(order, d.Dataset)
			}
			if v, ok := t.pick(d.Baselines["rf"]); ok {
				row.forest, row.forestOK = v, true
			}
			if v, ok := t.pick(d.Baselines[t.linear]); ok {
				row.linear, row.linearOK = v, true
			}
			switch {
			case d.Skipped != "":
				row.note = "skipped: " + d.Skipped
				continue
			case d.Error != "":
				row.note = "failed: " + d.Error
				continue
			case d.Result == nil:
				continue
			}
			for _, s := range d.Result.Splits {
				v, ok := t.pick(s.reportScore)
				if !ok {
					return nil, fmt.Errorf("%s: %s, split %d: no finite %s", path, d.Dataset, s.Seed, t.score)
				}
				k := key{d.Dataset, s.Seed}
				if _, dup := scores[k]; !dup {
					seedsOf[d.Dataset] = append(seedsOf[d.Dataset], s.Seed)
				}
				scores[k] = v
			}
		}
	}
	if len(order) == 0 {
		return nil, errors.New("the reports hold no datasets")
	}
	sum := &reportSummary{task: *task}
	for _, name := range order {
		row := byName[name]
		seeds := seedsOf[name]
		if len(seeds) == 0 && row.note == "" {
			row.note = "no splits"
		}
		for _, s := range seeds {
			row.score += scores[key{name, s}]
		}
		if row.splits = len(seeds); row.splits > 0 {
			row.score /= float64(row.splits)
		}
		sum.mostSplits = max(sum.mostSplits, row.splits)
		sum.rows = append(sum.rows, *row)
	}
	return sum, nil
}

// readReportFile reads one eval report, refusing a file too large to be one.
func readReportFile(path string) (*reportFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxReportBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB, not an eval report", path, maxReportBytes>>20)
	}
	var rep reportFile
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("%s: not a kiln tabpfn eval --json report: %w", path, err)
	}
	return &rep, nil
}

// scored returns the rows with a score and both references, the ones the means and the chart
// compare.
func (s *reportSummary) scored() []reportRow {
	var out []reportRow
	for _, r := range s.rows {
		if r.splits > 0 && r.forestOK && r.linearOK {
			out = append(out, r)
		}
	}
	return out
}

// means returns the mean score, forest and linear model over the rows compared.
func (s *reportSummary) means() (n int, score, forest, linear float64) {
	rows := s.scored()
	for _, r := range rows {
		score += r.score
		forest += r.forest
		linear += r.linear
	}
	if n = len(rows); n > 0 {
		score, forest, linear = score/float64(n), forest/float64(n), linear/float64(n)
	}
	return n, score, forest, linear
}

// writeMarkdown prints the combined table and its means.
func (s *reportSummary) writeMarkdown(w io.Writer) error {
	t := s.task
	var b strings.Builder
	fmt.Fprintf(&b, "| dataset | splits | kiln %s | forest | kiln − forest | %s | kiln − %s |\n", t.score, t.linearName, t.linearName)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	ref := func(v float64, ok bool) string {
		if !ok {
			return ""
		}
		return fmt.Sprintf("%.4f", v)
	}
	diff := func(a, v float64, ok bool) string {
		if !ok {
			return ""
		}
		return fmt.Sprintf("%+.4f", a-v)
	}
	for _, r := range s.rows {
		if r.splits == 0 {
			fmt.Fprintf(&b, "| %s | 0 | %s | %s | | %s | |\n", r.dataset, r.note, ref(r.forest, r.forestOK), ref(r.linear, r.linearOK))
			continue
		}
		splits := fmt.Sprint(r.splits)
		if r.splits < s.mostSplits {
			splits += " (of " + fmt.Sprint(s.mostSplits) + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %.4f | %s | %s | %s | %s |\n", r.dataset, splits, r.score,
			ref(r.forest, r.forestOK), diff(r.score, r.forest, r.forestOK), ref(r.linear, r.linearOK), diff(r.score, r.linear, r.linearOK))
	}
	if n, score, forest, linear := s.means(); n > 0 {
		fmt.Fprintf(&b, "| **mean of %d** | | **%.5f** | %.5f | **%+.5f** | %.5f | %+.5f |\n", n, score, forest, score-forest, linear, score-linear)
	}
	if n := len(s.rows) - len(s.scored()); n > 0 {
		fmt.Fprintf(&b, "\n%d of %d datasets lack a score or a reference and are not in the mean.\n", n, len(s.rows))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// defaultTitle names the task, the datasets compared and the mean gap to the forest.
func (s *reportSummary) defaultTitle() string {
	n, score, forest, _ := s.means()
	return fmt.Sprintf("kiln TabPFN %s, %d datasets: mean %s %.5f, forest %.5f (%+.5f)", s.task.name, n, s.task.score, score, forest, score-forest)
}

// reportPlot is the chart of a summary and the rows it shows, bottom first.
type reportPlot struct {
	*plot.Plot
	rows []reportRow
}

// plot charts each compared dataset's score less the forest's and less the linear model's as
// horizontal bars, the dataset furthest below the forest at the bottom, with a line at 0.
func (s *reportSummary) plot(title string) (*reportPlot, error) {
	rows := s.scored()
	if len(rows) == 0 {
		return nil, errors.New("no dataset has both a score and the forest's and the linear model's references to plot")
	}
	slices.SortStableFunc(rows, func(a, b reportRow) int {
		return cmp.Compare(a.score-a.forest, b.score-b.forest)
	})
	vsForest, vsLinear := make(plotter.Values, len(rows)), make(plotter.Values, len(rows))
	names := make([]string, len(rows))
	for i, r := range rows {
		vsForest[i], vsLinear[i] = r.score-r.forest, r.score-r.linear
		names[i] = r.dataset
		if r.splits < s.mostSplits {
			names[i] += fmt.Sprintf(" (%d of %d splits)", r.splits, s.mostSplits)
		}
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = fmt.Sprintf("kiln %s less the reference's (0 = level)", s.task.score)
	p.Legend.Top = true
	width := vg.Points(9)
	for i, series := range []struct {
		label  string
		values plotter.Values
	}{{"less the 300-tree random forest", vsForest}, {"less " + s.task.linearName, vsLinear}} {
		bars, err := plotter.NewBarChart(series.values, width)
		if err != nil {
			return nil, err
		}
		bars.Horizontal = true
		bars.Color = plotcolor.Categorical(i)
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(1-2*i) * width / 2
		p.Add(bars)
		p.Legend.Add(series.label, bars)
	}
	zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: -0.5}, {X: 0, Y: float64(len(rows)) - 0.5}})
	if err != nil {
		return nil, err
	}
	zero.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	p.Add(zero)
	p.NominalY(names...)
	p.Y.Max = float64(len(rows)) + 0.6 // room for the legend above the top dataset
	return &reportPlot{p, rows}, nil
}
