package devicetest

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
)

// unaryRef is the float64 reference of every unary map, written from the definitions in
// package device (independently of any backend's code).
func unaryRef(op device.UnaryOp, x, alpha float64) float64 {
	switch op {
	case device.UnaryCopy:
		return x
	case device.UnaryNeg:
		return -x
	case device.UnaryExp:
		return math.Exp(x)
	case device.UnaryLog:
		return math.Log(x)
	case device.UnarySqrt:
		return math.Sqrt(x)
	case device.UnaryRsqrt:
		return 1 / math.Sqrt(x)
	case device.UnaryAbs:
		return math.Abs(x)
	case device.UnarySign:
		if x > 0 {
			return 1
		} else if x < 0 {
			return -1
		}
		return 0
	case device.UnaryTanh:
		return math.Tanh(x)
	case device.UnarySigmoid:
		return 1 / (1 + math.Exp(-x))
	case device.UnaryRelu:
		return math.Max(x, 0)
	case device.UnaryReluGrad:
		return step(x > 0, 1, 0)
	case device.UnaryLeakyRelu:
		return step(x > 0, x, alpha*x)
	case device.UnaryLeakyGrad:
		return step(x > 0, 1, alpha)
	case device.UnaryElu:
		return step(x > 0, x, alpha*(math.Exp(x)-1))
	case device.UnaryEluGrad:
		return step(x > 0, 1, alpha*math.Exp(x))
	case device.UnaryGeluErf:
		return x * 0.5 * (1 + math.Erf(x/math.Sqrt2))
	case device.UnaryGeluTanh:
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	case device.UnaryErf:
		return math.Erf(x)
	case device.UnaryPowScalar:
		return math.Pow(x, alpha)
	case device.UnaryScale:
		return alpha * x
	case device.UnaryAddScalar:
		return x + alpha
	case device.UnaryRecip:
		return 1 / x
	case device.UnarySquare:
		return x * x
	case device.UnaryGtScalar:
		return step(x > alpha, 1, 0)
	case device.UnaryIsFinite:
		return step(!math.IsInf(x, 0) && !math.IsNaN(x), 1, 0)
	}
	panic(fmt.Sprintf("devicetest: no reference for %v", op))
}

func step(c bool, a, b float64) float64 {
	if c {
		return a
	}
	return b
}

// unaryInput returns the domain and alpha a unary op is tested on.
func unaryInput(op device.UnaryOp) (lo, hi, alpha float64) {
	switch op {
	case device.UnaryLog, device.UnarySqrt, device.UnaryRsqrt, device.UnaryRecip:
		return 0.05, 4, 0
	case device.UnaryPowScalar:
		return 0.05, 3, 1.7
	case device.UnaryLeakyRelu, device.UnaryLeakyGrad:
		return -3, 3, 0.1
	case device.UnaryElu, device.UnaryEluGrad:
		return -3, 3, 1.3
	case device.UnaryScale:
		return -3, 3, -2.5
	case device.UnaryAddScalar:
		return -3, 3, -0.75
	case device.UnaryGtScalar:
		return -3, 3, 0.3
	}
	return -3, 3, 0
}

func binaryRef(op device.BinaryOp, a, b float64) float64 {
	switch op {
	case device.BinaryAdd:
		return a + b
	case device.BinarySub:
		return a - b
	case device.BinaryMul:
		return a * b
	case device.BinaryDiv:
		return a / b
	case device.BinaryMax:
		return math.Max(a, b)
	case device.BinaryMin:
		return math.Min(a, b)
	case device.BinaryPow:
		return math.Pow(a, b)
	case device.BinaryEq:
		return step(a == b, 1, 0)
	case device.BinaryGt:
		return step(a > b, 1, 0)
	}
	panic(fmt.Sprintf("devicetest: no reference for %v", op))
}

// layoutCase is a shape with one layout per operand (inputs first, the output last).
type layoutCase struct {
	name   string
	shape  []int
	inputs []device.Layout
	out    device.Layout
}

// permuted is the layout of shape stored with its dimensions in the given order (order[0]
// outermost), starting at off.
func permuted(shape, order []int, off int) device.Layout {
	st := make([]int, len(shape))
	s := 1
	for i := len(order) - 1; i >= 0; i-- {
		st[order[i]] = s
		s *= shape[order[i]]
	}
	return device.Layout{Shape: shape, Strides: st, Offset: off}
}

func contig(shape []int, off int) device.Layout {
	l := device.Contiguous(shape)
	l.Offset = off
	return l
}

func strided(shape, strides []int, off int) device.Layout {
	return device.Layout{Shape: shape, Strides: strides, Offset: off}
}

// span is the buffer length a layout needs (its largest address + 1, plus a guard element
// that must stay untouched).
func span(l device.Layout) int {
	hi := l.Offset
	for d, s := range l.Shape {
		if s == 0 {
			return l.Offset + 1
		}
		if st := l.Strides[d]; st > 0 {
			hi += (s - 1) * st
		}
	}
	return hi + 2
}

// forEach calls f with the addresses of every multi-index of shape in each layout.
func forEach(shape []int, ls []device.Layout, f func(addr []int)) {
	n := 1
	for _, s := range shape {
		n *= s
	}
	idx := make([]int, len(shape))
	addr := make([]int, len(ls))
	for i := 0; i < n; i++ {
		rem := i
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d] = rem % shape[d]
			rem /= shape[d]
		}
		for k, l := range ls {
			addr[k] = l.Offset
			for d, v := range idx {
				addr[k] += v * l.Strides[d]
			}
		}
		f(addr)
	}
}

// unaryLayouts covers contiguous runs, transposed and permuted inputs and outputs, a reversed
// (negative-stride) input, unit dimensions with arbitrary strides, padded rows and offsets.
func unaryLayouts(s *suite) []layoutCase {
	var cs []layoutCase
	for _, n := range pick(s, []int{1, 130, 40_001}, []int{1, 7, 33, 130, 40_001, 250_000}) {
		cs = append(cs, layoutCase{fmt.Sprintf("contiguous [%d]", n), []int{n}, []device.Layout{contig([]int{n}, 0)}, contig([]int{n}, 0)})
	}
	m, n := 33, 7
	sh := []int{m, n}
	cs = append(cs,
		layoutCase{"transposed input [33,7]", sh, []device.Layout{permuted(sh, []int{1, 0}, 0)}, contig(sh, 0)},
		layoutCase{"transposed output [33,7]", sh, []device.Layout{contig(sh, 3)}, permuted(sh, []int{1, 0}, 1)},
		layoutCase{"reversed input [130]", []int{130}, []device.Layout{strided([]int{130}, []int{-1}, 129)}, contig([]int{130}, 0)},
		layoutCase{"padded rows, every 3rd column [33,7]", sh, []device.Layout{strided(sh, []int{3*n + 1, 3}, 2)}, strided(sh, []int{n + 2, 1}, 1)},
	)
	sh3 := []int{5, 7, 13}
	cs = append(cs, layoutCase{"permuted both [5,7,13]", sh3,
		[]device.Layout{permuted(sh3, []int{2, 0, 1}, 3)}, permuted(sh3, []int{1, 2, 0}, 2)})
	sh5 := []int{5, 1, 7, 1, 3}
	cs = append(cs, layoutCase{"unit dims with odd strides [5,1,7,1,3]", sh5,
		[]device.Layout{strided(sh5, []int{21, 999, 3, -5, 1}, 0)}, contig(sh5, 0)})
	big := []int{300, 130}
	cs = append(cs, layoutCase{"transposed input [300,130]", big, []device.Layout{permuted(big, []int{1, 0}, 0)}, contig(big, 0)})
	cs = append(cs, layoutCase{"scalar []", []int{}, []device.Layout{contig([]int{}, 4)}, contig([]int{}, 1)})
	return cs
}

// intn draws a host random integer in [0, n).
func (e *env) intn(n int) int {
	return min(int(e.uniform(1, 0, float64(n))[0]), n-1)
}

// randomLayout returns a random layout of shape: dimensions stored in a random order with
// random padding between them, a random offset, some dimensions reversed (negative strides)
// and, when bcast is set, some broadcast (stride 0). Without bcast no two indices share an
// element, so the layout can be written to.
func (e *env) randomLayout(shape []int, bcast bool) device.Layout {
	rank := len(shape)
	order := make([]int, rank)
	for i := range order {
		order[i] = i
	}
	for i := rank - 1; i > 0; i-- {
		j := e.intn(i + 1)
		order[i], order[j] = order[j], order[i]
	}
	st := make([]int, rank)
	size := 1
	for i := rank - 1; i >= 0; i-- {
		d := order[i]
		st[d] = size
		size *= shape[d] + e.intn(2)
	}
	off := e.intn(4)
	for d := range shape {
		if bcast && e.intn(3) == 0 {
			st[d] = 0
		}
		if e.intn(4) == 0 {
			off += (shape[d] - 1) * st[d]
			st[d] = -st[d]
		}
	}
	return device.Layout{Shape: shape, Strides: st, Offset: off}
}

// randomShape draws a shape of rank 1 to 4 with extents in {1, 2, 3, 5, 7, 13}.
func (e *env) randomShape() []int {
	ext := []int{1, 2, 3, 5, 7, 13}
	shape := make([]int, 1+e.intn(4))
	for i := range shape {
		shape[i] = ext[e.intn(len(ext))]
	}
	return shape
}

// randomLayoutCount is how many random layout combinations each elementwise op is run on.
func randomLayoutCount(s *suite) int { return pick(s, []int{10}, []int{40})[0] }

func unaryCases(s *suite, dt device.DType) {
	for _, op := range []device.UnaryOp{device.UnaryCopy, device.UnaryExp} {
		for i := range randomLayoutCount(s) {
			s.run("Unary", dt, fmt.Sprintf("%v random layouts #%d", op, i), func(e *env) float64 {
				shape := e.randomShape()
				xl, yl := e.randomLayout(shape, true), e.randomLayout(shape, false)
				x, y0 := e.uniform(span(xl), -3, 3), e.uniform(span(yl), -1, 1)
				yb := e.upload(y0)
				e.dev.Unary(op, e.upload(x), xl, yb, yl, 0)
				want := append([]float64(nil), y0...)
				forEach(shape, []device.Layout{xl, yl}, func(a []int) { want[a[1]] = unaryRef(op, x[a[0]], 0) })
				e.compare(e.download(yb), want, nil)
				if e.maxErr > 16*e.u {
					e.fail("shape %v x %v/%d y %v/%d", shape, xl.Strides, xl.Offset, yl.Strides, yl.Offset)
				}
				return 16 * e.u
			})
		}
	}
	layouts := unaryLayouts(s)
	for _, op := range device.UnaryOps() {
		for li, lc := range layouts {
			// Every op on every contiguous size; the strided layouts on a few ops, since
			// layout handling does not depend on the map (one cheap, one transcendental,
			// one parameterised).
			strided := li >= len(pick(s, []int{1, 130, 40_001}, []int{1, 7, 33, 130, 40_001, 250_000}))
			if strided && op != device.UnaryCopy && op != device.UnaryGeluErf && op != device.UnaryScale && op != device.UnaryRelu {
				continue
			}
			s.run("Unary", dt, fmt.Sprintf("%v %s", op, lc.name), func(e *env) float64 {
				lo, hi, alpha := unaryInput(op)
				xl, yl := lc.inputs[0], lc.out
				x := e.uniform(span(xl), lo, hi)
				if op == device.UnaryIsFinite && len(x) > 4 {
					x[0], x[1], x[2] = math.Inf(1), math.NaN(), math.Inf(-1)
				}
				y0 := e.uniform(span(yl), -1, 1)
				yb := e.upload(y0)
				e.dev.Unary(op, e.upload(x), xl, yb, yl, alpha)
				want := append([]float64(nil), y0...)
				forEach(lc.shape, []device.Layout{xl, yl}, func(a []int) { want[a[1]] = unaryRef(op, x[a[0]], alpha) })
				e.compare(e.download(yb), want, nil)
				return 16 * e.u
			})
		}
	}
	s.run("Unary", dt, "scale in place [130]", func(e *env) float64 {
		x := e.uniform(130, -3, 3)
		b := e.upload(x)
		l := contig([]int{130}, 0)
		e.dev.Unary(device.UnaryScale, b, l, b, l, 3)
		want := make([]float64, len(x))
		for i, v := range x {
			want[i] = 3 * v
		}
		e.compare(e.download(b), want, nil)
		return 16 * e.u
	})
	s.run("Unary", dt, "out-of-range layout panics", func(e *env) float64 {
		x, y := e.alloc(dt, 10), e.alloc(dt, 10)
		e.expectPanic("Unary reading 11 elements of 10", func() {
			e.dev.Unary(device.UnaryCopy, x, contig([]int{11}, 0), y, strided([]int{11}, []int{0}, 0), 0)
		})
		return 0
	})
}

// binaryLayouts covers same-shape operands, broadcasting of a scalar, a row, a column and
// both operands at once (an outer product), unit dimensions in the middle, transposed and
// permuted inputs and outputs, a reversed operand and offsets.
func binaryLayouts(s *suite) []layoutCase {
	var cs []layoutCase
	for _, n := range pick(s, []int{1, 130, 40_001}, []int{1, 7, 33, 130, 40_001, 250_000}) {
		l := contig([]int{n}, 0)
		cs = append(cs, layoutCase{fmt.Sprintf("contiguous [%d]", n), []int{n}, []device.Layout{l, l}, l})
	}
	m, n := 33, 7
	sh := []int{m, n}
	c := contig(sh, 0)
	cs = append(cs,
		layoutCase{"scalar b [33,7]", sh, []device.Layout{c, strided(sh, []int{0, 0}, 2)}, c},
		layoutCase{"scalar a [33,7]", sh, []device.Layout{strided(sh, []int{0, 0}, 1), c}, c},
		layoutCase{"row b [33,7]+[7]", sh, []device.Layout{c, strided(sh, []int{0, 1}, 0)}, c},
		layoutCase{"column b [33,7]+[33,1]", sh, []device.Layout{c, strided(sh, []int{1, 0}, 3)}, c},
		layoutCase{"both broadcast [33,1]∘[1,7]", sh, []device.Layout{strided(sh, []int{1, 0}, 0), strided(sh, []int{0, 1}, 0)}, c},
		layoutCase{"transposed a, transposed out [33,7]", sh, []device.Layout{permuted(sh, []int{1, 0}, 0), c}, permuted(sh, []int{1, 0}, 2)},
		layoutCase{"reversed b [33,7]", sh, []device.Layout{c, strided(sh, []int{-n, -1}, m*n-1)}, c},
	)
	sh4 := []int{4, 1, 5, 3}
	c4 := contig(sh4, 0)
	cs = append(cs,
		layoutCase{"unit middle dim, b broadcast over dim 2 [4,1,5,3]", sh4, []device.Layout{c4, strided(sh4, []int{3, 77, 0, 1}, 1)}, c4},
		layoutCase{"permuted a, b and out [4,1,5,3]", sh4,
			[]device.Layout{permuted(sh4, []int{3, 1, 0, 2}, 1), permuted(sh4, []int{2, 3, 1, 0}, 0)}, permuted(sh4, []int{1, 2, 0, 3}, 5)},
	)
	big := []int{300, 130}
	cs = append(cs,
		layoutCase{"row b [300,130]+[130]", big, []device.Layout{contig(big, 0), strided(big, []int{0, 1}, 0)}, contig(big, 0)},
		layoutCase{"column a, transposed b [300,130]", big, []device.Layout{strided(big, []int{1, 0}, 0), permuted(big, []int{1, 0}, 0)}, contig(big, 0)},
	)
	return cs
}

func binaryCases(s *suite, dt device.DType) {
	for _, op := range []device.BinaryOp{device.BinaryAdd, device.BinarySub, device.BinaryMax} {
		for i := range randomLayoutCount(s) {
			s.run("Binary", dt, fmt.Sprintf("%v random layouts #%d", op, i), func(e *env) float64 {
				shape := e.randomShape()
				al, bl, yl := e.randomLayout(shape, true), e.randomLayout(shape, true), e.randomLayout(shape, false)
				a, b, y0 := e.uniform(span(al), -3, 3), e.uniform(span(bl), -3, 3), e.uniform(span(yl), -1, 1)
				yb := e.upload(y0)
				e.dev.Binary(op, e.upload(a), al, e.upload(b), bl, yb, yl)
				want := append([]float64(nil), y0...)
				forEach(shape, []device.Layout{al, bl, yl}, func(ad []int) { want[ad[2]] = binaryRef(op, a[ad[0]], b[ad[1]]) })
				e.compare(e.download(yb), want, nil)
				if e.maxErr > 16*e.u {
					e.fail("shape %v a %v/%d b %v/%d y %v/%d", shape, al.Strides, al.Offset, bl.Strides, bl.Offset, yl.Strides, yl.Offset)
				}
				return 16 * e.u
			})
		}
	}
	for _, op := range device.BinaryOps() {
		for _, lc := range binaryLayouts(s) {
			s.run("Binary", dt, fmt.Sprintf("%v %s", op, lc.name), func(e *env) float64 {
				al, bl, yl := lc.inputs[0], lc.inputs[1], lc.out
				a, b := binaryInputs(e, op, span(al), span(bl))
				y0 := e.uniform(span(yl), -1, 1)
				yb := e.upload(y0)
				e.dev.Binary(op, e.upload(a), al, e.upload(b), bl, yb, yl)
				want := append([]float64(nil), y0...)
				forEach(lc.shape, []device.Layout{al, bl, yl}, func(ad []int) { want[ad[2]] = binaryRef(op, a[ad[0]], b[ad[1]]) })
				e.compare(e.download(yb), want, nil)
				return 16 * e.u
			})
		}
	}
	// y aliasing an operand element for element: in-place accumulation y += x.
	for _, op := range []device.BinaryOp{device.BinaryAdd, device.BinaryMul, device.BinaryMax} {
		s.run("Binary", dt, fmt.Sprintf("%v in place a = a∘row [300,130]", op), func(e *env) float64 {
			sh := []int{300, 130}
			a, b := e.uniform(300*130, -3, 3), e.uniform(130, -3, 3)
			ab := e.upload(a)
			e.dev.Binary(op, ab, contig(sh, 0), e.upload(b), strided(sh, []int{0, 1}, 0), ab, contig(sh, 0))
			want := make([]float64, len(a))
			for i, v := range a {
				want[i] = binaryRef(op, v, b[i%130])
			}
			e.compare(e.download(ab), want, nil)
			return 16 * e.u
		})
	}
	s.run("Binary", dt, "shape mismatch panics", func(e *env) float64 {
		x := e.alloc(dt, 12)
		e.expectPanic("Binary with shapes [3,4] and [4,3]", func() {
			e.dev.Binary(device.BinaryAdd, x, contig([]int{3, 4}, 0), x, contig([]int{4, 3}, 0), x, contig([]int{3, 4}, 0))
		})
		return 0
	})
}

// binaryInputs draws operands in the op's domain: positive bases for pow, divisors away from
// zero, and for eq about half the pairs equal.
func binaryInputs(e *env, op device.BinaryOp, na, nb int) (a, b []float64) {
	switch op {
	case device.BinaryPow:
		return e.uniform(na, 0.1, 3), e.uniform(nb, -2, 2)
	case device.BinaryDiv:
		b = e.uniform(nb, 0.5, 2)
		for i := 0; i < nb; i += 2 {
			b[i] = -b[i]
		}
		return e.uniform(na, -3, 3), b
	case device.BinaryEq:
		// Values on a coarse grid so that broadcast pairs are often equal as well.
		a, b = e.uniform(na, 0, 3), e.uniform(nb, 0, 3)
		for i := range a {
			a[i] = math.Floor(a[i])
		}
		for i := range b {
			b[i] = math.Floor(b[i])
		}
		return a, b
	}
	return e.uniform(na, -3, 3), e.uniform(nb, -3, 3)
}
