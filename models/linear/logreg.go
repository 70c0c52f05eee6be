// Package linear holds linear models: baselines, and heads on representations learned by
// other models (such as TabPFN's row embeddings, tabpfn.Classifier.Embed).
package linear

import (
	"errors"
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
)

// LogisticRegression is multinomial logistic regression with an L2 penalty on the weights,
// as scikit-learn's LogisticRegression(C) minimises: the summed log loss plus ‖W‖²/(2C).
// Features are z-scored on the training rows and missing values (NaN) set to the training
// mean; categorical codes are taken as numbers. It is fitted by Nesterov's accelerated
// gradient descent with the step of the loss's Lipschitz bound, for Iters iterations, a
// deterministic procedure. It implements metrics.Classifier; once fitted, PredictProba is
// safe for concurrent use.
type LogisticRegression struct {
	C     float64 // inverse penalty strength (default 1)
	Iters int     // gradient steps (default 500)

	mean, std []float64
	w         []float64 // (cols+1) × k, the last row the intercepts
	cols, k   int
}

// NewLogisticRegression returns a model with C = 1 and 500 iterations.
func NewLogisticRegression() *LogisticRegression { return &LogisticRegression{C: 1, Iters: 500} }

func (m *LogisticRegression) standardized(X data.Matrix) []float64 {
	z := make([]float64, X.Rows*(m.cols+1))
	for i := 0; i < X.Rows; i++ {
		row := X.Row(i)
		for j, v := range row {
			if !math.IsNaN(v) && m.std[j] > 0 {
				z[i*(m.cols+1)+j] = (v - m.mean[j]) / m.std[j]
			}
		}
		z[i*(m.cols+1)+m.cols] = 1
	}
	return z
}

// Fit trains on X and labels y in [0, nClasses).
func (m *LogisticRegression) Fit(X data.Matrix, y []int, nClasses int) error {
	if X.Rows < 1 || X.Cols < 1 || len(y) != X.Rows || nClasses < 2 {
		return fmt.Errorf("linear: Fit: %d×%d matrix, %d labels, %d classes", X.Rows, X.Cols, len(y), nClasses)
	}
	if !(m.C > 0) || m.Iters < 1 {
		return errors.New("linear: C must be positive and Iters at least 1")
	}
	m.cols, m.k = X.Cols, nClasses
	m.mean, m.std = make([]float64, X.Cols), make([]float64, X.Cols)
	for j := 0; j < X.Cols; j++ {
		m.mean[j], m.std[j] = preprocess.MeanStd(X.Col(j))
	}
	for _, v := range y {
		if v < 0 || v >= nClasses {
			return fmt.Errorf("linear: Fit: label %d outside [0, %d)", v, nClasses)
		}
	}
	z := m.standardized(X)
	d, n, k := m.cols+1, X.Rows, nClasses
	// Lipschitz bound of the summed softmax loss's gradient: ½·λmax(ZᵀZ) ≤ ½·‖Z‖²_F, plus the
	// penalty's 1/C.
	var fro float64
	for _, v := range z {
		fro += v * v
	}
	step := 1 / (0.5*fro + 1/m.C)
	w, prev, look := make([]float64, d*k), make([]float64, d*k), make([]float64, d*k)
	grad, p := make([]float64, d*k), make([]float64, k)
	for it := 1; it <= m.Iters; it++ {
		mom := float64(it-1) / float64(it+2)
		for i := range look {
			look[i] = w[i] + mom*(w[i]-prev[i])
		}
		clear(grad)
		for i := 0; i < n; i++ {
			zi := z[i*d : (i+1)*d]
			softmaxRow(zi, look, k, p)
			p[y[i]]--
			for j, zv := range zi {
				if zv == 0 {
					continue
				}
				g := grad[j*k : (j+1)*k]
				for c := range g {
					g[c] += zv * p[c]
				}
			}
		}
		for i := 0; i < (d-1)*k; i++ { // no penalty on the intercepts
			grad[i] += look[i] / m.C
		}
		copy(prev, w)
		for i := range w {
			w[i] = look[i] - step*grad[i]
		}
	}
	m.w = w
	return nil
}

// softmaxRow writes the class probabilities of one row z under weights w into p.
func softmaxRow(z, w []float64, k int, p []float64) {
	clear(p)
	for j, zv := range z {
		if zv == 0 {
			continue
		}
		for c, wv := range w[j*k : (j+1)*k] {
			p[c] += zv * wv
		}
	}
	mx := math.Inf(-1)
	for _, v := range p {
		mx = max(mx, v)
	}
	s := 0.0
	for c, v := range p {
		p[c] = math.Exp(v - mx)
		s += p[c]
	}
	for c := range p {
		p[c] /= s
	}
}

// PredictProba returns an X.Rows × nClasses matrix of class probabilities.
func (m *LogisticRegression) PredictProba(X data.Matrix) (data.Matrix, error) {
	if m.w == nil {
		return data.Matrix{}, errors.New("linear: PredictProba called before Fit")
	}
	if X.Cols != m.cols {
		return data.Matrix{}, fmt.Errorf("linear: PredictProba: %d columns, fitted on %d", X.Cols, m.cols)
	}
	z := m.standardized(X)
	out := data.NewMatrix(X.Rows, m.k)
	d := m.cols + 1
	for i := 0; i < X.Rows; i++ {
		softmaxRow(z[i*d:(i+1)*d], m.w, m.k, out.Row(i))
	}
	return out, nil
}
