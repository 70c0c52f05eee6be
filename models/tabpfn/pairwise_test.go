package tabpfn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
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
	c, err := newWithScorer(fs, cfg, WithEnsemble(k), WithPairwise(2), WithVariants(preprocess.VariantStandard))
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
	c2, err := newWithScorer(fs2, cfg, WithEnsemble(k), WithPairwise(0), WithVariants(preprocess.VariantStandard))
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

	// A binary table and an output-code table build no pairs whatever the setting.
	cfg := classifierTinyConfig()
	X, y := clusters(60, 3, 2, 3, 2)
	c, err := newWithScorer(&fakeScorer{cfg: cfg, eps: 0.1}, cfg, WithPairwise(2))
	require.NoError(t, err)
	require.NoError(t, c.Fit(X, y, 2))
	require.Empty(t, c.pairs)
	Xm, ym := clusters(120, 3, cfg.MaxClasses+2, 3, 2)
	c, err = newWithScorer(&fakeScorer{cfg: cfg, eps: 0.1}, cfg, WithPairwise(2))
	require.NoError(t, err)
	require.NoError(t, c.Fit(Xm, ym, cfg.MaxClasses+2))
	require.Empty(t, c.pairs)
}
