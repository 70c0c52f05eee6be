package data

import (
	"reflect"
	"strings"
	"testing"
)

// The same cells load into the same Table from CSV text and from records, with and without a
// schema.
func TestReadRecordsMatchesCSV(t *testing.T) {
	src := "a, vote ,b,target\n1.5,y,,dog\nNA,n,3,cat\n2.5, y ,?,dog\n"
	header := []string{"a", " vote ", "b", "target"}
	records := [][]string{{"1.5", "y", "", "dog"}, {"NA", "n", "3", "cat"}, {"2.5", " y ", "?", "dog"}}
	fromCSV := read(t, src, Options{})
	fromRecs, err := ReadRecords(header, records, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromCSV.Columns, fromRecs.Columns) || !reflect.DeepEqual(fromCSV.Y, fromRecs.Y) ||
		!reflect.DeepEqual(fromCSV.Classes, fromRecs.Classes) || fromCSV.Target != fromRecs.Target {
		t.Fatalf("records %+v, CSV %+v", fromRecs, fromCSV)
	}
	for i := range fromCSV.X.Data {
		a, b := fromCSV.X.Data[i], fromRecs.X.Data[i]
		if a != b && !(a != a && b != b) {
			t.Fatalf("cell %d: records %v, CSV %v", i, b, a)
		}
	}
	test, err := ReadRecords([]string{"b", "vote", "a"}, [][]string{{"1", "n", "2"}}, Options{Schema: fromRecs, TargetOptional: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := test.X.Row(0); got[0] != 2 || got[1] != 0 || got[2] != 1 || test.Y != nil {
		t.Fatalf("test row %v, labels %v", got, test.Y)
	}
}

func TestReadRecordsErrors(t *testing.T) {
	cases := []struct {
		header  []string
		records [][]string
		opts    Options
		want    string
	}{
		{nil, [][]string{{"1"}}, Options{}, "no columns"},
		{[]string{"a", "t"}, nil, Options{}, "no data rows"},
		{[]string{"a", " "}, [][]string{{"1", "x"}}, Options{}, "column 2 has an empty name"},
		{[]string{"a", "t"}, [][]string{{"1", "x"}, {"2"}}, Options{}, "row 2: 1 cells, the header has 2"},
		{[]string{"a", "t"}, [][]string{{"1", "x"}, {"2", "y"}}, Options{Target: "z"}, `target column "z" not found`},
		{[]string{"a", "a"}, [][]string{{"1", "x"}}, Options{}, "both named"},
		{[]string{"a", "t"}, [][]string{{"1", "x"}, {"2", "y"}, {"3", "x"}, {"4", "y"}, {"oops", "x"}}, Options{}, `row 5, column 1 ("a")`},
	}
	for _, c := range cases {
		_, err := ReadRecords(c.header, c.records, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadRecords(%q, %q): error %v, want %q", c.header, c.records, err, c.want)
		}
	}
}
