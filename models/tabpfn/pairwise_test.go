package tabpfn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/metrics"
)

// Where the pairwise probabilities are consistent with a distribution p
// (r_ij = p_i / (p_i + p_j)), coupling recovers p.
func TestCoupleRecoversConsistentDistribution(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var cp coupler
	for trial := 0; trial < 200; trial++ {
		k := 3 + rng.IntN(8)
		p := make([]float64, k)
		s := 0.0
		for i := range p {
			p[i] = math.Exp(2 * rng.NormFloat64()) // from near 0 to dominant
			s += p[i]
		}
		for i := range p {
			p[i] /= s
		}
		r := make([]float64, k*k)
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				if i != j {
					r[i*k+j] = p[i] / (p[i] + p[j])
				}
			}
		}
		if slices.ContainsFunc(r, func(v float64) bool { return v != 0 && (v < 1e-6 || v > 1-1e-6) }) {
			continue // clipped: no longer exactly consistent
		}
		got := make([]float64, k)
		cp.couple(r, k, got)
		require.InDeltaSlice(t, p, got, 1e-9, "trial %d, k = %d", trial, k)
	}
}

// Inconsistent pairwise probabilities, hard 0/1 votes included, still give a distribution,
// and coupling does not depend on the order of the classes: relabelling the classes
// permutes the result the same way.
func TestCoupleInconsistentPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var cp coupler
	for trial := 0; trial < 200; trial++ {
		k := 3 + rng.IntN(8)
		r := make([]float64, k*k)
		for i := 0; i < k; i++ {
			for j := i + 1; j < k; j++ {
				v := rng.Float64()
				if trial%10 == 0 {
					v = math.Round(v) // hard votes, clipped inside
				}
				r[i*k+j], r[j*k+i] = v, 1-v
			}
		}
		p := make([]float64, k)
		cp.couple(r, k, p)
		s := 0.0
		for _, v := range p {
			require.False(t, math.IsNaN(v))
			require.GreaterOrEqual(t, v, 0.0)
			s += v
		}
		require.InDelta(t, 1, s, 1e-12)

		perm := rng.Perm(k) // class i is called perm[i]
		rp := make([]float64, k*k)
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				rp[perm[i]*k+perm[j]] = r[i*k+j]
			}
		}
		pp := make([]float64, k)
		cp.couple(rp, k, pp)
		for i := range p {
			require.InDelta(t, p[i], pp[perm[i]], 1e-9, "trial %d", trial)
		}
	}
}

// lineClusters puts class c's rows around the point (10c, …, 10c), so that of any two
// classes, the one with the nearer index is the nearer cluster.
func lineClusters(n, f, k int, seed uint64) (data.Matrix, []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	X := data.NewMatrix(n, f)
	y := make([]int, n)
	for i := range y {
		y[i] = i % k
		for j := 0; j < f; j++ {
			X.Set(i, j, 10*float64(y[i])+0.5*rng.NormFloat64())
		}
	}
	return X, y
}

// With the nearest-neighbour stand-in for the model, every quantity of the pairwise scheme
// is known: each pair's binary table holds exactly the rows of its two classes, the pair's
// classifier says 0.9 for the nearer of its two clusters, and the prediction is the even
// blend of the multi-class ensemble and the coupled pairs.
func TestClassifierPairwiseScheme(t *testing.T) {
	cfg := classifierTinyConfig()
	const k = 4
	X, y := lineClusters(120, 3, k, 1)
	// Unbalanced classes, so that the pair tables differ in size: 20 / 20 / 20 / 15.
	var train []int
	for i := 0; i < 80; i++ {
		if y[i] != 3 || i >= 20 {
			train = append(train, i)
		}
	}
	ytr := make([]int, len(train))
	for a, i := range train {
		ytr[a] = y[i]
	}
	Xtr, Xte, yte := X.SelectRows(train), X.SelectRows(seq(80, 120)), y[80:]

	fs := &fakeScorer{cfg: cfg, eps: 0.1}
	c, err := newWithScorer(fs, cfg, WithEnsemble(k), WithPairwise(2), WithVariants(preprocess.VariantStandard), WithLocalContexts(0))
	require.NoError(t, err)
	require.NoError(t, c.Fit(Xtr, ytr, k))
	require.Equal(t, k*(k-1)/2, c.Pairs())
	p, err := c.PredictProba(Xte)
	require.NoError(t, err)
	requireValidProba(t, p, Xte.Rows, k)

	// Contexts: k multi-class members of all 75 rows, then 2 members for each pair.
	count := make([]int, k)
	for _, v := range ytr {
		count[v]++
	}
	want := []int{75, 75, 75, 75}
	for a := 0; a < k; a++ {
		for b := a + 1; b < k; b++ {
			want = append(want, count[a]+count[b], count[a]+count[b])
		}
	}
	require.Equal(t, want, fs.nTrain)
	require.Equal(t, []int{4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, fs.classes)
	// Every member, pairs included, draws its own feature embeddings.
	seen := map[uint64]bool{}
	for _, s := range fs.seeds {
		require.False(t, seen[s], "feature seed %d repeats", s)
		seen[s] = true
	}

	var cp coupler
	for row, cl := range yte {
		multi := make([]float64, k)
		for j := range multi {
			multi[j] = 0.1 / (k - 1)
		}
		multi[cl] = 0.9
		r := make([]float64, k*k)
		for a := 0; a < k; a++ {
			for b := 0; b < k; b++ {
				// The pair's nearer cluster gets 0.9; for a test row of class cl that is
				// cl itself, or else the class nearer to cl on the line.
				if a != b && math.Abs(float64(a-cl)) < math.Abs(float64(b-cl)) {
					r[a*k+b], r[b*k+a] = 0.9, 0.1
				}
			}
		}
		if cl != 0 && cl != k-1 {
			continue // a pair on either side of cl at equal distance: a tie, not checked
		}
		pairs := make([]float64, k)
		cp.couple(r, k, pairs)
		for j := range multi {
			require.InDelta(t, (1-PairwiseWeight)*multi[j]+PairwiseWeight*pairs[j], p.At(row, j), 1e-9, "row %d (class %d)", row, cl)
		}
	}

	// Off, the prediction is the multi-class ensemble's alone.
	fs2 := &fakeScorer{cfg: cfg, eps: 0.1}
	c2, err := newWithScorer(fs2, cfg, WithEnsemble(k), WithPairwise(0), WithVariants(preprocess.VariantStandard), WithLocalContexts(0))
	require.NoError(t, err)
	require.NoError(t, c2.Fit(Xtr, ytr, k))
	require.Empty(t, c2.pairs)
	p2, err := c2.PredictProba(Xte)
	require.NoError(t, err)
	for row, cl := range yte {
		require.InDelta(t, 0.9, p2.At(row, cl), 1e-12)
	}
	require.Len(t, fs2.nTrain, k)
}

// The automatic setting turns the scheme on for small multi-class tables only, and the
// option rejects a negative count.
func TestAutoPairwise(t *testing.T) {
	require.Equal(t, 0, AutoPairwise(100, 10, 2), "binary tables need no pairs")
	require.Equal(t, DefaultPairMembers, AutoPairwise(107, 9, 6), "glass")
	require.Equal(t, DefaultPairMembers, AutoPairwise(423, 18, 4), "vehicle")
	require.Equal(t, DefaultPairMembers, AutoPairwise(50, 16, 7), "zoo")
	require.Equal(t, 0, AutoPairwise(1000, 64, 10), "digits at the protocol's cap")
	_, err := NewClassifier(WithPairwise(-1))
	require.ErrorContains(t, err, "members per pair")

	// A binary table builds no pairs whatever the setting; an output-code table builds them
	// (for its candidates) unless the option turns them off.
	cfg := classifierTinyConfig()
	X, y := clusters(60, 3, 2, 3, 2)
	c, err := newWithScorer(&fakeScorer{cfg: cfg, eps: 0.1}, cfg, WithPairwise(2))
	require.NoError(t, err)
	require.NoError(t, c.Fit(X, y, 2))
	require.Empty(t, c.pairs)
	k := cfg.MaxClasses + 2
	Xm, ym := clusters(120, 3, k, 3, 2)
	c, err = newWithScorer(&fakeScorer{cfg: cfg, eps: 0.1}, cfg, WithPairwise(0))
	require.NoError(t, err)
	require.NoError(t, c.Fit(Xm, ym, k))
	require.Empty(t, c.pairs)
	c, err = newWithScorer(&fakeScorer{cfg: cfg, eps: 0.1}, cfg, WithLocalContexts(0))
	require.NoError(t, err)
	require.NoError(t, c.Fit(Xm, ym, k))
	require.Len(t, c.pairs, k*(k-1)/2)
	require.GreaterOrEqual(t, c.Ensemble(), DefaultCodebooks, "the automatic ensemble's codebooks")
}

func TestCandidates(t *testing.T) {
	p := []float64{0.1, 0.3, 0.05, 0.3, 0.25}
	require.Equal(t, []int{1, 3, 4}, candidates(p, 3, nil))
	require.Equal(t, []int{1, 3, 4, 0, 2}, candidates(p, 9, nil))
}

// Where the pairs' answers are consistent with a distribution q over the candidates,
// combinePairs gives the candidates (1 − outside·(1 − mass))·q and the other classes
// outside·p.
func TestCombinePairsConsistent(t *testing.T) {
	const k = 7
	p := []float64{0.05, 0.3, 0.1, 0.2, 0.15, 0.12, 0.08}
	cands := [][]int{candidates(p, 4, nil)} // 1, 3, 4, 5
	q := map[int]float64{1: 0.1, 3: 0.5, 4: 0.3, 5: 0.1}
	ans := pairAnswers{}
	for i, a := range cands[0] {
		for _, b := range cands[0][i+1:] {
			lo, hi := min(a, b), max(a, b)
			ans[[2]int{lo, hi}] = map[int]float64{0: q[hi] / (q[lo] + q[hi])}
		}
	}
	mass := 0.3 + 0.2 + 0.15 + 0.12
	for _, outside := range []float64{1, 0.3} {
		got := combinePairs(p, k, cands, ans, 4, outside)
		sum := 0.0
		for c := 0; c < k; c++ {
			want := outside * p[c]
			if qc, ok := q[c]; ok {
				want = (1 - outside*(1-mass)) * qc
			}
			require.InDelta(t, want, got[c], 1e-9, "class %d, outside %v", c, outside)
			sum += got[c]
		}
		require.InDelta(t, 1, sum, 1e-9)
	}
	// Fewer candidates than were asked use the answers among the first ones only.
	got := combinePairs(p, k, cands, ans, 2, 1)
	m2 := 0.3 + 0.2
	require.InDelta(t, m2*q[1]/(q[1]+q[3]), got[1], 1e-9)
	require.InDelta(t, m2*q[3]/(q[1]+q[3]), got[3], 1e-9)
	require.Equal(t, p[4], got[4])
}

// With more classes than the model's outputs, the pairs are asked only about each row's
// candidates: PairCandidates classes per row, so each row goes through C(PairCandidates, 2)
// pairs, each of DefaultPairMembers members. The other classes keep PairOutsideScale of
// their pooled probabilities, the candidates take the rest, and the nearest-neighbour
// stand-in still classifies every row right.
func TestClassifierPrunedPairs(t *testing.T) {
	cfg := classifierTinyConfig()
	const k = 12
	X, y := lineClusters(240, 3, k, 2)
	Xtr, ytr, Xte, yte := X.SelectRows(seq(0, 180)), y[:180], X.SelectRows(seq(180, 240)), y[180:]
	fit := func(opts ...Option) (*Classifier, *fakeScorer) {
		fs := &fakeScorer{cfg: cfg, eps: 0.09}
		c, err := newWithScorer(fs, cfg, append([]Option{WithEnsemble(4), WithVariants(preprocess.VariantStandard), WithLocalContexts(0)}, opts...)...)
		require.NoError(t, err)
		require.NoError(t, c.Fit(Xtr, ytr, k))
		return c, fs
	}
	c, fs := fit() // automatic: pairs of candidates for more classes than outputs
	require.Equal(t, k*(k-1)/2, c.Pairs())
	calls := len(fs.tests)
	p, err := c.PredictProba(Xte)
	require.NoError(t, err)
	requireValidProba(t, p, Xte.Rows, k)
	require.Equal(t, yte, metrics.Argmax(p))
	members := len(c.members)
	pairRows := 0
	for i, n := range fs.tests[calls+members:] {
		require.Equal(t, 2, fs.classes[calls+members+i])
		pairRows += n
	}
	nc := PairCandidates
	require.Equal(t, Xte.Rows*nc*(nc-1)/2*DefaultPairMembers, pairRows)

	c0, _ := fit(WithPairwise(0))
	require.Zero(t, c0.Pairs())
	p0, err := c0.PredictProba(Xte)
	require.NoError(t, err)
	for r := 0; r < Xte.Rows; r++ {
		row0 := p0.Data[r*k : (r+1)*k]
		cand := candidates(row0, nc, nil)
		mass, got := 0.0, 0.0
		for c := 0; c < k; c++ {
			if slices.Contains(cand, c) {
				mass += row0[c]
				got += p.At(r, c)
			} else {
				require.InDelta(t, PairOutsideScale*row0[c], p.At(r, c), 1e-15)
			}
		}
		require.InDelta(t, 1-PairOutsideScale*(1-mass), got, 1e-12)
	}
}
