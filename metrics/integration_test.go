package metrics

import (
	"context"
	"github.com/kiln-ml/kiln/internal/shareddata"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
)

// prepCentroid runs data/preprocess (fitted on the training half) before nearest centroid,
// the shape of the TabPFN classifier's pipeline.
type prepCentroid struct {
	cols []data.Column
	p    *preprocess.Preprocessor
	c    centroid
}

func (m *prepCentroid) SetColumns(cols []data.Column) { m.cols = cols }

func (m *prepCentroid) Fit(X data.Matrix, y []int, k int) error {
	m.p = preprocess.New(preprocess.VariantQuantile.Config(0))
	Z, err := m.p.FitTransform(X, m.cols)
	if err != nil {
		return err
	}
	return m.c.Fit(Z, y, k)
}

func (m *prepCentroid) PredictProba(X data.Matrix) (data.Matrix, error) {
	Z, err := m.p.Transform(X)
	if err != nil {
		return data.Matrix{}, err
	}
	return m.c.PredictProba(Z)
}

// TestProtocolWithPreprocessing runs loader → protocol → preprocessing → classifier on the two
// datasets with missing values (one all-categorical) and compares with the scikit-learn
// reference AUCs: a nearest-centroid model should land within 0.05 of the 7-NN baseline there.
func TestProtocolWithPreprocessing(t *testing.T) {
	dir := shareddata.Require(t)
	base, err := LoadBaselines(filepath.Join(dir, "tabular-baselines.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"house_votes_84", "breast_cancer_wisconsin"} {
		tab, err := data.LoadCSV(filepath.Join(dir, "tabular", name+".csv"), data.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Evaluate(context.Background(), tab, func() Classifier { return &prepCentroid{} })
		if err != nil {
			t.Fatal(err)
		}
		ref := base[name].Models["knn"]
		t.Logf("%s: auc %.4f acc %.4f logloss %.4f (7-NN reference auc %.4f acc %.4f)", name, res.AUC, res.Accuracy, res.LogLoss, ref.AUC, ref.Accuracy)
		if res.AUC < ref.AUC-0.05 {
			t.Errorf("%s: AUC %v, reference 7-NN %v", name, res.AUC, ref.AUC)
		}
	}
}
