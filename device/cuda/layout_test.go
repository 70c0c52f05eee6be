package cuda

import (
	"testing"

	"github.com/kiln-ml/kiln/device"
)

// offsets enumerates the element offsets of a layout in row-major order of its shape.
func offsets(l device.Layout) []int64 {
	n := l.NumElements()
	out := make([]int64, 0, n)
	idx := make([]int, len(l.Shape))
	for i := 0; i < n; i++ {
		o := l.Offset
		for d := range idx {
			o += idx[d] * l.Strides[d]
		}
		out = append(out, int64(o))
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < l.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// kernelOffsets decodes element i of a packed layout exactly as elementwise.cu does.
func kernelOffsets(p packed, k int, off int) []int64 {
	out := make([]int64, 0, p.n)
	for i := int64(0); i < p.n; i++ {
		r, o := i, int64(off)
		for d := maxRank - 1; d >= maxRank-p.rank; d-- {
			c := r % p.shape[d]
			r /= p.shape[d]
			o += c * p.strides[k][d]
		}
		out = append(out, o)
	}
	return out
}

func TestPackLayoutsMatchesStridedIndexing(t *testing.T) {
	cases := []struct {
		name string
		ls   []device.Layout
		rank int
	}{
		{"contiguous merges to rank 1", []device.Layout{device.Contiguous([]int{3, 4, 5}), device.Contiguous([]int{3, 4, 5})}, 1},
		{"transpose", []device.Layout{
			{Shape: []int{4, 6}, Strides: []int{1, 4}},
			device.Contiguous([]int{4, 6})}, 2},
		{"broadcast row with offset", []device.Layout{
			{Shape: []int{5, 7}, Strides: []int{0, 1}, Offset: 3},
			device.Contiguous([]int{5, 7})}, 2},
		{"slice of a wider matrix", []device.Layout{
			{Shape: []int{3, 2, 4}, Strides: []int{40, 8, 1}, Offset: 2},
			{Shape: []int{3, 2, 4}, Strides: []int{8, 4, 1}}}, 3},
		{"extent one dropped", []device.Layout{
			{Shape: []int{1, 5, 1, 3}, Strides: []int{99, 3, 77, 1}},
			device.Contiguous([]int{1, 5, 1, 3})}, 1},
		{"negative stride", []device.Layout{
			{Shape: []int{6}, Strides: []int{-1}, Offset: 5},
			device.Contiguous([]int{6})}, 1},
		{"rank 9 that merges", []device.Layout{
			device.Contiguous([]int{2, 2, 2, 2, 2, 2, 2, 2, 2}),
			device.Contiguous([]int{2, 2, 2, 2, 2, 2, 2, 2, 2})}, 1},
	}
	for _, c := range cases {
		p := packLayouts("test", c.ls[0].Shape, c.ls...)
		if p.rank != c.rank {
			t.Errorf("%s: rank %d, want %d", c.name, p.rank, c.rank)
		}
		for k, l := range c.ls {
			want := offsets(l)
			got := kernelOffsets(p, k, l.Offset)
			if len(got) != len(want) {
				t.Fatalf("%s: operand %d: %d offsets, want %d", c.name, k, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%s: operand %d element %d: offset %d, want %d", c.name, k, i, got[i], want[i])
					break
				}
			}
		}
	}
}

func TestPackLayoutsRejectsRankNine(t *testing.T) {
	defer func() {
		if _, ok := recover().(*device.Error); !ok {
			t.Error("a non-mergeable rank-9 layout did not panic with *device.Error")
		}
	}()
	shape := []int{2, 2, 2, 2, 2, 2, 2, 2, 2}
	x := device.Layout{Shape: shape, Strides: []int{6561, 2187, 729, 243, 81, 27, 9, 3, 1}} // stride 3ⁿ with extent 2: nothing merges
	packLayouts("test", shape, x, device.Contiguous(shape))
}

func TestCheckLayoutBounds(t *testing.T) {
	ok := device.Layout{Shape: []int{3, 4}, Strides: []int{5, 1}, Offset: 1} // touches 1..14
	checkLayout("test", ok, 15)
	defer func() {
		if recover() == nil {
			t.Error("a layout reaching element 14 of a 14-element buffer did not panic")
		}
	}()
	checkLayout("test", ok, 14)
}

func TestGemmReach(t *testing.T) {
	// 2 batch members of a 3×4 matrix with row stride 6, batch stride 20, offset 1:
	// last element at 1 + 20 + 2·6 + 3 = 36, so 37 elements are needed.
	if got := gemmReach(3, 4, 6, 20, 1, 2); got != 37 {
		t.Errorf("gemmReach = %d, want 37", got)
	}
}
