package data_test

import (
	"fmt"
	"strings"

	"github.com/kiln-ml/kiln/data"
)

// Load a training file, then a file to predict with the training schema: the categorical
// column keeps the training codes and the unseen value "purple" becomes missing.
func ExampleReadCSV() {
	train, err := data.ReadCSV(strings.NewReader(`size,colour,label
1.5,red,yes
2.0,blue,no
NA,red,yes
`), data.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(train.FeatureNames(), train.Columns[1].Kind, train.Columns[1].Categories)
	fmt.Println(train.Classes, train.Y, train.MissingCount())

	test, err := data.ReadCSV(strings.NewReader("colour,size\nblue,3\npurple,4\n"),
		data.Options{Schema: train, TargetOptional: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(test.X.Row(0), test.X.Row(1), test.Y == nil)
	// Output:
	// [size colour] categorical [blue red]
	// [no yes] [1 0 1] 1
	// [3 0] [4 NaN] true
}

// A stratified 50/50 split keeps the 2:1 class ratio on both sides.
func ExampleStratifiedSplit() {
	y := []int{0, 0, 0, 0, 1, 1}
	train, test, err := data.StratifiedSplit(y, 2, 0.5, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	count := func(idx []int) [2]int {
		var c [2]int
		for _, i := range idx {
			c[y[i]]++
		}
		return c
	}
	fmt.Println(len(train), len(test), count(train), count(test))
	// Output: 3 3 [2 1] [2 1]
}
