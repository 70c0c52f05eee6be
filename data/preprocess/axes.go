package preprocess

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/data"
)

// principalAxes rotates numeric columns onto the principal axes of their training rows
// (principal component analysis of the correlation matrix: Pearson 1901, Hotelling 1933) and
// scales each component to unit variance. Each column is z-scored with its training mean and
// standard deviation (a missing value becomes 0, the mean); row z becomes Sᵀz / √λ per
// component, where the columns of S are the eigenvectors of the training correlation matrix
// in order of decreasing eigenvalue λ.
//
// Why: a TabPFN-style model reads each cell as a token and mixes columns only through
// attention across the features of a row, so a signal spread thinly over many correlated
// columns (spectra, pixels, shape descriptors) is hard for a small model to assemble, and
// the same signal on one axis is easy. TabPFN v2 appends truncated-SVD features to some
// ensemble members for this reason (Hollmann et al., Nature 2025, methods). Replacing the
// columns instead keeps the feature count. The Preprocessor rotates after its per-column
// steps, so the axes are those of the power- or quantile-transformed, outlier-bounded
// columns: rotating the raw columns would let heavy tails steer the axes.
//
// With half of an ensemble's members rotated (tabpfn.DefaultVariants), the tables with many
// correlated numeric columns gain the most under the evaluation protocol and a few others lose
// a little (measured in bench/results/tabpfn-2026-11-27.md).
type principalAxes struct {
	in        []int       // the rotated input columns: numeric, two or more distinct values
	mean, std []float64   // their training z-scores
	weights   [][]float64 // weights[c][a]: component c's weight on column in[a]
	scale     []float64   // per component: 1/√eigenvalue, for unit variance
	pass      []int       // input columns kept as they are (categorical, constant)
}

// relativeEigenFloor drops components whose variance is below this fraction of the largest:
// with fewer rows than columns the correlation matrix is singular, and a null direction is
// rounding noise that z-scoring would blow up into a feature.
const relativeEigenFloor = 1e-9

// maxAxesColumns bounds the columns rotated: the eigendecomposition costs O(f³), about 30 ms
// at 256 columns and 2.5 s at 1000 on one core, per member that rotates.
const maxAxesColumns = 256

// fitPrincipalAxes fits the rotation on training rows; it returns nil (no rotation) when
// fewer than two numeric columns vary, or more than maxAxesColumns do.
func fitPrincipalAxes(X data.Matrix, kinds []data.Column) *principalAxes {
	r := &principalAxes{}
	for j := 0; j < X.Cols; j++ {
		numeric := kinds == nil || kinds[j].Kind == data.Numeric
		if col := X.Col(j); numeric && distinct(col) >= 2 {
			mean, std := MeanStd(col)
			if std > 0 {
				r.in = append(r.in, j)
				r.mean, r.std = append(r.mean, mean), append(r.std, std)
				continue
			}
		}
		r.pass = append(r.pass, j)
	}
	f, n := len(r.in), X.Rows
	if f < 2 || n < 2 || f > maxAxesColumns {
		return nil
	}
	zt := mat.NewDense(f, n, nil) // z-scored columns as rows
	for a, j := range r.in {
		for i := 0; i < n; i++ {
			if v := X.Data[i*X.Cols+j]; !math.IsNaN(v) {
				zt.Set(a, i, (v-r.mean[a])/r.std[a])
			}
		}
	}
	corr := mat.NewSymDense(f, nil)
	corr.SymOuterK(1/float64(n-1), zt)
	var eig mat.EigenSym
	if !eig.Factorize(corr, true) {
		return nil
	}
	values := eig.Values(nil)
	var vectors mat.Dense
	eig.VectorsTo(&vectors)
	order := make([]int, f)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return values[order[a]] > values[order[b]] })
	largest := values[order[0]]
	for _, c := range order {
		if !(values[c] > relativeEigenFloor*largest) {
			break
		}
		w := make([]float64, f)
		big := 0 // the sign of an eigenvector is arbitrary: make its largest weight positive
		for a := range w {
			w[a] = vectors.At(a, c)
			if math.Abs(w[a]) > math.Abs(w[big]) {
				big = a
			}
		}
		if w[big] < 0 {
			for a := range w {
				w[a] = -w[a]
			}
		}
		r.weights = append(r.weights, w)
		r.scale = append(r.scale, 1/math.Sqrt(values[c]))
	}
	return r
}

// outputCols is the width of a rotated table: the components, then the passed-through columns.
func (r *principalAxes) outputCols() int { return len(r.weights) + len(r.pass) }

// columns describes the rotated table's columns, given the input's descriptions (nil: all
// numeric).
func (r *principalAxes) columns(kinds []data.Column) []data.Column {
	out := make([]data.Column, 0, r.outputCols())
	for c := range r.weights {
		out = append(out, data.Column{Name: fmt.Sprintf("pc%d", c+1), Kind: data.Numeric})
	}
	for _, j := range r.pass {
		if kinds != nil {
			out = append(out, kinds[j])
		} else {
			out = append(out, data.Column{Name: fmt.Sprintf("x%d", j), Kind: data.Numeric})
		}
	}
	return out
}

// applyRow rotates one row into o (outputCols long); z is scratch of len(r.in).
func (r *principalAxes) applyRow(row, o, z []float64) {
	for a, j := range r.in {
		z[a] = 0
		if v := row[j]; !math.IsNaN(v) {
			z[a] = (v - r.mean[a]) / r.std[a]
		}
	}
	for c, w := range r.weights {
		s := 0.0
		for a, v := range z {
			s += w[a] * v
		}
		o[c] = s * r.scale[c]
	}
	for k, j := range r.pass {
		o[len(r.weights)+k] = row[j]
	}
}
