package devicetest

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/rng"
)

// Cases for the data-movement primitives: all exact.

func allocCases(s *suite, dt device.DType) {
	for _, n := range []int{1, 7, 130, 100_003} {
		s.run("Alloc", dt, fmt.Sprintf("n=%d is zero-filled", n), func(e *env) float64 {
			e.compare(e.download(e.alloc(dt, n)), make([]float64, n), nil)
			return 0
		})
	}
}

func fillCases(s *suite, dt device.DType) {
	for _, c := range []struct{ n, off, cnt int }{{1, 0, 1}, {130, 5, 100}, {70_001, 3, 69_990}} {
		s.run("Fill", dt, fmt.Sprintf("n=%d [%d,%d)", c.n, c.off, c.off+c.cnt), func(e *env) float64 {
			x := e.uniform(c.n, -1, 1)
			b := e.upload(x)
			v := -2.75
			e.dev.Fill(b, c.off, c.cnt, v)
			for i := c.off; i < c.off+c.cnt; i++ {
				x[i] = v
			}
			e.compare(e.download(b), x, nil)
			return 0
		})
	}
	s.run("Fill", dt, "range past the end panics", func(e *env) float64 {
		b := e.alloc(dt, 10)
		e.expectPanic("Fill(offset 5, n 6) of 10 elements", func() { e.dev.Fill(b, 5, 6, 1) })
		return 0
	})
}

// convertCases converts between dt and every other dtype, in both directions, with offsets.
func convertCases(s *suite, dt device.DType) {
	for _, other := range []device.DType{device.Float32, device.Float64, device.Int32, device.BFloat16, device.Float16} {
		for _, n := range pick(s, []int{33}, []int{1, 33, 70_001}) {
			s.run("Convert", dt, fmt.Sprintf("%s→%s n=%d", dt, other, n), func(e *env) float64 {
				x := e.uniform(n+3, -100, 100)
				src := e.upload(x)
				dst := e.alloc(other, n+5)
				e.dev.Convert(dst, 4, src, 2, n)
				want := make([]float64, n+5)
				for i := 0; i < n; i++ {
					want[4+i] = convertRef(x[2+i], other)
				}
				e.compare(e.download(dst), want, nil)
				return 0
			})
			s.run("Convert", dt, fmt.Sprintf("%s→%s n=%d", other, dt, n), func(e *env) float64 {
				// Unrounded draws, so that float64→float32 has to round.
				x := make([]float64, n+3)
				rng.FillUniform(x, e.s.stream.Seed, e.s.stream.Next(n+3), 0, -100, 100)
				for i := range x {
					x[i] = convertRef(x[i], other)
				}
				src := e.uploadAs(other, x)
				dst := e.alloc(dt, n+5)
				e.dev.Convert(dst, 1, src, 3, n)
				want := make([]float64, n+5)
				for i := 0; i < n; i++ {
					want[1+i] = convertRef(x[3+i], dt)
				}
				e.compare(e.download(dst), want, nil)
				return 0
			})
		}
	}
}

// convertRef is the conversion to dtype dt: Go's for float32 and int32 (toward zero),
// package half's nearest-even rounding for the 16-bit floats.
func convertRef(v float64, dt device.DType) float64 { return roundTo(v, dt) }

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func gatherCases(s *suite, dt device.DType) {
	for _, c := range []struct{ rows, width, n int }{{1, 1, 1}, {130, 7, 300}, {33, 130, 1000}} {
		s.run("Gather", dt, fmt.Sprintf("table %d×%d, %d indices", c.rows, c.width, c.n), func(e *env) float64 {
			tab := e.normal(c.rows*c.width, 0, 1)
			ix := e.indices(c.n, c.rows)
			out := e.alloc(dt, c.n*c.width)
			e.dev.Gather(e.upload(tab), c.rows, c.width, e.uploadIdx(ix), c.n, out)
			want := make([]float64, c.n*c.width)
			for i, r := range ix {
				copy(want[i*c.width:(i+1)*c.width], tab[int(r)*c.width:])
			}
			e.compare(e.download(out), want, nil)
			return 0
		})
	}
	for _, bad := range []int32{-1, 5} {
		s.run("Gather", dt, fmt.Sprintf("index %d of 5 rows panics", bad), func(e *env) float64 {
			out := e.alloc(dt, 3*2)
			tab := e.alloc(dt, 5*2)
			idx := e.uploadIdx([]int32{0, bad, 4})
			e.expectPanic("Gather with a bad index", func() { e.dev.Gather(tab, 5, 2, idx, 3, out) })
			return 0
		})
	}
}

// indices draws n row numbers in [0, rows), with repeats.
func (e *env) indices(n, rows int) []int32 {
	u := make([]float64, n)
	rng.FillUniform(u, e.s.stream.Seed, e.s.stream.Next(n), 0, 0, float64(rows))
	ix := make([]int32, n)
	for i, v := range u {
		ix[i] = int32(min(int(v), rows-1))
	}
	return ix
}

func scatterCases(s *suite, dt device.DType) {
	for _, c := range []struct{ rows, width, n int }{{1, 1, 1}, {7, 33, 300}, {130, 7, 5000}} {
		s.run("ScatterAdd", dt, fmt.Sprintf("table %d×%d, %d indices", c.rows, c.width, c.n), func(e *env) float64 {
			tab := e.normal(c.rows*c.width, 0, 1)
			src := e.normal(c.n*c.width, 0, 1)
			ix := e.indices(c.n, c.rows)
			tb := e.upload(tab)
			e.dev.ScatterAdd(tb, c.rows, c.width, e.uploadIdx(ix), c.n, e.upload(src))
			want, scale := make([]float64, len(tab)), abs(tab)
			copy(want, tab)
			for i, r := range ix {
				for j := 0; j < c.width; j++ {
					want[int(r)*c.width+j] += src[i*c.width+j]
					scale[int(r)*c.width+j] += math.Abs(src[i*c.width+j])
				}
			}
			e.compare(e.download(tb), want, scale)
			return e.tol(8, c.n+2)
		})
	}
	s.run("ScatterAdd", dt, "index 3 of 3 rows panics", func(e *env) float64 {
		tab := e.alloc(dt, 3*2)
		src := e.alloc(dt, 2*2)
		idx := e.uploadIdx([]int32{3, 0})
		e.expectPanic("ScatterAdd with a bad index", func() { e.dev.ScatterAdd(tab, 3, 2, idx, 2, src) })
		return 0
	})
}

// randomCases checks RandomFill bit for bit against package rng (float32: the float64 value
// rounded once).
func randomCases(s *suite, dt device.DType) {
	type rc struct {
		n            int
		seed, offset uint64
	}
	cases := pick(s, []rc{{7, 1, 0}, {130, 0xDEADBEEF12345678, 5}, {40_003, 42, 1 << 33}},
		[]rc{{1, 1, 0}, {7, 1, 0}, {130, 0xDEADBEEF12345678, 5}, {100_003, 42, 1 << 33}, {1_000_001, 7, 3}})
	for _, c := range cases {
		for _, dist := range []device.Distribution{device.Uniform, device.Normal} {
			name := fmt.Sprintf("uniform[-2,3) n=%d seed=%#x offset=%d", c.n, c.seed, c.offset)
			a, b := -2.0, 3.0
			if dist == device.Normal {
				name = fmt.Sprintf("normal(0.5,2) n=%d seed=%#x offset=%d", c.n, c.seed, c.offset)
				a, b = 0.5, 2
			}
			s.run("RandomFill", dt, name, func(e *env) float64 {
				buf := e.alloc(dt, c.n)
				e.dev.RandomFill(buf, dist, c.seed, c.offset, a, b)
				want := make([]float64, c.n)
				if dist == device.Uniform {
					rng.FillUniform(want, c.seed, c.offset, 0, a, b)
				} else {
					rng.FillNormal(want, c.seed, c.offset, 0, a, b)
				}
				if dt.IsHalf() { // generated in float32, then rounded to 16 bits
					for i, v := range want {
						want[i] = roundTo(float64(float32(v)), dt)
					}
				} else {
					e.round(want)
				}
				e.compare(e.download(buf), want, ones(c.n))
				return 0
			})
		}
	}
}

func ones(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = 1
	}
	return x
}
