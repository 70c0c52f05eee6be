package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/metrics"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// Tasks of --task.
const (
	taskClassification = "classification"
	taskRegression     = "regression"
	taskAuto           = "auto"
)

// autoRegressionDistinct is how many distinct numbers a target must exceed for --task auto to
// take it as a regression target: class labels that are numbers (digits 0–9, codes) stay
// classes, a measured quantity with many values is regressed.
const autoRegressionDistinct = 20

// chooseTask decides the task of a training file: --task classification or regression as
// given; auto reads the target column and says what it picked and why.
func (f *tabpfnFlags) chooseTask(cmd *cobra.Command, path, target string) (regression bool, err error) {
	switch f.task {
	case taskClassification:
		return false, nil
	case taskRegression:
		return true, nil
	case taskAuto:
		opts := f.readOptions(target)
		opts.TargetOptional = true
		probe, err := data.Load(path, opts)
		if err != nil {
			return false, err
		}
		numeric, distinct := probe.NumericClasses()
		regression = numeric && distinct > autoRegressionDistinct
		kind, task := "text", taskClassification
		if numeric {
			kind = "numbers"
		}
		if regression {
			task = taskRegression
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "--task auto: target %q of %s holds %s with %d distinct values: %s\n",
			probe.Target, filepath.Base(path), kind, distinct, task)
		return regression, nil
	}
	return false, fmt.Errorf("--task %q: want %s, %s or %s", f.task, taskClassification, taskRegression, taskAuto)
}

// evalTask decides the task of an evaluation: every file's (chooseTask), which must agree.
func (f *tabpfnFlags) evalTask(cmd *cobra.Command, paths []string) (regression bool, err error) {
	if f.task != taskAuto {
		return f.chooseTask(cmd, "", "")
	}
	for i, p := range paths {
		r, err := f.chooseTask(cmd, p, "")
		if err != nil {
			return false, err
		}
		if i > 0 && r != regression {
			return false, fmt.Errorf("--task auto found classification and regression tables among the files: evaluate them separately")
		}
		regression = r
	}
	return regression, nil
}

// loadRegressionModel opens the device and the regression model (--model, or the embedded
// one).
func (f *tabpfnFlags) loadRegressionModel() (*tabpfn.Model, error) {
	dev, err := device.Get(f.devName)
	if err != nil {
		return nil, err
	}
	var m *tabpfn.Model
	if f.modelPath != "" {
		m, err = tabpfn.Load(dev, f.modelPath)
	} else {
		m, err = tabpfn.DefaultRegressionModel(dev)
	}
	if err == nil && !m.Cfg.Regression() {
		m.Release()
		return nil, fmt.Errorf("--model %s is a classifier; regression needs a regression model (kiln tabpfn train --task regression)", f.modelPath)
	}
	return m, err
}

// regressor builds a regressor on m from the flags; the temperature is the regressor's
// default unless --temperature was given.
func (f *tabpfnFlags) regressor(cmd *cobra.Command, m *tabpfn.Model, warn io.Writer) (*tabpfn.Regressor, error) {
	if cmd.Flags().Changed("pairwise") {
		return nil, errors.New("--pairwise is for classification")
	}
	opts := []tabpfn.Option{tabpfn.WithModel(m), tabpfn.WithEnsemble(f.ensemble), tabpfn.WithSeed(f.seed),
		tabpfn.WithMaxRows(f.maxRows), tabpfn.WithLocalContexts(f.localRows), tabpfn.WithMaxFeatures(f.maxFeats), tabpfn.WithWarnings(warn),
		tabpfn.WithProgress(rowProgress(warn, rowProgressInterval)),
		tabpfn.WithTargetTransform(tabpfn.TargetTransform(f.transform)),
		tabpfn.WithFeatureSelection(tabpfn.FeatureSelection(f.featSel)), tabpfn.WithOneHot(f.oneHot)}
	if cmd.Flags().Changed("temperature") {
		opts = append(opts, tabpfn.WithTemperature(f.temp))
	}
	if len(f.variants) > 0 {
		vs, err := f.parseVariants()
		if err != nil {
			return nil, err
		}
		opts = append(opts, tabpfn.WithVariants(vs...))
	}
	return tabpfn.NewRegressor(opts...)
}

// Quantile levels of the interval that predict writes and eval scores.
const intervalLo, intervalHi = 0.05, 0.95

func runPredictRegression(cmd *cobra.Command, fl *tabpfnFlags, trainPath, testPath, target, outPath string) error {
	train, err := data.LoadRegression(trainPath, fl.readOptions(target))
	if err != nil {
		return err
	}
	test, err := data.LoadRegression(testPath, fl.testOptions(train, false))
	if err != nil {
		return err
	}
	m, err := fl.loadRegressionModel()
	if err != nil {
		return err
	}
	defer m.Release()
	reg, err := fl.regressor(cmd, m, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if n := train.Rows() - len(train.Labeled()); n > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d of %d training rows have no target; they are left out\n", n, train.Rows())
	}
	start := time.Now()
	d, _, err := reg.FitPredictTables(train, test)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	var buf bytes.Buffer
	if err := writeRegressionPredictions(&buf, d); err != nil {
		return err
	}
	summary := cmd.OutOrStdout()
	if outPath == "" {
		if _, err := cmd.OutOrStdout().Write(buf.Bytes()); err != nil {
			return err
		}
		summary = cmd.ErrOrStderr()
	} else {
		if err := writeOutputBytes(outPath, buf.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(summary, "wrote %d predictions to %s\n", d.Rows(), outPath)
	}
	members := fmt.Sprintf("%d members", reg.Ensemble())
	if n := reg.LocalContextRows(); n > 0 {
		members = fmt.Sprintf("each test row from its %d nearest training rows", n)
	}
	fmt.Fprintf(summary, "%d training rows, %d test rows, %d features, regression of %q (%s, target transform %s), %.2f s on %s\n",
		len(train.Labeled()), test.Rows(), train.NumFeatures(), train.Target, members, reg.Transform(), elapsed.Seconds(), fl.devName)
	if test.Values == nil {
		return nil
	}
	labeled := test.Labeled()
	if len(labeled) < test.Rows() {
		fmt.Fprintf(summary, "note: %d of %d test rows have no target; they are predicted but left out of the scores\n",
			test.Rows()-len(labeled), test.Rows())
	}
	if len(labeled) == 0 {
		return nil
	}
	s, err := regressionScores(d, test.Values, labeled)
	if err != nil {
		return err
	}
	fmt.Fprintf(summary, "R² %.4f  RMSE %.4g  CRPS %.4g  90%% interval coverage %.3f\n", s.R2, s.RMSE, s.CRPS, s.Coverage90)
	return nil
}

// regressionScoreSet is what predict prints for a test file with targets.
type regressionScoreSet struct {
	R2, RMSE, CRPS, Coverage90 float64
}

// regressionScores scores the rows idx of a distribution against their targets y.
func regressionScores(d *tabpfn.Distribution, y []float64, idx []int) (s regressionScoreSet, err error) {
	mean := d.Mean()
	q, err := d.Quantiles([]float64{intervalLo, intervalHi})
	if err != nil {
		return s, err
	}
	crps, err := d.CRPS(nanToZero(y))
	if err != nil {
		return s, err
	}
	ys, ps := make([]float64, len(idx)), make([]float64, len(idx))
	for k, i := range idx {
		ys[k], ps[k] = y[i], mean[i]
		s.CRPS += crps[i] / float64(len(idx))
		if q.At(i, 0) <= y[i] && y[i] <= q.At(i, 1) {
			s.Coverage90 += 1 / float64(len(idx))
		}
	}
	if s.R2, err = metrics.R2(ys, ps); err != nil {
		return s, err
	}
	s.RMSE, err = metrics.RMSE(ys, ps)
	return s, err
}

// nanToZero returns y with missing values as 0 (their scores are not used).
func nanToZero(y []float64) []float64 {
	out := slices.Clone(y)
	for i, v := range out {
		if v != v {
			out[i] = 0
		}
	}
	return out
}

// writeRegressionPredictions writes, per test row, the mean, the median and the 5% and 95%
// quantiles of its predictive distribution.
func writeRegressionPredictions(w io.Writer, d *tabpfn.Distribution) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"mean", "median", "q05", "q95"}); err != nil {
		return err
	}
	mean, med := d.Mean(), d.Median()
	q, err := d.Quantiles([]float64{intervalLo, intervalHi})
	if err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	for r := range d.Rows() {
		if err := cw.Write([]string{f(mean[r]), f(med[r]), f(q.At(r, 0)), f(q.At(r, 1))}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// evalRegRow is one dataset's line of `kiln tabpfn eval --task regression`.
type evalRegRow struct {
	Dataset     string                             `json:"dataset"`
	Path        string                             `json:"path"`
	Error       string                             `json:"error,omitempty"`
	Result      *metrics.RegressionResult          `json:"result,omitempty"`
	Refs        map[string]metrics.RegressionScore `json:"baselines,omitempty"`
	BelowRF     bool                               `json:"below_rf"`
	BelowRidge  bool                               `json:"below_ridge_by_0.05"`
	Warnings    []string                           `json:"warnings,omitempty"`
	DroppedRows int                                `json:"dropped_rows,omitempty"`
}

// evalRegMean is the mean over the evaluated datasets (RMSE and CRPS are in each dataset's
// units, so only unitless scores are averaged).
type evalRegMean struct {
	Datasets   int                                `json:"datasets"`
	R2         float64                            `json:"r2"`
	Coverage90 float64                            `json:"coverage90"`
	Seconds    float64                            `json:"sec"`
	Refs       map[string]metrics.RegressionScore `json:"baselines,omitempty"` // R² and seconds, over the datasets with references
	RefCount   int                                `json:"baseline_datasets"`
}

type evalRegReport struct {
	Task      string       `json:"task"`
	Device    string       `json:"device"`
	Model     string       `json:"model"`
	Ensemble  int          `json:"ensemble"`
	Transform string       `json:"target_transform"`
	Splits    int          `json:"splits"`
	First     int          `json:"first_split,omitempty"` // seed of the first split (--first-split)
	TrainCap  int          `json:"train_cap"`             // training rows per split at most (the protocol's 1000)
	Rows      []evalRegRow `json:"datasets"`
	Mean      evalRegMean  `json:"mean"`
}

// ridgeMargin is how far below ridge regression's R² kiln may fall before eval marks it.
const ridgeMargin = 0.05

// regWarnCollector hands the regressor's warnings to add after each Fit (a fresh regressor
// serves every split) and passes column kinds on.
type regWarnCollector struct {
	metrics.DistributionRegressor
	reg *tabpfn.Regressor
	add func([]string)
}

func (w *regWarnCollector) Fit(X data.Matrix, y []float64) error {
	err := w.DistributionRegressor.Fit(X, y)
	w.add(w.reg.Warnings())
	return err
}

func (w *regWarnCollector) SetColumns(cols []data.Column) { w.reg.SetColumns(cols) }

func (r *evalRegRow) setError(err error)      { r.Error = err.Error() }
func (r *evalRegRow) setWarnings(ws []string) { r.Warnings = ws }

// runEvalRegression runs `kiln tabpfn eval --task regression` on the datasets at paths.
func runEvalRegression(cmd *cobra.Command, fl *tabpfnFlags, paths []string, baseFile string, splits, firstSplit, trainCap int, asJSON bool) error {
	baselines, err := newBaselineFiles(baseFile, "regression-baselines.json", metrics.LoadRegressionBaselines)
	if err != nil {
		return err
	}
	m, err := fl.loadRegressionModel()
	if err != nil {
		return err
	}
	defer m.Release()
	proto := metrics.DefaultRegressionProtocol()
	proto.Splits, proto.FirstSplit, proto.TrainCap = splits, firstSplit, trainCap
	rows, failed, err := evalDatasets(cmd, paths, evalSteps[evalRegRow, metrics.Regressor, *metrics.RegressionResult]{
		row: func(name, path string) (evalRegRow, error) {
			d, err := baselines.of(path, name)
			return evalRegRow{Dataset: name, Path: path, Refs: d.Models}, err
		},
		load:    data.LoadRegression,
		options: fl.readOptions(""),
		describe: func(_ *evalRegRow, t *data.Table) (string, bool) {
			return fmt.Sprintf("%d rows, %d features, target %q, %d splits...", t.Rows(), t.NumFeatures(), t.Target, splits), true
		},
		evaluate: proto.Evaluate,
		model: func(w *evalWarnings) (metrics.Regressor, error) {
			r, err := fl.regressor(cmd, m, w.out)
			if err != nil {
				return nil, err
			}
			return &regWarnCollector{DistributionRegressor: r.ForProtocol(), reg: r, add: w.add}, nil
		},
		record: func(row *evalRegRow, res *metrics.RegressionResult) string {
			row.Result, row.DroppedRows = res, res.Dropped
			if ridge, ok := row.Refs["ridge"]; ok {
				row.BelowRidge = res.R2 < ridge.R2-ridgeMargin
			}
			if rf, ok := row.Refs["rf"]; ok {
				row.BelowRF = res.R2 < rf.R2
			}
			return fmt.Sprintf("R² %.4f, RMSE %.4g, CRPS %.4g, coverage %.3f", res.R2, res.RMSE, res.CRPS, res.Coverage90)
		},
	})
	if err != nil {
		return err
	}
	rep := evalRegReport{Task: taskRegression, Device: m.Dev.Name(), Model: fl.modelPath, Ensemble: fl.ensemble, Transform: fl.transform,
		Splits: splits, First: firstSplit, TrainCap: trainCap, Rows: rows, Mean: meanOfRegression(rows)}
	if rep.Model == "" {
		rep.Model = "default"
	}
	return writeEvalReport(cmd.OutOrStdout(), rep, asJSON, printEvalRegression, failed, len(paths))
}

func meanOfRegression(rows []evalRegRow) evalRegMean {
	var m evalRegMean
	var refs []map[string]metrics.RegressionScore
	for _, r := range rows {
		if r.Result == nil {
			continue
		}
		m.Datasets++
		m.R2 += r.Result.R2
		m.Coverage90 += r.Result.Coverage90
		m.Seconds += r.Result.Seconds
		if r.Refs != nil {
			refs = append(refs, r.Refs)
		}
	}
	if m.Datasets == 0 {
		return m
	}
	n := float64(m.Datasets)
	m.R2, m.Coverage90, m.Seconds = m.R2/n, m.Coverage90/n, m.Seconds/n
	m.RefCount = len(refs)
	// RMSE is in each dataset's own units, so it is not averaged across datasets.
	m.Refs = meanRefs(refs,
		func(a, b metrics.RegressionScore) metrics.RegressionScore {
			return metrics.RegressionScore{R2: a.R2 + b.R2, Seconds: a.Seconds + b.Seconds}
		},
		func(s metrics.RegressionScore, k float64) metrics.RegressionScore {
			return metrics.RegressionScore{R2: s.R2 / k, Seconds: s.Seconds / k}
		})
	return m
}

func refR2(refs map[string]metrics.RegressionScore, name string) string {
	if s, ok := refs[name]; ok {
		return fmt.Sprintf("%.4f", s.R2)
	}
	return "-"
}

func printEvalRegression(w io.Writer, rep evalRegReport) error {
	members := fmt.Sprintf("%d members", rep.Ensemble)
	if rep.Ensemble == 0 {
		members = fmt.Sprintf("automatic ensemble of 1 to %d members", tabpfn.DefaultEnsemble)
	}
	fmt.Fprintf(w, "TabPFN regression (%s model, %s, target transform %s, %s), %s\n",
		rep.Model, members, rep.Transform, rep.Device, splitsText(rep.Splits, rep.First))
	if p := metrics.DefaultRegressionProtocol().TrainCap; rep.TrainCap != 0 && rep.TrainCap != p {
		fmt.Fprintf(w, "training rows capped at %d per split, not the protocol's %d: the reference scores are not comparable\n", rep.TrainCap, p)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "dataset\trows\tfeat\tR²\tRMSE\tCRPS\tcov90\tsec\tridge R²\trf R²\thgb R²\t")
	for _, r := range rep.Rows {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s%serror: %s\n", r.Dataset, strings.Repeat("\t", 11), firstLine(r.Error))
			continue
		}
		res := r.Result
		var marks []string
		if r.BelowRF {
			marks = append(marks, "<rf")
		}
		if r.BelowRidge {
			marks = append(marks, "<ridge-0.05")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.4f\t%.4g\t%.4g\t%.3f\t%.2f\t%s\t%s\t%s\t%s\n", r.Dataset, res.Rows, res.Features,
			res.R2, res.RMSE, res.CRPS, res.Coverage90, res.Seconds, refR2(r.Refs, "ridge"), refR2(r.Refs, "rf"), refR2(r.Refs, "hgb"),
			strings.Join(marks, " "))
	}
	m := rep.Mean
	if m.Datasets > 0 {
		fmt.Fprintf(tw, "mean (%d)\t\t\t%.4f\t\t\t%.3f\t%.2f\t%s\t%s\t%s\t\n", m.Datasets, m.R2, m.Coverage90, m.Seconds,
			refR2(m.Refs, "ridge"), refR2(m.Refs, "rf"), refR2(m.Refs, "hgb"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m.Datasets > 0 && m.RefCount > 0 && m.RefCount < m.Datasets {
		fmt.Fprintf(w, "\nreference means cover the %d of %d datasets that have reference scores\n", m.RefCount, m.Datasets)
	}
	if m.Datasets > 0 && m.RefCount > 0 {
		fmt.Fprintln(w, "\n<rf: R² below the random forest's; <ridge-0.05: more than 0.05 below ridge regression's; cov90: share of test targets inside the predicted 5%-95% interval")
	}
	return nil
}
