package tabpfn

import (
	"fmt"

	"github.com/kiln-ml/kiln/data"
)

// FitPredictTables fits the classifier on a loaded training table and returns the class
// probabilities of the test table's rows: test.Rows() × train.NumClasses(), columns in
// train.Classes order. The test table must have been loaded with the training table as its
// schema (data.Options{Schema: train, TargetOptional: true}), so that its feature columns,
// categorical codes and classes are the training table's. It is the one path from tables to
// probabilities that the command line and the HTTP server share, so both give the same
// numbers for the same data and options.
func (c *Classifier) FitPredictTables(train, test *data.Table) (data.Matrix, error) {
	if len(test.Columns) != len(train.Columns) {
		return data.Matrix{}, fmt.Errorf("tabpfn: the test table has %d feature columns, the training table %d",
			len(test.Columns), len(train.Columns))
	}
	c.SetColumns(train.Columns)
	if err := c.Fit(train.X, train.Y, train.NumClasses()); err != nil {
		return data.Matrix{}, err
	}
	return c.PredictProba(test.X)
}
