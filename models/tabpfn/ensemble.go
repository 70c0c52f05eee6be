package tabpfn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
)

// scorer is what the classifier needs from a model: one forward pass over training rows
// (context) and test rows. *Model implements it; tests substitute deterministic fakes so that
// the ensemble bookkeeping (rotations, codes, pooling) can be checked exactly.
type scorer interface {
	Probabilities(in Input, temperature float64) ([][]float64, error)
}

// view is how one ensemble member presents the features of the data to the model, the part
// of a member that classifier and regressor share: its preprocessing variant, fitted on
// the member's training rows, its feature subset and order, and its feature seed.
type view struct {
	variant preprocess.Variant
	pre     *preprocess.Preprocessor
	// cols lists the preprocessor's output columns this member presents, in presented order
	// (a shuffle of all of them, or of a random subset when there are more than MaxFeatures).
	// Empty means no column survived preprocessing; the member then presents one all-zero
	// column, so the model predicts from the targets of the context alone.
	cols        []int
	featureSeed uint64
	trainX      []float32 // NTrain × width, preprocessed
}

// newView fits member i's view on its training rows (raw features, described by columns)
// with the settings' variants and seed, presenting at most maxFeatures columns, chosen as
// the settings' feature selection says with relevance scoring the columns against the
// member's targets.
//
// targets, when not nil, is the member's target of each training row (a regression target, or
// a binary class as 0 or 1), from which the member presents mean targets as
// memberStatistics says; regression tells a regressor's members from a classifier's.
func newView(s settings, i int, rows data.Matrix, columns []data.Column, maxFeatures int, relevance relevanceFunc, targets []float64, regression bool) (view, error) {
	v := view{
		variant:     s.variants[i%len(s.variants)],
		featureSeed: mix(s.seed, uint64(i), streamFeatureSeed),
	}
	// Preprocessing, fitted on this member's training rows only. Every other member presents
	// categorical columns of a few categories as indicator columns (WithOneHot); the others
	// present codes.
	cfg := v.variant.Config(mix(s.seed, uint64(i), streamPreprocess))
	indicators := i%2 == 1
	if indicators {
		cfg.OneHotLevels = s.oneHotLevels
	}
	if targets != nil {
		memberStatistics(&cfg, s.oneHotLevels, indicators, regression)
	}
	v.pre = preprocess.New(cfg)
	var tx data.Matrix
	var err error
	if targets != nil { // the same as FitTransform where memberStatistics asked for none
		tx, err = v.pre.FitTransformTarget(rows, columns, targets)
	} else {
		tx, err = v.pre.FitTransform(rows, columns)
	}
	if err != nil {
		return v, err
	}
	// Features: a shuffled order (the model is close to, not exactly, invariant to it), and a
	// subset per member when there are more than the model was trained for.
	frng := data.NewRand(mix(s.seed, uint64(i), streamFeatures), 0)
	perm := frng.Perm(tx.Cols)
	byRelevance := s.featureSelection == FeaturesRelevance || s.featureSelection == FeaturesMRMR
	switch {
	case byRelevance && tx.Cols > maxFeatures:
		rel := relevance(tx)
		width := relevantWidth(rel, maxFeatures)
		if s.featureSelection == FeaturesMRMR {
			v.cols = mrmrSubset(perm, rel, tx, width, frng.Float64)
			break
		}
		u := make([]float64, len(perm))
		for p := range u {
			u[p] = frng.Float64()
		}
		v.cols = weightedSubset(perm, rel, width, u)
	default:
		v.cols = subsetColumns(perm, v.pre.KeptColumns(), maxFeatures)
	}
	v.trainX = v.present(tx)
	return v, nil
}

// memberStatistics sets the mean-target columns (out of fold for the training rows) that a
// member fitted with targets presents, for WithOneHot's levels (0: none):
//   - a member of indicators presents a categorical column of more than levels categories
//     by its category's mean target (preprocess.Config.TargetStatistics), and a numeric
//     column that is the key of groups of rows by its value's mean target beside the number
//     (preprocess.Config.KeyStatistics);
//   - a classifier's member of codes gives a categorical column of more than levels
//     categories its mean target beside the code (preprocess.Config.CodeStatistics), as the
//     code alone orders many categories in a way that says nothing of the target;
//   - a regressor's member of codes gives every categorical column of 3 or more categories
//     its mean target beside the code, and a group key its mean target beside the number.
//
// The regression model reads a code or an identifier poorly as a look-up, so a regressor's
// members of codes get every statistic its members of indicators have. On MASS coop, where
// one of 7 specimens has a mean target five times the others', a member of codes alone
// scores R² 0.00 and one with the statistic beside the code 0.96; on mlmRev Exam, whose
// pupils' target follows their school's number, the ensemble went from R² 0.64 to 0.84
// with the key's statistic in every member (bench/results/categories-2026-12-04.md). A
// two-class classifier's members of indicators already single a category out, and on the
// 8 unseen two-class tasks with a column of 3 to 16 categories the statistic beside the
// code moved the mean ROC AUC by -0.001, so a classifier keeps the statistic to columns of
// more than levels categories.
func memberStatistics(cfg *preprocess.Config, levels int, indicators, regression bool) {
	switch {
	case levels == 0:
	case indicators:
		cfg.TargetStatistics, cfg.KeyStatistics = true, levels
	case regression:
		cfg.CodeStatistics, cfg.KeyStatistics = 2, levels
	default:
		cfg.CodeStatistics = levels
	}
}

// input is the model input of one member's context followed by the test rows X (raw
// features), with the training targets left for the caller to set.
func (v *view) input(X data.Matrix, nTrain int) (Input, error) {
	tx, err := v.pre.Transform(X)
	if err != nil {
		return Input{}, err
	}
	w := v.width()
	return Input{
		Batch: 1, Rows: nTrain + X.Rows, Features: w, NTrain: nTrain,
		X:           append(append(make([]float32, 0, (nTrain+X.Rows)*w), v.trainX...), v.present(tx)...),
		FeatureSeed: v.featureSeed,
	}, nil
}

// member is one ensemble member of a classifier: a view of the training data (its own
// stratified row subsample, preprocessing variant, feature subset and order, and feature
// seed) and a label map, which the model sees as context.
type member struct {
	view
	// code maps each compact class to the label the model sees; nLabels is the model's class
	// count for this member. A bijective code is a class rotation; a surjective one (more
	// classes than the model has outputs) is an output code.
	code    []int
	nLabels int
	// share is the within-label prior of each compact class, n_c / n_code(c), for decoding
	// output codes (1 for a bijective code).
	share  []float64
	trainY []int32
}

// width is the number of features the member presents to the model.
func (m *view) width() int { return max(len(m.cols), 1) }

// present maps preprocessed rows to the member's presented columns, as float32 row-major.
func (m *view) present(X data.Matrix) []float32 {
	w := m.width()
	out := make([]float32, X.Rows*w)
	if len(m.cols) == 0 {
		return out
	}
	for i := 0; i < X.Rows; i++ {
		row := X.Row(i)
		for j, c := range m.cols {
			out[i*w+j] = float32(row[c])
		}
	}
	return out
}

// mix folds each value into the hash (Boost's hash_combine step) and scrambles it with
// SplitMix64's finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014): it turns (seed, member, purpose) into independent-looking seeds
// so that every random choice of a member can be reproduced from the classifier's seed alone.
func mix(vals ...uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range vals {
		h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
		z := h
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		h = z ^ (z >> 31)
	}
	return h
}

// Purposes separating the random streams of a member.
const (
	streamRows uint64 = iota + 1
	streamPreprocess
	streamFeatures
	streamFeatureSeed
	streamCodes
	streamPairs
	streamLocal
	streamContextChoice
)

// rotationOffset returns member i's class rotation for k classes out of n members: offsets
// spread evenly over 0..k−1 so that, with n ≥ k, every class takes every model label equally
// often (TabPFN's class-shift ensembling, Hollmann et al. 2023, section 4: the model is not
// exactly invariant to label permutations, so averaging over them removes a label bias).
func rotationOffset(i, n, k int) int { return (i * k / n) % k }

// rotationCode is the bijective code c ↦ (c + offset) mod k.
func rotationCode(k, offset int) []int {
	code := make([]int, k)
	for c := range code {
		code[c] = (c + offset) % k
	}
	return code
}

// outputCodes returns at least n codebooks mapping k classes onto m < k labels, for the
// many-class scheme (error-correcting output codes with an m-ary alphabet; Dietterich and
// Bakiri, "Solving multiclass learning problems via error-correcting output codes", JAIR
// 1995, and the m-ary codes of TabPFN's many-class extension). Each codebook is balanced —
// a random permutation of the classes dealt round-robin onto the labels, so every label
// carries ⌊k/m⌋ or ⌈k/m⌉ classes and every label is used — and codebooks are added until
// every pair of classes is told apart by at least two of them, so that one wrong member
// cannot merge two classes. The count is at least 2·⌈log_m k⌉, the fewest codebooks that
// can give every class a distinct word twice over.
func outputCodes(k, m, n int, rng *rand.Rand) [][]int {
	need := 2 * int(math.Ceil(math.Log(float64(k))/math.Log(float64(m))-1e-9))
	n = max(n, need)
	var books [][]int
	apart := make([]int, k*k) // apart[a*k+b]: codebooks separating a and b
	allApart := func() bool {
		for a := 0; a < k; a++ {
			for b := a + 1; b < k; b++ {
				if apart[a*k+b] < 2 {
					return false
				}
			}
		}
		return true
	}
	for len(books) < n || (!allApart() && len(books) < n+4*k) {
		book := make([]int, k)
		for pos, c := range rng.Perm(k) {
			book[c] = pos % m
		}
		for a := 0; a < k; a++ {
			for b := a + 1; b < k; b++ {
				if book[a] != book[b] {
					apart[a*k+b]++
				}
			}
		}
		books = append(books, book)
	}
	return books
}

// decode turns one member's model probabilities (rows × nLabels) into probabilities over the
// compact classes: p(c) = P(code(c)) · share(c). For a rotation this un-rotates the columns;
// for an output code it spreads a label's probability over the classes it carries in
// proportion to their training counts.
func (m *member) decode(p []float64, rows int, k int) []float64 {
	out := make([]float64, rows*k)
	for r := 0; r < rows; r++ {
		for c := 0; c < k; c++ {
			out[r*k+c] = p[r*m.nLabels+m.code[c]] * m.share[c]
		}
	}
	return out
}

// poolMean averages members' class probabilities, TabPFN's ensemble combination.
func poolMean(members [][]float64) []float64 {
	out := make([]float64, len(members[0]))
	for _, p := range members {
		for i, v := range p {
			out[i] += v
		}
	}
	for i := range out {
		out[i] /= float64(len(members))
	}
	return out
}

// poolLog combines members' distributions by their normalised geometric mean (logarithmic
// opinion pooling, Genest and Zidek 1986), used for output codes: a class must be likely
// under every codebook, so classes that share the true class's label in one codebook but not
// in the others are voted down, which an arithmetic mean would only halve. Probabilities are
// floored at 1e-12 so that one member's zero cannot veto a class outright.
func poolLog(members [][]float64, rows, k int) []float64 {
	out := make([]float64, rows*k)
	for _, p := range members {
		for i, v := range p {
			out[i] += math.Log(max(v, 1e-12))
		}
	}
	n := float64(len(members))
	for r := 0; r < rows; r++ {
		row := out[r*k : (r+1)*k]
		mx := math.Inf(-1)
		for c := range row {
			row[c] /= n
			mx = max(mx, row[c])
		}
		sum := 0.0
		for c := range row {
			row[c] = math.Exp(row[c] - mx)
			sum += row[c]
		}
		for c := range row {
			row[c] /= sum
		}
	}
	return out
}

// buildMember fits member i's view of the training data. X and y are the full training set
// with compact labels in [0, k); code maps those classes onto the model's nLabels labels.
func (c *Classifier) buildMember(i int, X data.Matrix, y []int, k int, code []int, nLabels int) (*member, error) {
	s := c.settings
	maxRows, maxFeatures := c.limits()
	m := &member{code: code, nLabels: nLabels}
	// Rows: a stratified subsample per member when the training set exceeds the context the
	// model was trained for, so that the ensemble as a whole sees more of the data.
	rows := X
	ys := y
	if X.Rows > maxRows {
		idx, err := data.StratifiedSubsample(y, k, maxRows, mix(s.seed, uint64(i), streamRows))
		if err != nil {
			return nil, err
		}
		rows = X.SelectRows(idx)
		ys = make([]int, len(idx))
		for j, r := range idx {
			ys[j] = y[r]
		}
	}
	var err error
	var targets []float64 // a binary class's statistics are its share; more classes have none
	if k == 2 {
		targets = make([]float64, len(ys))
		for j, cl := range ys {
			targets[j] = float64(cl)
		}
	}
	if m.view, err = newView(s, i, rows, c.columns, maxFeatures, classRelevance(ys, k), targets, false); err != nil {
		return nil, err
	}
	m.trainY = make([]int32, len(ys))
	labelCount := make([]float64, nLabels)
	classCount := make([]float64, k)
	for j, v := range ys {
		m.trainY[j] = int32(code[v])
		labelCount[code[v]]++
		classCount[v]++
	}
	m.share = make([]float64, k)
	for cl := range m.share {
		if lc := labelCount[code[cl]]; lc > 0 {
			m.share[cl] = classCount[cl] / lc
		}
	}
	for l, n := range labelCount {
		if n == 0 {
			// Subsampling keeps every class (limit ≥ classes), so this is a bug, not input.
			return nil, fmt.Errorf("tabpfn: member %d: model label %d has no training rows", i, l)
		}
	}
	return m, nil
}

// subsetColumns keeps at most limit of the columns in perm (a random order of all of them)
// and returns them in that order. Without principal components the subset is random. With
// them (kept[c] == -1, indexed in order of decreasing variance), the other columns (the
// categorical ones and missing indicators, which no component carries) are kept first and
// the strongest components fill the rest, as a truncated PCA would: a random subset of
// components would drop leading axes as readily as noise.
func subsetColumns(perm, kept []int, limit int) []int {
	if len(perm) <= limit {
		return perm
	}
	isComponent := func(c int) bool { return c < len(kept) && kept[c] == -1 }
	components := 0
	for _, c := range perm {
		if isComponent(c) {
			components++
		}
	}
	if components == 0 {
		return perm[:limit]
	}
	keep := make(map[int]bool, limit)
	n := 0
	for _, c := range perm { // the other columns first, in random order
		if n < limit && !isComponent(c) {
			keep[c] = true
			n++
		}
	}
	for c := 0; c < len(kept) && n < limit; c++ { // then components by variance
		if isComponent(c) {
			keep[c] = true
			n++
		}
	}
	out := make([]int, 0, limit)
	for _, c := range perm {
		if keep[c] {
			out = append(out, c)
		}
	}
	return out
}

// input is the model's input for member m with the rows of X (raw features) as test rows
// after its training rows, labelled.
func (m *member) input(X data.Matrix) (Input, error) {
	in, err := m.view.input(X, len(m.trainY))
	if err != nil {
		return Input{}, err
	}
	in.Y, in.Classes = m.trainY, []int{m.nLabels}
	return in, nil
}

// predictMember returns member m's probabilities over the k compact classes for the rows of X
// (raw features). The test rows go through the model in passes of testGroup rows, each
// with the member's training rows as context; the scorer cuts each pass into blocks as
// memory requires.
func (c *Classifier) predictMember(m *member, X data.Matrix, k int) ([]float64, error) {
	w := m.width()
	nTrain := len(m.trainY)
	group, err := testGroup(c.cfg, c.modelDev, nTrain, w, X.Rows)
	if err != nil {
		return nil, err
	}
	tx, err := m.pre.Transform(X)
	if err != nil {
		return nil, err
	}
	test := m.present(tx)
	out := make([]float64, 0, X.Rows*k)
	for lo := 0; lo < X.Rows; lo += group {
		hi := min(lo+group, X.Rows)
		in := Input{
			Batch: 1, Rows: nTrain + hi - lo, Features: w, NTrain: nTrain,
			X:           append(append(make([]float32, 0, (nTrain+hi-lo)*w), m.trainX...), test[lo*w:hi*w]...),
			Y:           m.trainY,
			Classes:     []int{m.nLabels},
			FeatureSeed: m.featureSeed,
		}
		p, err := c.model.Probabilities(in, c.settings.temperature)
		if err != nil {
			return nil, err
		}
		out = append(out, m.decode(p[0], hi-lo, k)...)
	}
	return out, nil
}
