package preprocess_test

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
)

// Fit on training rows, transform new rows with the training statistics. The first column
// {1, 2, 3, missing} has mean 2 and sample standard deviation 1, so it maps to {−1, 0, 1}
// and the missing value to 0 with an indicator; the constant second column is dropped.
func ExamplePreprocessor() {
	train, _ := data.MatrixFromRows([][]float64{{1, 5}, {2, 5}, {3, 5}, {math.NaN(), 5}})
	p := preprocess.New(preprocess.VariantStandard.Config(0))
	out, err := p.FitTransform(train, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.OutputNames())
	for i := range out.Rows {
		fmt.Println(out.Row(i))
	}
	test, _ := data.MatrixFromRows([][]float64{{4, 7}})
	tout, _ := p.Transform(test)
	fmt.Println(tout.Row(0))
	// Output:
	// [x0 x0 (missing)]
	// [-1 0]
	// [0 0]
	// [1 0]
	// [0 1]
	// [2 0]
}
