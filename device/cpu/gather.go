package cpu

import (
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/rng"
)

// checkIndex validates a Gather/ScatterAdd call and returns the indices, after checking that
// every one lies in [0, rows) so that a bad index panics before anything is written.
func checkIndex(op string, tb *buffer, rows, width int, idx device.Buffer, n int, other *buffer) []int32 {
	ib := get(idx, op)
	if ib.dtype != device.Int32 {
		device.Panicf(op, "indices have dtype %s, want int32", ib.dtype)
	}
	if rows < 0 || width < 0 || n < 0 {
		device.Panicf(op, "negative size rows=%d width=%d n=%d", rows, width, n)
	}
	needLen(ib, n, op, "idx")
	needLen(tb, rows*width, op, "table")
	needLen(other, n*width, op, "rows operand")
	ix := ib.i32[:n]
	for i, r := range ix {
		if r < 0 || int(r) >= rows {
			device.Panicf(op, "index %d at position %d is outside the table's %d rows", r, i, rows)
		}
	}
	return ix
}

// Gather copies rows: out[i, :] = table[idx[i], :].
func (d *Device) Gather(table device.Buffer, rows, width int, idx device.Buffer, n int, out device.Buffer) {
	if d.widened("Gather", []device.Buffer{table, idx, out}, []device.Buffer{out}, func(f func(device.Buffer) device.Buffer) { d.Gather(f(table), rows, width, idx, n, f(out)) }) {
		return
	}
	const op = "Gather"
	ob := getFloat(out, op, "out", 0)
	tb := getFloat(table, op, "table", ob.dtype)
	ix := checkIndex(op, tb, rows, width, idx, n, ob)
	if ob.dtype == device.Float32 {
		gather(floats[float32](tb), width, ix, floats[float32](ob))
	} else {
		gather(floats[float64](tb), width, ix, floats[float64](ob))
	}
}

func gather[T float](table []T, width int, ix []int32, out []T) {
	parallelFor(len(ix), width, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := int(ix[i])
			copy(out[i*width:(i+1)*width], table[r*width:(r+1)*width])
		}
	})
}

// ScatterAdd accumulates rows: table[idx[i], :] += src[i, :], in index order. Repeated indices
// make rows of the table targets of several source rows, so the work is split over columns,
// never over indices: each goroutine owns a band of columns of every row.
func (d *Device) ScatterAdd(table device.Buffer, rows, width int, idx device.Buffer, n int, src device.Buffer) {
	if d.widened("ScatterAdd", []device.Buffer{table, idx, src}, []device.Buffer{table}, func(f func(device.Buffer) device.Buffer) { d.ScatterAdd(f(table), rows, width, idx, n, f(src)) }) {
		return
	}
	const op = "ScatterAdd"
	tb := getFloat(table, op, "table", 0)
	sb := getFloat(src, op, "src", tb.dtype)
	ix := checkIndex(op, tb, rows, width, idx, n, sb)
	if tb.dtype == device.Float32 {
		scatterAdd(floats[float32](tb), width, ix, floats[float32](sb))
	} else {
		scatterAdd(floats[float64](tb), width, ix, floats[float64](sb))
	}
}

func scatterAdd[T float](table []T, width int, ix []int32, src []T) {
	parallelFor(width, len(ix), func(c0, c1 int) {
		for i, r := range ix {
			dst, s := table[int(r)*width+c0:int(r)*width+c1], src[i*width+c0:i*width+c1]
			for c, v := range s {
				dst[c] += v
			}
		}
	})
}

// RandomFill fills dst from the Philox-4x32-10 stream (seed, offset) with exactly the mapping
// of package rng: element i comes from lane i mod 4 of the block at counter offset + i/4, so
// any chunk of blocks can be computed independently and the fill is split over goroutines
// by blocks. Values are computed in float64 and rounded once for float32.
func (d *Device) RandomFill(dst device.Buffer, dist device.Distribution, seed, offset uint64, a, b float64) {
	if d.widened("RandomFill", []device.Buffer{dst}, []device.Buffer{dst}, func(f func(device.Buffer) device.Buffer) { d.RandomFill(f(dst), dist, seed, offset, a, b) }) {
		return
	}
	const op = "RandomFill"
	db := getFloat(dst, op, "dst", 0)
	if dist != device.Uniform && dist != device.Normal {
		device.Panicf(op, "unknown distribution %d", dist)
	}
	if db.dtype == device.Float32 {
		randomFill(floats[float32](db), dist, seed, offset, a, b)
	} else {
		randomFill(floats[float64](db), dist, seed, offset, a, b)
	}
}

func randomFill[T float](x []T, dist device.Distribution, seed, offset uint64, a, b float64) {
	n := len(x)
	blocks := (n + 3) / 4
	parallelFor(blocks, 64, func(lo, hi int) {
		var v [4]float64
		for j := lo; j < hi; j++ {
			blk := rng.Block(seed, offset+uint64(j))
			if dist == device.Uniform {
				for l := range 4 {
					v[l] = a + (b-a)*rng.ToUnit(blk[l])
				}
			} else {
				// Box–Muller on the lane pairs (0,1) and (2,3), as rng.NormalAt.
				for f := 0; f < 4; f += 2 {
					u1, u2 := rng.ToUnit(blk[f]), rng.ToUnit(blk[f+1])
					r := math.Sqrt(-2 * math.Log(u1))
					v[f] = a + b*r*math.Cos(2*math.Pi*u2)
					v[f+1] = a + b*r*math.Sin(2*math.Pi*u2)
				}
			}
			for l := range 4 {
				if i := 4*j + l; i < n {
					x[i] = T(v[l])
				}
			}
		}
	})
}
