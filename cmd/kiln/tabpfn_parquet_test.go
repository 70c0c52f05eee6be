package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/examples/wine"
)

// writeTableParquet writes rows of a loaded table as Parquet: one optional double column per
// feature (null where X is NaN), in the table's column order, and, when withTarget, the class
// name as a dictionary-encoded string column. The schema is a struct type built at run time so
// that the column order is the table's (parquet.Group would sort the names).
func writeTableParquet(t *testing.T, path string, tab *data.Table, rows []int, withTarget bool) {
	t.Helper()
	var fields []reflect.StructField
	for j, c := range tab.Columns {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", j), Type: reflect.TypeFor[*float64](),
			Tag: reflect.StructTag(fmt.Sprintf(`parquet:"%s,optional"`, c.Name)),
		})
	}
	if withTarget {
		fields = append(fields, reflect.StructField{
			Name: "Target", Type: reflect.TypeFor[string](),
			Tag: reflect.StructTag(fmt.Sprintf(`parquet:"%s,dict"`, tab.Target)),
		})
	}
	st := reflect.StructOf(fields)
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, parquet.SchemaOf(reflect.New(st).Interface()))
	for _, i := range rows {
		v := reflect.New(st).Elem()
		for j := range tab.Columns {
			if x := tab.X.At(i, j); !math.IsNaN(x) {
				v.Field(j).Set(reflect.ValueOf(&x))
			}
		}
		if withTarget {
			v.Field(len(tab.Columns)).SetString(tab.Classes[tab.Y[i]])
		}
		require.NoError(t, w.Write(v.Addr().Interface()))
	}
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// kiln tabpfn predict gives the same predictions for the wine data as Parquet as for the same
// rows as CSV, with missing cells (empty in CSV, null in Parquet) and a test file without the
// class column.
func TestTabpfnPredictParquet(t *testing.T) {
	model := tinyCheckpoint(t)
	dir := t.TempDir()

	recs, err := csv.NewReader(bytes.NewReader(wine.CSV)).ReadAll()
	require.NoError(t, err)
	header, body := recs[0], recs[1:]
	// A few missing cells, so nulls are exercised: blank in the CSV text.
	for _, ij := range [][2]int{{0, 1}, {4, 0}, {7, 12}, {30, 5}, {31, 5}} {
		body[ij[0]][ij[1]] = ""
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	require.NoError(t, cw.Write(header))
	require.NoError(t, cw.WriteAll(body))
	tab, err := data.ReadCSV(bytes.NewReader(buf.Bytes()), data.Options{})
	require.NoError(t, err)
	require.Equal(t, 5, tab.MissingCount())

	// Wine rows are sorted by class: every third row keeps all classes on both sides.
	var trainRows, testRows []int
	for i := range body {
		switch i % 3 {
		case 0:
			trainRows = append(trainRows, i)
		case 1:
			testRows = append(testRows, i)
		}
	}
	csvRows := func(idx []int, cols int) [][]string {
		var out [][]string
		for _, i := range idx {
			out = append(out, body[i][:cols])
		}
		return out
	}
	nf := len(header) - 1
	writeCSV(t, filepath.Join(dir, "train.csv"), header, csvRows(trainRows, nf+1))
	writeCSV(t, filepath.Join(dir, "test.csv"), header[:nf], csvRows(testRows, nf))
	writeCSV(t, filepath.Join(dir, "labelled.csv"), header, csvRows(testRows, nf+1))
	writeTableParquet(t, filepath.Join(dir, "train.parquet"), tab, trainRows, true)
	writeTableParquet(t, filepath.Join(dir, "test.pq"), tab, testRows, false)
	writeTableParquet(t, filepath.Join(dir, "labelled.parquet"), tab, testRows, true)

	predict := func(train, test string) (string, string) {
		t.Helper()
		stdout, stderr, err := runTabpfn(t, "predict", "--train", filepath.Join(dir, train), "--test", filepath.Join(dir, test),
			"--model", model, "--ensemble", "2")
		require.NoError(t, err, stderr)
		return stdout, stderr
	}
	wantPreds, _ := predict("train.csv", "test.csv")
	gotPreds, _ := predict("train.parquet", "test.pq")
	require.Equal(t, wantPreds, gotPreds)
	got, err := csv.NewReader(bytes.NewReader([]byte(gotPreds))).ReadAll()
	require.NoError(t, err)
	require.Len(t, got, len(testRows)+1)
	require.Equal(t, []string{"p_class_0", "p_class_1", "p_class_2", "predicted"}, got[0])
	// The formats mix: a CSV model context predicts a Parquet test file the same way.
	mixed, _ := predict("train.csv", "test.pq")
	require.Equal(t, wantPreds, mixed)

	// With the class column the printed scores agree too.
	wantOut, wantErr := predict("train.csv", "labelled.csv")
	gotOut, gotErr := predict("train.parquet", "labelled.parquet")
	require.Equal(t, wantOut, gotOut)
	seconds := regexp.MustCompile(`[0-9.]+ s on`) // wall time differs between runs
	require.Equal(t, seconds.ReplaceAllString(wantErr, "s on"), seconds.ReplaceAllString(gotErr, "s on"))
	require.Contains(t, wantOut+wantErr, "accuracy")

	// A file that is not Parquet under a Parquet name is a clear error naming it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fake.parquet"), wine.CSV, 0o644))
	_, _, err = runTabpfn(t, "predict", "--train", filepath.Join(dir, "fake.parquet"), "--test", filepath.Join(dir, "test.pq"),
		"--model", model)
	require.ErrorContains(t, err, "fake.parquet")
	require.ErrorContains(t, err, "not a Parquet file")
}

// kiln tabpfn eval takes a folder's CSV and Parquet files, sorted, and nothing else.
func TestEvalPathsIncludeParquet(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.parquet", "a.csv", "c.pq", "notes.txt", "d.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	got, err := csvPaths([]string{dir})
	require.NoError(t, err)
	var want []string
	for _, name := range []string{"a.csv", "b.parquet", "c.pq"} {
		want = append(want, filepath.Join(dir, name))
	}
	require.Equal(t, want, got)
}
