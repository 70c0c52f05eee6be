package preprocess

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kiln-ml/kiln/data"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

func TestYeoJohnsonBranches(t *testing.T) {
	for _, x := range []float64{-3, -0.5, 0, 0.7, 4} {
		// λ = 1 is the identity on both branches.
		if got := YeoJohnson(x, 1); !near(got, x, 1e-14) {
			t.Errorf("ψ(1,%v)=%v", x, got)
		}
		var want0, want2 float64
		if x >= 0 {
			want0 = math.Log(x + 1)
			want2 = ((x+1)*(x+1) - 1) / 2
		} else {
			want0 = -((1-x)*(1-x) - 1) / 2
			want2 = -math.Log(1 - x)
		}
		if got := YeoJohnson(x, 0); !near(got, want0, 1e-14) {
			t.Errorf("ψ(0,%v)=%v want %v", x, got, want0)
		}
		if got := YeoJohnson(x, 2); !near(got, want2, 1e-14) {
			t.Errorf("ψ(2,%v)=%v want %v", x, got, want2)
		}
		// Continuity in λ where a branch switches to its logarithm (λ=0 for x≥0, λ=2 for
		// x<0): a step of 1e-9 in λ moves ψ by about 1e-9·∂ψ/∂λ, far below 1e-7.
		if x >= 0 {
			if d := math.Abs(YeoJohnson(x, 1e-9) - YeoJohnson(x, 0)); d > 1e-7 {
				t.Errorf("discontinuous at λ=0, x=%v: %v", x, d)
			}
		} else if d := math.Abs(YeoJohnson(x, 2-1e-9) - YeoJohnson(x, 2)); d > 1e-7 {
			t.Errorf("discontinuous at λ=2, x=%v: %v", x, d)
		}
		// Generic λ against the textbook formula.
		l := 0.37
		var want float64
		if x >= 0 {
			want = (math.Pow(x+1, l) - 1) / l
		} else {
			want = -(math.Pow(1-x, 2-l) - 1) / (2 - l)
		}
		if got := YeoJohnson(x, l); !near(got, want, 1e-13) {
			t.Errorf("ψ(%v,%v)=%v want %v", l, x, got, want)
		}
	}
}

// naiveLogLik evaluates ℓ(λ) directly from the definition with gonum's population variance.
func naiveLogLik(xs []float64, l float64) float64 {
	ys := make([]float64, len(xs))
	var jac float64
	for i, x := range xs {
		ys[i] = YeoJohnson(x, l)
		s := 1.0
		if x < 0 {
			s = -1
		}
		jac += s * math.Log(math.Abs(x)+1)
	}
	_, v := stat.PopMeanVariance(ys, nil)
	return -float64(len(xs))/2*math.Log(v) + (l-1)*jac
}

func samples(r *rand.Rand, kind string, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		z := r.NormFloat64()
		switch kind {
		case "lognormal":
			xs[i] = math.Exp(z)
		case "left":
			xs[i] = -math.Exp(0.8 * z)
		case "normal":
			xs[i] = 2*z + 1
		case "mixed":
			xs[i] = math.Exp(z) - 1.5
		}
	}
	return xs
}

func TestFitYeoJohnsonMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, kind := range []string{"lognormal", "left", "normal", "mixed"} {
		xs := samples(r, kind, 400)
		for i, x := range xs[:5] {
			if a, b := YeoJohnsonLogLik(xs, 0.3*float64(i)-0.5), naiveLogLik(xs, 0.3*float64(i)-0.5); !near(a, b, 1e-10) {
				t.Errorf("%s: ℓ=%v naive %v (x=%v)", kind, a, b, x)
			}
		}
		got := FitYeoJohnson(xs)
		best, bestL := 0.0, math.Inf(-1)
		for l := -4.0; l <= 4; l += 1e-4 {
			if v := naiveLogLik(xs, l); v > bestL {
				best, bestL = l, v
			}
		}
		if math.Abs(got-best) > 2e-4 {
			t.Errorf("%s: λ=%v, brute-force grid %v", kind, got, best)
		}
		switch kind {
		case "lognormal":
			if got >= 1 {
				t.Errorf("right-skewed data should get λ<1, got %v", got)
			}
		case "left":
			if got <= 1 {
				t.Errorf("left-skewed data should get λ>1, got %v", got)
			}
		case "normal":
			if math.Abs(got-1) > 0.5 {
				t.Errorf("normal data should get λ near 1, got %v", got)
			}
		}
	}
}

// TestFitYeoJohnsonInRange checks the restricted fit against a brute-force grid of ℓ over the
// same interval: the unrestricted λ of strongly right-skewed data is negative, the
// restricted one then sits at the interval's lower end, and a sample whose λ lies inside
// gets the unrestricted answer.
func TestFitYeoJohnsonInRange(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	heavy := make([]float64, 400)
	for i := range heavy {
		heavy[i] = math.Exp(2.5 * r.NormFloat64()) // skewed far beyond what log (λ=0) undoes
	}
	for _, xs := range [][]float64{heavy, samples(r, "lognormal", 400), samples(r, "left", 400), samples(r, "normal", 400)} {
		got := FitYeoJohnsonIn(xs, 0, 2)
		best, bestL := 0.0, math.Inf(-1)
		for l := 0.0; l <= 2; l += 1e-4 {
			if v := naiveLogLik(xs, l); v > bestL {
				best, bestL = l, v
			}
		}
		if math.Abs(got-best) > 2e-4 {
			t.Errorf("λ in [0, 2] = %v, brute-force grid %v", got, best)
		}
		if free := FitYeoJohnson(xs); free >= 0 && free <= 2 && math.Abs(free-got) > 2e-4 {
			t.Errorf("λ %v inside [0, 2] unrestricted, restricted %v", free, got)
		}
	}
	if free := FitYeoJohnson(heavy); free >= 0 {
		t.Fatalf("the heavy sample should need λ < 0 unrestricted, got %v", free)
	}
	if got := FitYeoJohnsonIn(heavy, 0, 2); got > 1e-6 {
		t.Errorf("heavy sample restricted to [0, 2]: λ=%v, want the lower end 0", got)
	}
}

func TestQuantileNormal(t *testing.T) {
	// Hand-derived: values {1,2,2,5}: mid-rank CDF at 1 is (0+1)/8, at 2 is (1+3)/8, at 5 is
	// (3+4)/8; 3.5 lies halfway between 2 and 5.
	q := FitQuantileNormal([]float64{5, 2, math.NaN(), 1, 2})
	cases := []struct{ x, p float64 }{
		{1, 1.0 / 8}, {2, 4.0 / 8}, {5, 7.0 / 8}, {3.5, (4.0/8 + 7.0/8) / 2},
		{0, 1e-7}, {9, 1 - 1e-7},
	}
	for _, c := range cases {
		want := distuv.UnitNormal.Quantile(c.p)
		if got := q.Transform(c.x); !near(got, want, 1e-12) {
			t.Errorf("T(%v)=%v want Φ⁻¹(%v)=%v", c.x, got, c.p, want)
		}
	}
	if !math.IsNaN(q.Transform(math.NaN())) {
		t.Error("NaN should stay NaN")
	}
	// A skewed sample comes out close to standard normal.
	r := rand.New(rand.NewPCG(3, 4))
	xs := make([]float64, 5000)
	for i := range xs {
		xs[i] = r.ExpFloat64() * 100
	}
	q = FitQuantileNormal(xs)
	ys := make([]float64, len(xs))
	for i, x := range xs {
		ys[i] = q.Transform(x)
	}
	m, s := stat.MeanStdDev(ys, nil)
	if math.Abs(m) > 0.01 || math.Abs(s-1) > 0.02 {
		t.Errorf("quantile output mean %v std %v, want ≈0, ≈1", m, s)
	}
	if sk := stat.Skew(ys, nil); math.Abs(sk) > 0.05 {
		t.Errorf("quantile output skew %v", sk)
	}
}

func matrix(cols ...[]float64) data.Matrix {
	m := data.NewMatrix(len(cols[0]), len(cols))
	for j, c := range cols {
		for i, v := range c {
			m.Set(i, j, v)
		}
	}
	return m
}

func TestStandardMatchesGonumZScore(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	a, b := make([]float64, 50), make([]float64, 50)
	for i := range a {
		a[i] = r.NormFloat64()*3 + 10
		b[i] = r.Float64()
	}
	X := matrix(a, b)
	p := New(Config{OutlierSigma: -1})
	out, err := p.FitTransform(X, nil)
	if err != nil {
		t.Fatal(err)
	}
	for j, col := range [][]float64{a, b} {
		m, s := stat.MeanStdDev(col, nil)
		for i, v := range col {
			if got, want := out.At(i, j), stat.StdScore(v, m, s); !near(got, want, 1e-12) {
				t.Fatalf("z[%d][%d]=%v want %v", i, j, got, want)
			}
		}
	}
	// New rows use the training statistics.
	test := matrix([]float64{100}, []float64{-1})
	to, _ := p.Transform(test)
	ma, sa := stat.MeanStdDev(a, nil)
	if !near(to.At(0, 0), (100-ma)/sa, 1e-12) {
		t.Errorf("test z-score %v want %v", to.At(0, 0), (100-ma)/sa)
	}
}

func TestOutlierBoundsFollowTabPFN(t *testing.T) {
	// 200 values in [0,1) plus one huge value: the first pass's 4σ bound includes the
	// clean values but not 1000; the second pass recomputes on the clean values only.
	r := rand.New(rand.NewPCG(7, 8))
	col := make([]float64, 201)
	for i := range 200 {
		col[i] = r.Float64()
	}
	col[200] = 1000
	p := New(Config{})
	out, err := p.FitTransform(matrix(col), nil)
	if err != nil {
		t.Fatal(err)
	}
	m1, s1 := stat.MeanStdDev(col, nil)
	var inside []float64
	for _, v := range col {
		if v >= m1-4*s1 && v <= m1+4*s1 {
			inside = append(inside, v)
		}
	}
	if len(inside) != 200 {
		t.Fatalf("first pass kept %d", len(inside))
	}
	m2, s2 := stat.MeanStdDev(inside, nil)
	hi := m2 + 4*s2
	clipped := slices.Clone(col)
	clipped[200] = hi + math.Log(1+1000-hi)
	m3, s3 := stat.MeanStdDev(clipped, nil)
	for i, v := range clipped {
		if got, want := out.At(i, 0), (v-m3)/s3; !near(got, want, 1e-12) {
			t.Fatalf("row %d: %v want %v", i, got, want)
		}
	}
	// The bounded outlier keeps its order and is far smaller than unbounded.
	if out.At(200, 0) > 20 || out.At(200, 0) <= out.At(0, 0) {
		t.Errorf("outlier maps to %v", out.At(200, 0))
	}
}

func TestConstantMissingAndIndicators(t *testing.T) {
	nan := math.NaN()
	X := matrix(
		[]float64{1, 2, nan, 4},       // some missing: indicator
		[]float64{7, 7, 7, 7},         // constant: dropped
		[]float64{nan, 3, 3, nan},     // constant when present: dropped, but missingness kept
		[]float64{nan, nan, nan, nan}, // all missing: dropped, no indicator
		[]float64{0, 1, 0, 1},
	)
	p := New(Config{MissingIndicators: true, OutlierSigma: -1})
	out, err := p.FitTransform(X, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.KeptColumns(); !slices.Equal(got, []int{0, 4}) {
		t.Errorf("kept %v", got)
	}
	if got := p.OutputNames(); !slices.Equal(got, []string{"x0", "x4", "x0 (missing)", "x2 (missing)"}) {
		t.Errorf("names %v", got)
	}
	if out.Cols != 4 {
		t.Fatalf("cols %d", out.Cols)
	}
	// Column 0: mean of {1,2,4} = 7/3; the missing row becomes 0 (the mean).
	m, s := stat.MeanStdDev([]float64{1, 2, 4}, nil)
	if !near(out.At(0, 0), (1-m)/s, 1e-12) || out.At(2, 0) != 0 {
		t.Errorf("column 0: %v", out.Col(0))
	}
	if !slices.Equal(out.Col(2), []float64{0, 0, 1, 0}) || !slices.Equal(out.Col(3), []float64{1, 0, 0, 1}) {
		t.Errorf("indicators %v %v", out.Col(2), out.Col(3))
	}
	for _, v := range out.Data {
		if math.IsNaN(v) {
			t.Fatal("NaN in output")
		}
	}
	// Without indicators only the kept columns come out.
	p2 := New(Config{OutlierSigma: -1})
	out2, _ := p2.FitTransform(X, nil)
	if out2.Cols != 2 {
		t.Errorf("cols without indicators %d", out2.Cols)
	}
}

func TestOneHot(t *testing.T) {
	nan := math.NaN()
	kinds := []data.Column{
		{Name: "c", Kind: data.Categorical, Categories: []string{"a", "b", "c", "d"}},
		{Name: "two", Kind: data.Categorical, Categories: []string{"n", "y"}},
		{Name: "x"},
		{Name: "many", Kind: data.Categorical, Categories: []string{"p", "q", "r", "s", "t"}},
	}
	// Column c holds a, b and c in the training rows (d never), one value missing.
	X := matrix(
		[]float64{0, 1, 2, 0, 0, nan},
		[]float64{0, 1, 1, 0, 1, 0},
		[]float64{1.5, -2, 3, 0.5, 4, 1},
		[]float64{0, 1, 2, 3, 4, 0},
	)
	for _, v := range []Variant{VariantStandard, VariantPowerPCA, VariantQuantileShuffled} {
		cfg := v.Config(3)
		cfg.OneHotLevels = 4
		p := New(cfg)
		out, err := p.FitTransform(X, kinds)
		if err != nil {
			t.Fatal(err)
		}
		names := p.OutputNames()
		at := func(name string) []float64 {
			k := slices.Index(names, name)
			if k < 0 {
				t.Fatalf("%s: no output column %q in %v", v, name, names)
			}
			return out.Col(k)
		}
		// Three indicators for c (its categories in the training rows), each z-scored over
		// the known rows; the missing row is 0 (the mean) in each.
		for code, name := range []string{"c=a", "c=b", "c=c"} {
			ind := []float64{}
			for _, x := range X.Col(0)[:5] {
				ind = append(ind, map[bool]float64{true: 1, false: 0}[x == float64(code)])
			}
			m, s := stat.MeanStdDev(ind, nil)
			got := at(name)
			for i, x := range ind {
				if !near(got[i], (x-m)/s, 1e-12) {
					t.Errorf("%s: %s row %d = %v, want %v", v, name, i, got[i], (x-m)/s)
				}
			}
			if got[5] != 0 {
				t.Errorf("%s: %s of a missing value = %v, want 0", v, name, got[5])
			}
		}
		if slices.Contains(names, "c=d") || slices.Contains(names, "c") {
			t.Errorf("%s: names %v: want indicators of a, b and c only", v, names)
		}
		// Two categories and more than OneHotLevels keep their code column.
		at("two")
		at("many")
		// A category unseen in training is 0 in every indicator: the z-score of 0.
		test, err := p.Transform(matrix([]float64{3}, []float64{0}, []float64{1}, []float64{0}))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"c=a", "c=b", "c=c"} {
			k := slices.Index(names, name)
			train := at(name)
			if want := train[slices.IndexFunc(X.Col(0), func(x float64) bool { return x == 0 && name != "c=a" || x == 1 && name == "c=a" })]; test.At(0, k) != want {
				t.Errorf("%s: %s of an unseen category = %v, want that of another, %v", v, name, test.At(0, k), want)
			}
		}
		// Indicators are never mixed into principal components: each maps to input column 0.
		kept := p.KeptColumns()
		for _, name := range []string{"c=a", "c=b", "c=c"} {
			if k := slices.Index(names, name); kept[k] != 0 {
				t.Errorf("%s: %s is kept column %d, want 0", v, name, kept[k])
			}
		}
	}
	// OneHotLevels 0 keeps the code.
	p := New(Config{})
	if _, err := p.FitTransform(X, kinds); err != nil {
		t.Fatal(err)
	}
	if got := p.OutputNames(); !slices.Equal(got, []string{"c", "two", "x", "many"}) {
		t.Errorf("without one-hot: %v", got)
	}
}

// A column of more categories than OneHotLevels, fitted with a target, is presented by each
// category's smoothed mean target: out of fold for the training rows, over every training row
// for new rows, the target's mean for an unseen category.
func TestTargetStatistics(t *testing.T) {
	const n, levels = 60, 12
	rng := rand.New(rand.NewPCG(7, 8))
	names := make([]string, levels+1)
	for k := range names {
		names[k] = fmt.Sprint("k", k)
	}
	kinds := []data.Column{{Name: "c", Kind: data.Categorical, Categories: names}, {Name: "x"}, {Name: "z"}}
	X := data.NewMatrix(n, 3)
	y := make([]float64, n)
	for i := range y {
		code := float64(i % levels)
		X.Set(i, 0, code)
		X.Set(i, 1, rng.NormFloat64())
		X.Set(i, 2, rng.NormFloat64()+X.At(i, 1))
		y[i] = code/3 + rng.NormFloat64()
	}
	X.Set(5, 0, math.NaN())
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= n
	// The statistic of code over the rows keep allows, by the definition.
	stat := func(code float64, keep func(i int) bool) float64 {
		sum, cnt := 0.0, 0.0
		for i := range n {
			if X.At(i, 0) == code && keep(i) {
				sum, cnt = sum+y[i], cnt+1
			}
		}
		return (sum + targetPrior*mean) / (cnt + targetPrior)
	}
	for _, v := range []Variant{VariantStandard, VariantPowerPCA} {
		cfg := v.Config(9)
		cfg.OneHotLevels, cfg.TargetStatistics = 4, true
		p := New(cfg)
		out, err := p.FitTransformTarget(X, kinds, y)
		if err != nil {
			t.Fatal(err)
		}
		k := slices.Index(p.OutputNames(), "c (target mean)")
		if k < 0 {
			t.Fatalf("%s: names %v", v, p.OutputNames())
		}
		folds := make([]int, n)
		for pos, i := range data.NewRand(cfg.Seed, 0x7461726765).Perm(n) {
			folds[i] = pos % targetFolds
		}
		oof := make([]float64, n)
		for i := range n {
			oof[i] = math.NaN()
			if code := X.At(i, 0); !math.IsNaN(code) {
				oof[i] = stat(code, func(r int) bool { return folds[r] != folds[i] })
			}
		}
		m, sd := MeanStd(oof)
		for i := range n {
			want := 0.0
			if !math.IsNaN(oof[i]) {
				want = (oof[i] - m) / sd
			}
			if !near(out.At(i, k), want, 1e-12) {
				t.Fatalf("%s: training row %d = %v, want the out-of-fold %v", v, i, out.At(i, k), want)
			}
		}
		// New rows: every training row's statistic, and the target's mean for code 12, which
		// no training row holds.
		test, err := p.Transform(matrix([]float64{3, 12}, []float64{0, 0}, []float64{0, 0}))
		if err != nil {
			t.Fatal(err)
		}
		all := func(int) bool { return true }
		if got, want := test.At(0, k), (stat(3, all)-m)/sd; !near(got, want, 1e-12) {
			t.Errorf("%s: new row of code 3 = %v, want %v", v, got, want)
		}
		if got, want := test.At(1, k), (mean-m)/sd; !near(got, want, 1e-12) {
			t.Errorf("%s: new row of an unseen code = %v, want %v", v, got, want)
		}
		// Fitted without a target, the column keeps its code.
		q := New(cfg)
		if err := q.Fit(X, kinds); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(q.OutputNames(), "c") {
			t.Errorf("%s: without a target: %v", v, q.OutputNames())
		}
	}
	p := New(Config{OneHotLevels: 4, TargetStatistics: true})
	if _, err := p.FitTransformTarget(X, kinds, y[:3]); err == nil {
		t.Error("3 targets for 60 rows: no error")
	}
	bad := slices.Clone(y)
	bad[2] = math.Inf(1)
	if _, err := p.FitTransformTarget(X, kinds, bad); err == nil {
		t.Error("an infinite target: no error")
	}
}

// A numeric column whose values mark groups of rows (more values than OneHotLevels, each
// on keyRepeats rows or more on average, determining another column) gets its value's mean
// target beside it under KeyStatistics; a measurement whose values do not repeat, one whose
// values repeat but determine nothing or only themselves in other units, a column of few
// values, and every column without KeyStatistics or a target, do not.
func TestKeyStatistics(t *testing.T) {
	const n, groups = 120, 20 // 6 rows per key value
	rng := rand.New(rand.NewPCG(3, 4))
	X := data.NewMatrix(n, 4)
	y := make([]float64, n)
	effect := make([]float64, groups)
	for g := range effect {
		effect[g] = rng.NormFloat64()
	}
	for i := range y {
		g := (i * 7) % groups
		X.Set(i, 0, float64(100+3*g)) // the key: an identifier stored as a number
		X.Set(i, 1, rng.NormFloat64())
		X.Set(i, 2, float64(g%4))                    // a group-level covariate of four values
		X.Set(i, 3, float64(rng.IntN(groups))/10+50) // rounded: 20 values drawn apart from the groups
		y[i] = effect[g] + 0.1*X.At(i, 1)
	}
	X.Set(9, 0, math.NaN())
	kinds := []data.Column{{Name: "id"}, {Name: "x"}, {Name: "k"}, {Name: "r"}}
	cfg := Config{KeyStatistics: 16, Seed: 5}
	p := New(cfg)
	out, err := p.FitTransformTarget(X, kinds, y)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"id", "id (target mean)", "x", "k", "r"}; !slices.Equal(p.OutputNames(), want) {
		t.Fatalf("columns %v, want %v", p.OutputNames(), want)
	}
	// The statistic is the categorical one: out of fold, it tracks the group effect.
	var sum, cnt float64
	for i := range n {
		if !math.IsNaN(X.At(i, 0)) {
			sum, cnt = sum+out.At(i, 1)*effect[(i*7)%groups], cnt+1
		}
	}
	if m, sd := MeanStd(effect); sum/cnt/sd < 0.8 || math.Abs(m) > 1 {
		t.Errorf("out-of-fold key statistic: mean product with the group effect %.3f (effect sd %.3f)", sum/cnt, sd)
	}
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= n
	st := func(key float64) float64 {
		s, c := 0.0, 0.0
		for i := range n {
			if X.At(i, 0) == key {
				s, c = s+y[i], c+1
			}
		}
		return (s + targetPrior*mean) / (c + targetPrior)
	}
	test, err := p.Transform(matrix([]float64{103, 1}, []float64{0, 0}, []float64{0, 0}, []float64{50, 50}))
	if err != nil {
		t.Fatal(err)
	}
	ks := p.cols[1]
	if got, want := test.At(0, 1), (st(103)-ks.mean)/ks.std; !near(got, want, 1e-12) {
		t.Errorf("new row of key 103: %v, want %v", got, want)
	}
	if got, want := test.At(1, 1), (mean-ks.mean)/ks.std; !near(got, want, 1e-12) {
		t.Errorf("new row of an unseen key: %v, want the target mean's %v", got, want)
	}
	// A one-to-one group-level covariate in no order of the key (a school's mean income)
	// makes both keys; a measurement and its logarithm (one-to-one, monotone) make neither.
	pairs := data.NewMatrix(n, 4)
	for i := range n {
		g := (i * 7) % groups
		pairs.Set(i, 0, float64(100+3*g))
		pairs.Set(i, 1, effect[g]+5)
		r := float64(1 + rng.IntN(groups))
		pairs.Set(i, 2, r)
		pairs.Set(i, 3, math.Log(r))
	}
	q0 := New(cfg)
	if _, err := q0.FitTransformTarget(pairs, []data.Column{{Name: "id"}, {Name: "income"}, {Name: "m"}, {Name: "log m"}}, y); err != nil {
		t.Fatal(err)
	}
	if want := []string{"id", "id (target mean)", "income", "income (target mean)", "m", "log m"}; !slices.Equal(q0.OutputNames(), want) {
		t.Errorf("covariates: columns %v, want %v", q0.OutputNames(), want)
	}
	// Fewer rows per value than keyRepeats: not a key.
	few := data.NewMatrix(n, 1)
	for i := range n {
		few.Set(i, 0, float64(i%50))
	}
	q := New(cfg)
	if _, err := q.FitTransformTarget(few, nil, y); err != nil || q.OutputCols() != 1 {
		t.Errorf("50 values on 120 rows: %d columns (%v)", q.OutputCols(), err)
	}
	for name, c := range map[string]Config{
		"without KeyStatistics":             {OneHotLevels: 16, TargetStatistics: true},
		"KeyStatistics below 3":             {KeyStatistics: 2},
		"more values wanted than 20 groups": {KeyStatistics: 20},
	} {
		q := New(c)
		if _, err := q.FitTransformTarget(X, kinds, y); err != nil || q.OutputCols() != 4 {
			t.Errorf("%s: %d columns (%v)", name, q.OutputCols(), err)
		}
	}
	q = New(cfg)
	if err := q.Fit(X, kinds); err != nil || q.OutputCols() != 4 {
		t.Errorf("fitted without a target: %d columns (%v)", q.OutputCols(), err)
	}
}

// CodeStatistics gives a categorical column of more categories than it, which keeps its
// code, the category's mean target beside the code; a column of fewer keeps the code alone.
func TestCodeStatistics(t *testing.T) {
	const n = 90
	rng := rand.New(rand.NewPCG(11, 12))
	names := make([]string, 30)
	for k := range names {
		names[k] = fmt.Sprint("k", k)
	}
	kinds := []data.Column{{Name: "many", Kind: data.Categorical, Categories: names},
		{Name: "few", Kind: data.Categorical, Categories: names[:3]}, {Name: "x"}}
	X := data.NewMatrix(n, 3)
	y := make([]float64, n)
	for i := range y {
		X.Set(i, 0, float64(i%30))
		X.Set(i, 1, float64(i%3))
		X.Set(i, 2, rng.NormFloat64())
		y[i] = float64(i%30)/10 + rng.NormFloat64()
	}
	p := New(Config{CodeStatistics: 16, Seed: 1})
	out, err := p.FitTransformTarget(X, kinds, y)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"many", "many (target mean)", "few", "x"}; !slices.Equal(p.OutputNames(), want) {
		t.Fatalf("columns %v, want %v", p.OutputNames(), want)
	}
	// The code is kept as it is without the statistic.
	q := New(Config{Seed: 1})
	plain, err := q.FitTransform(X, kinds)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if out.At(i, 0) != plain.At(i, 0) || out.At(i, 2) != plain.At(i, 1) {
			t.Fatalf("row %d: codes %v, %v changed from %v, %v", i, out.At(i, 0), out.At(i, 2), plain.At(i, 0), plain.At(i, 1))
		}
	}
	// Its values are the out-of-fold statistics, as for TargetStatistics.
	r := New(Config{OneHotLevels: 16, TargetStatistics: true, Seed: 1})
	ts, err := r.FitTransformTarget(X, kinds, y)
	if err != nil {
		t.Fatal(err)
	}
	if k := slices.Index(r.OutputNames(), "many (target mean)"); k < 0 {
		t.Fatalf("TargetStatistics: %v", r.OutputNames())
	} else {
		for i := range n {
			if !near(out.At(i, 1), ts.At(i, k), 1e-12) {
				t.Fatalf("row %d: beside the code %v, as TargetStatistics %v", i, out.At(i, 1), ts.At(i, k))
			}
		}
	}
}

func TestShuffledOrdinal(t *testing.T) {
	codes := []float64{0, 1, 2, 3, 4, 0, 1, 2, 3, 4}
	kinds := []data.Column{{Name: "c", Kind: data.Categorical, Categories: []string{"a", "b", "c", "d", "e"}}}
	X := matrix(codes)
	same := 0
	for seed := range uint64(20) {
		p := New(Config{Categorical: ShuffledOrdinal, Seed: seed, Transform: TransformYeoJohnson})
		out, err := p.FitTransform(X, kinds)
		if err != nil {
			t.Fatal(err)
		}
		// The output is an affine image of a permutation of the codes: the five distinct
		// outputs, ranked, are equally spaced, and equal codes map equally.
		vals := out.Col(0)
		for i := range 5 {
			if vals[i] != vals[i+5] {
				t.Fatal("equal codes mapped differently")
			}
		}
		sorted := slices.Clone(vals[:5])
		slices.Sort(sorted)
		for i := 2; i < 5; i++ {
			if !near(sorted[i]-sorted[i-1], sorted[1]-sorted[0], 1e-9) {
				t.Fatalf("not a permutation of equally spaced codes: %v", sorted)
			}
		}
		if vals[0] < vals[1] && vals[1] < vals[2] && vals[2] < vals[3] {
			same++
		}
		if p.Lambdas()[0] != 0 {
			t.Error("categorical columns must not be power-transformed")
		}
	}
	if same > 3 {
		t.Errorf("%d of 20 seeds kept the original order", same)
	}
}

func TestVariantsProduceFiniteStandardizedOutput(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	n := 300
	a, b, c := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		a[i] = math.Exp(2 * r.NormFloat64())
		b[i] = float64(r.IntN(4))
		c[i] = r.NormFloat64()
		if r.Float64() < 0.1 {
			c[i] = math.NaN()
		}
	}
	kinds := []data.Column{{Name: "a"}, {Name: "b", Kind: data.Categorical, Categories: []string{"w", "x", "y", "z"}}, {Name: "c"}}
	X := matrix(a, b, c)
	var standardSkew float64
	for _, v := range Variants() {
		name := v.String()
		if back, err := ParseVariant(name); err != nil || back != v {
			t.Errorf("ParseVariant(%q)=%v,%v", name, back, err)
		}
		p := New(v.Config(1))
		out, err := p.FitTransform(X, kinds)
		if err != nil {
			t.Fatal(name, err)
		}
		if out.Cols != 4 {
			t.Errorf("%s: %d columns, want 3 + 1 indicator", name, out.Cols)
		}
		for j := 0; j < 3; j++ {
			col := out.Col(j)
			var present []float64
			for i, x := range col {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					t.Fatalf("%s: non-finite output", name)
				}
				// Components mix the columns, and a missing value enters them as its
				// column's mean: every row counts.
				if v.Config(1).PrincipalAxes || !math.IsNaN(X.At(i, j)) {
					present = append(present, x)
				}
			}
			m, s := stat.MeanStdDev(present, nil)
			if math.Abs(m) > 1e-9 || math.Abs(s-1) > 1e-9 {
				t.Errorf("%s column %d: mean %v std %v over training rows", name, j, m, s)
			}
		}
		// Power and quantile variants remove most of the log-normal skew of column a.
		sk := stat.Skew(out.Col(0), nil)
		t.Logf("%s: skew of the log-normal column %.3f", name, sk)
		if v != VariantStandard && math.Abs(sk) > 0.5*standardSkew {
			t.Errorf("%s: skew %v, standard variant %v", name, sk, standardSkew)
		}
		if v == VariantStandard {
			standardSkew = math.Abs(sk)
		}
	}
	if _, err := ParseVariant("bogus"); err == nil {
		t.Error("ParseVariant(bogus) succeeded")
	}
}

func TestPreprocessErrors(t *testing.T) {
	p := New(Config{})
	if _, err := p.Transform(matrix([]float64{1})); err == nil {
		t.Error("Transform before Fit succeeded")
	}
	if err := p.Fit(data.Matrix{}, nil); err == nil {
		t.Error("empty Fit succeeded")
	}
	if err := p.Fit(matrix([]float64{1, 2}), []data.Column{{}, {}}); err == nil {
		t.Error("kinds length mismatch accepted")
	}
	if err := p.Fit(matrix([]float64{1, 2}, []float64{3, 4}), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Transform(matrix([]float64{1})); err == nil {
		t.Error("column count mismatch accepted")
	}
}

func TestYeoJohnsonInverse(t *testing.T) {
	for _, lambda := range []float64{-1.5, -0.3, 0, 0.5, 1, 1.7, 2, 2.6} {
		for _, x := range []float64{-30, -3, -0.5, 0, 0.7, 4, 50} {
			if got := YeoJohnsonInverse(YeoJohnson(x, lambda), lambda); !near(got, x, 1e-9) {
				t.Errorf("λ %v: inverse of ψ(%v) = %v", lambda, x, got)
			}
		}
	}
	// Beyond the bound of the range: the end of the range, not NaN.
	if got := YeoJohnsonInverse(3, -0.5); got != math.MaxFloat64 {
		t.Errorf("λ -0.5, v 3 (bound 2): %v", got)
	}
	if got := YeoJohnsonInverse(-3, 2.5); got != -math.MaxFloat64 {
		t.Errorf("λ 2.5, v -3 (bound -2): %v", got)
	}
}
