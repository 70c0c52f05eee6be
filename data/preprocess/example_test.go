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

// The -pca variants replace the numeric columns by their principal components on the
// training rows, each scaled to unit variance. Two perfectly correlated columns carry one
// direction, so one component is left; the categorical column passes through.
func ExamplePreprocessor_principalAxes() {
	train, _ := data.MatrixFromRows([][]float64{{1, 2, 0}, {2, 4, 1}, {3, 6, 0}, {4, 8, 1}})
	kinds := []data.Column{{Name: "a"}, {Name: "b"}, {Name: "c", Kind: data.Categorical, Categories: []string{"no", "yes"}}}
	p := preprocess.New(preprocess.VariantStandardPCA.Config(0))
	out, err := p.FitTransform(train, kinds)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.OutputNames(), p.KeptColumns())
	for i := range out.Rows {
		fmt.Printf("%.3f\n", out.Row(i))
	}
	// Output:
	// [pc1 c] [-1 2]
	// [-1.162 -0.866]
	// [-0.387 0.866]
	// [0.387 -0.866]
	// [1.162 0.866]
}
