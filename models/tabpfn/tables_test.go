package tabpfn

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/examples/wine"
)

// FitPredictTables gives what SetColumns, Fit and PredictProba give by hand, and rejects a
// test table whose columns are not the training table's.
func TestFitPredictTables(t *testing.T) {
	m, err := DefaultModel(device.MustGet("cpu"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	tab, err := data.ReadCSV(bytes.NewReader(wine.CSV), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	trainIdx, testIdx, err := data.StratifiedSplit(tab.Y, tab.NumClasses(), 0.5, 0)
	if err != nil {
		t.Fatal(err)
	}
	train, test := tab.Subset(trainIdx), tab.Subset(testIdx)
	newClf := func() *Classifier {
		c, err := NewClassifier(WithModel(m), WithEnsemble(1), WithPairwise(0), WithSeed(3))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	got, err := newClf().FitPredictTables(train, test)
	if err != nil {
		t.Fatal(err)
	}
	c := newClf()
	c.SetColumns(train.Columns)
	if err := c.Fit(train.X, train.Y, train.NumClasses()); err != nil {
		t.Fatal(err)
	}
	want, err := c.PredictProba(test.X)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rows != want.Rows || got.Cols != want.Cols || !slices.Equal(got.Data, want.Data) {
		t.Fatalf("FitPredictTables differs from the calls by hand")
	}
	narrow := &data.Table{Columns: train.Columns[:3], X: data.NewMatrix(1, 3)}
	if _, err := newClf().FitPredictTables(train, narrow); err == nil || !strings.Contains(err.Error(), "3 feature columns") {
		t.Fatalf("narrow test table: %v", err)
	}
}
