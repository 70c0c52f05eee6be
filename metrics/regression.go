package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/data"
)

// Regressor is what the regression protocol runs: a point regressor on a dense feature
// matrix (NaN for missing values, categorical features as ordinal codes).
type Regressor interface {
	// Fit trains on X and the finite targets y.
	Fit(X data.Matrix, y []float64) error
	// Predict returns one prediction per row of X.
	Predict(X data.Matrix) ([]float64, error)
}

// Predictive is a predictive distribution per row, as a DistributionRegressor returns it.
type Predictive interface {
	// Mean returns each row's mean, the point prediction the protocol scores.
	Mean() []float64
	// Quantiles returns a rows × len(qs) matrix of quantiles at the levels qs in (0, 1).
	Quantiles(qs []float64) (data.Matrix, error)
	// CRPS returns each row's continuous ranked probability score at the observed y.
	CRPS(y []float64) ([]float64, error)
}

// DistributionRegressor predicts a distribution per row; the protocol then also scores its
// CRPS and the coverage of its central 90% interval, and times PredictDistribution instead
// of Predict.
type DistributionRegressor interface {
	Regressor
	PredictDistribution(X data.Matrix) (Predictive, error)
}

// RegressionProtocol holds the parameters of the regression protocol of
// shared/data/README.md (DefaultRegressionProtocol).
type RegressionProtocol struct {
	Splits       int     // number of splits, seeds FirstSplit..FirstSplit+Splits-1
	FirstSplit   int     // seed of the first split: 0 in the protocol; more runs a later part of it
	TestFraction float64 // share of rows in the test half
	TrainCap     int     // training rows kept at most (random subsample)
	TestCap      int     // test rows kept at most (random subsample)
}

// DefaultRegressionProtocol returns the protocol of shared/data/README.md: 5 random 50/50
// splits with seeds 0..4 (no stratification), at most 1000 training and 2000 test rows,
// subsampled at random with the split's seed.
func DefaultRegressionProtocol() RegressionProtocol {
	return RegressionProtocol{Splits: 5, TestFraction: 0.5, TrainCap: 1000, TestCap: 2000}
}

// RegressionSplit holds the scores of one split.
type RegressionSplit struct {
	Seed      uint64  `json:"seed"`
	TrainRows int     `json:"train_rows"`
	TestRows  int     `json:"test_rows"`
	R2        float64 `json:"r2"`
	RMSE      float64 `json:"rmse"`
	// CRPS and Coverage90 (the share of test targets inside the predicted 5%–95% interval)
	// are those of a DistributionRegressor, NaN otherwise (omitted from JSON).
	CRPS           float64 `json:"-"`
	Coverage90     float64 `json:"-"`
	FitSeconds     float64 `json:"fit_sec"`
	PredictSeconds float64 `json:"predict_sec"`
}

// Seconds returns the wall time of fit plus predict.
func (s RegressionSplit) Seconds() float64 { return s.FitSeconds + s.PredictSeconds }

// MarshalJSON writes CRPS and coverage only when they were measured.
func (s RegressionSplit) MarshalJSON() ([]byte, error) {
	type plain RegressionSplit
	return json.Marshal(struct {
		plain
		CRPS       *float64 `json:"crps,omitempty"`
		Coverage90 *float64 `json:"coverage90,omitempty"`
	}{plain(s), finiteOrNil(s.CRPS), finiteOrNil(s.Coverage90)})
}

func finiteOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// RegressionResult holds the protocol's outcome for one dataset.
type RegressionResult struct {
	Rows     int               `json:"rows"` // with a target
	Features int               `json:"features"`
	Dropped  int               `json:"dropped_rows,omitempty"` // rows without a target, left out
	Splits   []RegressionSplit `json:"splits"`
	// Means over the splits, with the JSON names of regression-baselines.json; CRPS and
	// Coverage90 are NaN (omitted) for a point regressor.
	R2         float64 `json:"r2"`
	RMSE       float64 `json:"rmse"`
	CRPS       float64 `json:"-"`
	Coverage90 float64 `json:"-"`
	Seconds    float64 `json:"sec"`
}

// MarshalJSON writes CRPS and coverage only when they were measured.
func (r RegressionResult) MarshalJSON() ([]byte, error) {
	type plain RegressionResult
	return json.Marshal(struct {
		plain
		CRPS       *float64 `json:"crps,omitempty"`
		Coverage90 *float64 `json:"coverage90,omitempty"`
	}{plain(r), finiteOrNil(r.CRPS), finiteOrNil(r.Coverage90)})
}

// Evaluate runs the protocol on a regression table (t.Values, as data.LoadRegression reads
// it), with a fresh regressor from newRegressor for every split. Rows without a target are
// left out first. The wall time covers Fit plus Predict (PredictDistribution for a
// DistributionRegressor). A panic inside the regressor is returned as an error. ctx is
// checked between splits.
func (p RegressionProtocol) Evaluate(ctx context.Context, t *data.Table, newRegressor func() Regressor) (*RegressionResult, error) {
	if t == nil || t.Values == nil {
		return nil, errors.New("metrics: the regression protocol needs a table with numeric targets")
	}
	if p.Splits <= 0 || p.FirstSplit < 0 || p.TrainCap <= 0 || p.TestCap <= 0 {
		return nil, fmt.Errorf("metrics: invalid protocol %+v", p)
	}
	labeled := t.Labeled()
	res := &RegressionResult{Rows: len(labeled), Features: t.NumFeatures(), Dropped: t.Rows() - len(labeled)}
	if res.Dropped > 0 {
		t = t.Subset(labeled)
	}
	for s := p.FirstSplit; s < p.FirstSplit+p.Splits; s++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seed := uint64(s)
		trainIdx, testIdx, err := data.RandomSplit(t.Rows(), p.TestFraction, seed)
		if err != nil {
			return nil, err
		}
		trainIdx = pick(trainIdx, data.RandomSubsample(len(trainIdx), p.TrainCap, seed))
		testIdx = pick(testIdx, data.RandomSubsample(len(testIdx), p.TestCap, seed))
		sr, err := runRegressionSplit(t.Subset(trainIdx), t.Subset(testIdx), newRegressor)
		if err != nil {
			return nil, fmt.Errorf("metrics: split %d: %w", s, err)
		}
		sr.Seed = seed
		res.Splits = append(res.Splits, sr)
	}
	n := float64(len(res.Splits))
	for _, s := range res.Splits {
		res.R2 += s.R2 / n
		res.RMSE += s.RMSE / n
		res.CRPS += s.CRPS / n
		res.Coverage90 += s.Coverage90 / n
		res.Seconds += s.Seconds() / n
	}
	return res, nil
}

// pick returns idx[k] for each k in ks.
func pick(idx, ks []int) []int {
	out := make([]int, len(ks))
	for i, k := range ks {
		out[i] = idx[k]
	}
	return out
}

func runRegressionSplit(train, test *data.Table, newRegressor func() Regressor) (sr RegressionSplit, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("regressor panicked: %v\n%s", r, debug.Stack())
		}
	}()
	sr.TrainRows, sr.TestRows = train.Rows(), test.Rows()
	sr.CRPS, sr.Coverage90 = math.NaN(), math.NaN()
	reg := newRegressor()
	if ca, ok := reg.(ColumnAware); ok {
		ca.SetColumns(train.Columns)
	}
	start := time.Now()
	if err := reg.Fit(train.X, train.Values); err != nil {
		return sr, fmt.Errorf("fit: %w", err)
	}
	mid := time.Now()
	var pred []float64
	var dist Predictive
	if dr, ok := reg.(DistributionRegressor); ok {
		if dist, err = dr.PredictDistribution(test.X); err == nil {
			pred = dist.Mean()
		}
	} else {
		pred, err = reg.Predict(test.X)
	}
	end := time.Now()
	if err != nil {
		return sr, fmt.Errorf("predict: %w", err)
	}
	sr.FitSeconds, sr.PredictSeconds = mid.Sub(start).Seconds(), end.Sub(mid).Seconds()
	if sr.R2, err = R2(test.Values, pred); err != nil {
		return sr, err
	}
	if sr.RMSE, err = RMSE(test.Values, pred); err != nil {
		return sr, err
	}
	if dist == nil {
		return sr, nil
	}
	crps, err := dist.CRPS(test.Values)
	if err != nil {
		return sr, err
	}
	q, err := dist.Quantiles([]float64{0.05, 0.95})
	if err != nil {
		return sr, err
	}
	if len(crps) != len(test.Values) || q.Rows != len(test.Values) || q.Cols != 2 {
		return sr, fmt.Errorf("the distribution has %d CRPS values and %dx%d quantiles for %d rows", len(crps), q.Rows, q.Cols, len(test.Values))
	}
	sr.CRPS, sr.Coverage90 = 0, 0
	n := float64(len(crps))
	for i, v := range crps {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return sr, errors.New("the distribution's CRPS is not finite")
		}
		sr.CRPS += v / n
		if y := test.Values[i]; q.At(i, 0) <= y && y <= q.At(i, 1) {
			sr.Coverage90 += 1 / n
		}
	}
	return sr, nil
}

// checkTargets checks that y and pred have the same non-zero length and finite values.
func checkTargets(y, pred []float64) error {
	if len(y) == 0 || len(y) != len(pred) {
		return fmt.Errorf("metrics: %d targets and %d predictions", len(y), len(pred))
	}
	for i := range y {
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) || math.IsNaN(pred[i]) || math.IsInf(pred[i], 0) {
			return fmt.Errorf("metrics: row %d: target %v, prediction %v; both must be finite", i, y[i], pred[i])
		}
	}
	return nil
}

// R2 is the coefficient of determination 1 − Σ(y − ŷ)²/Σ(y − ȳ)², with ȳ the mean of y (as
// scikit-learn's r2_score): 1 for perfect predictions, 0 for predicting the mean, negative
// for worse. A constant y gives 1 when every prediction is exact and 0 otherwise.
func R2(y, pred []float64) (float64, error) {
	if err := checkTargets(y, pred); err != nil {
		return 0, err
	}
	var mean float64
	for _, v := range y {
		mean += v / float64(len(y))
	}
	var sse, sst float64
	for i, v := range y {
		sse += (v - pred[i]) * (v - pred[i])
		sst += (v - mean) * (v - mean)
	}
	if sst == 0 {
		if sse == 0 {
			return 1, nil
		}
		return 0, nil
	}
	return 1 - sse/sst, nil
}

// RMSE is the root mean squared error.
func RMSE(y, pred []float64) (float64, error) {
	if err := checkTargets(y, pred); err != nil {
		return 0, err
	}
	var sse float64
	for i, v := range y {
		sse += (v - pred[i]) * (v - pred[i])
	}
	return math.Sqrt(sse / float64(len(y))), nil
}

// RegressionScore is one model's protocol result on one dataset, as stored in
// regression-baselines.json.
type RegressionScore struct {
	R2      float64 `json:"r2"`
	RMSE    float64 `json:"rmse"`
	Seconds float64 `json:"sec"`
}

// RegressionDatasetBaselines holds the reference scores of one regression dataset.
type RegressionDatasetBaselines struct {
	Rows        int                        `json:"rows"`
	Features    int                        `json:"features"`
	Categorical int                        `json:"categorical"`
	Models      map[string]RegressionScore `json:"models"`
}

// RegressionBaselines maps a dataset name (the file name without its extension) to its
// reference scores. shared/data/regression-baselines.json holds scikit-learn models under
// the regression protocol: ridge, rf (random forest, 300 trees), hgb (histogram gradient
// boosting), svr (RBF SVR) and knn (7 nearest neighbours).
type RegressionBaselines map[string]RegressionDatasetBaselines

// LoadRegressionBaselines reads a regression baselines JSON file.
func LoadRegressionBaselines(path string) (RegressionBaselines, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	b, err := ReadRegressionBaselines(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// ReadRegressionBaselines decodes regression baselines JSON and checks that every dataset
// has models with finite scores (R² at most 1, RMSE and seconds not negative).
func ReadRegressionBaselines(r io.Reader) (RegressionBaselines, error) {
	var b RegressionBaselines
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("metrics: decoding regression baselines: %w", err)
	}
	if len(b) == 0 {
		return nil, errors.New("metrics: regression baselines file lists no datasets")
	}
	for name, d := range b {
		if len(d.Models) == 0 {
			return nil, fmt.Errorf("metrics: regression baselines for %q list no models", name)
		}
		for m, s := range d.Models {
			if !(s.R2 <= 1) || !(s.RMSE >= 0) || !(s.Seconds >= 0) || math.IsInf(s.R2, 0) || math.IsInf(s.RMSE, 0) || math.IsInf(s.Seconds, 0) {
				return nil, fmt.Errorf("metrics: regression baselines for %q model %q out of range: %+v", name, m, s)
			}
		}
	}
	return b, nil
}

// Lookup returns a dataset's baselines by name; a directory and an extension are stripped,
// so "regression/boston.csv" finds "boston".
func (b RegressionBaselines) Lookup(name string) (RegressionDatasetBaselines, bool) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	d, ok := b[name]
	return d, ok
}

// ModelNames returns the model names of a dataset, sorted.
func (d RegressionDatasetBaselines) ModelNames() []string {
	out := make([]string, 0, len(d.Models))
	for k := range d.Models {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Best returns the model with the highest R² (ties: name order).
func (d RegressionDatasetBaselines) Best() (string, RegressionScore) {
	var best string
	var bs RegressionScore
	for _, m := range d.ModelNames() {
		if s := d.Models[m]; best == "" || s.R2 > bs.R2 {
			best, bs = m, s
		}
	}
	return best, bs
}
