// Package metrics scores probabilistic classifiers and runs kiln's evaluation protocol.
//
// The scores are ROC AUC (binary, and one-vs-rest macro-averaged for several classes), accuracy
// and log loss, defined as scikit-learn defines them so that numbers compare with the reference
// results in shared/data/tabular-baselines.json (LoadBaselines reads that file). Evaluate runs
// the protocol of shared/data/README.md: classes with fewer than 4 rows dropped, 5 stratified
// 50/50 splits with seeds 0..4, the training half capped at 1000 rows and the test half at 2000
// by stratified subsampling with the same seed, and means over the splits of the three scores
// and the wall time of fit plus predict.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/kiln-ml/kiln/data"
)

// BinaryAUC returns the area under the ROC curve of scores for the positive labels (pos[i]
// true) against the negative ones. It equals the probability that a random positive scores
// higher than a random negative, counting ties as one half: the Mann–Whitney U statistic
// divided by n₊·n₋ (Hanley & McNeil 1982, Radiology 143:29–36), computed from mid-ranks so
// tied scores get the average of the ranks they span. It is an error when either class is
// absent, the lengths differ or a score is NaN.
func BinaryAUC(pos []bool, scores []float64) (float64, error) {
	if len(pos) != len(scores) {
		return 0, fmt.Errorf("metrics: %d labels but %d scores", len(pos), len(scores))
	}
	var nPos, nNeg float64
	for i, p := range pos {
		if math.IsNaN(scores[i]) {
			return 0, fmt.Errorf("metrics: score %d is NaN", i)
		}
		if p {
			nPos++
		} else {
			nNeg++
		}
	}
	if nPos == 0 || nNeg == 0 {
		return 0, errors.New("metrics: ROC AUC needs both positive and negative rows")
	}
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	var rankSum float64 // sum of the (1-based, mid-) ranks of the positives
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && scores[order[j]] == scores[order[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1 .. j averaged
		for k := i; k < j; k++ {
			if pos[order[k]] {
				rankSum += mid
			}
		}
		i = j
	}
	return (rankSum - nPos*(nPos+1)/2) / (nPos * nNeg), nil
}

// ROCAUC scores class probabilities (proba.Rows = len(y), proba.Cols = number of classes).
// With two columns it is the binary AUC of column 1 (the positive class, as scikit-learn's
// roc_auc_score takes y_score[:, 1]). With more, it is the unweighted mean over classes of the
// one-vs-rest AUC of each class's column (scikit-learn's multi_class="ovr",
// average="macro"); a class absent from y has no AUC and is left out of the mean.
func ROCAUC(y []int, proba data.Matrix) (float64, error) {
	if err := checkProba(y, proba); err != nil {
		return 0, err
	}
	if proba.Cols == 2 {
		pos := make([]bool, len(y))
		for i, c := range y {
			pos[i] = c == 1
		}
		return BinaryAUC(pos, proba.Col(1))
	}
	var sum float64
	n := 0
	pos := make([]bool, len(y))
	for c := 0; c < proba.Cols; c++ {
		count := 0
		for i, yi := range y {
			pos[i] = yi == c
			if pos[i] {
				count++
			}
		}
		if count == 0 || count == len(y) {
			continue
		}
		auc, err := BinaryAUC(pos, proba.Col(c))
		if err != nil {
			return 0, err
		}
		sum += auc
		n++
	}
	if n == 0 {
		return 0, errors.New("metrics: ROC AUC needs at least two classes among the labels")
	}
	return sum / float64(n), nil
}

// Accuracy returns the fraction of rows whose most probable class (the first on ties, as
// numpy's argmax) is the label.
func Accuracy(y []int, proba data.Matrix) (float64, error) {
	if err := checkProba(y, proba); err != nil {
		return 0, err
	}
	return AccuracyLabels(y, Argmax(proba))
}

// AccuracyLabels returns the fraction of equal entries of y and pred.
func AccuracyLabels(y, pred []int) (float64, error) {
	if len(y) != len(pred) || len(y) == 0 {
		return 0, fmt.Errorf("metrics: %d labels and %d predictions (need equal, non-zero)", len(y), len(pred))
	}
	ok := 0
	for i := range y {
		if y[i] == pred[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(y)), nil
}

// Argmax returns the most probable class of each row (the first on ties).
func Argmax(proba data.Matrix) []int {
	out := make([]int, proba.Rows)
	for i := range out {
		row := proba.Row(i)
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out
}

// LogLossEps is the probability clipping of LogLoss, scikit-learn's historical default.
const LogLossEps = 1e-15

// LogLoss returns the mean negative log-likelihood of the labels, −(1/n) Σ log p(yᵢ), after
// clipping probabilities to [1e-15, 1 − 1e-15] and renormalizing each row to sum to one, as
// scikit-learn's log_loss does with eps=1e-15; the clipping keeps one confident mistake from
// making the mean infinite.
func LogLoss(y []int, proba data.Matrix) (float64, error) {
	if err := checkProba(y, proba); err != nil {
		return 0, err
	}
	var total float64
	for i, c := range y {
		row := proba.Row(i)
		var sum, pc float64
		for j, v := range row {
			v = min(max(v, LogLossEps), 1-LogLossEps)
			sum += v
			if j == c {
				pc = v
			}
		}
		total -= math.Log(pc / sum)
	}
	return total / float64(len(y)), nil
}

func checkProba(y []int, proba data.Matrix) error {
	if len(y) == 0 {
		return errors.New("metrics: no rows")
	}
	if proba.Rows != len(y) || len(proba.Data) != proba.Rows*proba.Cols {
		return fmt.Errorf("metrics: %d labels but a %dx%d probability matrix", len(y), proba.Rows, proba.Cols)
	}
	if proba.Cols < 2 {
		return fmt.Errorf("metrics: probabilities need a column per class, got %d columns", proba.Cols)
	}
	for i, c := range y {
		if c < 0 || c >= proba.Cols {
			return fmt.Errorf("metrics: label %d of row %d is outside [0, %d)", c, i, proba.Cols)
		}
	}
	for i, v := range proba.Data {
		if math.IsNaN(v) || v < 0 {
			return fmt.Errorf("metrics: probability (%d, %d) is %v", i/proba.Cols, i%proba.Cols, v)
		}
	}
	return nil
}
