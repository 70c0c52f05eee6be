package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"time"

	"github.com/kiln-ml/kiln/data"
)

// Classifier is what the evaluation protocol runs: a probabilistic multiclass classifier on
// a dense feature matrix (NaN for missing values, categorical features as ordinal codes, as
// data.Table stores them).
type Classifier interface {
	// Fit trains on X (one row per example) and labels y in [0, nClasses). Every class in
	// [0, nClasses) may be asked for by PredictProba even if y lacks it.
	Fit(X data.Matrix, y []int, nClasses int) error
	// PredictProba returns an X.Rows × nClasses matrix of class probabilities.
	PredictProba(X data.Matrix) (data.Matrix, error)
}

// ColumnAware is implemented by classifiers that use the column kinds (which features are
// categorical, and their categories); Evaluate calls SetColumns before each Fit.
type ColumnAware interface {
	SetColumns(cols []data.Column)
}

// Protocol holds the parameters of the evaluation protocol; DefaultProtocol returns the one
// of shared/data/README.md, which every reported number uses.
type Protocol struct {
	Splits       int     // number of splits, seeds FirstSplit..FirstSplit+Splits-1
	FirstSplit   int     // seed of the first split: 0 in the protocol; more runs a later part of it
	TestFraction float64 // share of rows in the test half
	TrainCap     int     // training rows kept at most (stratified subsample)
	TestCap      int     // test rows kept at most (stratified subsample)
	MinClassRows int     // classes with fewer rows are dropped first
}

// DefaultProtocol returns the protocol of shared/data/README.md: classes with fewer than 4 rows
// dropped, 5 stratified 50/50 splits with seeds 0..4, at most 1000 training and 2000 test rows.
func DefaultProtocol() Protocol {
	return Protocol{Splits: 5, TestFraction: 0.5, TrainCap: 1000, TestCap: 2000, MinClassRows: 4}
}

// SplitResult holds the scores of one split.
type SplitResult struct {
	Seed           uint64  `json:"seed"`
	TrainRows      int     `json:"train_rows"`
	TestRows       int     `json:"test_rows"`
	AUC            float64 `json:"auc"`
	Accuracy       float64 `json:"acc"`
	LogLoss        float64 `json:"logloss"`
	FitSeconds     float64 `json:"fit_sec"`
	PredictSeconds float64 `json:"predict_sec"`
}

// Seconds returns the wall time of fit plus predict.
func (s SplitResult) Seconds() float64 { return s.FitSeconds + s.PredictSeconds }

// Result holds the protocol's outcome for one dataset.
type Result struct {
	Rows     int           `json:"rows"` // after dropping rare classes
	Features int           `json:"features"`
	Classes  int           `json:"classes"`
	Dropped  []string      `json:"dropped_classes,omitempty"` // names of the dropped classes
	Splits   []SplitResult `json:"splits"`
	// Means over the splits, with the JSON names of tabular-baselines.json.
	AUC      float64 `json:"auc"`
	Accuracy float64 `json:"acc"`
	LogLoss  float64 `json:"logloss"`
	Seconds  float64 `json:"sec"`
}

// Evaluate runs DefaultProtocol; see Protocol.Evaluate.
func Evaluate(ctx context.Context, t *data.Table, newClassifier func() Classifier) (*Result, error) {
	return DefaultProtocol().Evaluate(ctx, t, newClassifier)
}

// Evaluate runs the protocol on a labelled table, with a fresh classifier from newClassifier
// for every split. The wall time covers Fit plus PredictProba only (not splitting or scoring).
// A panic inside the classifier is returned as an error. ctx is checked between splits.
func (p Protocol) Evaluate(ctx context.Context, t *data.Table, newClassifier func() Classifier) (*Result, error) {
	if t == nil || t.Y == nil {
		return nil, errors.New("metrics: Evaluate needs a table with class labels")
	}
	if p.Splits <= 0 || p.FirstSplit < 0 || p.TrainCap <= 0 || p.TestCap <= 0 {
		return nil, fmt.Errorf("metrics: invalid protocol %+v", p)
	}
	t, dropped := t.DropRareClasses(p.MinClassRows)
	k := t.NumClasses()
	if k < 2 {
		return nil, fmt.Errorf("metrics: fewer than two classes have at least %d rows", p.MinClassRows)
	}
	res := &Result{Rows: t.Rows(), Features: t.NumFeatures(), Classes: k, Dropped: dropped}
	for s := p.FirstSplit; s < p.FirstSplit+p.Splits; s++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seed := uint64(s)
		trainIdx, testIdx, err := data.StratifiedSplit(t.Y, k, p.TestFraction, seed)
		if err != nil {
			return nil, err
		}
		train, test := t.Subset(trainIdx), t.Subset(testIdx)
		if train, err = capRows(train, p.TrainCap, seed); err != nil {
			return nil, err
		}
		if test, err = capRows(test, p.TestCap, seed); err != nil {
			return nil, err
		}
		sr, err := runSplit(train, test, k, newClassifier)
		if err != nil {
			return nil, fmt.Errorf("metrics: split %d: %w", s, err)
		}
		sr.Seed = seed
		res.Splits = append(res.Splits, sr)
	}
	n := float64(len(res.Splits))
	for _, s := range res.Splits {
		res.AUC += s.AUC / n
		res.Accuracy += s.Accuracy / n
		res.LogLoss += s.LogLoss / n
		res.Seconds += s.Seconds() / n
	}
	return res, nil
}

func capRows(t *data.Table, limit int, seed uint64) (*data.Table, error) {
	if t.Rows() <= limit {
		return t, nil
	}
	idx, err := data.StratifiedSubsample(t.Y, t.NumClasses(), limit, seed)
	if err != nil {
		return nil, err
	}
	return t.Subset(idx), nil
}

func runSplit(train, test *data.Table, k int, newClassifier func() Classifier) (sr SplitResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("classifier panicked: %v\n%s", r, debug.Stack())
		}
	}()
	sr.TrainRows, sr.TestRows = train.Rows(), test.Rows()
	clf := newClassifier()
	if ca, ok := clf.(ColumnAware); ok {
		ca.SetColumns(train.Columns)
	}
	start := time.Now()
	if err := clf.Fit(train.X, train.Y, k); err != nil {
		return sr, fmt.Errorf("fit: %w", err)
	}
	mid := time.Now()
	proba, err := clf.PredictProba(test.X)
	end := time.Now()
	if err != nil {
		return sr, fmt.Errorf("predict: %w", err)
	}
	sr.FitSeconds, sr.PredictSeconds = mid.Sub(start).Seconds(), end.Sub(mid).Seconds()
	if proba.Rows != test.Rows() || proba.Cols != k {
		return sr, fmt.Errorf("PredictProba returned %dx%d, want %dx%d", proba.Rows, proba.Cols, test.Rows(), k)
	}
	for _, v := range proba.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return sr, errors.New("PredictProba returned a non-finite probability")
		}
	}
	if sr.AUC, err = ROCAUC(test.Y, proba); err != nil {
		return sr, err
	}
	if sr.Accuracy, err = Accuracy(test.Y, proba); err != nil {
		return sr, err
	}
	if sr.LogLoss, err = LogLoss(test.Y, proba); err != nil {
		return sr, err
	}
	return sr, nil
}
