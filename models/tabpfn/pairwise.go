package tabpfn

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/kiln-ml/kiln/data"
)

// Pairwise (one-vs-one) members for multi-class tables.
//
// The model classifies a k-class table through k of its outputs at once, and it does that
// worse than it separates two classes: with many classes a single member gets a large share
// of the rows wrong, and the accuracy of a class depends on the output it is shown at, the
// low outputs doing best (measured in bench/results/tabpfn-2026-11-27.md). The prior makes
// multi-class targets by thresholds on one continuous output, so tables whose classes are
// unordered groups are out of its distribution, while a table of two classes is the case it
// was trained on most. The classifier therefore also asks the model about every pair of
// classes, each pair on its own binary table (the training rows of those two classes,
// preprocessed on their own), and couples the k(k−1)/2 pairwise probabilities into one
// distribution (Wu, Lin and Weng, "Probability estimates for multi-class classification
// by pairwise coupling", JMLR 5, 2004, method 2 — the one LIBSVM uses). The result is
// averaged with the multi-class ensemble's, weight PairwiseWeight each.
//
// Under the evaluation protocol the scheme raises the ROC AUC of every multi-class table and
// the mean over the shared tables (measured in bench/results/tabpfn-2026-11-27.md). Each
// pair adds its members' forward passes over the test rows, so the cost grows with k² (on a
// 10-class table, several times the cost without pairs): see AutoPairwise.

// Defaults of the pairwise scheme.
const (
	// DefaultPairMembers is the number of members per pair when the scheme is on: two
	// members show the pair both ways round (labels 0,1 and 1,0), which cancels the model's
	// label bias; one member per pair does clearly worse, and four gain little at twice the
	// cost (measured in bench/results/tabpfn-2026-11-27.md).
	DefaultPairMembers = 2
	// PairwiseWeight is the weight of the coupled pairwise distribution in the average with
	// the multi-class ensemble's. Pairwise alone is better on some tables and worse on
	// others; the even blend is about as good as the better of the two on each multi-class
	// table of the shared data, so no weight is fitted per table (measured in
	// bench/results/tabpfn-2026-11-27.md).
	PairwiseWeight = 0.5
	// PairwiseCellBudget bounds the automatic scheme: it is on when the pairs' training
	// cells, (k−1)·rows·(features+1) times DefaultPairMembers, are at most this many. That
	// admits the small tables (glass, vehicle, zoo, iris, wine under the protocol) and not
	// digits or satellite, whose pairs cost minutes on a laptop CPU (WithPairwise turns
	// them on).
	PairwiseCellBudget = 200000
)

// AutoPairwise is the number of members per pair the automatic setting gives a table of rows
// training rows, features features and classes classes: DefaultPairMembers for three or more
// classes when the pairs' training cells fit PairwiseCellBudget, otherwise 0 (off).
func AutoPairwise(rows, features, classes int) int {
	if classes < 3 {
		return 0
	}
	if (classes-1)*rows*(features+1)*DefaultPairMembers > PairwiseCellBudget {
		return 0
	}
	return DefaultPairMembers
}

// WithPairwise sets the members per pair of classes for the pairwise scheme on tables of
// three or more classes: 0 turns it off. Without this option the classifier chooses with
// AutoPairwise up to the model's MaxClasses, and above it (output codes) fits the pairs of
// candidate classes (see refinePairs) for up to MaxPrunedPairClasses classes.
func WithPairwise(membersPerPair int) Option {
	return func(s *settings) error {
		if membersPerPair < 0 {
			return fmt.Errorf("tabpfn: members per pair must be at least 0 (0: no pairwise scheme), got %d", membersPerPair)
		}
		s.pairMembers = membersPerPair
		return nil
	}
}

// classPair is the binary classifier of compact classes a < b: label 1 means b.
type classPair struct {
	a, b int
	clf  *Classifier
}

// fitPairs builds one binary classifier per pair of compact classes, each on the training
// rows of its two classes only, sharing c's model and settings with perPair members and a
// seed of its own.
func (c *Classifier) fitPairs(X data.Matrix, y []int, k, perPair int) error {
	c.pairs = c.pairs[:0]
	for a := 0; a < k; a++ {
		for b := a + 1; b < k; b++ {
			var rows []int
			var yp []int
			for i, v := range y {
				if v == a || v == b {
					rows = append(rows, i)
					yp = append(yp, boolInt(v == b))
				}
			}
			child := c.child(mix(c.seed, uint64(len(c.pairs)), streamPairs))
			child.ensemble, child.pairMembers = perPair, 0
			if err := child.Fit(X.SelectRows(rows), yp, 2); err != nil {
				return fmt.Errorf("classes %d and %d: %w", c.classes[a], c.classes[b], err)
			}
			c.pairs = append(c.pairs, classPair{a: a, b: b, clf: child})
		}
	}
	return nil
}

// predictPairs returns the coupled pairwise distribution over the k compact classes, rows × k.
func (c *Classifier) predictPairs(X data.Matrix, k int) ([]float64, error) {
	pb := make([]data.Matrix, len(c.pairs))
	for i, p := range c.pairs {
		var err error
		if pb[i], err = p.clf.PredictProba(X); err != nil {
			return nil, fmt.Errorf("tabpfn: pair of classes %d and %d: %w", c.classes[p.a], c.classes[p.b], err)
		}
	}
	out := make([]float64, X.Rows*k)
	r := make([]float64, k*k)
	var cp coupler
	for row := 0; row < X.Rows; row++ {
		for i, p := range c.pairs {
			rb := pb[i].Data[row*2+1]
			r[p.b*k+p.a], r[p.a*k+p.b] = rb, 1-rb
		}
		cp.couple(r, k, out[row*k:(row+1)*k])
	}
	return out, nil
}

// coupler solves the pairwise coupling problem, reusing its matrices across rows.
type coupler struct {
	a   *mat.Dense
	rhs *mat.VecDense
	x   mat.VecDense
}

// couple writes to p the class distribution that best explains the pairwise probabilities
// r (r[i*k+j] ≈ P(class i | class i or j), r[j*k+i] = 1 − r[i*k+j]) in the sense of Wu, Lin
// and Weng (2004), method 2:
//
//	minimise Σ_i Σ_{j≠i} (r_ji p_i − r_ij p_j)²  subject to Σ_i p_i = 1,
//
// whose optimality conditions are the linear system [Q 1; 1ᵀ 0] [p; b] = [0; 1] with
// Q_ii = Σ_{s≠i} r_si² and Q_ij = −r_ji r_ij. Where the r are consistent with some p
// (r_ij = p_i / (p_i + p_j)), that p is the solution. The r are clipped to [1e-6, 1 − 1e-6],
// which keeps Q positive definite and the solution unique and non-negative (the paper's
// Theorem 2); the result is clamped at 0 and renormalised against rounding.
func (cp *coupler) couple(r []float64, k int, p []float64) {
	if cp.a == nil || cp.rhs.Len() != k+1 {
		cp.a = mat.NewDense(k+1, k+1, nil)
		cp.rhs = mat.NewVecDense(k+1, nil)
		cp.rhs.SetVec(k, 1)
		cp.x.Reset()
	}
	clip := func(v float64) float64 { return math.Min(math.Max(v, 1e-6), 1-1e-6) }
	cp.a.Zero()
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			if i == j {
				continue
			}
			rji, rij := clip(r[j*k+i]), clip(r[i*k+j])
			cp.a.Set(i, i, cp.a.At(i, i)+rji*rji)
			cp.a.Set(i, j, -rji*rij)
		}
		cp.a.Set(i, k, 1)
		cp.a.Set(k, i, 1)
	}
	if err := cp.x.SolveVec(cp.a, cp.rhs); err != nil {
		// Unreachable for clipped r (the system is non-singular); fall back to
		// the uninformative answer rather than a wrong one.
		for i := range p {
			p[i] = 1 / float64(k)
		}
		return
	}
	s := 0.0
	for i := range p {
		p[i] = math.Max(cp.x.AtVec(i), 0)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Pairs of candidate classes, for more classes than the model's outputs.
//
// With output codes (more classes than MaxClasses) every codebook merges several classes
// into one label, and the geometric pool of the codebooks ranks the right class high but
// often not first: on letter (26 classes) under the evaluation protocol, the pool of
// DefaultCodebooks codebooks puts it first for about 64% of the test rows and among the
// first 8 for about 92%. The pairwise scheme then
// refines the pool without asking about all k(k−1)/2 pairs for every row: each test row's
// PairCandidates most probable classes under the pool are its candidates, only the pairs
// among them see the row, and their coupled distribution takes the candidates' share. The
// pool's ordering within the candidates is dropped (blending it back in lowered the ROC
// AUC), and the other classes keep PairOutsideScale of their pooled probabilities, the
// candidates taking the rest. A pair's classifier has the training rows of its two classes
// as context, so each pair is a short pass, and the work per test row is fixed by the
// candidates, C(PairCandidates, 2) pairs, not by k². Measured on letter against the codes
// alone in bench/results/tabpfn-scale-2026-12-03.md.
const (
	// PairCandidates is the number of classes per test row whose pairs are asked. The
	// ROC AUC rose with every candidate up to the 8 measured, as more rows had their class
	// among them; each row costs C(8, 2) = 28 pairs.
	PairCandidates = 8
	// PairOutsideScale scales the pooled probabilities of the classes outside a row's
	// candidates (the candidates take what they give up).
	PairOutsideScale = 0.3
	// MaxPrunedPairClasses bounds the classes for which the automatic setting fits the pairs
	// (k(k−1)/2 binary classifiers, each preprocessing its rows at Fit).
	MaxPrunedPairClasses = 100
)

// candidates writes to cand the indices of the n largest values of p (ties: lower index
// first), in decreasing order of p.
func candidates(p []float64, n int, cand []int) []int {
	cand = cand[:0]
	for i := range p {
		cand = append(cand, i)
	}
	sort.SliceStable(cand, func(a, b int) bool { return p[cand[a]] > p[cand[b]] })
	return cand[:min(n, len(cand))]
}

// refinePairs returns p (rows × k, the pooled output-code distribution) refined by the pairs
// among each row's candidate classes (see PairCandidates).
func (c *Classifier) refinePairs(X data.Matrix, p []float64, k int) ([]float64, error) {
	cands, rb, err := c.askPairs(X, p, k, PairCandidates)
	if err != nil {
		return nil, err
	}
	return combinePairs(p, k, cands, rb, PairCandidates, PairOutsideScale), nil
}

// pairAnswers holds, per pair of compact classes (a < b), P(b | a or b) for the rows the pair
// was asked about.
type pairAnswers map[[2]int]map[int]float64

// askPairs picks each row's n candidate classes under p and asks every pair among them about
// the rows holding both. It returns the candidates (in decreasing order of p) and the answers.
func (c *Classifier) askPairs(X data.Matrix, p []float64, k, n int) ([][]int, pairAnswers, error) {
	n = min(n, k)
	cands := make([][]int, X.Rows)
	asked := make(map[[2]int][]int) // pair (a < b) → the rows whose candidates hold both
	for r := range cands {
		cands[r] = candidates(p[r*k:(r+1)*k], n, nil)
		for i, a := range cands[r] {
			for _, b := range cands[r][i+1:] {
				key := [2]int{min(a, b), max(a, b)}
				asked[key] = append(asked[key], r)
			}
		}
	}
	ans := make(pairAnswers, len(asked))
	for _, pr := range c.pairs {
		rows := asked[[2]int{pr.a, pr.b}]
		if len(rows) == 0 {
			continue
		}
		q, err := pr.clf.PredictProba(X.SelectRows(rows))
		if err != nil {
			return nil, nil, fmt.Errorf("tabpfn: pair of classes %d and %d: %w", c.classes[pr.a], c.classes[pr.b], err)
		}
		m := make(map[int]float64, len(rows))
		for i, r := range rows {
			m[r] = q.Data[i*2+1]
		}
		ans[[2]int{pr.a, pr.b}] = m
	}
	return cands, ans, nil
}

// combinePairs couples, for each row, the answers about the pairs among its first n
// candidates into q, and gives the candidates 1 − outside·(1 − mass) in q's proportions,
// where mass is their total under p; every other class keeps outside times its p.
func combinePairs(p []float64, k int, cands [][]int, ans pairAnswers, n int, outside float64) []float64 {
	out := append([]float64(nil), p...)
	var cp coupler
	for row, cand := range cands {
		cand = cand[:min(n, len(cand))]
		nc := len(cand)
		r := make([]float64, nc*nc)
		q := make([]float64, nc)
		for i, a := range cand {
			for j := i + 1; j < nc; j++ {
				b := cand[j]
				pb := ans[[2]int{min(a, b), max(a, b)}][row]
				if a > b {
					pb = 1 - pb // the pair's label 1 is its larger class
				}
				r[j*nc+i], r[i*nc+j] = pb, 1-pb
			}
		}
		cp.couple(r, nc, q)
		mass := 0.0
		for _, a := range cand {
			mass += p[row*k+a]
		}
		pr := out[row*k : (row+1)*k]
		for c := range pr {
			pr[c] *= outside
		}
		for i, a := range cand {
			pr[a] = (1 - outside*(1-mass)) * q[i]
		}
	}
	return out
}
