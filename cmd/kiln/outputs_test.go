package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/bench"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/internal/interrupt"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

const tinyTrainConfig = `{"layers":1,"width":8,"heads":2,"mlp_width":16,"feature_dim":4,"max_classes":10,"max_features":8,"max_train_rows":64}`

// smallTables writes a training and a test CSV of 3 classes and returns their paths.
func smallTables(t *testing.T, dir string) (train, test string) {
	t.Helper()
	header := []string{"a", "b", "kind"}
	var rows [][]string
	for i := 0; i < 24; i++ {
		k := i % 3
		rows = append(rows, []string{strings.Repeat("1", k+1), strings.Repeat("2", 3-k), []string{"x", "y", "z"}[k]})
	}
	train, test = filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	writeCSV(t, train, header, rows[:18])
	writeCSV(t, test, header, rows[18:])
	return train, test
}

func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	require.Empty(t, left, "temporary files left behind")
}

// predict --out onto any of its inputs (by the same path, another spelling of it, a link to
// it, or a hard link) fails before anything is read, and the input stays byte-identical.
func TestPredictNeverWritesOverAnInput(t *testing.T) {
	model := tinyCheckpoint(t)
	dir := t.TempDir()
	train, test := smallTables(t, dir)
	before, err := os.ReadFile(train)
	require.NoError(t, err)
	link, hard := filepath.Join(dir, "link.csv"), filepath.Join(dir, "hard.csv")
	require.NoError(t, os.Symlink(train, link))
	require.NoError(t, os.Link(train, hard))
	for _, out := range []string{train, filepath.Join(dir, ".", "train.csv"), link, hard, test, model} {
		_, _, err := runTabpfn(t, "predict", "--train", train, "--test", test, "--model", model, "--ensemble", "1", "--out", out)
		require.Error(t, err, "--out %s", out)
		require.Contains(t, err.Error(), "refusing to write over an input")
		after, err := os.ReadFile(train)
		require.NoError(t, err)
		require.Equal(t, before, after, "--out %s changed the training file", out)
	}
	_, _, err = runTabpfn(t, "predict", "--demo", "--model", model, "--out", model)
	require.ErrorContains(t, err, "refusing to write over an input")
	// A fresh output is written, mode 0644, with no temporary file left.
	out := filepath.Join(dir, "preds.csv")
	_, _, err = runTabpfn(t, "predict", "--train", train, "--test", test, "--model", model, "--ensemble", "1", "--out", out)
	require.NoError(t, err)
	st, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	noTempFiles(t, dir)
}

// An output that cannot be written fails before the work: predict before reading the model
// (a missing one would be the error otherwise) and train before its first step.
func TestUnwritableOutputFailsFirst(t *testing.T) {
	dir := t.TempDir()
	train, test := smallTables(t, dir)
	notDir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o644))
	for _, out := range []string{filepath.Join(dir, "missing", "preds.csv"), filepath.Join(notDir, "preds.csv"), dir} {
		_, _, err := runTabpfn(t, "predict", "--train", train, "--test", test, "--model", filepath.Join(dir, "no-model.safetensors"), "--out", out)
		require.Error(t, err)
		require.Contains(t, err.Error(), "--out", "predict --out %s", out)
		require.NotContains(t, err.Error(), "no-model")
	}
	start := time.Now()
	_, _, err := runTrain(t, "--out", filepath.Join(dir, "missing", "run.safetensors"), "--config", tinyTrainConfig, "--steps", "100000000")
	require.ErrorContains(t, err, "--out")
	_, _, err = runTrain(t, "--out", filepath.Join(dir, "run.safetensors"), "--export", filepath.Join(notDir, "m.safetensors"),
		"--config", tinyTrainConfig, "--steps", "100000000")
	require.ErrorContains(t, err, "--export")
	require.Less(t, time.Since(start), 10*time.Second)
	_, err = runLinalg(t, "sparse", "--n", "64", "--block", "8", "--plot", filepath.Join(dir, "missing", "p.png"))
	require.ErrorContains(t, err, "--plot")
	_, err = runOptim(t, "compare", "--dataset", train, "--plot", train)
	require.ErrorContains(t, err, "refusing to write over an input")
}

// train --out onto an existing file that is not being resumed needs --force; without it the
// file is left as it was.
func TestTrainOutNeedsResumeOrForce(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "unrelated.csv")
	require.NoError(t, os.WriteFile(other, []byte("a,b\n1,2\n"), 0o644))
	args := []string{"--out", other, "--config", tinyTrainConfig, "--steps", "1", "--batch", "2", "--max-rows", "40", "--max-features", "4"}
	_, _, err := runTrain(t, args...)
	require.Error(t, err)
	require.Contains(t, err.Error(), "already exists")
	require.Contains(t, err.Error(), "--force")
	got, _ := os.ReadFile(other)
	require.Equal(t, "a,b\n1,2\n", string(got))
	_, _, err = runTrain(t, append(args, "--resume", "--force")...)
	require.ErrorContains(t, err, "give one")
	_, stderr, err := runTrain(t, append(args, "--force")...)
	require.NoError(t, err, stderr)
	_, err = tabpfn.Resume(device.MustGet("cpu"), other, 0)
	require.NoError(t, err, "--force did not leave a checkpoint")
	// --export over --out is refused too.
	_, _, err = runTrain(t, "--out", other, "--resume", "--steps", "2", "--export", other)
	require.ErrorContains(t, err, "both name")
}

// Temporary files a killed run left beside its checkpoint are removed when the next run
// starts, with a note naming them; a young one (a writer still running) is kept.
func TestTrainCleansStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run.safetensors")
	stale, young := filepath.Join(dir, ".run.safetensors.tmp-111"), filepath.Join(dir, ".run.safetensors.tmp-222")
	for _, p := range []string{stale, young} {
		require.NoError(t, os.WriteFile(p, make([]byte, 1<<16), 0o644))
	}
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))
	_, stderr, err := runTrain(t, "--out", run, "--config", tinyTrainConfig, "--steps", "1", "--batch", "2", "--max-rows", "40", "--max-features", "4")
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "removed "+stale)
	_, err = os.Stat(stale)
	require.True(t, os.IsNotExist(err))
	_, err = os.Stat(young)
	require.NoError(t, err)
}

// cancelAt is a writer for the training progress that cancels ctx, as a SIGTERM does, once
// step is reported.
type cancelAt struct {
	buf    bytes.Buffer
	step   string
	cancel context.CancelCauseFunc
}

func (c *cancelAt) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.step) {
		c.cancel(&interrupt.Cause{Signal: syscall.SIGTERM})
	}
	return len(p), nil
}

func storedTrainConfig(t *testing.T, path string) tabpfn.TrainConfig {
	t.Helper()
	var tc tabpfn.TrainConfig
	require.NoError(t, json.Unmarshal([]byte(exportMeta(t, path)["tabpfn.train_config"]), &tc))
	return tc
}

// An interrupted run saves its checkpoint and returns the signal's exit status; resumed with
// the same command line it continues the same phase, and only a changed phase-defining flag
// starts a new one.
func TestTrainInterruptAndResumeSamePhase(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run.safetensors")
	args := []string{"--out", run, "--config", tinyTrainConfig, "--steps", "6", "--batch", "2", "--min-rows", "20",
		"--max-rows", "40", "--max-features", "4", "--lr", "5e-4", "--warmup", "3", "--prior-mechanisms", "extended"}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	cmd := newTabpfnTrainCmd()
	progress := &cancelAt{step: "step 2/6", cancel: cancel}
	var stdout bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(progress)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	require.Error(t, err)
	require.Equal(t, 143, interrupt.ExitCode(err), "exit status of an interrupted run (%v)", err)
	require.Contains(t, progress.buf.String(), "interrupted at step 2 of 6")
	require.NotContains(t, stdout.String(), "trained to step")
	tc := storedTrainConfig(t, run)
	require.Equal(t, 0, tc.ScheduleStart)
	require.Equal(t, "2", exportMeta(t, run)["tabpfn.step"])

	// The same command line with --resume: the same phase, continued to step 6.
	out, stderr, err := runTrain(t, append(args, "--resume")...)
	require.NoError(t, err, stderr)
	require.NotContains(t, stderr, "new phase")
	require.Contains(t, stderr, "resuming "+run+" at step 2 of 6")
	require.Contains(t, out, "trained to step 6")
	after := storedTrainConfig(t, run)
	require.Equal(t, tc, after, "an identical resume changed the training config")

	// A changed phase-defining flag starts a new phase.
	_, stderr, err = runTrain(t, append(args, "--resume", "--steps", "8", "--max-rows", "48")...)
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "new phase from step 6")
	require.Equal(t, 6, storedTrainConfig(t, run).ScheduleStart)
}

func TestBenchAnchorsFlag(t *testing.T) {
	root := testRoot()
	err := executeRoot(t, root, []string{"bench", "--only", "copy", "--quick", "--anchors", filepath.Join(t.TempDir(), "none.py")})
	require.ErrorContains(t, err, "--anchors")
	dir := t.TempDir()
	err = executeRoot(t, root, []string{"bench", "--only", "copy", "--quick", "--anchors", dir})
	require.ErrorContains(t, err, "directory")
}

// TestBenchAllreduceGroup runs `kiln bench --only allreduce` in one process (the world of
// size 1): every size is timed with its fixed repetitions and reported in the allreduce
// group. mk/test-mpi.sh runs it under mpirun with the MPI_Allreduce anchor.
func TestBenchAllreduceGroup(t *testing.T) {
	root := testRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	defer root.SetOut(nil)
	bc, _, err := root.Find([]string{"bench"})
	require.NoError(t, err)
	reset := func() { // the command's flags keep the values of earlier tests' runs
		bc.Flags().VisitAll(func(f *pflag.Flag) { require.NoError(t, f.Value.Set(f.DefValue)) })
	}
	reset()
	defer reset()
	require.NoError(t, executeRoot(t, root, []string{"bench", "--only", "allreduce", "--quick", "--no-anchor", "--json"}))
	var rep struct {
		Results []bench.Result `json:"results"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	var names []string
	for _, r := range rep.Results {
		require.Equal(t, "allreduce", r.Group)
		require.Empty(t, r.Error)
		require.Greater(t, r.Rate, 0.0)
		names = append(names, r.Name)
	}
	require.Equal(t, []string{"allreduce f32 4 KiB", "allreduce f32 1024 KiB"}, names)
}
