package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeReport writes text to name in dir and returns its path.
func writeReport(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// runReport runs `kiln tabpfn report` with args and returns its output.
func runReport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return execute(newTabpfnReportCmd(), args...)
}

// Two partial classification reports combine split by split: a split both hold comes from
// the later one, a dataset with fewer splits is marked, and a skipped dataset stays out of
// the means.
func TestTabpfnReportCombinesSplits(t *testing.T) {
	dir := t.TempDir()
	first := writeReport(t, dir, "first.json", `{"device": "cpu", "datasets": [
	 {"dataset": "a", "result": {"splits": [{"seed": 0, "auc": 0.9}, {"seed": 1, "auc": 0.8}], "auc": 0.85},
	  "baselines": {"rf": {"auc": 0.70}, "logreg": {"auc": 0.60}, "hgb": {"auc": 0.99}}},
	 {"dataset": "b", "result": {"splits": [{"seed": 0, "auc": 0.7}]},
	  "baselines": {"rf": {"auc": 0.90}, "logreg": {"auc": 0.80}}}]}`)
	second := writeReport(t, dir, "second.json", `{"datasets": [
	 {"dataset": "a", "result": {"splits": [{"seed": 1, "auc": 0.6}]},
	  "baselines": {"rf": {"auc": 0.70}, "logreg": {"auc": 0.60}}},
	 {"dataset": "c", "skipped": "26 classes > --max-classes 10", "baselines": {"rf": {"auc": 0.5}, "logreg": {"auc": 0.5}}},
	 {"dataset": "b", "result": {"splits": [{"seed": 2, "auc": 0.8}]},
	  "baselines": {"rf": {"auc": 0.90}, "logreg": {"auc": 0.80}}},
	 {"dataset": "d", "result": {"splits": [{"seed": 0, "auc": 0.5}]}}]}`)

	out, err := runReport(t, first, second)
	require.NoError(t, err, out)
	lines := strings.Split(out, "\n")
	require.Equal(t, "| dataset | splits | kiln ROC AUC | forest | kiln − forest | logistic regression | kiln − logistic regression |", lines[0])
	// a: seeds 0 and 1, the later report's 0.6 replacing 0.8.
	require.Equal(t, "| a | 2 | 0.7500 | 0.7000 | +0.0500 | 0.6000 | +0.1500 |", lines[2])
	require.Equal(t, "| b | 2 | 0.7500 | 0.9000 | -0.1500 | 0.8000 | -0.0500 |", lines[3])
	require.Equal(t, "| c | 0 | skipped: 26 classes > --max-classes 10 | 0.5000 | | 0.5000 | |", lines[4])
	require.Equal(t, "| d | 1 (of 2) | 0.5000 |  |  |  |  |", lines[5])
	require.Equal(t, "| **mean of 2** | | **0.75000** | 0.80000 | **-0.05000** | 0.70000 | +0.05000 |", lines[6])
	require.Contains(t, out, "2 of 4 datasets lack a score or a reference and are not in the mean.")

	// The other order takes a's seed 1 from the first report.
	out, err = runReport(t, second, first)
	require.NoError(t, err, out)
	require.Contains(t, out, "| a | 2 | 0.8500 |")

	sum, err := readEvalReports([]string{first, second})
	require.NoError(t, err)
	p, err := sum.plot("t")
	require.NoError(t, err)
	require.Len(t, p.rows, 2)
	require.Equal(t, []string{"b", "a"}, []string{p.rows[0].dataset, p.rows[1].dataset}) // furthest below the forest first
}

// Regression reports compare R² with the forest and ridge, and the chart is written.
func TestTabpfnReportRegressionPlot(t *testing.T) {
	dir := t.TempDir()
	rep := writeReport(t, dir, "reg.json", `{"task": "regression", "datasets": [
	 {"dataset": "servo", "result": {"splits": [{"seed": 0, "r2": 0.85, "rmse": 1}, {"seed": 1, "r2": 0.83}]},
	  "baselines": {"rf": {"r2": 0.89}, "ridge": {"r2": 0.50}}},
	 {"dataset": "cpus", "result": {"splits": [{"seed": 0, "r2": 0.88}, {"seed": 1, "r2": 0.86}]},
	  "baselines": {"rf": {"r2": 0.78}, "ridge": {"r2": 0.80}}}]}`)
	svg := filepath.Join(dir, "r2.svg")
	out, err := runReport(t, rep, "--plot", svg)
	require.NoError(t, err, out)
	require.Contains(t, out, "| dataset | splits | kiln R² | forest | kiln − forest | ridge | kiln − ridge |")
	require.Contains(t, out, "| servo | 2 | 0.8400 | 0.8900 | -0.0500 | 0.5000 | +0.3400 |")
	require.Contains(t, out, "| **mean of 2** | | **0.85500** | 0.83500 | **+0.02000** | 0.65000 | +0.20500 |")
	b, err := os.ReadFile(svg)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(bytes.TrimSpace(b), []byte("<?xml")), "not an SVG")
	for _, s := range []string{"servo", "cpus", "ridge", "mean R² 0.85500, forest 0.83500 (+0.02000)"} {
		require.Contains(t, string(b), s)
	}
}

// Bad input gets an error that names the file: reports of two tasks, a file that is not a
// report, a split without a score, an empty report, and a chart over an input.
func TestTabpfnReportBadInput(t *testing.T) {
	dir := t.TempDir()
	cls := writeReport(t, dir, "cls.json", `{"datasets": [{"dataset": "a", "result": {"splits": [{"seed": 0, "auc": 0.9}]}}]}`)
	reg := writeReport(t, dir, "reg.json", `{"task": "regression", "datasets": [{"dataset": "a", "result": {"splits": [{"seed": 0, "r2": 0.9}]}}]}`)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{cls, reg}, "reg.json is a regression report and " + cls + " a classification one"},
		{[]string{writeReport(t, dir, "torn.json", `{"datasets": [{"dataset": "a", "res`)}, "torn.json: not a kiln tabpfn eval --json report"},
		{[]string{writeReport(t, dir, "task.json", `{"task": "ranking", "datasets": []}`)}, `task.json: unknown task "ranking"`},
		{[]string{writeReport(t, dir, "null.json", `{"datasets": [{"dataset": "a", "result": {"splits": [{"seed": 3, "auc": null}]}}]}`)}, "null.json: a, split 3: no finite ROC AUC"},
		{[]string{writeReport(t, dir, "empty.json", `{"datasets": []}`)}, "the reports hold no datasets"},
		{[]string{writeReport(t, dir, "noname.json", `{"datasets": [{"result": {"splits": []}}]}`)}, "noname.json: a dataset without a name"},
		{[]string{cls, "--plot", cls}, "--plot"},
		{[]string{cls, "--plot", filepath.Join(dir, "c.svg")}, "no dataset has both a score and the forest's and the linear model's references"},
		{[]string{filepath.Join(dir, "missing.json")}, "missing.json"},
	} {
		out, err := runReport(t, c.args...)
		require.Error(t, err, "%v: %s", c.args, out)
		require.Contains(t, err.Error(), c.want, c.args)
	}
	b, err := os.ReadFile(cls)
	require.NoError(t, err)
	require.Contains(t, string(b), `"auc": 0.9`, "the input was overwritten")
}
