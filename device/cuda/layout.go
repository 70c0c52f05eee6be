package cuda

import (
	"github.com/kiln-ml/kiln/device"
)

// maxRank is the number of dimensions the elementwise kernels index (kernels/elementwise.cu).
const maxRank = 8

// packed is a set of layouts over one common shape, simplified for the elementwise kernels:
// extents of 1 dropped, dimensions that are contiguous in every operand merged, what is left
// right-aligned into maxRank slots (padding: extent 1, stride 0).
type packed struct {
	n       int64 // elements
	rank    int   // dimensions used (the last rank slots)
	shape   [maxRank]int64
	strides [][maxRank]int64
}

// packLayouts validates layouts against shape and packs them. It panics with a device.Error
// on a malformed layout or one whose rank stays above maxRank after merging.
func packLayouts(op string, shape []int, ls ...device.Layout) packed {
	for k, l := range ls {
		if len(l.Shape) != len(shape) || len(l.Strides) != len(shape) {
			device.Panicf(op, "operand %d: layout of rank %d/%d strides against shape %v", k, len(l.Shape), len(l.Strides), shape)
		}
		for d := range shape {
			if l.Shape[d] != shape[d] {
				device.Panicf(op, "operand %d: shape %v differs from %v", k, l.Shape, shape)
			}
		}
	}
	p := packed{n: 1, strides: make([][maxRank]int64, len(ls))}
	for _, e := range shape {
		if e < 0 {
			device.Panicf(op, "negative extent in shape %v", shape)
		}
		p.n *= int64(e)
	}
	if p.n == 0 {
		return p
	}
	type dim struct {
		e int64
		s []int64
	}
	var dims []dim
	for d, ei := range shape {
		if ei == 1 {
			continue
		}
		e := int64(ei)
		s := make([]int64, len(ls))
		for k, l := range ls {
			s[k] = int64(l.Strides[d])
		}
		if len(dims) > 0 {
			last := &dims[len(dims)-1]
			merge := true
			for k := range ls {
				if last.s[k] != s[k]*e {
					merge = false
					break
				}
			}
			if merge {
				last.e *= e
				last.s = s
				continue
			}
		}
		dims = append(dims, dim{e, s})
	}
	if len(dims) > maxRank {
		device.Panicf(op, "layout of shape %v has %d non-mergeable dimensions; the CUDA kernels index at most %d", shape, len(dims), maxRank)
	}
	p.rank = len(dims)
	for i := range p.shape {
		p.shape[i] = 1
	}
	base := maxRank - len(dims)
	for i, dm := range dims {
		p.shape[base+i] = dm.e
		for k := range ls {
			p.strides[k][base+i] = dm.s[k]
		}
	}
	return p
}

// reach returns the lowest and highest element offsets a layout touches (n > 0).
func reach(l device.Layout) (lo, hi int) {
	lo, hi = l.Offset, l.Offset
	for d, e := range l.Shape {
		span := (e - 1) * l.Strides[d]
		if span < 0 {
			lo += span
		} else {
			hi += span
		}
	}
	return lo, hi
}

// checkLayout panics unless every element of l lies inside a buffer of length n.
func checkLayout(op string, l device.Layout, n int) {
	if l.NumElements() == 0 {
		return
	}
	lo, hi := reach(l)
	if lo < 0 || hi >= n {
		device.Panicf(op, "layout %v strides %v offset %d reaches elements [%d, %d] of a buffer of %d", l.Shape, l.Strides, l.Offset, lo, hi, n)
	}
}

// gemmReach is the highest element offset (plus one) an operand of a batched GEMM touches:
// rows×cols with row stride ld, batch stride s, first element off.
func gemmReach(rows, cols, ld, s, off, batch int) int {
	if rows == 0 || cols == 0 || batch == 0 {
		return 0
	}
	return off + (batch-1)*s + (rows-1)*ld + cols
}

// vec4 reports whether an operand's rows and batch members all start on 16-byte boundaries
// (float32 elements), so the GEMM kernel may use float4 loads. Buffers themselves are
// 256-byte aligned by the driver.
func vec4(ld, s, off int) bool { return ld%4 == 0 && s%4 == 0 && off%4 == 0 }
