package data

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// exactErr fails unless ReadCSV fails with exactly the message want.
func exactErr(t *testing.T, src string, opts Options, want string) {
	t.Helper()
	_, err := ReadCSV(strings.NewReader(src), opts)
	if err == nil {
		t.Fatalf("ReadCSV(%.60q) succeeded, want error %q", src, want)
	}
	if err.Error() != want {
		t.Errorf("ReadCSV(%.60q) error\n got %q\nwant %q", src, err, want)
	}
}

// Cells follow the decimal grammar of package csvio, not Go's: hexadecimal floats, digit
// underscores and infinities are not numbers, so one in a numeric column is an error and a
// column of them is categorical.
func TestCSVNumberGrammar(t *testing.T) {
	for _, bad := range []string{"0x1p3", "1_000", "Inf", "+Infinity", "0x10", "1e", "1,5"} {
		src := "a,target\n1,x\n" + `"` + bad + `"` + ",y\n2,x\n"
		exactErr(t, src, Options{}, `data: line 3, column 1 ("a"): `+quoteForTest(bad)+
			` is not a number, yet 2 of the 3 non-missing values in this column are numbers (fix the value, or list it as a missing-value marker)`)
	}
	exactErr(t, "a,target\n1,x\n1e400,y\n2,x\n", Options{}, `data: line 3, column 1 ("a"): "1e400" is not a number (it is beyond the float64 range), yet 2 of the 3 non-missing values in this column are numbers (fix the value, or list it as a missing-value marker)`)

	// Every accepted spelling reads as its decimal value.
	tab := read(t, "a,target\n.5,x\n5.,y\n+3,x\n-2.5e+1,y\n007,x\n1E-2,y\n1e-400,x\n", Options{})
	if got, want := tab.X.Col(0), []float64{0.5, 5, 3, -25, 7, 0.01, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("column a = %v, want %v", got, want)
	}

	// Go-only spellings in a column of their own are categories, sorted as text (they are not
	// all numbers), and never the numbers Go would read them as.
	tab = read(t, "a,target\n0x1p3,x\n1_000,y\n0x10,x\n", Options{})
	if c := tab.Columns[0]; c.Kind != Categorical || !reflect.DeepEqual(c.Categories, []string{"0x10", "0x1p3", "1_000"}) {
		t.Errorf("column a = %+v, want categorical 0x10, 0x1p3, 1_000", c)
	}
	// Class names sort numerically only when all are numbers under the grammar: "0x10" is not
	// 16, so these sort as text.
	tab = read(t, "a,target\n1,0x10\n2,9\n3,10\n", Options{})
	if !reflect.DeepEqual(tab.Classes, []string{"0x10", "10", "9"}) {
		t.Errorf("classes %q, want text order", tab.Classes)
	}

	// Under a schema, a numeric column rejects them with the training-data message.
	train := read(t, "a,target\n1,x\n2,y\n", Options{})
	exactErr(t, "a,target\n0x1p3,x\n", Options{Schema: train},
		`data: line 2, column 1 ("a"): "0x1p3" is not a number, and this column is numeric in the training data`)
}

// quoteForTest is strconv.Quote for the short strings of these tests.
func quoteForTest(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// A cell of any length is quoted in errors as its first 40 characters and its length.
func TestCSVErrorsCutLongCells(t *testing.T) {
	long := strings.Repeat("q", 100000)
	cut := `"` + strings.Repeat("q", 40) + `"… (100000 bytes)`
	exactErr(t, "a,target\n1,x\n"+long+",y\n2,x\n", Options{}, `data: line 3, column 1 ("a"): `+cut+
		` is not a number, yet 2 of the 3 non-missing values in this column are numbers (fix the value, or list it as a missing-value marker)`)
	train := read(t, "a,target\n1,x\n2,y\n", Options{})
	exactErr(t, "a,target\n1,"+long+"\n", Options{Schema: train},
		`data: line 2, column 2 ("target"): class `+cut+` does not occur in the training data (classes: "x", "y")`)
	exactErr(t, "a,target\n"+long+",x\n", Options{Schema: train},
		`data: line 2, column 1 ("a"): `+cut+` is not a number, and this column is numeric in the training data`)
	// Long header names are cut too, wherever they appear.
	exactErr(t, "a,"+long+",target\n1,2,x\n", Options{Schema: train},
		`data: column 2 (`+cut+`) is not a feature of the training data`)
	exactErr(t, "a,"+long+"\n1,x\n", Options{Target: long + "!"},
		`data: target column "`+strings.Repeat("q", 40)+`"… (100001 bytes) not found; columns are "a", `+cut)
	exactErr(t, "a,target\n1,"+long+"\n2,"+long+"\n", Options{},
		`data: target column "target" has only one class (`+cut+`); classification needs at least two`)
}

func TestCSVErrorsExact(t *testing.T) {
	for _, c := range []struct {
		src  string
		opts Options
		want string
	}{
		{"", Options{}, "data: empty input: no header row"},
		{"a,b,target\n", Options{}, "data: no data rows after the header"},
		{"a,b,target\n1,2,x\n1,2\n", Options{}, "data: line 3: 2 fields, the header has 3"},
		{"a,target\n1,x\n2,\n", Options{}, `data: line 3, column 2 ("target"): the class label is missing`},
		{"a,a,target\n1,2,x\n", Options{}, `data: header: columns 1 and 2 are both named "a"`},
		{"target\nx\ny\n", Options{}, "data: no feature columns besides the target"},
		{"a,target\n1,x\n2,x\n", Options{}, `data: target column "target" has only one class ("x"); classification needs at least two`},
		{"a,target\n1,\n2,NA\n", Options{TargetOptional: true, Target: "target"}, `data: target column "target" has no class labels`},
		{"a,b\n1,x\"y\n", Options{}, `data: parse error on line 2, column 4: bare " in non-quoted-field`},
		// Problems are reported in column order, then the labels: column 1's junk on line 5
		// before column 2's on line 3 and the missing label on line 2.
		{"a,b,target\n1,2,\n3,oops,y\n5,6,x\nbad,7,y\n", Options{}, `data: line 5, column 1 ("a"): "bad" is not a number, yet 3 of the 4 non-missing values in this column are numbers (fix the value, or list it as a missing-value marker)`},
		{"a,b,target\n1,2,\n3,oops,y\n5,6,x\n4,7,y\n", Options{}, `data: line 3, column 2 ("b"): "oops" is not a number, yet 3 of the 4 non-missing values in this column are numbers (fix the value, or list it as a missing-value marker)`},
	} {
		exactErr(t, c.src, c.opts, c.want)
	}
}

// An optional label column may have gaps: those rows load with NoLabel, the others with their
// class, and the classes come from the labelled rows (or the schema).
func TestTargetOptionalToleratesMissingLabels(t *testing.T) {
	train := read(t, "num,color,target\n1,red,yes\n2,blue,no\n3,green,yes\n", Options{})
	test := read(t, "num,color,target\n5,red,yes\n6,blue,\n7,green,NA\n8,red,no\n", Options{Schema: train, TargetOptional: true})
	if want := []int{1, NoLabel, NoLabel, 0}; !reflect.DeepEqual(test.Y, want) {
		t.Errorf("Y = %v, want %v", test.Y, want)
	}
	if got := test.Labeled(); !reflect.DeepEqual(got, []int{0, 3}) {
		t.Errorf("Labeled = %v, want [0 3]", got)
	}
	if got := test.ClassCounts(); !reflect.DeepEqual(got, []int{1, 1}) {
		t.Errorf("ClassCounts = %v, want [1 1]", got)
	}
	if got := test.X.Row(1); got[0] != 6 || got[1] != 0 {
		t.Errorf("row 1 = %v, want [6 0] (an unlabelled row keeps its features)", got)
	}
	// Without TargetOptional the same file is an error naming the first gap.
	exactErr(t, "num,color,target\n5,red,yes\n6,blue,\n", Options{Schema: train},
		`data: line 3, column 3 ("target"): the class label is missing`)
	// An unknown class is still an error with gaps allowed.
	exactErr(t, "num,color,target\n5,red,\n6,blue,maybe\n", Options{Schema: train, TargetOptional: true},
		`data: line 3, column 3 ("target"): class "maybe" does not occur in the training data (classes: "no", "yes")`)
	// All labels missing: every row is NoLabel and Labeled is empty.
	all := read(t, "num,color,target\n5,red,\n6,blue,?\n", Options{Schema: train, TargetOptional: true})
	if !reflect.DeepEqual(all.Y, []int{NoLabel, NoLabel}) || len(all.Labeled()) != 0 {
		t.Errorf("all missing: Y = %v, Labeled = %v", all.Y, all.Labeled())
	}
	// Without a schema the classes are those of the labelled rows.
	own := read(t, "a,target\n1,b\n2,\n3,a\n", Options{Target: "target", TargetOptional: true})
	if !reflect.DeepEqual(own.Classes, []string{"a", "b"}) || !reflect.DeepEqual(own.Y, []int{1, NoLabel, 0}) {
		t.Errorf("classes %q, Y %v", own.Classes, own.Y)
	}
	// Subset and DropRareClasses keep unlabelled rows unlabelled.
	sub := test.Subset([]int{2, 0})
	if !reflect.DeepEqual(sub.Y, []int{NoLabel, 1}) {
		t.Errorf("Subset Y = %v", sub.Y)
	}
	kept, dropped := test.DropRareClasses(1)
	if dropped != nil || !reflect.DeepEqual(kept.Y, test.Y) {
		t.Errorf("DropRareClasses(1) = %v, dropped %q", kept.Y, dropped)
	}
	kept, dropped = own.DropRareClasses(2)
	if !reflect.DeepEqual(dropped, []string{"a", "b"}) || !reflect.DeepEqual(kept.Y, []int{NoLabel}) || kept.X.At(0, 0) != 2 {
		t.Errorf("DropRareClasses(2): Y %v, X %v, dropped %q", kept.Y, kept.X.Data, dropped)
	}
	var unlabeled Table
	if got := unlabeled.Labeled(); len(got) != 0 {
		t.Errorf("Labeled of a table without Y = %v", got)
	}
}

// A reader that cannot seek is read into memory first and gives the same table; a seekable
// reader is read from its current offset.
func TestReadCSVReaders(t *testing.T) {
	want := read(t, mixedCSV, Options{})
	got, err := ReadCSV(iotest.OneByteReader(strings.NewReader(mixedCSV)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameTable(t, got, want)

	r := bytes.NewReader([]byte("junk before the table\n" + mixedCSV))
	if _, err := r.Seek(int64(len("junk before the table\n")), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got, err = ReadCSV(r, Options{}); err != nil {
		t.Fatal(err)
	}
	sameTable(t, got, want)

	// A read error is returned, not taken for the end of the input.
	boom := errors.New("disk on fire")
	_, err = ReadCSV(io.MultiReader(strings.NewReader("a,target\n1,x\n"), iotest.ErrReader(boom)), Options{})
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want %v", err, boom)
	}
}

// A reader whose content changes between the two passes is an error, not a silent mix.
func TestReadCSVInputChanged(t *testing.T) {
	c := &changing{first: "a,target\n1,x\n2,y\n", second: "a,target\n1,x\n2,y\n3,x\n"}
	_, err := ReadCSV(c, Options{})
	if err == nil || err.Error() != "data: the input changed while it was being read" {
		t.Errorf("error %v, want the input-changed error", err)
	}
	c = &changing{first: "a,target\n1,x\n2,y\n", second: "a,target\n1,x\n"}
	if _, err = ReadCSV(c, Options{}); err == nil || err.Error() != "data: the input changed while it was being read" {
		t.Errorf("error %v, want the input-changed error", err)
	}
	c = &changing{first: "a,target\n1,x\n2,y\n", second: "a,target\n1,x\nz,y\n"}
	if _, err = ReadCSV(c, Options{}); err == nil || err.Error() != "data: the input changed while it was being read" {
		t.Errorf("error %v, want the input-changed error", err)
	}
}

// changing is a ReadSeeker that serves first, then second after a rewind.
type changing struct {
	first, second string
	r             *strings.Reader
}

func (c *changing) Read(p []byte) (int, error) {
	if c.r == nil {
		c.r = strings.NewReader(c.first)
	}
	return c.r.Read(p)
}

func (c *changing) Seek(off int64, whence int) (int64, error) {
	if c.r == nil {
		return 0, nil
	}
	c.r = strings.NewReader(c.second)
	return c.r.Seek(off, whence)
}

// Categorical codes and classes do not depend on the order rows come in, and numbers mixed
// into a categorical column keep their text.
func TestCategoryCodesIndependentOfRowOrder(t *testing.T) {
	a := read(t, "c,target\nred,10\nblue,2\n1.0,10\nred,2\n1,9\n", Options{})
	b := read(t, "c,target\n1,9\nred,2\n1.0,10\nblue,2\nred,10\n", Options{})
	want := []string{"1", "1.0", "blue", "red"}
	if !reflect.DeepEqual(a.Columns[0].Categories, want) || !reflect.DeepEqual(b.Columns[0].Categories, want) {
		t.Errorf("categories %q and %q, want %q", a.Columns[0].Categories, b.Columns[0].Categories, want)
	}
	if !reflect.DeepEqual(a.Classes, []string{"2", "9", "10"}) || !reflect.DeepEqual(b.Classes, a.Classes) {
		t.Errorf("classes %q and %q", a.Classes, b.Classes)
	}
	if got := a.X.Col(0); !reflect.DeepEqual(got, []float64{3, 2, 1, 3, 0}) {
		t.Errorf("codes %v", got)
	}
	if !reflect.DeepEqual(a.Y, []int{2, 0, 2, 0, 1}) || !reflect.DeepEqual(b.Y, []int{1, 0, 2, 0, 2}) {
		t.Errorf("Y %v and %v", a.Y, b.Y)
	}
	if !math.IsNaN(read(t, "c,target\nred,x\nNA,y\n", Options{}).X.At(1, 0)) {
		t.Error("a missing categorical cell should be NaN")
	}
}

// Missing-value markers match in any case, including Unicode case folding.
func TestMissingMarkersFoldCase(t *testing.T) {
	tab := read(t, "a,b,target\nnull,NONE,x\nn/a,1,y\nS,2,x\nſ,3,y\n", Options{Missing: []string{"NULL", "none", "N/A", "s"}})
	if !math.IsNaN(tab.X.At(0, 0)) || !math.IsNaN(tab.X.At(0, 1)) || !math.IsNaN(tab.X.At(1, 0)) {
		t.Errorf("null, NONE and n/a should be missing: %v", tab.X.Data)
	}
	// "S" and "ſ" (long s) both fold to the marker "s": column a has no non-missing value.
	if !math.IsNaN(tab.X.At(2, 0)) || !math.IsNaN(tab.X.At(3, 0)) || tab.Columns[0].Kind != Numeric {
		t.Errorf("S and ſ should be missing: %v %+v", tab.X.Data, tab.Columns[0])
	}
}
