package metrics

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/data"
)

func TestR2AndRMSE(t *testing.T) {
	y := []float64{1, 2, 3, 4}
	r2, err := R2(y, []float64{1, 2, 3, 5})
	if err != nil || math.Abs(r2-(1-1.0/5)) > 1e-12 {
		t.Errorf("R2 = %v, %v; want 0.8", r2, err)
	}
	if r2, _ := R2(y, []float64{2.5, 2.5, 2.5, 2.5}); r2 != 0 {
		t.Errorf("R2 of the mean = %v", r2)
	}
	rmse, err := RMSE(y, []float64{1, 2, 3, 6})
	if err != nil || math.Abs(rmse-1) > 1e-12 {
		t.Errorf("RMSE = %v, %v; want 1", rmse, err)
	}
	if _, err := R2(y, []float64{1}); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := RMSE(y, []float64{1, math.NaN(), 3, 4}); err == nil {
		t.Error("NaN prediction accepted")
	}
	if r2, _ := R2([]float64{2, 2}, []float64{2, 2}); r2 != 1 {
		t.Errorf("exact predictions of a constant: %v", r2)
	}
}

// meanRegressor predicts the training mean; as a distribution, a uniform on mean ± 1.
type meanRegressor struct{ mean float64 }

func (m *meanRegressor) Fit(X data.Matrix, y []float64) error {
	m.mean = 0
	for _, v := range y {
		m.mean += v / float64(len(y))
	}
	return nil
}

func (m *meanRegressor) Predict(X data.Matrix) ([]float64, error) {
	out := make([]float64, X.Rows)
	for i := range out {
		out[i] = m.mean
	}
	return out, nil
}

type uniformRegressor struct{ meanRegressor }

type uniformDist struct {
	mean float64
	rows int
}

func (u *uniformRegressor) PredictDistribution(X data.Matrix) (Predictive, error) {
	return uniformDist{u.mean, X.Rows}, nil
}

func (d uniformDist) Mean() []float64 {
	out := make([]float64, d.rows)
	for i := range out {
		out[i] = d.mean
	}
	return out
}

func (d uniformDist) Quantiles(qs []float64) (data.Matrix, error) {
	out := data.NewMatrix(d.rows, len(qs))
	for i := range d.rows {
		for j, q := range qs {
			out.Set(i, j, d.mean-1+2*q)
		}
	}
	return out, nil
}

func (d uniformDist) CRPS(y []float64) ([]float64, error) {
	out := make([]float64, len(y))
	for i, v := range y {
		u := (v - (d.mean - 1)) / 2
		switch {
		case u < 0:
			out[i] = 2.0/3 - 2*u
		case u > 1:
			out[i] = 2.0/3 + 2*(u-1)
		default:
			out[i] = 2 * (u*u*u + (1-u)*(1-u)*(1-u)) / 3
		}
	}
	return out, nil
}

func regressionTable(n int) *data.Table {
	X := data.NewMatrix(n, 1)
	y := make([]float64, n)
	for i := range n {
		X.Set(i, 0, float64(i))
		y[i] = float64(i%7) - 3
	}
	return &data.Table{Columns: []data.Column{{Name: "x"}}, X: X, Values: y, Target: "y"}
}

func TestRegressionProtocol(t *testing.T) {
	tab := regressionTable(3000)
	tab.Values[5] = math.NaN()
	p := DefaultRegressionProtocol()
	p.Splits = 2
	res, err := p.Evaluate(context.Background(), tab, func() Regressor { return &meanRegressor{} })
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped != 1 || res.Rows != 2999 || len(res.Splits) != 2 {
		t.Fatalf("result %+v", res)
	}
	s := res.Splits[0]
	if s.TrainRows != 1000 || s.TestRows != 1500 {
		t.Errorf("split sizes %d/%d, want the 1000-row cap and 1500 test rows", s.TrainRows, s.TestRows)
	}
	if !(math.Abs(res.R2) < 0.01) || !math.IsNaN(res.CRPS) {
		t.Errorf("mean regressor: R² %v, CRPS %v", res.R2, res.CRPS)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "crps") || strings.Contains(string(b), "coverage") {
		t.Errorf("a point regressor's JSON has distribution scores: %s", b)
	}

	res, err = p.Evaluate(context.Background(), tab, func() Regressor { return &uniformRegressor{} })
	if err != nil {
		t.Fatal(err)
	}
	// Targets −3..3 evenly, the interval mean ± 0.9 around ≈0: only the targets 0 (1/7) fall inside.
	if math.Abs(res.Coverage90-1.0/7) > 0.03 || !(res.CRPS > 0) {
		t.Errorf("uniform: coverage %v, CRPS %v", res.Coverage90, res.CRPS)
	}
	b, _ = json.Marshal(res)
	if !strings.Contains(string(b), `"crps"`) || !strings.Contains(string(b), `"coverage90"`) {
		t.Errorf("distribution scores missing from JSON: %s", b)
	}
	if _, err := p.Evaluate(context.Background(), &data.Table{}, func() Regressor { return &meanRegressor{} }); err == nil {
		t.Error("a table without targets was evaluated")
	}
	// FirstSplit runs a later part of the protocol: split 1 alone is the full run's second.
	one := p
	one.Splits, one.FirstSplit = 1, 1
	part, err := one.Evaluate(context.Background(), tab, func() Regressor { return &uniformRegressor{} })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := part.Splits[0], res.Splits[1]; got.Seed != 1 || got.R2 != want.R2 || got.CRPS != want.CRPS {
		t.Errorf("FirstSplit 1: %+v, want %+v", got, want)
	}
}

func TestRegressionBaselines(t *testing.T) {
	const path = "../../shared/data/regression-baselines.json"
	if _, err := os.Stat(path); err != nil {
		t.Skip("shared data not present")
	}
	b, err := LoadRegressionBaselines(path)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := b.Lookup("regression/boston.csv")
	if !ok || len(d.Models) != 5 || d.Models["rf"].R2 < 0.8 {
		t.Fatalf("boston: %v %+v", ok, d)
	}
	if name, _ := d.Best(); name != "rf" {
		t.Errorf("best model on boston %q, want rf", name)
	}
	if _, err := ReadRegressionBaselines(strings.NewReader(`{"x": {"models": {"a": {"r2": 2}}}}`)); err == nil {
		t.Error("R² above 1 accepted")
	}
	if _, err := ReadRegressionBaselines(strings.NewReader(`{"x": {"models": {"a": {"auc": 0.5}}}}`)); err == nil {
		t.Error("unknown field accepted")
	}
}
