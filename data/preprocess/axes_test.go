package preprocess

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/data"
)

// correlated returns n rows of f numeric columns driven by two latent factors plus noise, so
// that the columns are strongly correlated and the spectrum has two large eigenvalues.
func correlated(r *rand.Rand, n, f int) data.Matrix {
	load := make([][2]float64, f)
	for j := range load {
		load[j] = [2]float64{r.NormFloat64(), r.NormFloat64()}
	}
	X := data.NewMatrix(n, f)
	for i := 0; i < n; i++ {
		u, v := 3*r.NormFloat64(), r.NormFloat64()
		for j := 0; j < f; j++ {
			X.Data[i*f+j] = load[j][0]*u + load[j][1]*v + 0.1*r.NormFloat64() + float64(j)
		}
	}
	return X
}

// TestPrincipalAxesAgainstSVD checks the components against an independent computation: the
// singular value decomposition of the z-scored training matrix (gonum's SVD), whose right
// singular vectors are the correlation matrix's eigenvectors and whose squared singular
// values over n−1 are its eigenvalues. The components must also be uncorrelated with unit
// variance on the training rows.
func TestPrincipalAxesAgainstSVD(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n, f := 200, 6
	X := correlated(r, n, f)
	ax := fitPrincipalAxes(X, nil)
	if ax == nil || len(ax.weights) != f {
		t.Fatalf("want %d components, got %+v", f, ax)
	}
	Z := mat.NewDense(n, f, nil)
	for j := 0; j < f; j++ {
		mean, std := MeanStd(X.Col(j))
		for i := 0; i < n; i++ {
			Z.Set(i, j, (X.At(i, j)-mean)/std)
		}
	}
	var svd mat.SVD
	if !svd.Factorize(Z, mat.SVDThin) {
		t.Fatal("SVD failed")
	}
	sv := svd.Values(nil)
	var V mat.Dense
	svd.VTo(&V)
	for c := 0; c < f; c++ {
		eigen := sv[c] * sv[c] / float64(n-1)
		if got := 1 / (ax.scale[c] * ax.scale[c]); math.Abs(got-eigen) > 1e-9*eigen+1e-12 {
			t.Errorf("component %d: variance %v, SVD gives %v", c, got, eigen)
		}
		dot := 0.0 // |⟨w_c, v_c⟩| = 1 for the same axis, whatever the signs
		for a := 0; a < f; a++ {
			dot += ax.weights[c][a] * V.At(a, c)
		}
		if c < 2 && math.Abs(math.Abs(dot)-1) > 1e-8 { // the noise axes are nearly degenerate
			t.Errorf("component %d: |cos| with the SVD axis %v", c, math.Abs(dot))
		}
	}
	if sv[0] < 2*sv[2] {
		t.Fatalf("test data should have two dominant factors: %v", sv)
	}
	P := data.NewMatrix(n, ax.outputCols())
	z := make([]float64, len(ax.in))
	for i := 0; i < n; i++ {
		ax.applyRow(X.Row(i), P.Row(i), z)
	}
	for a := 0; a < f; a++ {
		for b := 0; b < f; b++ {
			cov := 0.0
			for i := 0; i < n; i++ {
				cov += P.At(i, a) * P.At(i, b)
			}
			cov /= float64(n - 1)
			want := 0.0
			if a == b {
				want = 1
			}
			if math.Abs(cov-want) > 1e-9 {
				t.Errorf("covariance of components %d and %d: %v, want %v", a, b, cov, want)
			}
		}
	}
}

// TestPrincipalAxesSingular covers fewer rows than columns and duplicated columns: the null
// directions are dropped rather than blown up into noise features.
func TestPrincipalAxesSingular(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	wide := correlated(r, 5, 10)
	ax := fitPrincipalAxes(wide, nil)
	if ax == nil || len(ax.weights) > 4 {
		t.Fatalf("5 rows span at most 4 centred directions; got %d components", len(ax.weights))
	}
	dup := data.NewMatrix(50, 3)
	for i := 0; i < 50; i++ {
		v, w := r.NormFloat64(), r.NormFloat64()
		copy(dup.Row(i), []float64{v, 2*v + 1, w})
	}
	if ax := fitPrincipalAxes(dup, nil); ax == nil || len(ax.weights) != 2 {
		t.Fatalf("a duplicated column leaves 2 components, got %+v", ax)
	}
	one := data.NewMatrix(10, 2) // one numeric column varies: nothing to rotate
	for i := 0; i < 10; i++ {
		copy(one.Row(i), []float64{float64(i), 7})
	}
	if ax := fitPrincipalAxes(one, nil); ax != nil {
		t.Fatalf("one varying column: want no rotation, got %d components", len(ax.weights))
	}
	if ax := fitPrincipalAxes(correlated(r, 20, maxAxesColumns+1), nil); ax != nil {
		t.Fatalf("%d columns: want no rotation, got %d components", maxAxesColumns+1, len(ax.weights))
	}
	if ax := fitPrincipalAxes(correlated(r, 20, maxAxesColumns), nil); ax == nil {
		t.Fatalf("%d columns: want a rotation", maxAxesColumns)
	}
}

// TestPrincipalAxesPipeline runs the rotation inside a Preprocessor: categorical columns and
// missing indicators pass through, test rows with missing values stay finite, KeptColumns
// and OutputNames describe the output, and with a single numeric column the PCA variant
// equals the standard one.
func TestPrincipalAxesPipeline(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	n := 120
	num := correlated(r, n, 3)
	X := data.NewMatrix(n, 4)
	for i := 0; i < n; i++ {
		row := num.Row(i)
		copy(X.Row(i), []float64{row[0], float64(r.IntN(3)), row[1], row[2]})
		if i%10 == 0 {
			X.Data[i*4+2] = math.NaN()
		}
	}
	kinds := []data.Column{{Name: "a"}, {Name: "k", Kind: data.Categorical, Categories: []string{"p", "q", "r"}}, {Name: "b"}, {Name: "c"}}
	p := New(VariantStandardPCA.Config(1))
	out, err := p.FitTransform(X, kinds)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pc1", "pc2", "pc3", "k", "b (missing)"}; !slices.Equal(p.OutputNames(), want) {
		t.Errorf("names %v, want %v", p.OutputNames(), want)
	}
	if got := p.KeptColumns(); !slices.Equal(got, []int{-1, -1, -1, 1}) {
		t.Errorf("KeptColumns %v", got)
	}
	std := New(VariantStandard.Config(1))
	ref, err := std.FitTransform(X, kinds)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if out.At(i, 3) != ref.At(i, 1) || out.At(i, 4) != ref.At(i, 4) {
			t.Fatalf("row %d: categorical or indicator column changed by the rotation", i)
		}
	}
	test := data.NewMatrix(2, 4)
	copy(test.Data, []float64{math.NaN(), 2, math.NaN(), 1e6, 0, 0, 0, 0})
	got, err := p.Transform(test)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range got.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite output %v", got.Data)
		}
	}

	single := data.NewMatrix(n, 2)
	for i := 0; i < n; i++ {
		copy(single.Row(i), []float64{num.At(i, 0), float64(i % 3)})
	}
	sk := []data.Column{{Name: "a"}, {Name: "k", Kind: data.Categorical, Categories: []string{"p", "q", "r"}}}
	a, _ := New(VariantStandardPCA.Config(1)).FitTransform(single, sk)
	b, _ := New(VariantStandard.Config(1)).FitTransform(single, sk)
	if !slices.Equal(a.Data, b.Data) {
		t.Error("one numeric column: the PCA variant should equal the standard one")
	}
}
