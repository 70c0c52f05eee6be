package data

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// writeParquet encodes rows with parquet-go's struct-based writer (the schema comes from the
// struct tags: optional fields are pointers, dict asks for dictionary encoding).
func writeParquet[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatalf("parquet write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("parquet close: %v", err)
	}
	return buf.Bytes()
}

func readPQ(t *testing.T, b []byte, opts Options) *Table {
	t.Helper()
	tab, err := ReadParquet(bytes.NewReader(b), int64(len(b)), opts)
	if err != nil {
		t.Fatalf("ReadParquet: %v", err)
	}
	return tab
}

func readPQErr(t *testing.T, b []byte, opts Options, want ...string) {
	t.Helper()
	_, err := ReadParquet(bytes.NewReader(b), int64(len(b)), opts)
	if err == nil {
		t.Fatalf("ReadParquet succeeded, want an error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

// readPQExact fails unless ReadParquet fails with exactly the message want.
func readPQExact(t *testing.T, b []byte, opts Options, want string) {
	t.Helper()
	_, err := ReadParquet(bytes.NewReader(b), int64(len(b)), opts)
	if err == nil || err.Error() != want {
		t.Errorf("ReadParquet error %v\nwant %s", err, want)
	}
}

// sameTable fails the test unless got and want agree in every field, NaN matching NaN.
func sameTable(t *testing.T, got, want *Table) {
	t.Helper()
	if !reflect.DeepEqual(got.Columns, want.Columns) {
		t.Errorf("columns:\n got %+v\nwant %+v", got.Columns, want.Columns)
	}
	if got.X.Rows != want.X.Rows || got.X.Cols != want.X.Cols {
		t.Fatalf("X is %d×%d, want %d×%d", got.X.Rows, got.X.Cols, want.X.Rows, want.X.Cols)
	}
	for i := 0; i < want.X.Rows; i++ {
		for j := 0; j < want.X.Cols; j++ {
			g, w := got.X.At(i, j), want.X.At(i, j)
			if g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
				t.Errorf("X[%d,%d] = %v, want %v", i, j, g, w)
			}
		}
	}
	if !reflect.DeepEqual(got.Y, want.Y) {
		t.Errorf("Y = %v, want %v", got.Y, want.Y)
	}
	if !reflect.DeepEqual(got.Classes, want.Classes) {
		t.Errorf("Classes = %q, want %q", got.Classes, want.Classes)
	}
	if got.Target != want.Target {
		t.Errorf("Target = %q, want %q", got.Target, want.Target)
	}
}

func ptr[T any](v T) *T { return &v }

// mixedRow covers every kind of value a table holds: optional doubles (with NaN and null),
// optional and required integers, an unsigned integer, a float32, an optional boolean, and
// dictionary-encoded strings (optional, with a missing-value marker among them).
type mixedRow struct {
	Height  *float64 `parquet:"height,optional"`
	Count   *int64   `parquet:"count,optional"`
	Small   int32    `parquet:"small"`
	Ratio   float32  `parquet:"ratio"`
	Flag    *bool    `parquet:"flag,optional"`
	Color   *string  `parquet:"color,optional,dict"`
	Legs    uint32   `parquet:"legs"`
	Species string   `parquet:"species,dict"`
}

// pointOne is a variable so that pointOne+0.2 is float64 arithmetic (0.30000000000000004),
// not an exact constant expression (0.3).
var pointOne = 0.1

var mixedRows = []mixedRow{
	{ptr(pointOne + 0.2), ptr(int64(3)), -7, 0.1, ptr(true), ptr("red"), 4, "dog"},
	{nil, ptr(int64(9007199254740993)), 12, 2.5, ptr(false), ptr("NA"), 2, "bird"},
	{ptr(math.NaN()), nil, 0, -1e-3, nil, nil, 4, "cat"},
	{ptr(math.Pi), ptr(int64(-40)), 3, 3e5, ptr(true), ptr("blue"), 4294967295, "dog"},
	{ptr(-1e-300), ptr(int64(0)), 5, 7, ptr(false), ptr("red"), 0, "cat"},
}

// mixedCSV is mixedRows as a CSV export would write it, typed by hand.
const mixedCSV = `height,count,small,ratio,flag,color,legs,species
0.30000000000000004,3,-7,0.1,true,red,4,dog
,9007199254740993,12,2.5,false,NA,2,bird
NaN,,0,-0.001,,,4,cat
3.141592653589793,-40,3,300000,true,blue,4294967295,dog
-1e-300,0,5,7,false,red,0,cat
`

func TestParquetMatchesCSV(t *testing.T) {
	b := writeParquet(t, mixedRows)
	for _, opts := range []Options{
		{},
		{Target: "color", TargetOptional: true},
		{Categorical: []string{"legs"}},
		{Target: "flag"},
	} {
		got, gerr := ReadParquet(bytes.NewReader(b), int64(len(b)), opts)
		want, werr := ReadCSV(strings.NewReader(mixedCSV), opts)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%+v: Parquet error %v, CSV error %v", opts, gerr, werr)
		}
		if werr != nil {
			// Both fail (the target has missing labels): the same message, where CSV's line N
			// (the header is line 1) is Parquet's row N-1.
			csvAsRows := regexp.MustCompile(`line \d+`).ReplaceAllStringFunc(werr.Error(), func(s string) string {
				n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
				return "row " + strconv.Itoa(n-1)
			})
			if csvAsRows != gerr.Error() {
				t.Errorf("%+v: CSV error %q, Parquet error %q", opts, werr, gerr)
			}
			continue
		}
		sameTable(t, got, want)
	}

	// Nulls are missing even when the markers the caller lists for text do not include "".
	sameTable(t, readPQ(t, b, Options{Missing: []string{"NA"}}), read(t, mixedCSV, Options{}))

	// Doubles round-trip exactly: the loaded value is the written float64, not a rounding.
	tab := readPQ(t, b, Options{})
	if got := tab.X.At(0, 0); got != pointOne+0.2 {
		t.Errorf("height[0] = %v, want %v exactly", got, pointOne+0.2)
	}
	if got := tab.X.At(3, 0); got != math.Pi {
		t.Errorf("height[3] = %v, want math.Pi exactly", got)
	}
	if !math.IsNaN(tab.X.At(1, 0)) || !math.IsNaN(tab.X.At(2, 0)) {
		t.Errorf("null and NaN heights should be missing, got %v and %v", tab.X.At(1, 0), tab.X.At(2, 0))
	}
	// A float32 0.1 reads as the decimal 0.1 it prints as, as a CSV export would hold it.
	if got := tab.X.At(0, 3); got != 0.1 {
		t.Errorf("ratio[0] = %v, want 0.1", got)
	}
	if c := tab.Columns[4]; c.Kind != Categorical || !reflect.DeepEqual(c.Categories, []string{"false", "true"}) {
		t.Errorf("flag column = %+v, want categorical false/true", c)
	}
	if c := tab.Columns[5]; !reflect.DeepEqual(c.Categories, []string{"blue", "red"}) {
		t.Errorf("color categories = %q, want blue, red (NA and null are missing)", c.Categories)
	}
	if got := tab.X.At(3, 6); got != 4294967295 {
		t.Errorf("unsigned legs[3] = %v, want 4294967295", got)
	}
	if !reflect.DeepEqual(tab.Classes, []string{"bird", "cat", "dog"}) || !reflect.DeepEqual(tab.Y, []int{2, 0, 1, 2, 1}) {
		t.Errorf("classes %q, Y %v", tab.Classes, tab.Y)
	}
}

// testRow is a labelled test file whose columns are in another order than the training file's.
type testRow struct {
	Species string   `parquet:"species"`
	Legs    uint32   `parquet:"legs"`
	Color   *string  `parquet:"color,optional"`
	Flag    *bool    `parquet:"flag,optional"`
	Ratio   float32  `parquet:"ratio"`
	Small   int32    `parquet:"small"`
	Count   *int64   `parquet:"count,optional"`
	Height  *float64 `parquet:"height,optional"`
}

func TestParquetSchemaTestFile(t *testing.T) {
	train := readPQ(t, writeParquet(t, mixedRows), Options{})

	// A test file in another column order, with no target column: green is a colour the
	// training data never had (missing), as in CSV.
	type noTarget struct {
		Legs   uint32   `parquet:"legs"`
		Color  *string  `parquet:"color,optional"`
		Flag   *bool    `parquet:"flag,optional"`
		Ratio  float32  `parquet:"ratio"`
		Small  int32    `parquet:"small"`
		Count  *int64   `parquet:"count,optional"`
		Height *float64 `parquet:"height,optional"`
	}
	var rows []noTarget
	for _, r := range mixedRows[:3] {
		rows = append(rows, noTarget{r.Legs, r.Color, r.Flag, r.Ratio, r.Small, r.Count, r.Height})
	}
	rows[0].Color = ptr("green")
	opts := Options{Schema: train, TargetOptional: true}
	got := readPQ(t, writeParquet(t, rows), opts)
	want := read(t, `legs,color,flag,ratio,small,count,height
4,green,true,0.1,-7,3,0.30000000000000004
2,NA,false,2.5,12,9007199254740993,
4,,,-0.001,0,,NaN
`, opts)
	sameTable(t, got, want)
	if got.Y != nil || !reflect.DeepEqual(got.Classes, train.Classes) {
		t.Errorf("unlabeled test file: Y %v, classes %q", got.Y, got.Classes)
	}
	if !math.IsNaN(got.X.At(0, 5)) {
		t.Errorf("unseen colour green should be missing, got code %v", got.X.At(0, 5))
	}

	// With the target, labels map to the training classes; an unknown class is an error
	// that names the row.
	labeled := []testRow{
		{"cat", 4, ptr("red"), ptr(true), 1, 1, ptr(int64(1)), ptr(1.0)},
		{"dog", 4, ptr("blue"), ptr(true), 1, 1, ptr(int64(1)), ptr(1.0)},
	}
	lt := readPQ(t, writeParquet(t, labeled), Options{Schema: train})
	if !reflect.DeepEqual(lt.Y, []int{1, 2}) {
		t.Errorf("Y = %v, want [1 2] (cat, dog in bird/cat/dog)", lt.Y)
	}
	labeled[1].Species = "cow"
	readPQErr(t, writeParquet(t, labeled), Options{Schema: train}, "row 2", `"species"`, `class "cow"`)
}

func TestParquetErrorsNameTheRow(t *testing.T) {
	type row struct {
		A string `parquet:"a"`
		Y string `parquet:"y"`
	}
	rows := []row{{"1", "x"}, {"2", "y"}, {"3.5", "x"}, {"4O", "y"}, {"5", "x"}}
	readPQErr(t, writeParquet(t, rows), Options{}, `row 4, column 1 ("a")`, `"4O" is not a number`)
	readErr(t, "a,y\n1,x\n2,y\n3.5,x\n4O,y\n5,x\n", Options{}, `line 5, column 1 ("a")`)
}

func TestParquetBadFiles(t *testing.T) {
	good := writeParquet(t, mixedRows)
	readPQExact(t, nil, Options{}, "data: empty input: the file has 0 bytes, not a Parquet file")
	readPQExact(t, []byte("a,b\n1,2\n"), Options{}, `data: not a Parquet file (it does not start with the Parquet magic bytes "PAR1")`)
	readPQExact(t, []byte("PAR1"), Options{}, "data: truncated Parquet file: 4 bytes")
	readPQExact(t, good[:len(good)-5], Options{}, `data: truncated or corrupt Parquet file: it does not end with the magic bytes "PAR1"`)
	readPQExact(t, good[:len(good)/2], Options{}, `data: truncated or corrupt Parquet file: it does not end with the magic bytes "PAR1"`)
	// A footer length pointing outside the file.
	bad := bytes.Clone(good)
	copy(bad[len(bad)-8:], []byte{0xff, 0xff, 0xff, 0x7f})
	readPQExact(t, bad, Options{}, fmt.Sprintf("data: truncated or corrupt Parquet file: the footer is declared 2147483647 bytes long, the file has %d bytes", len(bad)))
	// Garbage in place of the footer (thrift metadata).
	bad = bytes.Clone(good)
	n := len(bad) - 8
	for i := n - 40; i < n; i++ {
		bad[i] = 0xee
	}
	readPQExact(t, bad, Options{}, "data: corrupt Parquet file: footer: unknown type 14")
	// Damaged column data behind an intact footer.
	bad = bytes.Clone(good)
	for i := 4; i < 200; i++ {
		bad[i] ^= 0x5a
	}
	readPQExact(t, bad, Options{}, "data: corrupt Parquet file: row group 1, column 1: page 1: header: an i32 field of type 15")

	type row struct {
		A float64 `parquet:"a"`
		Y string  `parquet:"y"`
	}
	readPQExact(t, writeParquet(t, []row{}), Options{}, "data: the Parquet file has no rows")

	type nested struct {
		A     float64 `parquet:"a"`
		Inner struct {
			B int32 `parquet:"b"`
		} `parquet:"inner"`
		Y string `parquet:"y"`
	}
	readPQExact(t, writeParquet(t, []nested{{A: 1, Y: "x"}}), Options{}, `data: column 2 ("inner") is nested (a group, list or map); only flat tables (one value per cell) can be loaded`)
	type list struct {
		A  float64   `parquet:"a"`
		Vs []float64 `parquet:"vs,list"`
		Y  string    `parquet:"y"`
	}
	readPQExact(t, writeParquet(t, []list{{A: 1, Vs: []float64{1, 2}, Y: "x"}}), Options{}, `data: column 2 ("vs") is nested (a group, list or map); only flat tables (one value per cell) can be loaded`)
	type repeated struct {
		A  float64   `parquet:"a"`
		Vs []float64 `parquet:"vs"`
		Y  string    `parquet:"y"`
	}
	readPQExact(t, writeParquet(t, []repeated{{A: 1, Vs: []float64{1, 2}, Y: "x"}}), Options{}, `data: column 2 ("vs") is repeated (a list); only flat tables (one value per cell) can be loaded`)
}

func TestParquetNoColumns(t *testing.T) {
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, parquet.NewSchema("empty", parquet.Group{}))
	if err := w.Close(); err != nil {
		t.Skipf("parquet-go cannot write a file without columns: %v", err)
	}
	readPQExact(t, buf.Bytes(), Options{}, "data: the Parquet file has no columns")
}

func TestDecimalText(t *testing.T) {
	for _, c := range []struct {
		unscaled int64
		scale    int
		want     string
	}{
		{12345, 2, "123.45"}, {-12345, 2, "-123.45"}, {5, 3, "0.005"}, {-5, 3, "-0.005"},
		{0, 2, "0.00"}, {7, 0, "7"}, {7, -2, "700"},
	} {
		if got := decimalText(big.NewInt(c.unscaled), c.scale); got != c.want {
			t.Errorf("decimalText(%d, %d) = %q, want %q", c.unscaled, c.scale, got, c.want)
		}
	}
}

func TestParquetDecimalsAndDates(t *testing.T) {
	type row struct {
		Price int64     `parquet:"price,decimal(2:18)"`
		Day   int32     `parquet:"day,date"`
		When  time.Time `parquet:"when,timestamp(millisecond)"`
		Y     string    `parquet:"y"`
	}
	day := func(s string) int32 {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return int32(d.Unix() / 86400)
	}
	rows := []row{
		{12345, day("2024-01-31"), time.Date(2024, 1, 31, 12, 30, 0, 0, time.UTC), "x"},
		{-5, day("1969-12-31"), time.Date(2020, 2, 29, 0, 0, 0, 500e6, time.UTC), "y"},
		{100, day("2024-01-31"), time.Date(2024, 1, 31, 12, 30, 0, 0, time.UTC), "x"},
	}
	got := readPQ(t, writeParquet(t, rows), Options{})
	want := read(t, `price,day,when,y
123.45,2024-01-31,2024-01-31T12:30:00Z,x
-0.05,1969-12-31,2020-02-29T00:00:00.5Z,y
1.00,2024-01-31,2024-01-31T12:30:00Z,x
`, Options{})
	sameTable(t, got, want)
}
