package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// finetune writes a model that predict loads, refuses to write over an input or an existing
// file without --force, and records what it did in the model's metadata.
func TestTabpfnFinetune(t *testing.T) {
	model := tinyCheckpoint(t)
	dir := t.TempDir()
	header := []string{"a", "b", "kind"}
	var rows [][]string
	for i := 0; i < 60; i++ {
		k := i % 3
		rows = append(rows, []string{strings.Repeat("1", k+1), strings.Repeat("2", 3-k+i%2), []string{"x", "y", "z"}[k]})
	}
	train := filepath.Join(dir, "train.csv")
	writeCSV(t, train, header, rows)
	out := filepath.Join(dir, "ft.safetensors")
	stdout, stderr, err := runTabpfn(t, "finetune", "--train", train, "--model", model, "--out", out,
		"--steps", "4", "--eval-every", "2", "--context-rows", "24", "--query-rows", "8", "--ensemble", "1")
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "fine-tuned")
	require.Contains(t, stderr, "step 0: held-out log loss")
	meta := exportMeta(t, out)
	require.Equal(t, "train.csv", meta["tabpfn.finetuned_on"])
	require.NotEmpty(t, meta["tabpfn.finetune_best_loss"])

	_, stderr, err = runTabpfn(t, "predict", "--train", train, "--test", train, "--model", out, "--ensemble", "1",
		"--out", filepath.Join(dir, "p.csv"))
	require.NoError(t, err, stderr)

	_, _, err = runTabpfn(t, "finetune", "--train", train, "--model", model, "--out", out, "--steps", "1")
	require.ErrorContains(t, err, "--force")
	before, err := os.ReadFile(train)
	require.NoError(t, err)
	for _, bad := range []string{train, model} {
		_, _, err = runTabpfn(t, "finetune", "--train", train, "--model", model, "--out", bad, "--steps", "1", "--force")
		require.ErrorContains(t, err, "refusing to write over an input")
	}
	after, err := os.ReadFile(train)
	require.NoError(t, err)
	require.Equal(t, before, after)
	_, _, err = runTabpfn(t, "finetune", "--train", train)
	require.ErrorContains(t, err, "--out")
	noTempFiles(t, dir)
}
