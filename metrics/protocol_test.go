package metrics

import (
	"context"
	"errors"
	"fmt"
	"github.com/kiln-ml/kiln/internal/shareddata"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/data"
)

// centroid is a nearest-centroid classifier with softmax(−squared distance) probabilities.
// It records what the protocol handed it.
type centroid struct {
	k        int
	means    [][]float64
	fitRows  int
	fitCount []int
	cols     []data.Column
	log      *[]*centroid
}

func (c *centroid) SetColumns(cols []data.Column) { c.cols = cols }

func (c *centroid) Fit(X data.Matrix, y []int, k int) error {
	c.k, c.fitRows = k, X.Rows
	c.means = make([][]float64, k)
	c.fitCount = make([]int, k)
	for i := range c.means {
		c.means[i] = make([]float64, X.Cols)
	}
	for i := 0; i < X.Rows; i++ {
		c.fitCount[y[i]]++
		for j, v := range X.Row(i) {
			c.means[y[i]][j] += v
		}
	}
	for ci := range c.means {
		for j := range c.means[ci] {
			c.means[ci][j] /= math.Max(1, float64(c.fitCount[ci]))
		}
	}
	if c.log != nil {
		*c.log = append(*c.log, c)
	}
	return nil
}

func (c *centroid) PredictProba(X data.Matrix) (data.Matrix, error) {
	P := data.NewMatrix(X.Rows, c.k)
	for i := 0; i < X.Rows; i++ {
		var sum float64
		d := make([]float64, c.k)
		best := math.Inf(1)
		for ci := range c.k {
			for j, v := range X.Row(i) {
				if !math.IsNaN(v) {
					d[ci] += (v - c.means[ci][j]) * (v - c.means[ci][j])
				}
			}
			best = min(best, d[ci])
		}
		for ci := range c.k {
			P.Set(i, ci, math.Exp(-(d[ci] - best)))
			sum += P.At(i, ci)
		}
		for ci := range c.k {
			P.Set(i, ci, P.At(i, ci)/sum)
		}
	}
	return P, nil
}

func TestProtocolOnIris(t *testing.T) {
	tab, err := data.LoadCSV(filepath.Join(shareddata.Require(t), "tabular", "iris.csv"), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var log []*centroid
	res, err := Evaluate(context.Background(), tab, func() Classifier { return &centroid{log: &log} })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Splits) != 5 || len(log) != 5 || res.Classes != 3 || res.Rows != 150 || len(res.Dropped) != 0 {
		t.Fatalf("splits %d fits %d classes %d rows %d dropped %v", len(res.Splits), len(log), res.Classes, res.Rows, res.Dropped)
	}
	for i, s := range res.Splits {
		if s.TrainRows != 75 || s.TestRows != 75 || s.Seed != uint64(i) {
			t.Errorf("split %d: %+v", i, s)
		}
		// 50 rows per class: 25 to each half.
		for c, n := range log[i].fitCount {
			if n != 25 {
				t.Errorf("split %d class %d: %d training rows, want 25", i, c, n)
			}
		}
		if len(log[i].cols) != 4 {
			t.Error("SetColumns not called with the table's columns")
		}
	}
	// Nearest centroid on iris is a strong classifier (about 92% accuracy with a
	// Euclidean metric); the log loss must beat the uniform predictor's log 3.
	if res.AUC < 0.95 || res.Accuracy < 0.85 || res.LogLoss > math.Log(3) {
		t.Errorf("iris with nearest centroid: auc %v acc %v logloss %v", res.AUC, res.Accuracy, res.LogLoss)
	}
	var mean float64
	for _, s := range res.Splits {
		mean += s.Accuracy / 5
	}
	if math.Abs(mean-res.Accuracy) > 1e-12 {
		t.Errorf("mean accuracy %v, splits average %v", res.Accuracy, mean)
	}
	// FirstSplit runs a later part of the protocol: splits 3 and 4 alone are the full run's.
	p := DefaultProtocol()
	p.Splits, p.FirstSplit = 2, 3
	part, err := p.Evaluate(context.Background(), tab, func() Classifier { return &centroid{log: &log} })
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range part.Splits {
		if w := res.Splits[3+i]; s.Seed != w.Seed || s.AUC != w.AUC || s.LogLoss != w.LogLoss {
			t.Errorf("FirstSplit 3, split %d: %+v, want %+v", i, s, w)
		}
	}
	p.FirstSplit = -1
	if _, err := p.Evaluate(context.Background(), tab, func() Classifier { return &centroid{log: &log} }); err == nil {
		t.Error("FirstSplit −1 was accepted")
	}
}

// TestProtocolCapsAndDropsClasses builds a 5003-row table with a 3-row class and checks the
// dropped class, the caps of 1000 training and 2000 test rows, and stratification.
func TestProtocolCapsAndDropsClasses(t *testing.T) {
	var b strings.Builder
	b.WriteString("x,target\n")
	for c, name := range []string{"a", "b", "c", "rare"} {
		n := []int{3000, 1500, 500, 3}[c]
		for i := range n {
			// Classes 10 apart with jitter below 1: separable.
			fmt.Fprintf(&b, "%g,%s\n", 10*float64(c)+0.1*float64(i%7), name)
		}
	}
	tab, err := data.ReadCSV(strings.NewReader(b.String()), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var log []*centroid
	res, err := Evaluate(context.Background(), tab, func() Classifier { return &centroid{log: &log} })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Dropped) != 1 || res.Dropped[0] != "rare" || res.Classes != 3 || res.Rows != 5000 {
		t.Fatalf("dropped %v classes %d rows %d", res.Dropped, res.Classes, res.Rows)
	}
	for i, s := range res.Splits {
		if s.TrainRows != 1000 || s.TestRows != 2000 {
			t.Errorf("split %d: train %d test %d, want 1000/2000", i, s.TrainRows, s.TestRows)
		}
		// 3000:1500:500 of 5000 → 600:300:100 of 1000.
		if got := log[i].fitCount; got[0] != 600 || got[1] != 300 || got[2] != 100 {
			t.Errorf("split %d: training class counts %v, want [600 300 100]", i, got)
		}
	}
	if res.Accuracy < 0.99 {
		t.Errorf("separable data: accuracy %v", res.Accuracy)
	}
}

type failing struct {
	centroid
	mode string
}

func (f *failing) Fit(X data.Matrix, y []int, k int) error {
	switch f.mode {
	case "fit":
		return errors.New("boom")
	case "panic":
		panic("kaboom")
	}
	return f.centroid.Fit(X, y, k)
}

func (f *failing) PredictProba(X data.Matrix) (data.Matrix, error) {
	if f.mode == "shape" {
		return data.NewMatrix(X.Rows, 1), nil
	}
	return f.centroid.PredictProba(X)
}

func TestProtocolErrors(t *testing.T) {
	tab, err := data.ReadCSV(strings.NewReader("x,target\n1,a\n2,a\n3,a\n4,a\n5,b\n6,b\n7,b\n8,b\n"), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"fit", "panic", "shape"} {
		_, err := Evaluate(context.Background(), tab, func() Classifier { return &failing{mode: mode} })
		if err == nil {
			t.Errorf("mode %s: no error", mode)
		}
	}
	if _, err := Evaluate(context.Background(), &data.Table{}, nil); err == nil {
		t.Error("unlabelled table accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, tab, func() Classifier { return &centroid{} }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	two, _ := data.ReadCSV(strings.NewReader("x,target\n1,a\n2,a\n3,a\n4,a\n5,b\n"), data.Options{})
	if _, err := Evaluate(context.Background(), two, func() Classifier { return &centroid{} }); err == nil {
		t.Error("one class left after dropping: accepted")
	}
}

func TestLoadBaselines(t *testing.T) {
	b, err := LoadBaselines(filepath.Join(shareddata.Require(t), "tabular-baselines.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Datasets()) != 15 {
		t.Errorf("%d datasets, want 15", len(b.Datasets()))
	}
	iris, ok := b.Lookup("tabular/iris.csv")
	if !ok || iris.Rows != 150 || iris.Classes != 3 || len(iris.ModelNames()) != 5 {
		t.Fatalf("iris baselines %+v", iris)
	}
	name, best := iris.Best()
	for _, m := range iris.ModelNames() {
		if iris.Models[m].AUC > best.AUC {
			t.Errorf("Best=%s (%v) but %s has %v", name, best.AUC, m, iris.Models[m].AUC)
		}
	}
	if _, err := ReadBaselines(strings.NewReader(`{"x": {"rows": 1, "models": {"m": {"auc": 2}}}}`)); err == nil {
		t.Error("AUC 2 accepted")
	}
	if _, err := ReadBaselines(strings.NewReader(`{"x": {"rowz": 1}}`)); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := ReadBaselines(strings.NewReader(`[`)); err == nil {
		t.Error("broken JSON accepted")
	}
}
