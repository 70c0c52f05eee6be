package data

import (
	"math"
	"slices"
	"testing"
)

func labels(counts ...int) []int {
	var y []int
	for c, n := range counts {
		for range n {
			y = append(y, c)
		}
	}
	// Interleave so that class blocks are not contiguous.
	r := NewRand(99, 1)
	r.Shuffle(len(y), func(i, j int) { y[i], y[j] = y[j], y[i] })
	return y
}

func classCounts(y []int, idx []int, k int) []int {
	c := make([]int, k)
	for _, i := range idx {
		c[y[i]]++
	}
	return c
}

func TestStratifiedSplit(t *testing.T) {
	counts := []int{50, 31, 7, 4}
	y := labels(counts...)
	train, test, err := StratifiedSplit(y, 4, 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(test) != 46 || len(train) != 46 {
		t.Errorf("sizes train %d test %d, want 46/46", len(train), len(test))
	}
	all := append(slices.Clone(train), test...)
	slices.Sort(all)
	for i, v := range all {
		if v != i {
			t.Fatalf("train ∪ test is not a partition of 0..n-1 (at %d: %d)", i, v)
		}
	}
	tc := classCounts(y, test, 4)
	for c, n := range counts {
		if d := math.Abs(float64(tc[c]) - float64(n)/2); d >= 1 {
			t.Errorf("class %d: %d of %d in test, want within one row of half", c, tc[c], n)
		}
	}
	// Deterministic per seed, different across seeds.
	train2, test2, _ := StratifiedSplit(y, 4, 0.5, 3)
	if !slices.Equal(train, train2) || !slices.Equal(test, test2) {
		t.Error("same seed gave different splits")
	}
	_, test3, _ := StratifiedSplit(y, 4, 0.5, 4)
	if slices.Equal(test, test3) {
		t.Error("seeds 3 and 4 gave the same split")
	}
	// Uneven fraction: test size is ceil(0.3·n).
	_, test4, _ := StratifiedSplit(y, 4, 0.3, 0)
	if len(test4) != int(math.Ceil(0.3*92)) {
		t.Errorf("test size %d want %d", len(test4), int(math.Ceil(0.3*92)))
	}
	// A two-row class keeps one row on each side even when its quota rounds to zero.
	y2 := labels(40, 2)
	tr, te, _ := StratifiedSplit(y2, 2, 0.1, 1)
	if classCounts(y2, te, 2)[1] != 1 || classCounts(y2, tr, 2)[1] != 1 {
		t.Errorf("rare class not on both sides: %v %v", classCounts(y2, tr, 2), classCounts(y2, te, 2))
	}
}

func TestStratifiedSplitErrors(t *testing.T) {
	if _, _, err := StratifiedSplit([]int{0, 1}, 2, 1.5, 0); err == nil {
		t.Error("fraction 1.5 accepted")
	}
	if _, _, err := StratifiedSplit([]int{0, 3}, 2, 0.5, 0); err == nil {
		t.Error("label out of range accepted")
	}
	if _, _, err := StratifiedSplit([]int{0}, 1, 0.5, 0); err == nil {
		t.Error("one row accepted")
	}
}

func TestStratifiedSubsample(t *testing.T) {
	counts := []int{700, 250, 49, 1}
	y := labels(counts...)
	idx, err := StratifiedSubsample(y, 4, 100, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 100 || !slices.IsSorted(idx) {
		t.Fatalf("len %d sorted %v", len(idx), slices.IsSorted(idx))
	}
	got := classCounts(y, idx, 4)
	// Quotas 70, 25, 4.9, 0.1: apportionment gives 70, 25, 5, 0, then the singleton class
	// takes a row from the class furthest above its quota (class 2, +0.1).
	want := []int{70, 25, 4, 1}
	if !slices.Equal(got, want) {
		t.Errorf("class counts %v want %v", got, want)
	}
	for i := 1; i < len(idx); i++ {
		if idx[i] == idx[i-1] {
			t.Fatal("duplicate index")
		}
	}
	again, _ := StratifiedSubsample(y, 4, 100, 7)
	if !slices.Equal(idx, again) {
		t.Error("not deterministic")
	}
	all, _ := StratifiedSubsample(y, 4, 5000, 7)
	if len(all) != len(y) {
		t.Errorf("below the cap every row is kept: %d", len(all))
	}
	if _, err := StratifiedSubsample(y, 4, 0, 1); err == nil {
		t.Error("limit 0 accepted")
	}
}

func TestApportionMatchesQuotas(t *testing.T) {
	// Brute force: for each total, the allocation sums to total and every part is the floor
	// or ceiling of its quota.
	counts := []int{13, 7, 5, 1, 0, 9}
	sum := 35
	for total := 0; total <= sum; total++ {
		a := apportion(counts, total)
		s := 0
		for c, k := range a {
			s += k
			q := float64(counts[c]) * float64(total) / float64(sum)
			if float64(k) < math.Floor(q) || float64(k) > math.Ceil(q) {
				t.Errorf("total %d class %d: %d not floor/ceil of %v", total, c, k, q)
			}
		}
		if s != total {
			t.Errorf("total %d: allocation sums to %d", total, s)
		}
	}
}

func TestDropRareClasses(t *testing.T) {
	tab := read(t, "x,target\n1,a\n2,b\n3,a\n4,c\n5,a\n6,c\n7,a\n8,c\n9,c\n", Options{})
	out, dropped := tab.DropRareClasses(4)
	if !slices.Equal(dropped, []string{"b"}) || !slices.Equal(out.Classes, []string{"a", "c"}) {
		t.Fatalf("dropped %v classes %v", dropped, out.Classes)
	}
	if out.Rows() != 8 || !slices.Equal(out.Y, []int{0, 0, 1, 0, 1, 0, 1, 1}) || out.X.At(2, 0) != 4 {
		t.Errorf("rows %d y %v x %v", out.Rows(), out.Y, out.X.Data)
	}
	if same, d := out.DropRareClasses(4); same != out || d != nil {
		t.Error("nothing to drop should return the table itself")
	}
}

func TestMatrixHelpers(t *testing.T) {
	m, err := MatrixFromRows([][]float64{{1, 2}, {3, 4}, {5, 6}})
	if err != nil {
		t.Fatal(err)
	}
	if m.At(2, 1) != 6 || !slices.Equal(m.Col(0), []float64{1, 3, 5}) {
		t.Error("At/Col wrong")
	}
	s := m.SelectRows([]int{2, 0})
	if !slices.Equal(s.Data, []float64{5, 6, 1, 2}) {
		t.Errorf("SelectRows %v", s.Data)
	}
	c := m.Clone()
	c.Set(0, 0, 9)
	if m.At(0, 0) != 1 {
		t.Error("Clone aliases")
	}
	if _, err := MatrixFromRows([][]float64{{1}, {1, 2}}); err == nil {
		t.Error("ragged rows accepted")
	}
}
