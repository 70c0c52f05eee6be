package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/examples/wine"
	"github.com/kiln-ml/kiln/metrics"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// tinyCheckpoint saves a small randomly initialised model, standing in for the embedded one.
func tinyCheckpoint(t *testing.T) string {
	t.Helper()
	m, err := tabpfn.New(device.MustGet("cpu"), tabpfn.Config{Layers: 1, Width: 16, Heads: 2, MLPWidth: 32, FeatureDim: 8,
		MaxClasses: 10, MaxFeatures: 20, MaxRows: 256}, 3)
	require.NoError(t, err)
	defer m.Release()
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	require.NoError(t, m.Save(path, nil, nil))
	return path
}

func runTabpfn(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var cmd = newTabpfnPredictCmd()
	switch args[0] {
	case "eval":
		cmd = newTabpfnEvalCmd()
	case "embed":
		cmd = newTabpfnEmbedCmd()
	case "finetune":
		cmd = newTabpfnFinetuneCmd()
	case "predict":
	default:
		t.Fatalf("unknown subcommand %q", args[0])
	}
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args[1:])
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

// The demo's printed scores match the library run by hand on the same split and model.
func TestTabpfnPredictDemo(t *testing.T) {
	model := tinyCheckpoint(t)
	out, _, err := runTabpfn(t, "predict", "--demo", "--model", model, "--ensemble", "2")
	require.NoError(t, err, out)

	tab, err := data.ReadCSV(bytes.NewReader(wine.CSV), data.Options{})
	require.NoError(t, err)
	tr, te, err := data.StratifiedSplit(tab.Y, 3, 0.5, demoSeed)
	require.NoError(t, err)
	train, test := tab.Subset(tr), tab.Subset(te)
	c, err := tabpfn.NewClassifier(tabpfn.WithModelPath(model), tabpfn.WithEnsemble(2))
	require.NoError(t, err)
	defer c.Close()
	c.SetColumns(train.Columns)
	require.NoError(t, c.Fit(train.X, train.Y, 3))
	p, err := c.PredictProba(test.X)
	require.NoError(t, err)
	acc, err := metrics.Accuracy(test.Y, p)
	require.NoError(t, err)
	auc, err := metrics.ROCAUC(test.Y, p)
	require.NoError(t, err)

	m := regexp.MustCompile(`held-out accuracy ([0-9.]+)  ROC AUC ([0-9.]+)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	require.Equal(t, fmt.Sprintf("%.4f", acc), m[1])
	require.Equal(t, fmt.Sprintf("%.4f", auc), m[2])
	require.Contains(t, out, "89 held-out wines")
	require.Contains(t, out, "2 ensemble members and 2 per pair of cultivars (3 pairs)", "the automatic pairwise scheme on 3 classes")
	// Five example rows, each with a true and a predicted class.
	require.Len(t, regexp.MustCompile(`(?m)^\d+\s+class_\d\s+class_\d\s`).FindAllString(out, -1), 5, out)

	out, _, err = runTabpfn(t, "predict", "--demo", "--model", model, "--ensemble", "2", "--pairwise", "0")
	require.NoError(t, err, out)
	require.Contains(t, out, "with 2 ensemble members on cpu")
	_, _, err = runTabpfn(t, "predict", "--demo", "--model", model, "--pairwise", "-3")
	require.ErrorContains(t, err, `"-3" for "--pairwise" flag: -3 is out of range: want an integer from -1 to 256`)
	_, _, err = runTabpfn(t, "predict", "--demo", "--train", "x.csv")
	require.ErrorContains(t, err, "--demo uses the embedded wine data")
	_, _, err = runTabpfn(t, "predict")
	require.ErrorContains(t, err, "give --train and --test")
	_, _, err = runTabpfn(t, "predict", "--demo", "--model", filepath.Join(t.TempDir(), "none.safetensors"))
	require.ErrorContains(t, err, "none.safetensors")
}

func writeCSV(t *testing.T, path string, header []string, rows [][]string) {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	require.NoError(t, w.Write(header))
	require.NoError(t, w.WriteAll(rows))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	return recs
}

// Predictions from files: one probability column per class summing to one, the predicted
// class their argmax, and the printed accuracy that of the predicted column.
func TestTabpfnPredictFiles(t *testing.T) {
	model := tinyCheckpoint(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	header := []string{"a", "b", "colour", "kind"}
	var train, testLabelled, testBare [][]string
	for i := 0; i < 90; i++ {
		k := i % 3
		row := []string{
			strconv.FormatFloat(float64(k)+rng.NormFloat64(), 'f', 4, 64),
			strconv.FormatFloat(-float64(k)+rng.NormFloat64(), 'f', 4, 64),
			[]string{"red", "green", "blue"}[rng.IntN(3)],
			[]string{"x", "y", "z"}[k],
		}
		if i%7 == 0 {
			row[1] = "NA"
		}
		if i < 60 {
			train = append(train, row)
		} else {
			testLabelled = append(testLabelled, row)
			testBare = append(testBare, row[:3])
		}
	}
	writeCSV(t, filepath.Join(dir, "train.csv"), header, train)
	writeCSV(t, filepath.Join(dir, "test.csv"), header, testLabelled)
	writeCSV(t, filepath.Join(dir, "new.csv"), header[:3], testBare)

	out := filepath.Join(dir, "preds.csv")
	stdout, _, err := runTabpfn(t, "predict", "--train", filepath.Join(dir, "train.csv"), "--test", filepath.Join(dir, "test.csv"),
		"--target", "kind", "--model", model, "--ensemble", "2", "--out", out)
	require.NoError(t, err)
	recs := readCSV(t, out)
	require.Equal(t, []string{"p_x", "p_y", "p_z", "predicted"}, recs[0])
	require.Len(t, recs, 31)
	correct := 0
	for i, rec := range recs[1:] {
		sum, best, bestP := 0.0, 0, -1.0
		for c := 0; c < 3; c++ {
			v, err := strconv.ParseFloat(rec[c], 64)
			require.NoError(t, err)
			sum += v
			if v > bestP {
				best, bestP = c, v
			}
		}
		require.InDelta(t, 1, sum, 1e-5)
		require.Equal(t, []string{"x", "y", "z"}[best], rec[3])
		if rec[3] == testLabelled[i][3] {
			correct++
		}
	}
	require.Contains(t, stdout, fmt.Sprintf("accuracy %.4f", float64(correct)/30))

	// Without the class column: the same predictions, no scores; CSV on standard output.
	stdout, stderr, err := runTabpfn(t, "predict", "--train", filepath.Join(dir, "train.csv"), "--test", filepath.Join(dir, "new.csv"),
		"--target", "kind", "--model", model, "--ensemble", "2")
	require.NoError(t, err)
	got, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, recs, got)
	require.NotContains(t, stderr, "accuracy")

	// Gaps in the test file's class column: every row is predicted (the same predictions), the
	// scores cover the labelled rows only, and a note says how many were left out.
	gappy := make([][]string, len(testLabelled))
	var keep []int
	for i, row := range testLabelled {
		gappy[i] = slices.Clone(row)
		if i%4 == 1 {
			gappy[i][3] = ""
		} else {
			keep = append(keep, i)
		}
	}
	gappy[2][3] = "NA"
	keep = slices.DeleteFunc(keep, func(i int) bool { return i == 2 })
	writeCSV(t, filepath.Join(dir, "gappy.csv"), header, gappy)
	stdout, stderr, err = runTabpfn(t, "predict", "--train", filepath.Join(dir, "train.csv"), "--test", filepath.Join(dir, "gappy.csv"),
		"--target", "kind", "--model", model, "--ensemble", "2")
	require.NoError(t, err)
	got, err = csv.NewReader(strings.NewReader(stdout)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, recs, got)
	require.Contains(t, stderr, fmt.Sprintf("note: %d of 30 test rows have no label; they are predicted but left out of the scores\n", 30-len(keep)))
	correct = 0
	for _, i := range keep {
		if recs[1+i][3] == testLabelled[i][3] {
			correct++
		}
	}
	require.Contains(t, stderr, fmt.Sprintf("accuracy %.4f  ROC AUC", float64(correct)/float64(len(keep))))

	// A test file missing a feature column is an error naming it.
	writeCSV(t, filepath.Join(dir, "bad.csv"), []string{"a", "kind"}, [][]string{{"1", "x"}})
	_, _, err = runTabpfn(t, "predict", "--train", filepath.Join(dir, "train.csv"), "--test", filepath.Join(dir, "bad.csv"),
		"--target", "kind", "--model", model)
	require.Error(t, err)
	require.Contains(t, err.Error(), "b")
}

func TestTabpfnEval(t *testing.T) {
	model := tinyCheckpoint(t)
	root := t.TempDir()
	dir := filepath.Join(root, "tabular")
	require.NoError(t, os.Mkdir(dir, 0o755))
	rng := rand.New(rand.NewPCG(3, 4))
	noisy := func(name string, k int) {
		var rows [][]string
		for i := 0; i < 60; i++ {
			c := i % k
			rows = append(rows, []string{
				strconv.FormatFloat(0.7*float64(c)+rng.NormFloat64(), 'f', 4, 64),
				strconv.FormatFloat(rng.NormFloat64(), 'f', 4, 64),
				fmt.Sprintf("c%d", c),
			})
		}
		writeCSV(t, filepath.Join(dir, name+".csv"), []string{"u", "v", "class"}, rows)
	}
	noisy("alpha", 2)
	noisy("beta", 2)
	noisy("gamma", 3)
	// alpha: the forest is perfect, logistic regression hopeless; beta: the reverse.
	refs := `{
 "alpha": {"rows": 60, "features": 2, "classes": 2, "models": {
   "logreg": {"auc": 0.0, "acc": 0.5, "logloss": 0.7, "sec": 0.01},
   "rf": {"auc": 1.0, "acc": 1.0, "logloss": 0.1, "sec": 0.5}}},
 "beta": {"rows": 60, "features": 2, "classes": 2, "models": {
   "logreg": {"auc": 1.0, "acc": 1.0, "logloss": 0.1, "sec": 0.01},
   "rf": {"auc": 0.0, "acc": 0.5, "logloss": 0.7, "sec": 0.5}}}
}`
	require.NoError(t, os.WriteFile(filepath.Join(root, "tabular-baselines.json"), []byte(refs), 0o644))

	stdout, stderr, err := runTabpfn(t, "eval", dir, "--model", model, "--ensemble", "1", "--splits", "2", "--max-classes", "2", "--json")
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "[1/3] alpha")
	var rep evalReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.Len(t, rep.Rows, 3)
	a, b, g := rep.Rows[0], rep.Rows[1], rep.Rows[2]
	require.Equal(t, "alpha", a.Dataset)
	require.Equal(t, "3 classes > --max-classes 2", g.Skipped)
	require.Len(t, a.Result.Splits, 2)
	require.Less(t, a.Result.AUC, 1.0)
	require.True(t, a.BelowRF)
	require.False(t, a.BelowLR)
	require.Equal(t, b.Result.AUC < 0.98, b.BelowLR)
	require.False(t, b.BelowRF)
	require.Equal(t, 2, rep.Mean.Datasets)
	require.InDelta(t, (a.Result.AUC+b.Result.AUC)/2, rep.Mean.AUC, 1e-12)
	require.InDelta(t, (a.Result.LogLoss+b.Result.LogLoss)/2, rep.Mean.LogLoss, 1e-12)
	require.InDelta(t, 0.5, rep.Mean.Refs["rf"].AUC, 1e-12)

	// The same run as a table, with the marks.
	stdout, _, err = runTabpfn(t, "eval", filepath.Join(dir, "alpha.csv"), "--model", model, "--ensemble", "1", "--splits", "2")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^alpha .*<rf`, stdout)
	require.Regexp(t, `(?m)^mean \(1\)`, stdout)
	require.NotRegexp(t, `(?m)^alpha .*<lr-0.02`, stdout)

	// A skipped dataset listed first keeps the columns of the rows after it aligned.
	stdout, _, err = runTabpfn(t, "eval", filepath.Join(dir, "gamma.csv"), filepath.Join(dir, "alpha.csv"),
		"--model", model, "--ensemble", "1", "--splits", "2", "--max-classes", "2")
	require.NoError(t, err)
	var header, alpha string
	for _, line := range strings.Split(stdout, "\n") {
		switch {
		case strings.HasPrefix(line, "dataset "):
			header = line
		case strings.HasPrefix(line, "alpha "):
			alpha = line
		}
	}
	require.Regexp(t, `(?m)^gamma .*skipped: 3 classes`, stdout)
	col := strings.Index(header, "AUC")
	require.Positive(t, col, stdout)
	require.Regexp(t, `^\d\.\d{4} `, alpha[col:], "alpha's AUC is not under the header's:\n%s", stdout)

	// --variants reaches the classifier: one member with the standard variant scores what
	// the library scores with it, and a misspelt name is refused before any dataset runs.
	stdout, stderr, err = runTabpfn(t, "eval", filepath.Join(dir, "alpha.csv"), "--model", model, "--ensemble", "1",
		"--splits", "2", "--variants", "standard-pca", "--json")
	require.NoError(t, err, stderr)
	var pca evalReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &pca), stdout)
	tab, err := data.Load(filepath.Join(dir, "alpha.csv"), data.Options{})
	require.NoError(t, err)
	mod, err := tabpfn.Load(device.MustGet("cpu"), model)
	require.NoError(t, err)
	defer mod.Release()
	proto := metrics.DefaultProtocol()
	proto.Splits = 2
	want, err := proto.Evaluate(context.Background(), tab, func() metrics.Classifier {
		c, err := tabpfn.NewClassifier(tabpfn.WithModel(mod), tabpfn.WithEnsemble(1),
			tabpfn.WithVariants(preprocess.VariantStandardPCA))
		require.NoError(t, err)
		return c
	})
	require.NoError(t, err)
	require.InDelta(t, want.AUC, pca.Rows[0].Result.AUC, 1e-12)
	require.NotEqual(t, a.Result.AUC, pca.Rows[0].Result.AUC, "the rotated variant should change the scores")
	// --train-cap departs from the protocol's 1000 training rows per split, and says so.
	stdout, stderr, err = runTabpfn(t, "eval", filepath.Join(dir, "alpha.csv"), "--model", model, "--ensemble", "1",
		"--splits", "1", "--train-cap", "12", "--json")
	require.NoError(t, err, stderr)
	var capped evalReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &capped), stdout)
	require.Equal(t, 12, capped.TrainCap)
	require.Equal(t, 12, capped.Rows[0].Result.Splits[0].TrainRows)
	require.Equal(t, 30, a.Result.Splits[0].TrainRows, "under the protocol all 30 training rows of a 50/50 split are kept")
	stdout, _, err = runTabpfn(t, "eval", filepath.Join(dir, "alpha.csv"), "--model", model, "--ensemble", "1",
		"--splits", "1", "--train-cap", "12")
	require.NoError(t, err)
	require.Contains(t, stdout, "training rows capped at 12 per split, not the protocol's 1000")

	_, _, err = runTabpfn(t, "eval", dir, "--model", model, "--variants", "power,standrd")
	require.ErrorContains(t, err, `unknown variant "standrd"`)

	_, _, err = runTabpfn(t, "eval", filepath.Join(root, "nothing"), "--model", model)
	require.ErrorContains(t, err, "nothing")
	_, _, err = runTabpfn(t, "eval", dir, "--model", model, "--baselines", filepath.Join(root, "missing.json"))
	require.ErrorContains(t, err, "missing.json")
	_, _, err = runTabpfn(t, "eval", root, "--model", model)
	require.ErrorContains(t, err, "no .csv files")
	if math.IsNaN(rep.Mean.AUC) {
		t.Fatal("mean AUC is NaN")
	}
}

// A model file whose config asks for a 200000-wide model is refused with the bound it
// breaks, rather than exhausting memory.
func TestTabpfnPredictRefusesHostileModel(t *testing.T) {
	cfg := `{"layers":4,"width":200000,"heads":4,"mlp_width":192,"feature_dim":16,"max_classes":10,"max_features":100,"max_train_rows":1024}`
	buf, err := checkpoint.Encode(nil, map[string]string{tabpfn.MetaConfig: cfg})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "wide.safetensors")
	require.NoError(t, os.WriteFile(path, buf, 0o644))
	_, _, err = runTabpfn(t, "predict", "--demo", "--model", path)
	require.ErrorContains(t, err, "tabpfn: config width 200000 is above the bound of 4096")
}

// A column of mostly numbers with a few other values is an error naming the cell; --missing
// reads such a marker as missing and --categorical reads the column as categories, and both
// then predict. The training table's options reach the test table: its "." is missing too.
func TestTabpfnPredictCategoricalAndMissing(t *testing.T) {
	dir := t.TempDir()
	train, test := filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	var rows [][]string
	for i := range 40 {
		h := fmt.Sprint(60 + i%15)
		if i == 7 {
			h = "."
		}
		rows = append(rows, []string{h, fmt.Sprint(i % 3), []string{"a", "b"}[i%2]})
	}
	writeCSV(t, train, []string{"height", "k", "target"}, rows)
	writeCSV(t, test, []string{"height", "k"}, [][]string{{"61", "0"}, {".", "1"}})
	_, _, err := runTabpfn(t, "predict", "--train", train, "--test", test)
	require.ErrorContains(t, err, `"." is not a number`)

	out, _, err := runTabpfn(t, "predict", "--train", train, "--test", test, "--missing", ".")
	require.NoError(t, err)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 3, "a header and 2 predictions: %s", out)

	out, _, err = runTabpfn(t, "predict", "--train", train, "--test", test, "--categorical", "height,k")
	require.NoError(t, err)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 3, "a header and 2 predictions: %s", out)
}

// A prediction of rows one by one reports how many are done: every row when the interval
// is zero, and nothing for a prediction shorter than the interval.
func TestRowProgress(t *testing.T) {
	var b strings.Builder
	fn := rowProgress(&b, 0)
	for i := 1; i <= 4; i++ {
		fn(i, 4)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 4)
	require.Contains(t, lines[0], "tabpfn: 1 of 4 rows predicted from their local contexts (25%), ETA ")
	require.Contains(t, lines[3], "4 of 4 rows predicted from their local contexts (100%), ETA 0s")

	b.Reset()
	fn = rowProgress(&b, time.Hour)
	for i := 1; i <= 4; i++ {
		fn(i, 4)
	}
	require.Empty(t, b.String())
}
