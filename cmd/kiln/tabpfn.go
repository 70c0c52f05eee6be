package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/csvio"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/examples/wine"
	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/outguard"
	"github.com/kiln-ml/kiln/metrics"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// tabpfnCmd is the parent of every `kiln tabpfn` subcommand. It is initialised at package
// level (before any init function runs) so that subcommands in other files, such as
// tabpfn_train.go, can attach themselves from their own init regardless of file order.
var tabpfnCmd = &cobra.Command{
	Use:   "tabpfn",
	Short: "Classify and regress small tables with TabPFN: predict, evaluate, train",
	Long: `TabPFN is a transformer trained once on synthetic datasets that classifies a new small table in
one forward pass, its training rows serving as context: no gradient steps, no hyper-parameters
(Hollmann et al. 2023). kiln ships a small model that runs on a laptop CPU.`,
	Example: `  kiln tabpfn predict --demo
  kiln tabpfn predict --train train.csv --test test.csv --out preds.csv
  kiln tabpfn eval ../shared/data/tabular`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
}

func init() {
	tabpfnCmd.AddCommand(newTabpfnPredictCmd(), newTabpfnEvalCmd())
	addCommand(tabpfnCmd)
}

// tabpfnFlags are the flags predict and eval share.
type tabpfnFlags struct {
	devName   string
	modelPath string
	ensemble  int
	pairwise  int
	seed      uint64
	maxRows   int
	localRows int
	maxFeats  int
	temp      float64
	variants  []string
	task      string
	transform string
	featSel   string
	oneHot    int
	// categorical and missing are how the tables are read (data.Options).
	categorical []string
	missing     []string
}

func (f *tabpfnFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.devName, "device", "cpu", `device to run on ("cpu", "cuda", "cuda:1")`)
	cmd.Flags().StringVar(&f.modelPath, "model", "", "model checkpoint (default: the model embedded in kiln)")
	fs := cmd.Flags()
	flagbound.Int(fs, &f.ensemble, "ensemble", 0, 0, maxEnsemble, "ensemble members (forward passes) per prediction; 0 chooses by table size and classes (1 to 4; see tabpfn.AutoEnsemble)")
	flagbound.Int(fs, &f.pairwise, "pairwise", -1, -1, maxEnsemble, "members per pair of classes for 3 or more classes (one binary table per pair, coupled; above 10 classes only each row's candidate classes; see tabpfn.WithPairwise); 0: off; -1 chooses by table size (see tabpfn.AutoPairwise)")
	flagbound.Seed(fs, &f.seed, "seed", 0, "seed of the ensemble's random choices")
	// Per-member limits: the classifier's defaults take every row and feature up to the
	// largest context it accepts; lower ones are faster.
	flagbound.Int(fs, &f.maxRows, "max-rows", 0, 0, tabpfn.MaxContextRows, "most training rows per member (a stratified subsample each beyond it); 0: the default, "+strconv.Itoa(tabpfn.MaxContextRows)+" (the embedded model was trained on up to 1024: above that it extrapolates, and time grows with the square of the rows)")
	flagbound.Int(fs, &f.localRows, "local-context", -1, -1, tabpfn.MaxContextRows, "a training set of more rows than the model was trained on predicts each test row from a context of its own, this many training rows nearest it; 0: none, every member's context is the whole training set (up to --max-rows); -1: "+strconv.Itoa(tabpfn.DefaultLocalRows)+" (regression: "+strconv.Itoa(tabpfn.DefaultLocalRows)+", "+strconv.Itoa(4*tabpfn.DefaultLocalRows)+" or all rows, whichever predicts held-out training rows best), and a smaller training set of "+strconv.Itoa(2*tabpfn.DefaultLocalRows)+" rows or more (classification: "+strconv.Itoa(4*tabpfn.DefaultLocalRows)+") makes that choice, and from "+strconv.Itoa(tabpfn.DefaultLocalRows)+" rows contexts of "+strconv.Itoa(tabpfn.DefaultLocalRows/4)+" or "+strconv.Itoa(tabpfn.DefaultLocalRows/2)+" rows and one context, chosen (regression: each local size alone or averaged with one context) or weighed into a mixture (classification) by cross-validation, unless --max-rows asks for larger whole contexts")
	flagbound.Int(fs, &f.maxFeats, "max-features", 0, 0, tabpfn.MaxContextFeatures, "most features per member (a subset each beyond it, chosen as --feature-selection says); 0: the default, the widest tables the model was trained on where it records them (both embedded models: 64), else "+strconv.Itoa(tabpfn.MaxContextFeatures))
	cmd.Flags().StringVar(&f.featSel, "feature-selection", string(tabpfn.DefaultFeatureSelection), `how members choose their features beyond --max-features: "random", "relevance" (drawn with weights growing with each column's relevance to the target on the training rows) or "mrmr" (relevance-weighted draws that avoid columns correlated with those already drawn)`)
	flagbound.Int(fs, &f.oneHot, "one-hot", tabpfn.DefaultOneHotLevels, 0, tabpfn.MaxContextFeatures, "every other member presents a categorical column of 3 to this many categories as one indicator column per category, and one of more as its category's mean target (regression and two classes; else its code, which the other members show beside that mean), and adds the mean target of a numeric column that keys groups of rows (repeated values that determine another column); in regression the other members show every mean target too, beside the code of every column of 3 or more categories and beside the key; 0: every column as its code or number in every member")
	cmd.Flags().StringSliceVar(&f.categorical, "categorical", nil, "feature columns to read as categories, comma-separated: numbers that are codes (ZIP codes, a count of legs), or a column of mostly numbers with some text, which is otherwise an error")
	cmd.Flags().StringSliceVar(&f.missing, "missing", nil, "cell values to read as missing besides "+csvio.QuoteList(data.DefaultMissing, len(data.DefaultMissing))+", comma-separated (such as \".\" or \"-99\")")
	flagbound.Float(fs, &f.temp, "temperature", tabpfn.DefaultTemperature, flagbound.LeftOpen(0, 100), "softmax temperature of the model's logits")
	cmd.Flags().StringSliceVar(&f.variants, "variants", nil, "preprocessing variants the members cycle through, comma-separated (default "+
		variantNames(tabpfn.DefaultVariants())+"; a -pca variant rotates the numeric columns onto their principal axes)")
	cmd.Flags().StringVar(&f.task, "task", taskClassification, `"classification", "regression" (a numeric target; predictive distributions) or "auto" (regression for a numeric target with more than `+
		fmt.Sprint(autoRegressionDistinct)+" distinct values, which it says)")
	cmd.Flags().StringVar(&f.transform, "target-transform", string(tabpfn.DefaultTargetTransform), `regression: the target's transform before standardising, "none", "yeo-johnson", "auto" (Yeo-Johnson for a skewed target) or "mixed" (members alternate between none and Yeo-Johnson; their distributions mixed)`)
}

// readOptions are the options of a training table (or of each table eval scores) whose
// target column is target ("" for the last).
func (f *tabpfnFlags) readOptions(target string) data.Options {
	return data.Options{Target: target, Categorical: f.categorical, Missing: f.missingValues()}
}

// testOptions are the options of a table read with train's columns; targetOptional as
// data.Options.TargetOptional.
func (f *tabpfnFlags) testOptions(train *data.Table, targetOptional bool) data.Options {
	return data.Options{Schema: train, TargetOptional: targetOptional, Missing: f.missingValues()}
}

// missingValues are the missing-value markers: the defaults and --missing's.
func (f *tabpfnFlags) missingValues() []string {
	if len(f.missing) == 0 {
		return nil // data.DefaultMissing
	}
	return append(slices.Clone(data.DefaultMissing), f.missing...)
}

func variantNames(vs []preprocess.Variant) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.String()
	}
	return strings.Join(names, ",")
}

// load opens the device and the model once; classifiers share it.
func (f *tabpfnFlags) load() (*tabpfn.Model, error) {
	dev, err := device.Get(f.devName)
	if err != nil {
		return nil, err
	}
	if f.modelPath != "" {
		return tabpfn.Load(dev, f.modelPath)
	}
	return tabpfn.DefaultModel(dev)
}

func (f *tabpfnFlags) classifier(m *tabpfn.Model, warn io.Writer) (*tabpfn.Classifier, error) {
	opts := []tabpfn.Option{tabpfn.WithModel(m), tabpfn.WithEnsemble(f.ensemble), tabpfn.WithSeed(f.seed),
		tabpfn.WithMaxRows(f.maxRows), tabpfn.WithLocalContexts(f.localRows), tabpfn.WithMaxFeatures(f.maxFeats), tabpfn.WithTemperature(f.temp),
		tabpfn.WithWarnings(warn), tabpfn.WithFeatureSelection(tabpfn.FeatureSelection(f.featSel)),
		tabpfn.WithOneHot(f.oneHot), tabpfn.WithProgress(rowProgress(warn, rowProgressInterval))}
	if f.pairwise >= 0 { // -1 (automatic) is the classifier's default; --pairwise's range excludes less
		opts = append(opts, tabpfn.WithPairwise(f.pairwise))
	}
	if len(f.variants) > 0 {
		vs, err := f.parseVariants()
		if err != nil {
			return nil, err
		}
		opts = append(opts, tabpfn.WithVariants(vs...))
	}
	return tabpfn.NewClassifier(opts...)
}

// rowProgressInterval is how often a prediction of rows one by one reports its progress.
const rowProgressInterval = 15 * time.Second

// rowProgress returns a tabpfn.WithProgress callback that writes to w how many of a
// prediction's rows are done and when the rest should be: at most once every interval,
// and once more at the end of a prediction it has spoken of. A call with done = 1 starts a
// new prediction.
func rowProgress(w io.Writer, interval time.Duration) func(done, total int) {
	var start, last time.Time
	spoke := false
	return func(done, total int) {
		now := time.Now()
		if done == 1 {
			start, last, spoke = now, now, false
		}
		if now.Sub(last) < interval && (done < total || !spoke) {
			return
		}
		last, spoke = now, true
		eta := time.Duration(float64(now.Sub(start)) / float64(done) * float64(total-done))
		fmt.Fprintf(w, "tabpfn: %d of %d rows predicted from their local contexts (%.0f%%), ETA %s\n",
			done, total, 100*float64(done)/float64(total), eta.Round(time.Second))
	}
}

// parseVariants reads --variants. eval builds one classifier before its first dataset, so a
// misspelt name fails at once.
func (f *tabpfnFlags) parseVariants() ([]preprocess.Variant, error) {
	var vs []preprocess.Variant
	for _, name := range f.variants {
		v, err := preprocess.ParseVariant(strings.TrimSpace(name))
		if err != nil {
			return nil, fmt.Errorf("--variants: %w", err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// onceWriter passes each distinct line through once (the same warning from every split of
// an evaluation is printed once).
type onceWriter struct {
	mu   sync.Mutex
	w    io.Writer
	seen map[string]bool
}

func (o *onceWriter) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[string]bool{}
	}
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" || o.seen[line] {
			continue
		}
		o.seen[line] = true
		if _, err := io.WriteString(o.w, line); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func newTabpfnPredictCmd() *cobra.Command {
	var (
		fl                    tabpfnFlags
		trainPath, testPath   string
		target, outPath       string
		demo                  bool
		demoRows, demoDecimal = 5, 3
	)
	cmd := &cobra.Command{
		Use:   "predict",
		Short: "Predict class probabilities for a test table from a training table (CSV or Parquet)",
		Long: `predict reads a training table (CSV with a header row, or Parquet: feature columns and a class
column) and a test table with the same feature columns, fits TabPFN on the training rows (no gradient steps: they become
the model's context) and writes, for every test row, one probability column per class and the
predicted class. The test file may lack the class column; when it has it, the accuracy, ROC AUC
and log loss of the rows with a label are printed too (rows with a missing label are predicted
and left out of the scores, with a note). Without --out the predictions go to standard output as
CSV and the scores to standard error.

--task regression (or auto, for a numeric target with more than 20 distinct values) regresses a
numeric target with the regression model instead: training rows without a target are left out
with a warning, and every test row gets the mean, the median and the 5% and 95% quantiles of its
predictive distribution (columns mean, median, q05, q95); when the test file has the target,
R², RMSE, CRPS and the coverage of the 5%-95% interval are printed too.

--demo needs no files: it splits the wine data carried in the binary (178 wines, 13 measurements,
3 cultivars) into stratified halves with a fixed seed, predicts the held-out half and prints its
accuracy, ROC AUC and a few predictions.`,
		Example: `  kiln tabpfn predict --demo
  kiln tabpfn predict --train train.csv --test test.csv --target species --out preds.csv
  kiln tabpfn predict --train train.csv --test new.csv --device cuda --ensemble 8 > preds.csv
  kiln tabpfn predict --task regression --train houses.csv --test new.csv --target price --out p.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if demo {
				if fl.task != taskClassification {
					return errors.New("--demo classifies the embedded wine data: drop --task")
				}
				if trainPath != "" || testPath != "" || target != "" {
					return errors.New("--demo uses the embedded wine data: drop --train, --test and --target")
				}
				if err := checkOutputs(cmd, []outguard.File{outFile("--out", outPath)}, inFile("--model", fl.modelPath)); err != nil {
					return err
				}
				return runPredictDemo(cmd, &fl, outPath, demoRows, demoDecimal)
			}
			if trainPath == "" || testPath == "" {
				return errors.New("give --train and --test CSV or Parquet files (or --demo)")
			}
			if err := checkOutputs(cmd, []outguard.File{outFile("--out", outPath)},
				inFile("--train", trainPath), inFile("--test", testPath), inFile("--model", fl.modelPath)); err != nil {
				return err
			}
			regression, err := fl.chooseTask(cmd, trainPath, target)
			if err != nil {
				return err
			}
			if regression {
				return runPredictRegression(cmd, &fl, trainPath, testPath, target, outPath)
			}
			train, err := data.Load(trainPath, fl.readOptions(target))
			if err != nil {
				return err
			}
			test, err := data.Load(testPath, fl.testOptions(train, true))
			if err != nil {
				return err
			}
			return runPredict(cmd, &fl, train, test, outPath)
		},
	}
	fl.add(cmd)
	f := cmd.Flags()
	f.StringVar(&trainPath, "train", "", "training data, CSV with a header row or Parquet (.parquet, .pq), with a class column")
	f.StringVar(&testPath, "test", "", "test data, CSV or Parquet, with the same feature columns (the class column is optional)")
	f.StringVar(&target, "target", "", "name of the class column (default: the last column)")
	f.StringVar(&outPath, "out", "", "write the predictions CSV here instead of standard output (atomically; never over an input)")
	f.BoolVar(&demo, "demo", false, "run on the wine data embedded in kiln (no files needed)")
	return cmd
}

// fitPredict loads the model, fits on train and returns the test probabilities.
func fitPredict(cmd *cobra.Command, fl *tabpfnFlags, train, test *data.Table) (data.Matrix, error) {
	m, err := fl.load()
	if err != nil {
		return data.Matrix{}, err
	}
	defer m.Release()
	clf, err := fl.classifier(m, cmd.ErrOrStderr())
	if err != nil {
		return data.Matrix{}, err
	}
	return clf.FitPredictTables(train, test)
}

// scores returns accuracy, ROC AUC and log loss of labelled rows.
type scoreSet struct {
	Accuracy float64 `json:"acc"`
	AUC      float64 `json:"auc"`
	LogLoss  float64 `json:"logloss"`
}

func score(y []int, p data.Matrix) (s scoreSet, err error) {
	if s.Accuracy, err = metrics.Accuracy(y, p); err != nil {
		return s, err
	}
	if s.AUC, err = metrics.ROCAUC(y, p); err != nil {
		return s, err
	}
	s.LogLoss, err = metrics.LogLoss(y, p)
	return s, err
}

func runPredict(cmd *cobra.Command, fl *tabpfnFlags, train, test *data.Table, outPath string) error {
	start := time.Now()
	p, err := fitPredict(cmd, fl, train, test)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	var buf bytes.Buffer
	if err := writePredictions(&buf, train.Classes, p); err != nil {
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
		fmt.Fprintf(summary, "wrote %d predictions to %s\n", p.Rows, outPath)
	}
	fmt.Fprintf(summary, "%d training rows, %d test rows, %d features, %d classes, %.2f s on %s\n",
		train.Rows(), test.Rows(), train.NumFeatures(), train.NumClasses(), elapsed.Seconds(), fl.devName)
	if test.Y == nil {
		return nil
	}
	// Rows whose label is missing are predicted like the others but cannot be scored.
	labeled := test.Labeled()
	if len(labeled) < test.Rows() {
		fmt.Fprintf(summary, "note: %d of %d test rows have no label; they are predicted but left out of the scores\n",
			test.Rows()-len(labeled), test.Rows())
	}
	if len(labeled) == 0 {
		return nil
	}
	y, pl := test.Y, p
	if len(labeled) < test.Rows() {
		y, pl = test.Subset(labeled).Y, p.SelectRows(labeled)
	}
	s, err := score(y, pl)
	if err != nil {
		return err
	}
	fmt.Fprintf(summary, "accuracy %.4f  ROC AUC %.4f  log loss %.4f\n", s.Accuracy, s.AUC, s.LogLoss)
	return nil
}

// writePredictions writes one probability column per class ("p_<class>") and the predicted
// class name.
func writePredictions(w io.Writer, classes []string, p data.Matrix) error {
	cw := csv.NewWriter(w)
	header := make([]string, 0, len(classes)+1)
	for _, c := range classes {
		header = append(header, "p_"+c)
	}
	header = append(header, "predicted")
	if err := cw.Write(header); err != nil {
		return err
	}
	pred := metrics.Argmax(p)
	rec := make([]string, len(header))
	for r := 0; r < p.Rows; r++ {
		for c, v := range p.Row(r) {
			rec[c] = strconv.FormatFloat(v, 'g', 6, 64)
		}
		rec[len(classes)] = classes[pred[r]]
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// demoSeed fixes the demo's split, so that its numbers are the same on every machine.
const demoSeed = 0

func runPredictDemo(cmd *cobra.Command, fl *tabpfnFlags, outPath string, rows, decimals int) error {
	t, err := data.ReadCSV(bytes.NewReader(wine.CSV), data.Options{})
	if err != nil {
		return fmt.Errorf("embedded wine data: %w", err)
	}
	trainIdx, testIdx, err := data.StratifiedSplit(t.Y, t.NumClasses(), 0.5, demoSeed)
	if err != nil {
		return err
	}
	train, test := t.Subset(trainIdx), t.Subset(testIdx)
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "wine (embedded): %d wines, %d measurements, %d cultivars; stratified 50/50 split (seed %d)\n",
		t.Rows(), t.NumFeatures(), t.NumClasses(), demoSeed)
	members := fl.ensemble
	if members == 0 {
		members = tabpfn.AutoEnsemble(train.Rows(), train.NumFeatures(), train.NumClasses())
	}
	perPair := fl.pairwise
	if perPair < 0 {
		perPair = tabpfn.AutoPairwise(train.Rows(), train.NumFeatures(), train.NumClasses())
	}
	scheme := fmt.Sprintf("%d ensemble members", members)
	if k := train.NumClasses(); perPair > 0 && k >= 3 {
		scheme += fmt.Sprintf(" and %d per pair of cultivars (%d pairs)", perPair, k*(k-1)/2)
	}
	fmt.Fprintf(out, "fitting on %d wines, predicting %d held-out wines with %s on %s...\n",
		train.Rows(), test.Rows(), scheme, fl.devName)
	start := time.Now()
	p, err := fitPredict(cmd, fl, train, test)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	s, err := score(test.Y, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "held-out accuracy %.4f  ROC AUC %.4f  log loss %.4f  (%.2f s)\n\n", s.Accuracy, s.AUC, s.LogLoss, elapsed.Seconds())
	pred := metrics.Argmax(p)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "wine\ttrue\tpredicted")
	for _, c := range t.Classes {
		fmt.Fprintf(tw, "\tp(%s)", c)
	}
	fmt.Fprintln(tw)
	for i := 0; i < min(rows, test.Rows()); i++ {
		// Spread the examples over the held-out rows (which are sorted by class).
		r := i * test.Rows() / min(rows, test.Rows())
		fmt.Fprintf(tw, "%d\t%s\t%s", testIdx[r]+1, t.Classes[test.Y[r]], t.Classes[pred[r]])
		for _, v := range p.Row(r) {
			fmt.Fprintf(tw, "\t%.*f", decimals, v)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if outPath != "" {
		var buf bytes.Buffer
		if err := writePredictions(&buf, t.Classes, p); err != nil {
			return err
		}
		if err := writeOutputBytes(outPath, buf.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %d predictions to %s\n", p.Rows, outPath)
	}
	return nil
}

// evalRow is one dataset's line of `kiln tabpfn eval`.
type evalRow struct {
	Dataset  string                   `json:"dataset"`
	Path     string                   `json:"path"`
	Skipped  string                   `json:"skipped,omitempty"`
	Error    string                   `json:"error,omitempty"`
	Result   *metrics.Result          `json:"result,omitempty"`
	Refs     map[string]metrics.Score `json:"baselines,omitempty"`
	BelowRF  bool                     `json:"below_rf"`
	BelowLR  bool                     `json:"below_logreg_by_0.02"`
	Warnings []string                 `json:"warnings,omitempty"`
}

func (r *evalRow) setError(err error)      { r.Error = err.Error() }
func (r *evalRow) setWarnings(ws []string) { r.Warnings = ws }

// evalMean is the mean over the evaluated datasets.
type evalMean struct {
	Datasets int                      `json:"datasets"`
	AUC      float64                  `json:"auc"`
	Accuracy float64                  `json:"acc"`
	LogLoss  float64                  `json:"logloss"`
	Seconds  float64                  `json:"sec"`
	Refs     map[string]metrics.Score `json:"baselines,omitempty"` // over the datasets with references
	RefCount int                      `json:"baseline_datasets"`
}

type evalReport struct {
	Device   string    `json:"device"`
	Model    string    `json:"model"`
	Ensemble int       `json:"ensemble"`
	Pairwise int       `json:"pairwise"` // members per pair; -1: automatic
	Splits   int       `json:"splits"`
	First    int       `json:"first_split,omitempty"` // seed of the first split (--first-split)
	TrainCap int       `json:"train_cap"`             // training rows per split at most (the protocol's 1000)
	Rows     []evalRow `json:"datasets"`
	Mean     evalMean  `json:"mean"`
}

// splitsText describes the protocol splits a report ran: n, from seed first.
func splitsText(n, first int) string {
	if first == 0 {
		return fmt.Sprintf("%d splits per dataset", n)
	}
	return fmt.Sprintf("%d splits per dataset (seeds %d to %d)", n, first, first+n-1)
}

// lrMargin is how far below logistic regression's AUC kiln may fall before eval marks it.
const lrMargin = 0.02

func newTabpfnEvalCmd() *cobra.Command {
	var (
		fl         tabpfnFlags
		asJSON     bool
		maxClasses int
		splits     int
		firstSplit int
		trainCap   int
		baseFile   string
	)
	cmd := &cobra.Command{
		Use:   "eval PATH...",
		Short: "Score TabPFN with the evaluation protocol on CSV or Parquet datasets, beside reference models",
		Long: `eval runs the evaluation protocol of shared/data/README.md (metrics.Evaluate: classes with fewer
than 4 rows dropped, 5 stratified 50/50 splits with seeds 0..4, at most 1000 training and 2000
test rows) on every CSV or Parquet file given (a folder means all its .csv, .parquet and .pq
files; the class is the last column)
and prints the mean ROC AUC, accuracy, log loss and seconds (fit plus predict) per dataset,
beside the scikit-learn reference scores of tabular-baselines.json (looked up as
<dataset folder>/../tabular-baselines.json unless --baselines names the file), and the mean
over datasets. A dataset is marked "<rf" where kiln's AUC is below the random forest's and
"<lr-0.02" where it is more than 0.02 below logistic regression's.

Datasets with more classes than the model's outputs are handled by error-correcting output
codes refined by the pairs of each row's candidate classes; --max-classes N skips datasets
with more than N classes instead (0: skip none). A training cap above the rows the model
was trained on (--train-cap 10000) predicts each test row from its nearest training rows
(--local-context).
Progress goes to standard error.

--task regression runs the regression protocol of shared/data/README.md instead
(metrics.RegressionProtocol: rows without a target left out, 5 random 50/50 splits with seeds
0..4, at most 1000 training and 2000 test rows) with the regression model, and prints R², RMSE,
CRPS, the coverage of the predicted 5%-95% interval and seconds per dataset beside the reference
R² of ridge regression, the random forest and gradient boosting from regression-baselines.json.
A dataset is marked "<rf" where kiln's R² is below the forest's and "<ridge-0.05" where it is
more than 0.05 below ridge's. --task auto decides per file (all must agree).`,
		Example: `  kiln tabpfn eval ../shared/data/tabular
  kiln tabpfn eval ../shared/data/tabular/iris.csv ../shared/data/tabular/wine.csv --ensemble 8
  kiln tabpfn eval ../shared/data/tabular --max-classes 10 --json > eval.json
  kiln tabpfn eval ../shared/data/tabular --max-classes 10 --ensemble 4 --pairwise 2   # the reported configuration
  kiln tabpfn eval --task regression ../shared/data/regression --json > eval-regression.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := csvPaths(args)
			if err != nil {
				return err
			}
			regression, err := fl.evalTask(cmd, paths)
			if err != nil {
				return err
			}
			if regression {
				return runEvalRegression(cmd, &fl, paths, baseFile, splits, firstSplit, trainCap, asJSON)
			}
			baselines, err := newBaselineFiles(baseFile, "tabular-baselines.json", metrics.LoadBaselines)
			if err != nil {
				return err
			}
			m, err := fl.load()
			if err != nil {
				return err
			}
			defer m.Release()
			proto := metrics.DefaultProtocol()
			proto.Splits, proto.FirstSplit, proto.TrainCap = splits, firstSplit, trainCap
			rows, failed, err := evalDatasets(cmd, paths, evalSteps[evalRow, metrics.Classifier, *metrics.Result]{
				row: func(name, path string) (evalRow, error) {
					d, err := baselines.of(path, name)
					return evalRow{Dataset: name, Path: path, Refs: d.Models}, err
				},
				load:    data.Load,
				options: fl.readOptions(""),
				describe: func(row *evalRow, t *data.Table) (string, bool) {
					if maxClasses > 0 && t.NumClasses() > maxClasses {
						row.Skipped = fmt.Sprintf("%d classes > --max-classes %d", t.NumClasses(), maxClasses)
						return "skipped (" + row.Skipped + ")", false
					}
					return fmt.Sprintf("%d rows, %d features, %d classes, %d splits...", t.Rows(), t.NumFeatures(), t.NumClasses(), splits), true
				},
				evaluate: proto.Evaluate,
				model: func(w *evalWarnings) (metrics.Classifier, error) {
					c, err := fl.classifier(m, w.out)
					if err != nil {
						return nil, err
					}
					return &warnCollector{Classifier: c, add: w.add}, nil
				},
				record: func(row *evalRow, res *metrics.Result) string {
					row.Result = res
					markRow(row)
					return fmt.Sprintf("AUC %.4f, accuracy %.4f, log loss %.4f", res.AUC, res.Accuracy, res.LogLoss)
				},
			})
			if err != nil {
				return err
			}
			rep := evalReport{Device: m.Dev.Name(), Model: fl.modelPath, Ensemble: fl.ensemble, Pairwise: fl.pairwise, Splits: splits,
				First: firstSplit, TrainCap: trainCap, Rows: rows, Mean: meanOf(rows)}
			if rep.Model == "" {
				rep.Model = "default"
			}
			return writeEvalReport(cmd.OutOrStdout(), rep, asJSON, printEval, failed, len(paths))
		},
	}
	fl.add(cmd)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "write the report as JSON")
	flagbound.Int(f, &maxClasses, "max-classes", 0, 0, maxClassCount, "skip datasets with more classes than this (0: none)")
	flagbound.Int(f, &splits, "splits", metrics.DefaultProtocol().Splits, 1, 1000, "protocol splits (seeds 0..N-1, or from --first-split); the reference scores use 5")
	flagbound.Int(f, &firstSplit, "first-split", 0, 0, 1000, "seed of the first split: runs splits K..K+N-1 of the protocol, so that a long evaluation can be done a split at a time")
	flagbound.Int(f, &trainCap, "train-cap", metrics.DefaultProtocol().TrainCap, 2, maxTableRows,
		"training rows kept per split at most (a stratified subsample; random for regression); the protocols and the reference scores use 1000")
	f.StringVar(&baseFile, "baselines", "", "reference scores JSON (default: <dataset folder>/../tabular-baselines.json, or regression-baselines.json for regression)")
	return cmd
}

// warnCollector hands the classifier's warnings to add after each Fit (the classifier is
// created fresh for every split).
type warnCollector struct {
	*tabpfn.Classifier
	add func([]string)
}

func (w *warnCollector) Fit(X data.Matrix, y []int, k int) error {
	err := w.Classifier.Fit(X, y, k)
	w.add(w.Classifier.Warnings())
	return err
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// csvPaths expands folders into their .csv, .parquet and .pq files (sorted) and checks that
// files exist.
func csvPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var ms []string
		for _, ext := range []string{"*.csv", "*.parquet", "*.pq"} {
			m, err := filepath.Glob(filepath.Join(a, ext))
			if err != nil {
				return nil, err
			}
			ms = append(ms, m...)
		}
		if len(ms) == 0 {
			return nil, fmt.Errorf("%s: no .csv files, nor .parquet or .pq files, in this folder", a)
		}
		slices.Sort(ms)
		out = append(out, ms...)
	}
	return out, nil
}

// markRow sets the comparisons against the random forest and logistic regression.
func markRow(r *evalRow) {
	if r.Result == nil || r.Refs == nil {
		return
	}
	if rf, ok := r.Refs["rf"]; ok {
		r.BelowRF = r.Result.AUC < rf.AUC
	}
	if lr, ok := r.Refs["logreg"]; ok {
		r.BelowLR = r.Result.AUC < lr.AUC-lrMargin
	}
}

func meanOf(rows []evalRow) evalMean {
	var m evalMean
	var refs []map[string]metrics.Score
	for _, r := range rows {
		if r.Result == nil {
			continue
		}
		m.Datasets++
		m.AUC += r.Result.AUC
		m.Accuracy += r.Result.Accuracy
		m.LogLoss += r.Result.LogLoss
		m.Seconds += r.Result.Seconds
		if r.Refs != nil {
			refs = append(refs, r.Refs)
		}
	}
	if m.Datasets == 0 {
		return m
	}
	n := float64(m.Datasets)
	m.AUC, m.Accuracy, m.LogLoss, m.Seconds = m.AUC/n, m.Accuracy/n, m.LogLoss/n, m.Seconds/n
	m.RefCount = len(refs)
	m.Refs = meanRefs(refs,
		func(a, b metrics.Score) metrics.Score {
			return metrics.Score{AUC: a.AUC + b.AUC, Accuracy: a.Accuracy + b.Accuracy, LogLoss: a.LogLoss + b.LogLoss, Seconds: a.Seconds + b.Seconds}
		},
		func(s metrics.Score, k float64) metrics.Score {
			return metrics.Score{AUC: s.AUC / k, Accuracy: s.Accuracy / k, LogLoss: s.LogLoss / k, Seconds: s.Seconds / k}
		})
	return m
}

// meanRefs averages the reference scores of the datasets evaluated with references (one map
// per dataset, model name to score) with add and div, keeping only the models present on
// every one of them: a model missing from some would be averaged over fewer datasets than
// the others. It returns nil when refs is empty.
func meanRefs[S any](refs []map[string]S, add func(a, b S) S, div func(s S, k float64) S) map[string]S {
	if len(refs) == 0 {
		return nil
	}
	sums, counts := map[string]S{}, map[string]int{}
	for _, ref := range refs {
		for name, s := range ref {
			sums[name] = add(sums[name], s)
			counts[name]++
		}
	}
	out := map[string]S{}
	for name, s := range sums {
		if counts[name] == len(refs) {
			out[name] = div(s, float64(len(refs)))
		}
	}
	return out
}

func refAUC(refs map[string]metrics.Score, name string) string {
	if s, ok := refs[name]; ok {
		return fmt.Sprintf("%.4f", s.AUC)
	}
	return "-"
}

func bestRef(refs map[string]metrics.Score) string {
	if len(refs) == 0 {
		return "-"
	}
	name, s := metrics.DatasetBaselines{Models: refs}.Best()
	return fmt.Sprintf("%s %.4f", name, s.AUC)
}

func printEval(w io.Writer, rep evalReport) error {
	members := fmt.Sprintf("%d members", rep.Ensemble)
	if rep.Ensemble == 0 {
		members = fmt.Sprintf("automatic ensemble of 1 to %d members", tabpfn.DefaultEnsemble)
	}
	switch {
	case rep.Pairwise < 0:
		members += ", automatic pairwise scheme"
	case rep.Pairwise > 0:
		members += fmt.Sprintf(", %d per pair of classes", rep.Pairwise)
	}
	fmt.Fprintf(w, "TabPFN (%s model, %s, %s), %s\n", rep.Model, members, rep.Device, splitsText(rep.Splits, rep.First))
	if p := metrics.DefaultProtocol().TrainCap; rep.TrainCap != 0 && rep.TrainCap != p {
		fmt.Fprintf(w, "training rows capped at %d per split, not the protocol's %d: the reference scores are not comparable\n", rep.TrainCap, p)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "dataset\trows\tfeat\tcls\tAUC\tacc\tlogloss\tsec\tlogreg AUC\trf AUC\tbest ref AUC\t")
	for _, r := range rep.Rows {
		switch {
		// A row without the other cells would end tabwriter's column blocks and misalign
		// the rows below it, so the note goes in the last column after empty cells.
		case r.Error != "":
			fmt.Fprintf(tw, "%s%serror: %s\n", r.Dataset, strings.Repeat("\t", 11), firstLine(r.Error))
			continue
		case r.Skipped != "":
			fmt.Fprintf(tw, "%s%sskipped: %s\n", r.Dataset, strings.Repeat("\t", 11), r.Skipped)
			continue
		}
		res := r.Result
		var marks []string
		if r.BelowRF {
			marks = append(marks, "<rf")
		}
		if r.BelowLR {
			marks = append(marks, "<lr-0.02")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.2f\t%s\t%s\t%s\t%s\n", r.Dataset, res.Rows, res.Features, res.Classes,
			res.AUC, res.Accuracy, res.LogLoss, res.Seconds, refAUC(r.Refs, "logreg"), refAUC(r.Refs, "rf"), bestRef(r.Refs),
			strings.Join(marks, " "))
	}
	m := rep.Mean
	if m.Datasets > 0 {
		fmt.Fprintf(tw, "mean (%d)\t\t\t\t%.4f\t%.4f\t%.4f\t%.2f\t%s\t%s\t%s\t\n", m.Datasets, m.AUC, m.Accuracy, m.LogLoss, m.Seconds,
			refAUC(m.Refs, "logreg"), refAUC(m.Refs, "rf"), bestRef(m.Refs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m.Datasets > 0 && m.RefCount > 0 && m.RefCount < m.Datasets {
		fmt.Fprintf(w, "\nreference means cover the %d of %d datasets that have reference scores\n", m.RefCount, m.Datasets)
	}
	if m.Datasets > 0 && m.RefCount > 0 {
		fmt.Fprintln(w, "\n<rf: AUC below the random forest's; <lr-0.02: more than 0.02 below logistic regression's")
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
