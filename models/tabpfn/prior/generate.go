package prior

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/kiln-ml/kiln/data/preprocess"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// maxAttempts bounds the redraws of a degenerate dataset (a target with fewer than two
// distinct training values, or a non-finite value) before the linear fallback is used.
const maxAttempts = 16

// outlierSigma is the bound of the outlier compression, as data/preprocess uses by default.
const outlierSigma = 4

// activation is a node nonlinearity of the SCM and BNN priors.
type activation int

const (
	actTanh activation = iota
	actLeakyReLU
	actELU
	actIdentity
	actStep
	actAbs
	actSin
	numActivations
)

// numBasicActivations ends TabPFN's original set (Hollmann et al. 2023, appendix C.2).
// Config.MixedActivations adds the rest, after TabPFN v2's wider set (Hollmann et al.,
// Nature 2025, methods): a step makes piecewise-constant mechanisms, the threshold structure
// that trees fit well, and abs and sine make non-monotone ones.
const numBasicActivations = actStep

// drawActivation draws a node nonlinearity: from the basic set, or from every activation
// when mixed.
func drawActivation(r *rand.Rand, mixed bool) activation {
	if mixed {
		return activation(r.IntN(int(numActivations)))
	}
	return activation(r.IntN(int(numBasicActivations)))
}

func (a activation) apply(x float64) float64 {
	switch a {
	case actStep:
		if x > 0 {
			return 1
		}
		return 0
	case actAbs:
		return math.Abs(x)
	case actSin:
		return math.Sin(x)
	case actTanh:
		return math.Tanh(x)
	case actLeakyReLU:
		if x < 0 {
			return 0.1 * x
		}
		return x
	case actELU:
		if x < 0 {
			return math.Expm1(x)
		}
		return x
	}
	return x
}

// rootDist is the distribution of root causes (SCM) or input features (BNN).
type rootDist int

const (
	rootGaussian rootDist = iota
	rootUniform
	rootStudentT
	numRootDists
)

// rootSampler draws one column of root values with its own location and scale.
type rootSampler struct {
	dist       rootDist
	loc, scale float64
	df         int
}

func newRootSampler(r *rand.Rand, dist rootDist) rootSampler {
	return rootSampler{
		dist:  dist,
		loc:   r.NormFloat64(),
		scale: logUniform(r, 0.3, 3),
		df:    uniformInt(r, 2, 5),
	}
}

func (s rootSampler) draw(r *rand.Rand) float64 {
	switch s.dist {
	case rootUniform:
		return s.loc + s.scale*uniform(r, -math.Sqrt(3), math.Sqrt(3)) // unit variance
	case rootStudentT:
		// t with df degrees of freedom: Z / sqrt(χ²_df / df), the χ² as a sum of squares.
		var chi2 float64
		for range s.df {
			z := r.NormFloat64()
			chi2 += z * z
		}
		return s.loc + s.scale*r.NormFloat64()/math.Sqrt(chi2/float64(s.df))
	}
	return s.loc + s.scale*r.NormFloat64()
}

// layer computes out = act(in·Wᵀ + b) + noise·N(0,1) for rows×nIn in, with weights
// N(0, scale²/(fanIn·(1−drop))) pruned by dropout with probability drop: the fan-in
// normalisation keeps the pre-activation variance near scale² times the input variance
// whatever the width and sparsity, so deep graphs neither vanish nor explode on average.
func layer(r *rand.Rand, in blas64.General, nOut int, scale, drop, biasStd, noise float64, act activation) blas64.General {
	w := blas64.General{Rows: nOut, Cols: in.Cols, Stride: in.Cols, Data: make([]float64, nOut*in.Cols)}
	std := scale / math.Sqrt(float64(in.Cols)*(1-drop))
	for i := range w.Data {
		if r.Float64() >= drop {
			w.Data[i] = std * r.NormFloat64()
		}
	}
	out := blas64.General{Rows: in.Rows, Cols: nOut, Stride: nOut, Data: make([]float64, in.Rows*nOut)}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, in, w, 0, out)
	bias := make([]float64, nOut)
	for j := range bias {
		bias[j] = biasStd * r.NormFloat64()
	}
	for i := 0; i < out.Rows; i++ {
		row := out.Data[i*nOut : (i+1)*nOut]
		for j := range row {
			row[j] = act.apply(row[j]+bias[j]) + noise*r.NormFloat64()
		}
	}
	return out
}

// sampleSCM draws a dataset from the structural-causal-model prior (TabPFN appendix C.2):
// root causes feed an MLP-shaped DAG of depth 1–4 whose hidden nodes are the graph's variables;
// the targets and the features are distinct random hidden nodes. It returns the features
// column by column and mech.targets continuous targets. At most 6 root causes and at most
// 30% weight dropout keep most graphs connected, so the target usually depends on some
// features: with up to 16 roots and 60% dropout, a 5-nearest-neighbour classifier gained
// only 0.07 accuracy over the majority class on average, against 0.13 with these ranges
// (200 datasets, seed 42, the settings of TestLearnable).
func sampleSCM(r *rand.Rand, rows, features int, mech mechanisms) (cols, ys [][]float64) {
	depth := uniformInt(r, 1, 4)
	need := features + mech.targets
	width := max((need+depth-1)/depth, uniformInt(r, 4, 32))
	nRoot := uniformInt(r, 1, min(width, 6))
	act := drawActivation(r, false)
	dist := rootDist(r.IntN(int(numRootDists)))
	scale := logUniform(r, 0.5, 2)
	drop := uniform(r, 0, 0.3)
	noise := logUniform(r, 0.005, 0.3)
	biasStd := uniform(r, 0, 0.5)

	roots := make([]rootSampler, nRoot)
	for j := range roots {
		roots[j] = newRootSampler(r, dist)
	}
	h := blas64.General{Rows: rows, Cols: nRoot, Stride: nRoot, Data: make([]float64, rows*nRoot)}
	for i := 0; i < rows; i++ {
		for j := range roots {
			h.Data[i*nRoot+j] = roots[j].draw(r)
		}
	}
	layers := make([]blas64.General, depth)
	for l := range layers {
		if mech.mixed {
			act = drawActivation(r, true)
		}
		h = layer(r, h, width, scale, drop, biasStd, noise, act)
		layers[l] = h
	}
	node := func(k int) []float64 { // hidden node k = layer k/width, unit k%width
		m := layers[k/width]
		col := make([]float64, rows)
		for i := range col {
			col[i] = m.Data[i*width+k%width]
		}
		return col
	}
	nodes := r.Perm(depth * width)
	// Half the time the target is a node of the last layer (an "effect" of most of the
	// graph); otherwise any node, so features can be causes, effects or unrelated.
	if r.IntN(2) == 0 {
		last := (depth-1)*width + r.IntN(width)
		i := slices.Index(nodes, last)
		nodes[0], nodes[i] = nodes[i], nodes[0]
	}
	ys = make([][]float64, mech.targets)
	for t := range ys {
		ys[t] = node(nodes[t])
	}
	cols = make([][]float64, features)
	for j := range cols {
		cols[j] = node(nodes[mech.targets+j])
	}
	return cols, ys
}

// sampleBNN draws a dataset from the Bayesian-neural-network prior (Müller et al. 2022,
// section 5; TabPFN appendix C.1): independent features, and mech.targets targets that are
// the outputs of a random MLP of them plus Gaussian noise scaled to each output's spread.
func sampleBNN(r *rand.Rand, rows, features int, mech mechanisms) (cols, ys [][]float64) {
	depth := uniformInt(r, 1, 3)
	width := uniformInt(r, 8, 64)
	act := drawActivation(r, false)
	dist := rootDist(r.IntN(int(numRootDists)))
	scale := logUniform(r, 0.5, 3)
	drop := uniform(r, 0, 0.5)
	noise := logUniform(r, 0.01, 0.5)

	x := blas64.General{Rows: rows, Cols: features, Stride: features, Data: make([]float64, rows*features)}
	for j := range features {
		s := newRootSampler(r, dist)
		for i := range rows {
			x.Data[i*features+j] = s.draw(r)
		}
	}
	h := x
	for range depth {
		if mech.mixed {
			act = drawActivation(r, true)
		}
		h = layer(r, h, width, scale, drop, 0.5, 0, act)
	}
	out := layer(r, h, mech.targets, 1, 0, 0, 0, actIdentity)
	ys = make([][]float64, mech.targets)
	for t := range ys {
		y := make([]float64, rows)
		for i := range y {
			y[i] = out.Data[i*mech.targets+t]
		}
		_, sd := preprocess.MeanStd(y)
		for i := range y {
			y[i] += noise * sd * r.NormFloat64()
		}
		ys[t] = y
	}
	cols = make([][]float64, features)
	for j := range cols {
		cols[j] = make([]float64, rows)
		for i := range rows {
			cols[j][i] = x.Data[i*features+j]
		}
	}
	return cols, ys
}

// mechanisms selects the optional parts of the priors for one dataset.
type mechanisms struct {
	targets int  // continuous targets to return: 1, or the class count for argmax classes
	mixed   bool // draw each layer's activation from the extended set
}

// argmaxClasses labels each row with the index of its largest target after standardising
// each target on the first nTrain rows and shifting it by a random offset (so that class
// sizes vary), then shuffles the class order. Unlike thresholds on one target, the classes
// have no order: each is the region where its own mechanism dominates, as in a softmax
// classifier. Targets constant on the training rows, and classes that no training row
// falls in, are left out (a row whose largest target is left out takes its largest among
// the rest), so every class occurs in the training part; ok is false when fewer than two
// classes remain.
func argmaxClasses(r *rand.Rand, ys [][]float64, nTrain int) (labels []int, classes int, ok bool) {
	rows := len(ys[0])
	z := make([][]float64, 0, len(ys))
	for _, y := range ys {
		m, s := preprocess.MeanStd(y[:nTrain])
		if !(s > 0) {
			continue
		}
		off := 0.5 * r.NormFloat64()
		col := make([]float64, rows)
		for i, v := range y {
			col[i] = (v-m)/s + off
		}
		z = append(z, col)
	}
	alive := make([]bool, len(z))
	for t := range alive {
		alive[t] = true
	}
	argmax := func(i int) int {
		best := -1
		for t, col := range z {
			if alive[t] && (best < 0 || col[i] > z[best][i]) {
				best = t
			}
		}
		return best
	}
	counts := make([]int, len(z))
	for i := range nTrain {
		if t := argmax(i); t >= 0 {
			counts[t]++
		}
	}
	index := make([]int, len(z)) // target → compact class
	for t, n := range counts {
		alive[t] = n > 0
		if alive[t] {
			index[t] = classes
			classes++
		}
	}
	if classes < 2 {
		return nil, 0, false
	}
	perm := r.Perm(classes)
	labels = make([]int, rows)
	for i := range labels {
		labels[i] = perm[index[argmax(i)]]
	}
	return labels, classes, true
}

// discretize maps v to k classes by thresholds at k−1 distinct values of its first nTrain
// entries (random quantiles of the training rows), then shuffles the class order. Each
// threshold is a training value, and the smallest training value lies below all thresholds,
// so every class holds at least one training row. k is reduced to the number of distinct
// training values; ok is false when there are fewer than two.
func discretize(r *rand.Rand, v []float64, nTrain, k int) (labels []int, classes int, ok bool) {
	u := slices.Clone(v[:nTrain])
	slices.Sort(u)
	u = slices.Compact(u)
	if len(u) < 2 {
		return nil, 0, false
	}
	k = min(k, len(u))
	pick := r.Perm(len(u) - 1)[:k-1] // positions 1..len(u)-1, never the minimum
	thr := make([]float64, k-1)
	for i, p := range pick {
		thr[i] = u[p+1]
	}
	slices.Sort(thr)
	perm := r.Perm(k)
	labels = make([]int, len(v))
	for i, x := range v {
		c := sort.Search(len(thr), func(t int) bool { return thr[t] > x }) // #thresholds ≤ x
		labels[i] = perm[c]
	}
	return labels, k, true
}

// Standardize bounds outliers (numeric columns) and z-scores col in place with statistics of
// its first nTrain entries, exactly as the prior's own features are: other sources of
// training tasks (real tables) use it so that the model sees one input distribution.
func Standardize(col []float64, nTrain int, categorical bool) { standardize(col, nTrain, categorical) }

// standardize bounds outliers (numeric columns) and z-scores a column with statistics of its
// first nTrain entries, as data/preprocess does at inference. A column constant on the
// training rows becomes all zeros.
func standardize(col []float64, nTrain int, categorical bool) {
	lo, hi := math.Inf(-1), math.Inf(1)
	if !categorical {
		lo, hi = preprocess.OutlierBounds(col[:nTrain], outlierSigma)
		if math.IsNaN(lo) || math.IsNaN(hi) {
			lo, hi = math.Inf(-1), math.Inf(1)
		}
		for i, v := range col {
			col[i] = preprocess.SoftClip(v, lo, hi)
		}
	}
	m, s := preprocess.MeanStd(col[:nTrain])
	if !(s > 0) {
		clear(col)
		return
	}
	for i, v := range col {
		col[i] = (v - m) / s
	}
}

func allFinite(cols, ys [][]float64) bool {
	for _, c := range slices.Concat(cols, ys) {
		for _, v := range c {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
		}
	}
	return true
}

// generate draws one dataset of the given shape from r; ok is false when the draw is
// degenerate and the caller should redraw.
func (s *Sampler) generate(r *rand.Rand, sh Shape, fallback bool) (Dataset, bool) {
	cfg := &s.cfg
	kind := SCM
	var cols, ys [][]float64
	// With ArgmaxClassFraction 0 no draw is made here, so a configuration without the
	// extended mechanisms draws exactly the basic prior's datasets, whatever checkpoint it
	// resumes (TestBasicMechanismsMatchEarlierVersions).
	mech := mechanisms{targets: 1, mixed: cfg.MixedActivations}
	k := 0
	if cfg.ArgmaxClassFraction > 0 && !cfg.Regression {
		k = uniformInt(r, 2, cfg.MaxClasses)
		if k >= 3 && r.Float64() < cfg.ArgmaxClassFraction {
			mech.targets = k
		}
	}
	switch {
	case fallback:
		// A linear model of Gaussian features: always at least two distinct target values.
		kind = BNN
		mech.targets = 1
		cols = make([][]float64, sh.Features)
		y := make([]float64, sh.Rows)
		for j := range cols {
			cols[j] = make([]float64, sh.Rows)
			w := r.NormFloat64()
			for i := range cols[j] {
				cols[j][i] = r.NormFloat64()
				y[i] += w * cols[j][i]
			}
		}
		for i := range y {
			y[i] += 0.1 * r.NormFloat64()
		}
		ys = [][]float64{y}
	case r.Float64() < cfg.BNNFraction:
		kind = BNN
		cols, ys = sampleBNN(r, sh.Rows, sh.Features, mech)
	default:
		cols, ys = sampleSCM(r, sh.Rows, sh.Features, mech)
	}
	if !allFinite(cols, ys) {
		return Dataset{}, false
	}
	// With GroupFraction 0 no draw is made here either, so configurations without groups
	// draw the datasets of the versions before them.
	idCol := -1
	if cfg.GroupFraction > 0 && !fallback && r.Float64() < cfg.GroupFraction {
		idCol = groupStructure(r, cols, ys)
	}
	var labels []int
	var target []float32
	var ok bool
	switch {
	case cfg.Regression:
		k = 0
		target, ok = regressionTarget(r, ys[0], cols, sh.NTrain)
	case mech.targets > 1:
		labels, k, ok = argmaxClasses(r, ys, sh.NTrain)
	default:
		if k == 0 {
			k = uniformInt(r, 2, cfg.MaxClasses)
		}
		labels, k, ok = discretize(r, ys[0], sh.NTrain, k)
	}
	if !ok {
		return Dataset{}, false
	}
	cat := make([]bool, sh.Features)
	if r.Float64() < cfg.CategoricalFraction {
		share := uniform(r, 0.1, 0.6)
		for j, col := range cols {
			if r.Float64() >= share || j == idCol {
				continue
			}
			codes, _, ok := discretize(r, col, sh.NTrain, uniformInt(r, 2, 10))
			if !ok {
				continue
			}
			for i, c := range codes {
				col[i] = float64(c)
			}
			cat[j] = true
		}
	}
	for j, col := range cols {
		standardize(col, sh.NTrain, cat[j])
	}
	missing := 0.0
	if r.Float64() < cfg.MissingFraction {
		missing = cfg.MaxMissingRate * (1 - r.Float64()) // (0, MaxMissingRate]
	}
	d := Dataset{
		X:           make([]float32, sh.Rows*sh.Features),
		Target:      target,
		Rows:        sh.Rows,
		Features:    sh.Features,
		Classes:     k,
		NTrain:      sh.NTrain,
		Categorical: cat,
		Prior:       kind,
	}
	if labels != nil {
		d.Y = make([]int32, sh.Rows)
	}
	for i := range sh.Rows {
		if labels != nil {
			d.Y[i] = int32(labels[i])
		}
		for j, col := range cols {
			v := float32(col[i])
			if missing > 0 && r.Float64() < missing {
				v = float32(math.NaN())
			}
			d.X[i*sh.Features+j] = v
		}
	}
	return d, true
}
