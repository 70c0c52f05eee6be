package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// embed writes one row of 16 values (the tiny model's width) per test row, the same on a
// second run, atomically and never over an input.
func TestTabpfnEmbed(t *testing.T) {
	model := tinyCheckpoint(t)
	dir := t.TempDir()
	train, test := smallTables(t, dir)
	out := filepath.Join(dir, "emb.csv")
	stdout, stderr, err := runTabpfn(t, "embed", "--train", train, "--test", test, "--model", model, "--out", out)
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "wrote 6 embeddings of 16 values")
	rows := readCSV(t, out)
	require.Len(t, rows, 7)
	require.Equal(t, "e0", rows[0][0])
	require.Len(t, rows[0], 16)
	for _, r := range rows[1:] {
		require.Len(t, r, 16)
		for _, v := range r {
			_, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
		}
	}
	first, err := os.ReadFile(out)
	require.NoError(t, err)
	out2 := filepath.Join(dir, "emb2.csv")
	_, _, err = runTabpfn(t, "embed", "--train", train, "--test", test, "--model", model, "--out", out2, "--ensemble", "2")
	require.NoError(t, err)
	rows2 := readCSV(t, out2)
	require.Len(t, rows2[0], 32, "two members' embeddings side by side")
	require.Equal(t, rows[1], rows2[1][:16], "the first member is the same")
	_, _, err = runTabpfn(t, "embed", "--train", train, "--test", test, "--model", model, "--out", out)
	require.NoError(t, err)
	again, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, first, again, "embeddings differ between runs")

	before, err := os.ReadFile(test)
	require.NoError(t, err)
	for _, bad := range []string{test, train, model} {
		_, _, err := runTabpfn(t, "embed", "--train", train, "--test", test, "--model", model, "--out", bad)
		require.ErrorContains(t, err, "refusing to write over an input")
	}
	after, err := os.ReadFile(test)
	require.NoError(t, err)
	require.Equal(t, before, after)
	noTempFiles(t, dir)
	_, _, err = runTabpfn(t, "embed", "--train", train)
	require.ErrorContains(t, err, "give --train and --test")
	_, _, err = runTabpfn(t, "embed", "--train", train, "--test", test, "--model", model, "--out", out2, "--local-context", "64")
	require.ErrorContains(t, err, "embeddings need one context for every row")
	_, _, err = runTabpfn(t, "embed", "--train", train, "--test", test, "--model", model, "--out", out2, "--local-context", "0")
	require.NoError(t, err)
}
