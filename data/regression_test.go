package data

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadRegression(t *testing.T) {
	train := writeFile(t, "train.csv", "size,colour,price\n1,red,10.5\n2,blue,NA\n3,red,1e12\n4,green,-2\n")
	tab, err := LoadRegression(train, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Target != "price" || tab.Y != nil || tab.Classes != nil || len(tab.Columns) != 2 || tab.X.Cols != 2 {
		t.Fatalf("table %+v", tab)
	}
	if !math.IsNaN(tab.Values[1]) || tab.Values[0] != 10.5 || tab.Values[2] != 1e12 || tab.Values[3] != -2 {
		t.Fatalf("values %v", tab.Values)
	}
	if got := tab.Labeled(); !slices.Equal(got, []int{0, 2, 3}) {
		t.Fatalf("rows with a target %v", got)
	}
	if tab.Columns[1].Kind != Categorical || tab.X.At(3, 0) != 4 {
		t.Fatalf("features %+v %v", tab.Columns, tab.X)
	}
	sub := tab.Subset([]int{2, 0})
	if !slices.Equal(sub.Values, []float64{1e12, 10.5}) {
		t.Fatalf("subset values %v", sub.Values)
	}

	// The target named, not last.
	named, err := LoadRegression(train, Options{Target: "size"})
	if err != nil || named.Target != "size" || named.Values[3] != 4 || named.Columns[1].Name != "price" {
		t.Fatalf("target size: %v, %+v", err, named)
	}

	// Test tables: with and without the target column, in another column order.
	test := writeFile(t, "test.csv", "price,colour,size\n7,blue,5\n,red,6\n")
	tt, err := LoadRegression(test, Options{Schema: tab})
	if err != nil {
		t.Fatal(err)
	}
	if tt.Values[0] != 7 || !math.IsNaN(tt.Values[1]) || tt.X.At(0, 0) != 5 || tt.X.At(1, 1) != tab.X.At(0, 1) {
		t.Fatalf("test table %+v", tt)
	}
	noTarget := writeFile(t, "new.csv", "colour,size\nblue,5\n")
	tn, err := LoadRegression(noTarget, Options{Schema: tab})
	if err != nil {
		t.Fatal(err)
	}
	if tn.Values != nil || tn.Rows() != 1 || tn.Target != "price" {
		t.Fatalf("table without target %+v", tn)
	}
}

// TestLoadRegressionErrors checks that a non-number among a target's numbers is an error
// naming its line and column, in the training and in the test file, and that a text
// target is refused as a regression target.
func TestLoadRegressionErrors(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"x,y\n1,2\n2,3\n3,abc\n4,5\n", []string{"line 4", "column 2", `"y"`, `"abc" is not a number`}},
		{"x,y\n1,a\n2,b\n3,c\n", []string{`target column "y"`, "text", `"a" is not a number`}},
		{"x,y\n1,\n2,NA\n", []string{"no values"}},
		{"y\n1\n2\n", []string{"no feature columns"}},
	} {
		_, err := LoadRegression(writeFile(t, "t.csv", c.text), Options{})
		if err == nil {
			t.Errorf("%q loaded", c.text)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", c.text, err, w)
			}
		}
	}
	if _, err := LoadRegression(writeFile(t, "t.csv", "x,y\n1,2\n"), Options{Target: "z"}); err == nil || !strings.Contains(err.Error(), `"z" not found`) {
		t.Errorf("unknown target: %v", err)
	}
	train, err := LoadRegression(writeFile(t, "train.csv", "x,y\n1,2\n2,3\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadRegression(writeFile(t, "test.csv", "x,y\n1,2\n2,oops\n"), Options{Schema: train})
	if err == nil || !strings.Contains(err.Error(), "line 3, column 2") || !strings.Contains(err.Error(), "oops") {
		t.Errorf("bad test target: %v", err)
	}
	_, err = LoadRegression(writeFile(t, "test.csv", "x,y,z\n1,2,3\n"), Options{Schema: train})
	if err == nil || !strings.Contains(err.Error(), `"z"`) {
		t.Errorf("extra test column: %v", err)
	}
}

func TestLoadRegressionParquet(t *testing.T) {
	type row struct {
		Size  float64  `parquet:"size"`
		Price *float64 `parquet:"price,optional"`
	}
	v := 3.5
	b := writeParquet(t, []row{{1, &v}, {2, nil}, {3, &v}})
	path := filepath.Join(t.TempDir(), "t.parquet")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := LoadRegression(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Target != "price" || tab.Values[0] != 3.5 || !math.IsNaN(tab.Values[1]) {
		t.Fatalf("%+v", tab)
	}
	tt, err := LoadRegression(path, Options{Schema: tab})
	if err != nil || tt.Values[2] != 3.5 {
		t.Fatalf("test from Parquet: %v %+v", err, tt)
	}
}

func TestRandomSplit(t *testing.T) {
	train, test, err := RandomSplit(11, 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(test) != 6 || len(train) != 5 || !slices.IsSorted(train) || !slices.IsSorted(test) {
		t.Fatalf("split %v %v", train, test)
	}
	all := slices.Sorted(slices.Values(append(slices.Clone(train), test...)))
	for i, v := range all {
		if v != i {
			t.Fatalf("split does not partition 0..10: %v", all)
		}
	}
	again, _, _ := RandomSplit(11, 0.5, 3)
	other, _, _ := RandomSplit(11, 0.5, 4)
	if !slices.Equal(again, train) || slices.Equal(other, train) {
		t.Error("split is not a function of its seed")
	}
	if _, _, err := RandomSplit(1, 0.5, 0); err == nil {
		t.Error("one row split")
	}
	if got := RandomSubsample(5, 10, 0); len(got) != 5 {
		t.Errorf("subsample of 5 below the limit: %v", got)
	}
	if got := RandomSubsample(100, 10, 0); len(got) != 10 || !slices.IsSorted(got) {
		t.Errorf("subsample %v", got)
	}
}

func TestNumericClasses(t *testing.T) {
	for _, c := range []struct {
		classes []string
		numeric bool
	}{{[]string{"1", "2.5", "-3"}, true}, {[]string{"1", "a"}, false}, {nil, false}} {
		tab := &Table{Classes: c.classes}
		if got, n := tab.NumericClasses(); got != c.numeric || n != len(c.classes) {
			t.Errorf("%v: numeric %v, %d", c.classes, got, n)
		}
	}
}
