package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// tinyRegressionCheckpoint saves a small randomly initialised regression model with evenly
// spaced bins over [-4, 4].
func tinyRegressionCheckpoint(t *testing.T) string {
	t.Helper()
	cfg := tabpfn.Config{Layers: 1, Width: 16, Heads: 2, MLPWidth: 32, FeatureDim: 8, MaxFeatures: 20, MaxRows: 256}.AsRegression(16)
	m, err := tabpfn.New(device.MustGet("cpu"), cfg, 3)
	require.NoError(t, err)
	defer m.Release()
	borders := make([]float64, 17)
	for i := range borders {
		borders[i] = -4 + 0.5*float64(i)
	}
	m.Bars, err = tabpfn.NewBars(borders)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "tiny-regression.safetensors")
	require.NoError(t, m.Save(path, nil, nil))
	return path
}

// regressionCSV writes rows of two numeric features, a categorical one and a target
// scale·(a + 2b) + noise, with target cells edited by edit (row, value) when it is not nil.
func regressionCSV(t *testing.T, dir, name string, rows int, seed uint64, scale float64, edit func(int, string) string) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("a,b,c,y\n")
	for i := range rows {
		a, bb := r.NormFloat64(), r.NormFloat64()
		y := strconv.FormatFloat(scale*(a+2*bb+0.1*r.NormFloat64()), 'g', -1, 64)
		if edit != nil {
			y = edit(i, y)
		}
		fmt.Fprintf(&b, "%g,%g,%s,%s\n", a, bb, []string{"x", "y", "z"}[i%3], y)
	}
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

func TestTabpfnPredictRegression(t *testing.T) {
	model := tinyRegressionCheckpoint(t)
	dir := t.TempDir()
	train := regressionCSV(t, dir, "train.csv", 60, 1, 1, nil)
	test := regressionCSV(t, dir, "test.csv", 25, 2, 1, nil)
	out := filepath.Join(dir, "p.csv")
	stdout, stderr, err := runTabpfn(t, "predict", "--task", "regression", "--model", model, "--train", train, "--test", test, "--out", out)
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "wrote 25 predictions")
	require.Regexp(t, `R² -?[0-9.]+  RMSE [0-9.e+-]+  CRPS [0-9.e+-]+  90% interval coverage [0-9.]+`, stdout)
	recs := readCSV(t, out)
	require.Equal(t, []string{"mean", "median", "q05", "q95"}, recs[0])
	require.Len(t, recs, 26)
	for _, rec := range recs[1:] {
		var v [4]float64
		for i := range v {
			v[i], err = strconv.ParseFloat(rec[i], 64)
			require.NoError(t, err)
		}
		require.Less(t, v[2], v[1])
		require.Less(t, v[1], v[3])
	}
}

// TestTabpfnPredictRegressionEmbedded predicts without --model: the regression model
// embedded in the binary serves --task regression as the classifier serves classification.
func TestTabpfnPredictRegressionEmbedded(t *testing.T) {
	dir := t.TempDir()
	train := regressionCSV(t, dir, "train.csv", 80, 1, 1, nil)
	test := regressionCSV(t, dir, "test.csv", 40, 2, 1, nil)
	stdout, stderr, err := runTabpfn(t, "predict", "--task", "regression", "--train", train, "--test", test, "--out", filepath.Join(dir, "p.csv"))
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "wrote 40 predictions")
	m := regexp.MustCompile(`R² (-?[0-9.]+)`).FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	r2, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	require.Greater(t, r2, 0.5, "the embedded model fits the synthetic relation")
}

// TestTabpfnRegressionBadInput covers the target problems: a non-number among the numbers
// (an error naming its line and column), missing targets (dropped with a warning and a
// count), a constant target (a clear error), and targets of magnitude 1e12 and 1e-12
// (predicted in their own units).
func TestTabpfnRegressionBadInput(t *testing.T) {
	model := tinyRegressionCheckpoint(t)
	dir := t.TempDir()
	test := regressionCSV(t, dir, "test.csv", 10, 2, 1, nil)
	predict := func(train string, extra ...string) (string, string, error) {
		args := append([]string{"predict", "--task", "regression", "--model", model, "--train", train, "--test", test}, extra...)
		return runTabpfn(t, args...)
	}

	typo := regressionCSV(t, dir, "typo.csv", 40, 1, 1, func(i int, y string) string {
		if i == 6 {
			return "12x"
		}
		return y
	})
	_, _, err := predict(typo)
	require.Error(t, err)
	require.Contains(t, err.Error(), "line 8, column 4")
	require.Contains(t, err.Error(), `"y"`)
	require.Contains(t, err.Error(), `"12x" is not a number`)

	missing := regressionCSV(t, dir, "missing.csv", 40, 1, 1, func(i int, y string) string {
		if i%10 == 3 {
			return "NA"
		}
		return y
	})
	stdout, stderr, err := predict(missing)
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "warning: 4 of 40 training rows have no target; they are left out")
	require.Contains(t, stderr, "36 training rows")
	require.Len(t, strings.Split(strings.TrimSpace(stdout), "\n"), 11)

	constant := regressionCSV(t, dir, "constant.csv", 30, 1, 1, func(int, string) string { return "7.25" })
	_, _, err = predict(constant)
	require.ErrorContains(t, err, "target is constant")

	// Options of the classifier alone are refused, not ignored.
	_, _, err = predict(missing, "--pairwise=2")
	require.ErrorContains(t, err, "is for classification")

	// More training rows than the model's 256 predict each test row from its nearest rows,
	// unless --local-context 0 keeps them all (or --max-rows a random subsample per member).
	large := regressionCSV(t, dir, "large.csv", 300, 3, 1, nil)
	stdout, stderr, err = predict(large, "--local-context", "20")
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "each test row is predicted from the 20 training rows nearest it")
	require.Contains(t, stderr, "(each test row from its 20 nearest training rows, target transform mixed)")
	require.Len(t, strings.Split(strings.TrimSpace(stdout), "\n"), 11)
	_, stderr, err = predict(large, "--local-context", "0")
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "context of 300 training rows is above the 256 the model was trained on")
	_, stderr, err = predict(large, "--local-context", "0", "--max-rows", "100")
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "its own random subsample of 100 rows")

	for _, scale := range []float64{1e12, 1e-12} {
		name := fmt.Sprintf("scale%g.csv", scale)
		train := regressionCSV(t, dir, name, 60, 1, scale, nil)
		stdout, stderr, err := predict(train)
		require.NoError(t, err, stderr)
		recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
		require.NoError(t, err)
		for _, rec := range recs[1:] {
			for _, cell := range rec {
				v, err := strconv.ParseFloat(cell, 64)
				require.NoError(t, err)
				// The target's spread is about 2.2·scale: predictions in its units.
				require.Less(t, math.Abs(v), 30*scale, "scale %g: prediction %v", scale, v)
			}
			mean, _ := strconv.ParseFloat(rec[0], 64)
			q05, _ := strconv.ParseFloat(rec[2], 64)
			q95, _ := strconv.ParseFloat(rec[3], 64)
			require.Greater(t, q95-q05, 0.01*scale, "scale %g: interval [%v, %v] around %v", scale, q05, q95, mean)
		}
	}
}

func TestTabpfnTaskAuto(t *testing.T) {
	model := tinyRegressionCheckpoint(t)
	dir := t.TempDir()
	train := regressionCSV(t, dir, "train.csv", 60, 1, 1, nil)
	test := regressionCSV(t, dir, "test.csv", 10, 2, 1, nil)
	_, stderr, err := runTabpfn(t, "predict", "--task", "auto", "--model", model, "--train", train, "--test", test)
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, `--task auto: target "y" of train.csv holds numbers with 60 distinct values: regression`)

	// Few distinct numbers: classes.
	classes := regressionCSV(t, dir, "classes.csv", 60, 1, 1, func(i int, _ string) string { return strconv.Itoa(i % 3) })
	_, stderr, err = runTabpfn(t, "predict", "--task", "auto", "--model", tinyCheckpoint(t), "--train", classes, "--test", classes)
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "holds numbers with 3 distinct values: classification")

	_, _, err = runTabpfn(t, "predict", "--task", "ranking", "--model", model, "--train", train, "--test", test)
	require.ErrorContains(t, err, "ranking")
	// A classifier given for regression.
	_, _, err = runTabpfn(t, "predict", "--task", "regression", "--model", tinyCheckpoint(t), "--train", train, "--test", test)
	require.ErrorContains(t, err, "is a classifier")
}

func TestTabpfnEvalRegression(t *testing.T) {
	model := tinyRegressionCheckpoint(t)
	root := t.TempDir()
	dir := filepath.Join(root, "regression")
	require.NoError(t, os.Mkdir(dir, 0o755))
	regressionCSV(t, dir, "lin.csv", 50, 1, 1, nil)
	regressionCSV(t, dir, "big.csv", 40, 3, 1e6, nil)
	base := `{"lin": {"rows": 50, "features": 3, "categorical": 1, "models": {"ridge": {"r2": 0.9, "rmse": 0.3, "sec": 0.01}, "rf": {"r2": 0.5, "rmse": 0.6, "sec": 0.2}}}}`
	require.NoError(t, os.WriteFile(filepath.Join(root, "regression-baselines.json"), []byte(base), 0o644))

	stdout, stderr, err := runTabpfn(t, "eval", "--task", "regression", "--model", model, "--splits", "2", "--json", dir)
	require.NoError(t, err, stderr)
	var rep evalRegReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Len(t, rep.Rows, 2)
	require.Equal(t, "big", rep.Rows[0].Dataset)
	require.Nil(t, rep.Rows[0].Refs)
	lin := rep.Rows[1]
	require.Equal(t, 0.9, lin.Refs["ridge"].R2)
	require.Len(t, lin.Result.Splits, 2)
	require.Equal(t, 25, lin.Result.Splits[0].TestRows)
	require.True(t, lin.BelowRidge == (lin.Result.R2 < 0.85))
	require.Equal(t, 2, rep.Mean.Datasets)
	require.Equal(t, 1, rep.Mean.RefCount)
	require.Contains(t, stdout, `"crps"`)
	require.Contains(t, stdout, `"coverage90"`)

	text, _, err := runTabpfn(t, "eval", "--task", "regression", "--model", model, "--splits", "1", dir)
	require.NoError(t, err)
	require.Contains(t, text, "ridge R²")
	require.Contains(t, text, "mean (2)")

	// --first-split runs a later part of the protocol: split 1 alone is the second of above.
	stdout, stderr, err = runTabpfn(t, "eval", "--task", "regression", "--model", model, "--splits", "1", "--first-split", "1", "--json", dir)
	require.NoError(t, err, stderr)
	var part evalRegReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &part))
	require.Equal(t, 1, part.First)
	got := part.Rows[1].Result.Splits
	require.Len(t, got, 1)
	require.Equal(t, uint64(1), got[0].Seed)
	require.Equal(t, lin.Result.Splits[1].R2, got[0].R2)
	text, _, err = runTabpfn(t, "eval", "--task", "regression", "--model", model, "--splits", "2", "--first-split", "3", dir)
	require.NoError(t, err)
	require.Contains(t, text, "2 splits per dataset (seeds 3 to 4)")

	// --train-cap departs from the protocol's 1000 training rows per split, and says so.
	stdout, stderr, err = runTabpfn(t, "eval", "--task", "regression", "--model", model, "--splits", "1", "--train-cap", "12", "--json", dir)
	require.NoError(t, err, stderr)
	var capped evalRegReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &capped))
	require.Equal(t, 12, capped.TrainCap)
	require.Equal(t, 12, capped.Rows[1].Result.Splits[0].TrainRows)
	require.Equal(t, 25, lin.Result.Splits[0].TrainRows, "under the protocol all 25 training rows of a 50/50 split are kept")
	text, _, err = runTabpfn(t, "eval", "--task", "regression", "--model", model, "--splits", "1", "--train-cap", "12", dir)
	require.NoError(t, err)
	require.Contains(t, text, "training rows capped at 12 per split, not the protocol's 1000")
}
