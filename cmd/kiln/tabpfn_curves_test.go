package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTabpfnCurves(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "run.log")
	// A resumed run appends to its log from an earlier checkpoint: step 3 comes again.
	text := `new run from the weights of x
step 1/5  loss 1.50  avg 1.5  lr 1e-05  |g| 1  2 datasets/s  elapsed 1s  eta 4s
step 2/5  loss 1.40  avg 1.4  lr 1e-05  |g| 1  2 datasets/s  elapsed 1s  eta 4s
step 3/5  loss 1.30  avg 1.3  lr 1e-05  |g| 1  2 datasets/s  elapsed 1s  eta 4s
resuming run.safetensors at step 2 of 5
step 3/5  loss 1.35  avg 1.3  lr 1e-05  |g| 1  2 datasets/s  elapsed 1s  eta 4s
step 4/5  loss 1.20  avg 1.3  lr 1e-05  |g| 1  2 datasets/s  elapsed 1s  eta 4s
`
	if err := os.WriteFile(log, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	steps, loss, err := readTrainLog(log)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(steps, []int{1, 2, 3, 4}) || !slices.Equal(loss, []float64{1.5, 1.4, 1.35, 1.2}) {
		t.Fatalf("steps %v loss %v", steps, loss)
	}
	cmd := newTabpfnCurvesCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	png := filepath.Join(dir, "c.png")
	cmd.SetArgs([]string{"--out", png, "--window", "2", "mine=" + log})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err, out.String())
	}
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("no PNG written: %v", err)
	}
	cmd = newTabpfnCurvesCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--out", log, log})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("a plot over its own input: %v", err)
	}
}

func TestMovingWindow(t *testing.T) {
	v := []float64{1, 2, 3, 100, 5, 6}
	require.Equal(t, []float64{2, 35, 36, 37}, movingWindow(v, 3, false))
	require.Equal(t, []float64{2, 3, 5, 6}, movingWindow(v, 3, true), "an outlier moves the median by one rank, not by its size")
	require.Equal(t, []float64{2.5, 4, 5.5}, movingWindow(v, 4, true))
	require.Equal(t, []float64{117.0 / 6}, movingWindow(v, 10, false), "a series shorter than the window: one value over all of it")
	require.Nil(t, movingWindow(nil, 3, true))
}

func TestTabpfnCurvesOffset(t *testing.T) {
	dir := t.TempDir()
	first, next := filepath.Join(dir, "first.log"), filepath.Join(dir, "next.log")
	line := func(step int, loss string) string {
		return "step " + strconv.Itoa(step) + "/9  loss " + loss + "  avg 1  lr 1e-05  |g| 1  2 datasets/s  elapsed 1s  eta 4s\n"
	}
	require.NoError(t, os.WriteFile(first, []byte(line(1, "1.5")+line(2, "1.4")), 0o644))
	require.NoError(t, os.WriteFile(next, []byte(line(1, "1.3")+line(2, "1.2")), 0o644))

	all, _, err := readCurves([]string{"a=" + first, "b=" + next}, map[string]int{"b": 2})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, all[0].steps, "a log without an offset keeps its steps")
	require.Equal(t, []int{3, 4}, all[1].steps, "the continued run follows the first")
	require.Equal(t, []float64{1.3, 1.2}, all[1].loss)

	_, _, err = readCurves([]string{"a=" + first}, map[string]int{"c": 2})
	require.ErrorContains(t, err, `no log is labelled "c"`)
	_, _, err = readCurves([]string{"a=" + first}, map[string]int{"a": -1})
	require.ErrorContains(t, err, "must not be negative")

	cmd := newTabpfnCurvesCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--out", filepath.Join(dir, "c.png"), "--window", "1", "--offset", "b=2", "a=" + first, "b=" + next})
	require.NoError(t, cmd.Execute(), out.String())
}
