package tabpfn

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/metrics"
)

// Stacked contexts for small classification tables.
//
// On 64 to 255 training rows a classifier predicts every training row by cross-validation
// from contexts of its 16 and of its 32 nearest rows and from one context of them all
// (crossValidatedValues). The three err differently: a few nearest rows by their noise, one
// context of them all by blurring the neighbourhood. Rather than keep the one that predicted
// best, the classifier weighs them: a test row's probabilities are the mixture
// Σ w_j p_j of the three predictions, with the weights that give the cross-validated
// predictions the most likelihood (stacking, Wolpert 1992; weights on the simplex, Breiman
// 1996; of predictive distributions by the log score, Yao, Vehtari, Simpson and Gelman 2018,
// "Using Stacking to Average Bayesian Predictive Distributions"). A choice among the
// candidates picks a corner of the simplex and an equal average its middle; the weights
// range over all of it, and they move smoothly with the rows where a choice jumps, so they
// follow the training set's noise less. The weights are fitted to the same predictions they
// are judged by, so on a table whose class no context predicts they still find a little
// likelihood in the local parts; the mixture is kept only where its log loss of the training
// rows is below one context's by more than contextChoiceMargin standard errors of the paired
// differences, the margin of the classifier's held-out choice, and otherwise the table is
// predicted from one context as before.
//
// On the 18 classification tables of this size under the protocol (6 shared, 12 corpus
// tables no one had tuned on), against the choice with averages, the mixture took sonar from
// 0.914 to 0.927 ROC AUC and glass from 0.923 to 0.924, lowered the mean log loss, and moved
// the mean ROC AUC of the 18 by +0.0005 (of the 12 corpus tables by −0.0004, where
// tidyr's cms_patient_care and carData's UN98 lost 0.003). Without the margin, small weights
// on tables of no signal cost the 12 corpus tables 0.0012
// (bench/results/tabpfn-stacked-contexts-2026-12-06.md).

// stackMinWeight is the least weight a stacked context keeps: a lighter one moves no
// probability by more than this and would cost a prediction of every test row; its weight
// goes to the others in proportion.
const stackMinWeight = 0.02

// stackWeights returns the weights w on the simplex that maximise the mean over rows i of
// log Σ_j w_j p[j][i], where p[j][i] is candidate j's probability of row i's class
// (floored at metrics.LogLossEps, as logLoss clips it). The objective is concave in w, and the
// expectation-maximisation update of mixture weights, w_j ← mean_i w_j p[j][i] / Σ_k w_k
// p[k][i] (Dempster, Laird and Rubin 1977), climbs it from equal weights to its maximum.
func stackWeights(p [][]float64) []float64 {
	k, n := len(p), len(p[0])
	w := make([]float64, k)
	for j := range w {
		w[j] = 1 / float64(k)
	}
	next := make([]float64, k)
	for range stackIterations {
		clear(next)
		for i := range n {
			den := 0.0
			for j := range k {
				den += w[j] * max(p[j][i], metrics.LogLossEps)
			}
			for j := range k {
				next[j] += w[j] * max(p[j][i], metrics.LogLossEps) / den
			}
		}
		moved := 0.0
		for j := range k {
			next[j] /= float64(n)
			moved = max(moved, math.Abs(next[j]-w[j]))
		}
		w, next = next, w
		if moved < 1e-12 {
			break
		}
	}
	return w
}

// stackIterations bounds stackWeights's updates; each costs a pass over the rows, and the
// weights settle to 1e-12 in far fewer unless the maximum is on the simplex's edge, where
// the update slows and the last digits do not matter.
const stackIterations = 10000

// stackedClassifier predicts a mixture of its parts' class probabilities.
type stackedClassifier struct {
	parts []stackedPart
}

// stackedPart is one context of a stacked classifier and its weight: local contexts of
// local.rows rows, or, where local is nil, one context of every training row (whole).
type stackedPart struct {
	weight float64
	local  *localClassifier
	whole  *Classifier
}

// fitStacked weighs the classifier's contexts for training set X, y (the caller's labels in
// [0, nClasses)) by cross-validation and returns the stacked classifier of those it keeps,
// or nil where one context of all the rows takes all the weight, or the mixture is not ahead
// of it by the margin (or the training set is too small for any local context), with a
// warning that gives the weights and why.
func (c *Classifier) fitStacked(X data.Matrix, y []int, nClasses int) (*stackedClassifier, error) {
	byRows, err := crossValidatedValues(X.Rows, distinctRows(X), c.seed, c.progress, c.heldOutProbs(X, y, nClasses))
	if err != nil || byRows == nil {
		return nil, err
	}
	sizes := slices.Sorted(func(yield func(int) bool) {
		for rows := range byRows {
			if !yield(rows) {
				return
			}
		}
	})
	p := make([][]float64, len(sizes))
	for j, rows := range sizes {
		p[j] = byRows[rows]
	}
	w := stackWeights(p)
	kept := 0.0
	for j := range w {
		if w[j] < stackMinWeight {
			w[j] = 0
		}
		kept += w[j]
	}
	if w[0] == kept { // sizes[0] is 0: one context alone
		return nil, nil
	}
	mixed := make([]float64, X.Rows)
	var locals []int
	for j, rows := range sizes {
		w[j] /= kept
		for i, v := range p[j] {
			mixed[i] += w[j] * v
		}
		if w[j] > 0 && rows > 0 {
			locals = append(locals, rows)
		}
	}
	mixedLoss := rowLosses(mixed, logLoss)
	if pairedZ(rowLosses(p[0], logLoss), mixedLoss) <= contextChoiceMargin {
		return nil, nil
	}
	s := &stackedClassifier{}
	var weights, losses []string
	for j := range sizes {
		j := (j + 1) % len(sizes) // the local sizes first, one context last
		losses = append(losses, fmt.Sprintf("%s %.4g", sizeName(sizes[j]), mean(rowLosses(p[j], logLoss))))
	}
	for j, rows := range sizes {
		if w[j] == 0 {
			continue
		}
		part := stackedPart{weight: w[j]}
		if rows == 0 {
			weights = append(weights, fmt.Sprintf("one context of them all %.2f", w[j]))
			// The classifier this one would be with WithLocalContexts(0).
			part.whole = c.child(c.seed)
			if err := part.whole.Fit(X, y, nClasses); err != nil {
				return nil, err
			}
		} else {
			weights = append(weights, fmt.Sprintf("the %d nearest %.2f", rows, w[j]))
			part.local = c.newLocal(X, y, rows, partProgress(c.progress, slices.Index(locals, rows), len(locals)))
		}
		s.parts = append(s.parts, part)
	}
	c.warnf("each test row's class probabilities are a mixture of predictions from contexts of the %d training rows, weighted (%s) to the least log loss of every training row predicted by %d-fold cross-validation (stacking; log loss: %s, the mixture %.4g)",
		X.Rows, strings.Join(weights, ", "), choiceFolds, strings.Join(losses, ", "), mean(mixedLoss))
	return s, nil
}

// partProgress reports part k of parts's progress over the test rows to progress as a share
// of the whole prediction's.
func partProgress(progress func(done, total int), k, parts int) func(done, total int) {
	if progress == nil {
		return nil
	}
	return func(done, total int) { progress(k*total+done, parts*total) }
}

// predictProba returns the mixture of the parts' class probabilities for the rows of X.
func (s *stackedClassifier) predictProba(X data.Matrix, nClasses int) (data.Matrix, error) {
	out := data.NewMatrix(X.Rows, nClasses)
	for _, part := range s.parts {
		var p data.Matrix
		var err error
		if part.local != nil {
			p, err = part.local.predictProba(X, nClasses)
		} else {
			p, err = part.whole.PredictProba(X)
		}
		if err != nil {
			return data.Matrix{}, err
		}
		for i, v := range p.Data {
			out.Data[i] += part.weight * v
		}
	}
	return out, nil
}
