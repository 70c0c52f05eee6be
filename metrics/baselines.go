package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Score is one model's protocol result on one dataset, as stored in tabular-baselines.json.
type Score struct {
	AUC      float64 `json:"auc"`
	Accuracy float64 `json:"acc"`
	LogLoss  float64 `json:"logloss"`
	Seconds  float64 `json:"sec"` // mean wall time of fit plus predict, on the machine that made the file
}

// DatasetBaselines holds the reference scores of one dataset.
type DatasetBaselines struct {
	Rows     int              `json:"rows"`
	Features int              `json:"features"`
	Classes  int              `json:"classes"`
	Models   map[string]Score `json:"models"`
}

// Baselines maps a dataset name (the CSV file name without ".csv") to its reference scores.
// The file shared/data/tabular-baselines.json holds scikit-learn models under the evaluation
// protocol: logreg (logistic regression), rf (random forest, 300 trees), hgb (histogram
// gradient boosting), svm (RBF SVM) and knn (7 nearest neighbours).
type Baselines map[string]DatasetBaselines

// LoadBaselines reads a baselines JSON file.
func LoadBaselines(path string) (Baselines, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	b, err := ReadBaselines(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// ReadBaselines decodes baselines JSON and checks that every dataset has models with scores
// in range.
func ReadBaselines(r io.Reader) (Baselines, error) {
	var b Baselines
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("metrics: decoding baselines: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("metrics: baselines file lists no datasets")
	}
	for name, d := range b {
		if len(d.Models) == 0 {
			return nil, fmt.Errorf("metrics: baselines for %q list no models", name)
		}
		for m, s := range d.Models {
			if s.AUC < 0 || s.AUC > 1 || s.Accuracy < 0 || s.Accuracy > 1 || s.LogLoss < 0 || s.Seconds < 0 {
				return nil, fmt.Errorf("metrics: baselines for %q model %q out of range: %+v", name, m, s)
			}
		}
	}
	return b, nil
}

// Datasets returns the dataset names, sorted.
func (b Baselines) Datasets() []string {
	out := make([]string, 0, len(b))
	for k := range b {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ModelNames returns the model names of a dataset, sorted.
func (d DatasetBaselines) ModelNames() []string {
	out := make([]string, 0, len(d.Models))
	for k := range d.Models {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Best returns the model with the highest AUC (ties: lower log loss, then name order).
func (d DatasetBaselines) Best() (string, Score) {
	var best string
	var bs Score
	for _, m := range d.ModelNames() {
		s := d.Models[m]
		if best == "" || s.AUC > bs.AUC || (s.AUC == bs.AUC && s.LogLoss < bs.LogLoss) {
			best, bs = m, s
		}
	}
	return best, bs
}

// Lookup returns a dataset's baselines by name; a path or a ".csv" suffix is stripped, so
// "tabular/iris.csv" finds "iris".
func (b Baselines) Lookup(name string) (DatasetBaselines, bool) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	d, ok := b[strings.TrimSuffix(name, ".csv")]
	return d, ok
}
