package metrics_test

import (
	"fmt"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/metrics"
)

// Scores of a binary classifier: of the four (positive, negative) pairs, three are ranked
// correctly, so the AUC is 0.75; the 0.5 threshold gets three of four rows right.
func ExampleROCAUC() {
	y := []int{0, 0, 1, 1}
	proba, _ := data.MatrixFromRows([][]float64{{0.9, 0.1}, {0.6, 0.4}, {0.65, 0.35}, {0.2, 0.8}})
	auc, _ := metrics.ROCAUC(y, proba)
	acc, _ := metrics.Accuracy(y, proba)
	fmt.Println(auc, acc)
	// Output: 0.75 0.75
}
