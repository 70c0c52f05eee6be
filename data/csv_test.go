package data

import (
	"github.com/kiln-ml/kiln/internal/shareddata"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func read(t *testing.T, s string, opts Options) *Table {
	t.Helper()
	tab, err := ReadCSV(strings.NewReader(s), opts)
	if err != nil {
		t.Fatalf("ReadCSV: %v", err)
	}
	return tab
}

func readErr(t *testing.T, s string, opts Options, want ...string) {
	t.Helper()
	_, err := ReadCSV(strings.NewReader(s), opts)
	if err == nil {
		t.Fatalf("ReadCSV succeeded, want an error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestReadCSVKindsMissingAndClasses(t *testing.T) {
	src := `a,vote,b,flag,target
1.5,y,,TRUE,dog
NA,n,3,FALSE,cat
2.5,,?,TRUE,dog
-1e2,y,NaN,false,bird
`
	tab := read(t, src, Options{})
	if got := tab.FeatureNames(); strings.Join(got, ",") != "a,vote,b,flag" {
		t.Fatalf("features %v", got)
	}
	wantKinds := []Kind{Numeric, Categorical, Numeric, Categorical}
	for i, c := range tab.Columns {
		if c.Kind != wantKinds[i] {
			t.Errorf("column %s kind %v, want %v", c.Name, c.Kind, wantKinds[i])
		}
	}
	if got := strings.Join(tab.Columns[1].Categories, ","); got != "n,y" {
		t.Errorf("vote categories %s", got)
	}
	// Categories are case-sensitive strings, sorted: "FALSE" < "TRUE" < "false".
	if got := strings.Join(tab.Columns[3].Categories, ","); got != "FALSE,TRUE,false" {
		t.Errorf("flag categories %s", got)
	}
	if got := strings.Join(tab.Classes, ","); got != "bird,cat,dog" {
		t.Errorf("classes %s", got)
	}
	wantY := []int{2, 1, 2, 0}
	for i := range wantY {
		if tab.Y[i] != wantY[i] {
			t.Errorf("y[%d]=%d want %d", i, tab.Y[i], wantY[i])
		}
	}
	nan := math.NaN()
	want := [][]float64{
		{1.5, 1, nan, 1},
		{nan, 0, 3, 0},
		{2.5, nan, nan, 1},
		{-100, 1, nan, 2},
	}
	for i, row := range want {
		for j, w := range row {
			g := tab.X.At(i, j)
			if (math.IsNaN(w) != math.IsNaN(g)) || (!math.IsNaN(w) && g != w) {
				t.Errorf("X[%d][%d]=%v want %v", i, j, g, w)
			}
		}
	}
	if tab.MissingCount() != 5 {
		t.Errorf("missing %d want 5", tab.MissingCount())
	}
	if name, _ := tab.ClassName(1); name != "cat" {
		t.Errorf("class 1 = %q", name)
	}
	if i, err := tab.ClassIndex("dog"); err != nil || i != 2 {
		t.Errorf("ClassIndex(dog)=%d,%v", i, err)
	}
	if _, err := tab.ClassIndex("cow"); err == nil || err.Error() != `data: unknown class "cow" (known: "bird", "cat", "dog")` {
		t.Errorf("ClassIndex(cow) error %v", err)
	}
}

func TestNumericClassNamesSortNumerically(t *testing.T) {
	tab := read(t, "x,target\n1,10\n2,2\n3,1\n4,2\n", Options{})
	if got := strings.Join(tab.Classes, ","); got != "1,2,10" {
		t.Errorf("classes %s, want 1,2,10", got)
	}
}

func TestNamedTargetAndQuotes(t *testing.T) {
	tab := read(t, "\"label\",\"x\",\"z\"\n\"a\",\"1\",\" 2\"\n\"b\",\"3\",4\n", Options{Target: "label"})
	if tab.NumFeatures() != 2 || tab.Columns[0].Kind != Numeric || tab.X.At(0, 1) != 2 {
		t.Errorf("quoted numbers not parsed: %+v %v", tab.Columns, tab.X.Data)
	}
	if tab.Target != "label" || tab.Y[1] != 1 {
		t.Errorf("target %q y %v", tab.Target, tab.Y)
	}
}

func TestForcedCategorical(t *testing.T) {
	tab := read(t, "legs,target\n4,a\n2,b\n0,a\n4,b\n", Options{Categorical: []string{"legs"}})
	c := tab.Columns[0]
	if c.Kind != Categorical || strings.Join(c.Categories, ",") != "0,2,4" || tab.X.At(0, 0) != 2 {
		t.Errorf("forced categorical: %+v %v", c, tab.X.Data)
	}
}

func TestMostlyTextColumnIsCategorical(t *testing.T) {
	tab := read(t, "c,target\nred,a\nblue,b\n3,a\n", Options{})
	if tab.Columns[0].Kind != Categorical || strings.Join(tab.Columns[0].Categories, ",") != "3,blue,red" {
		t.Errorf("got %+v", tab.Columns[0])
	}
}

func TestReadCSVErrors(t *testing.T) {
	readErr(t, "", Options{}, "empty")
	readErr(t, "a,b,target\n", Options{}, "no data rows")
	readErr(t, "a,b,target\n1,2,x\n1,2\n", Options{}, "line 3", "2 fields", "header has 3")
	readErr(t, "a,b,target\n1,2,x\n1,2,y\n", Options{Target: "label"}, "target column \"label\" not found")
	readErr(t, "a,target\n1,x\n2,x\n", Options{}, "only one class")
	readErr(t, "a,b,target\n1,2,x\n3,oops,y\n5,6,x\n", Options{}, "line 3", "column 2", "\"b\"", "\"oops\"")
	readErr(t, "a,target\n1,x\n2,\n", Options{}, "line 3", "label is missing")
	readErr(t, "a,a,target\n1,2,x\n", Options{}, "both named")
	readErr(t, "a,target\ninf,x\n1,y\n2,x\n", Options{}, "line 2", "\"inf\"")
	readErr(t, "target\nx\ny\n", Options{}, "no feature columns")
	readErr(t, "a,target\n1,x\n2,y\n", Options{Categorical: []string{"b"}}, "categorical column \"b\" not found")
}

func TestSchemaLoadsTestFileConsistently(t *testing.T) {
	train := read(t, "num,color,target\n1,red,yes\n2,blue,no\n3,green,yes\n", Options{})
	// Columns reordered, no target, an unseen category and a missing value.
	test := read(t, "color,num\ngreen,10\npurple,20\n,30\n", Options{Schema: train, TargetOptional: true})
	if test.Y != nil {
		t.Errorf("Y should be nil without a target column")
	}
	if strings.Join(test.Classes, ",") != "no,yes" || test.Target != "target" {
		t.Errorf("classes %v target %q", test.Classes, test.Target)
	}
	green := 1.0 // categories sorted: blue, green, red
	if test.X.At(0, 0) != 10 || test.X.At(0, 1) != green || !math.IsNaN(test.X.At(1, 1)) || !math.IsNaN(test.X.At(2, 1)) {
		t.Errorf("schema mapping wrong: %v", test.X.Data)
	}
	// With labels, including a one-class test file (allowed under a schema).
	lab := read(t, "num,color,target\n5,red,yes\n", Options{Schema: train})
	if lab.Y[0] != 1 || lab.X.At(0, 1) != 2 {
		t.Errorf("labelled schema load: y=%v x=%v", lab.Y, lab.X.Data)
	}
	readErr(t, "num,color,target\n5,red,maybe\n", Options{Schema: train}, "line 2", "\"maybe\"", "does not occur")
	readErr(t, "num,color\nx,red\n", Options{Schema: train, TargetOptional: true}, "line 2", "\"num\"", "numeric in the training")
	readErr(t, "num\n1\n", Options{Schema: train, TargetOptional: true}, "\"color\"", "missing")
	readErr(t, "num,color,extra\n1,red,2\n", Options{Schema: train, TargetOptional: true}, "\"extra\"")
	readErr(t, "num,color\n1,red\n", Options{Schema: train}, "target column \"target\" not found")
}

// TestSharedDatasets loads every dataset of the shared collection and checks the shape
// against the table in shared/data/README.md (written independently of this loader).
func TestSharedDatasets(t *testing.T) {
	dir := shareddata.Require(t)
	cases := []struct {
		file                                          string
		rows, features, categorical, missing, classes int
	}{
		{"iris.csv", 150, 4, 0, 0, 3},
		{"wine.csv", 178, 13, 0, 0, 3},
		{"breast_cancer.csv", 569, 30, 0, 0, 2},
		{"digits.csv", 1797, 64, 0, 0, 10},
		{"sonar.csv", 208, 60, 0, 0, 2},
		{"ionosphere.csv", 351, 34, 0, 0, 2},
		{"pima_diabetes.csv", 768, 8, 0, 0, 2},
		{"glass.csv", 214, 9, 0, 0, 6},
		{"vehicle.csv", 846, 18, 0, 0, 4},
		{"breast_cancer_wisconsin.csv", 699, 9, 0, 16, 2},
		{"house_votes_84.csv", 435, 16, 16, 392, 2},
		{"zoo.csv", 101, 16, 15, 0, 7},
		{"spam.csv", 4601, 57, 0, 0, 2},
		{"satellite.csv", 6435, 36, 0, 0, 6},
		{"letter.csv", 20000, 16, 0, 0, 26},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			tab, err := LoadCSV(filepath.Join(dir, "tabular", c.file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			cat := 0
			for _, col := range tab.Columns {
				if col.Kind == Categorical {
					cat++
				}
			}
			got := [5]int{tab.Rows(), tab.NumFeatures(), cat, tab.MissingCount(), tab.NumClasses()}
			want := [5]int{c.rows, c.features, c.categorical, c.missing, c.classes}
			if got != want {
				t.Errorf("rows,features,categorical,missing,classes = %v, want %v", got, want)
			}
			if len(tab.Y) != tab.Rows() || tab.Target != "target" {
				t.Errorf("y len %d target %q", len(tab.Y), tab.Target)
			}
		})
	}
	// A file with the schema of another that has the same columns maps consistently.
	train, err := LoadCSV(filepath.Join(dir, "tabular", "house_votes_84.csv"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadCSV(filepath.Join(dir, "tabular", "house_votes_84.csv"), Options{Schema: train})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range train.X.Data {
		if w := again.X.Data[i]; v != w && !(math.IsNaN(v) && math.IsNaN(w)) {
			t.Fatalf("schema reload differs at %d: %v vs %v", i, v, w)
		}
	}
}

func TestLoadCSVMissingFile(t *testing.T) {
	if _, err := LoadCSV(filepath.Join(t.TempDir(), "nope.csv"), Options{}); err == nil {
		t.Fatal("want an error for a missing file")
	}
}
