package cpu

import (
	"math"

	"github.com/kiln-ml/kiln/device"
)

// checkLayout panics unless l is well formed for shape and every element it addresses lies
// inside a buffer of n elements. Negative strides are allowed.
func checkLayout(op, what string, l device.Layout, shape []int, n int) {
	if len(l.Shape) != len(l.Strides) {
		device.Panicf(op, "%s layout has %d dims but %d strides", what, len(l.Shape), len(l.Strides))
	}
	if len(l.Shape) != len(shape) {
		device.Panicf(op, "%s layout has shape %v, want %v", what, l.Shape, shape)
	}
	lo, hi := l.Offset, l.Offset
	for d, s := range l.Shape {
		if s != shape[d] {
			device.Panicf(op, "%s layout has shape %v, want %v", what, l.Shape, shape)
		}
		if s < 0 {
			device.Panicf(op, "%s layout has a negative extent in %v", what, l.Shape)
		}
		if s == 0 {
			return // empty: addresses nothing
		}
		if st := l.Strides[d]; st > 0 {
			hi += (s - 1) * st
		} else {
			lo += (s - 1) * st
		}
	}
	if lo < 0 || hi >= n {
		device.Panicf(op, "%s layout (shape %v, strides %v, offset %d) reaches elements [%d, %d] of a buffer of %d",
			what, l.Shape, l.Strides, l.Offset, lo, hi, n)
	}
}

// plan is a multi-index iteration over a shape shared by up to three strided operands, with
// unit dimensions dropped and adjacent dimensions merged wherever every operand is
// contiguous across them. A fully contiguous elementwise op becomes one flat loop, and a row
// broadcast ([m,n] + [n]) becomes m rows of an inner loop with stride 0 on the bias.
type plan struct {
	shape   []int
	strides [3][]int
	offs    [3]int
	nops    int
}

func newPlan(shape []int, ls ...device.Layout) plan {
	p := plan{nops: len(ls)}
	for k, l := range ls {
		p.offs[k] = l.Offset
	}
	for d, s := range shape {
		if s == 1 {
			continue
		}
		if r := len(p.shape); r > 0 {
			merge := true
			for k, l := range ls {
				if p.strides[k][r-1] != l.Strides[d]*s {
					merge = false
					break
				}
			}
			if merge {
				p.shape[r-1] *= s
				for k, l := range ls {
					p.strides[k][r-1] = l.Strides[d]
				}
				continue
			}
		}
		p.shape = append(p.shape, s)
		for k, l := range ls {
			p.strides[k] = append(p.strides[k], l.Strides[d])
		}
	}
	if len(p.shape) == 0 { // a single element
		p.shape = []int{1}
		for k := range ls {
			p.strides[k] = []int{1}
		}
	}
	return p
}

// run calls row(offsets, n) for every innermost row of the iteration, in parallel when large.
// The innermost row is split across goroutines when there are too few rows to share out.
func (p plan) run(row func(offs [3]int, n int)) {
	r := len(p.shape)
	inner := p.shape[r-1]
	outer := 1
	for _, s := range p.shape[:r-1] {
		outer *= s
	}
	if outer == 1 {
		parallelFor(inner, 1, func(lo, hi int) {
			var o [3]int
			for k := 0; k < p.nops; k++ {
				o[k] = p.offs[k] + lo*p.strides[k][r-1]
			}
			row(o, hi-lo)
		})
		return
	}
	parallelFor(outer, inner, func(lo, hi int) {
		// Decompose lo into a multi-index once, then step it like an odometer.
		idx := make([]int, r-1)
		rem := lo
		for d := r - 2; d >= 0; d-- {
			idx[d] = rem % p.shape[d]
			rem /= p.shape[d]
		}
		var o [3]int
		for k := 0; k < p.nops; k++ {
			o[k] = p.offs[k]
			for d := 0; d < r-1; d++ {
				o[k] += idx[d] * p.strides[k][d]
			}
		}
		for i := lo; i < hi; i++ {
			row(o, inner)
			for d := r - 2; d >= 0; d-- {
				idx[d]++
				for k := 0; k < p.nops; k++ {
					o[k] += p.strides[k][d]
				}
				if idx[d] < p.shape[d] {
					break
				}
				for k := 0; k < p.nops; k++ {
					o[k] -= p.shape[d] * p.strides[k][d]
				}
				idx[d] = 0
			}
		}
	})
}

// copyRows copies x to y along p (operands x, then y), whose innermost rows are contiguous
// in both. The rows of the second-innermost dimension are walked in a tight loop, with a
// copy and no call per row: the rows of a permuted attention head are a few dozen elements
// long, so a call per row costs about as much as the copy
// (bench/results/cpu-vector-2026-12-05.md).
func copyRows[T float](p plan, x, y []T) {
	r := len(p.shape)
	if r < 2 {
		p.run(func(o [3]int, n int) { copy(y[o[1]:o[1]+n], x[o[0]:o[0]+n]) })
		return
	}
	inner, mid := p.shape[r-1], p.shape[r-2]
	xm, ym := p.strides[0][r-2], p.strides[1][r-2]
	rows := mid
	for _, s := range p.shape[:r-2] {
		rows *= s
	}
	parallelFor(rows, inner, func(lo, hi int) {
		for i := lo; i < hi; {
			q, j := i/mid, i%mid
			xo, yo := p.offs[0]+j*xm, p.offs[1]+j*ym
			for d := r - 3; d >= 0; d-- {
				c := q % p.shape[d]
				q /= p.shape[d]
				xo += c * p.strides[0][d]
				yo += c * p.strides[1][d]
			}
			n := min(hi-i, mid-j)
			for range n {
				copy(y[yo:yo+inner], x[xo:xo+inner])
				xo += xm
				yo += ym
			}
			i += n
		}
	})
}

// Unary writes y[yl(i)] = f(x[xl(i)]) over every multi-index i. Maps are evaluated in float64
// and rounded once to the output dtype, so float32 results are correctly rounded wherever Go's
// math functions are.
func (d *Device) Unary(op device.UnaryOp, x device.Buffer, xl device.Layout, y device.Buffer, yl device.Layout, alpha float64) {
	if d.widened("Unary", []device.Buffer{x, y}, []device.Buffer{y}, func(f func(device.Buffer) device.Buffer) { d.Unary(op, f(x), xl, f(y), yl, alpha) }) {
		return
	}
	const name = "Unary"
	yb := getFloat(y, name, "y", 0)
	xb := getFloat(x, name, "x", yb.dtype)
	if op >= device.UnaryOp(len(device.UnaryOps())) {
		device.Panicf(name, "unknown op %v", op)
	}
	checkLayout(name, "x", xl, xl.Shape, xb.n)
	checkLayout(name, "y", yl, xl.Shape, yb.n)
	if xl.NumElements() == 0 {
		return
	}
	p := newPlan(xl.Shape, xl, yl)
	if yb.dtype == device.Float32 {
		unary(op, alpha, p, floats[float32](xb), floats[float32](yb))
	} else {
		unary(op, alpha, p, floats[float64](xb), floats[float64](yb))
	}
}

func unary[T float](op device.UnaryOp, alpha float64, p plan, x, y []T) {
	xs, ys := p.strides[0][len(p.shape)-1], p.strides[1][len(p.shape)-1]
	// Fast paths for the maps that dominate training (copies for transposes and slices,
	// scaling, GELU, ReLU) on contiguous rows; everything else goes through a float64 function.
	if xs == 1 && ys == 1 {
		switch op {
		case device.UnaryCopy:
			copyRows(p, x, y)
			return
		case device.UnaryScale:
			p.run(func(o [3]int, n int) {
				xr, yr := x[o[0]:o[0]+n], y[o[1]:o[1]+n]
				for i, v := range xr {
					yr[i] = T(alpha * float64(v))
				}
			})
			return
		case device.UnaryGeluErf:
			// The erf GELU of every TabPFN MLP, inline rather than through a function value
			// per element: float32 through gelu32 (a few ulp, a third of math.Erfc's cost),
			// float64 the same formula as unaryFunc.
			if x32, ok := any(x).([]float32); ok {
				y32 := any(y).([]float32)
				p.run(func(o [3]int, n int) { gelu32Row(y32[o[1]:o[1]+n], x32[o[0]:o[0]+n]) })
				return
			}
			p.run(func(o [3]int, n int) {
				xr, yr := x[o[0]:o[0]+n], y[o[1]:o[1]+n]
				for i, v := range xr {
					h := float64(v)
					yr[i] = T(0.5 * h * math.Erfc(-h/math.Sqrt2))
				}
			})
			return
		case device.UnaryRelu:
			p.run(func(o [3]int, n int) {
				xr, yr := x[o[0]:o[0]+n], y[o[1]:o[1]+n]
				for i, v := range xr {
					if v > 0 {
						yr[i] = v
					} else {
						yr[i] = 0
					}
				}
			})
			return
		}
	}
	f := unaryFunc(op, alpha)
	p.run(func(o [3]int, n int) {
		xi, yi := o[0], o[1]
		for i := 0; i < n; i++ {
			y[yi] = T(f(float64(x[xi])))
			xi += xs
			yi += ys
		}
	})
}

// unaryFunc returns the float64 definition of op; the conformance suite's references are
// written independently in package devicetest.
func unaryFunc(op device.UnaryOp, alpha float64) func(float64) float64 {
	switch op {
	case device.UnaryCopy:
		return func(x float64) float64 { return x }
	case device.UnaryNeg:
		return func(x float64) float64 { return -x }
	case device.UnaryExp:
		return math.Exp
	case device.UnaryLog:
		return math.Log
	case device.UnarySqrt:
		return math.Sqrt
	case device.UnaryRsqrt:
		return func(x float64) float64 { return 1 / math.Sqrt(x) }
	case device.UnaryAbs:
		return math.Abs
	case device.UnarySign:
		return func(x float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return x // ±0 and NaN
		}
	case device.UnaryTanh:
		return math.Tanh
	case device.UnarySigmoid:
		return sigmoid
	case device.UnaryRelu:
		return func(x float64) float64 {
			if x > 0 {
				return x
			}
			return 0
		}
	case device.UnaryReluGrad:
		return func(x float64) float64 {
			if x > 0 {
				return 1
			}
			return 0
		}
	case device.UnaryLeakyRelu:
		return func(x float64) float64 {
			if x > 0 {
				return x
			}
			return alpha * x
		}
	case device.UnaryLeakyGrad:
		return func(x float64) float64 {
			if x > 0 {
				return 1
			}
			return alpha
		}
	case device.UnaryElu:
		return func(x float64) float64 {
			if x > 0 {
				return x
			}
			return alpha * math.Expm1(x) // expm1 keeps precision for small |x|
		}
	case device.UnaryEluGrad:
		return func(x float64) float64 {
			if x > 0 {
				return 1
			}
			return alpha * math.Exp(x)
		}
	case device.UnaryGeluErf:
		// GELU (Hendrycks & Gimpel 2016): x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)); erfc keeps
		// the tail accurate for negative x where 1 + erf cancels.
		return func(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }
	case device.UnaryGeluTanh:
		// The tanh approximation of GELU (Hendrycks & Gimpel 2016, section 2).
		const c = 0.7978845608028654 // √(2/π)
		return func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(c*(x+0.044715*x*x*x))) }
	case device.UnaryErf:
		return math.Erf
	case device.UnaryPowScalar:
		return func(x float64) float64 { return math.Pow(x, alpha) }
	case device.UnaryScale:
		return func(x float64) float64 { return alpha * x }
	case device.UnaryAddScalar:
		return func(x float64) float64 { return x + alpha }
	case device.UnaryRecip:
		return func(x float64) float64 { return 1 / x }
	case device.UnarySquare:
		return func(x float64) float64 { return x * x }
	case device.UnaryGtScalar:
		return func(x float64) float64 {
			if x > alpha {
				return 1
			}
			return 0
		}
	case device.UnaryIsFinite:
		return func(x float64) float64 {
			if math.IsInf(x, 0) || math.IsNaN(x) {
				return 0
			}
			return 1
		}
	}
	device.Panicf("Unary", "unknown op %v", op)
	return nil
}

// sigmoid is 1/(1+e^−x), evaluated so that e^|x| never overflows.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Binary writes y[yl(i)] = f(a[al(i)], b[bl(i)]) over every multi-index i; zero strides
// broadcast. y may alias a or b element for element: each element is read before it is
// written and no element is visited twice.
func (d *Device) Binary(op device.BinaryOp, a device.Buffer, al device.Layout, b device.Buffer, bl device.Layout, y device.Buffer, yl device.Layout) {
	if d.widened("Binary", []device.Buffer{a, b, y}, []device.Buffer{y}, func(f func(device.Buffer) device.Buffer) { d.Binary(op, f(a), al, f(b), bl, f(y), yl) }) {
		return
	}
	const name = "Binary"
	yb := getFloat(y, name, "y", 0)
	ab := getFloat(a, name, "a", yb.dtype)
	bb := getFloat(b, name, "b", yb.dtype)
	if op >= device.BinaryOp(len(device.BinaryOps())) {
		device.Panicf(name, "unknown op %v", op)
	}
	checkLayout(name, "y", yl, yl.Shape, yb.n)
	checkLayout(name, "a", al, yl.Shape, ab.n)
	checkLayout(name, "b", bl, yl.Shape, bb.n)
	if yl.NumElements() == 0 {
		return
	}
	p := newPlan(yl.Shape, al, bl, yl)
	if yb.dtype == device.Float32 {
		binary(op, p, floats[float32](ab), floats[float32](bb), floats[float32](yb))
	} else {
		binary(op, p, floats[float64](ab), floats[float64](bb), floats[float64](yb))
	}
}

func binary[T float](op device.BinaryOp, p plan, a, b, y []T) {
	r := len(p.shape) - 1
	as, bs, ys := p.strides[0][r], p.strides[1][r], p.strides[2][r]
	// The four arithmetic maps are exact in T (a float32 result computed in float64 and
	// rounded equals the float32 operation), so they run natively with explicit strides,
	// which covers contiguous, scalar (stride 0) and row/column broadcasts alike.
	switch op {
	case device.BinaryAdd:
		p.run(func(o [3]int, n int) {
			if as == 1 && bs == 1 && ys == 1 {
				addRow(y[o[2]:o[2]+n], a[o[0]:o[0]+n], b[o[1]:o[1]+n])
				return
			}
			ai, bi, yi := o[0], o[1], o[2]
			for i := 0; i < n; i++ {
				y[yi] = a[ai] + b[bi]
				ai, bi, yi = ai+as, bi+bs, yi+ys
			}
		})
		return
	case device.BinaryMul:
		p.run(func(o [3]int, n int) {
			if as == 1 && bs == 1 && ys == 1 {
				mulRow(y[o[2]:o[2]+n], a[o[0]:o[0]+n], b[o[1]:o[1]+n])
				return
			}
			ai, bi, yi := o[0], o[1], o[2]
			for i := 0; i < n; i++ {
				y[yi] = a[ai] * b[bi]
				ai, bi, yi = ai+as, bi+bs, yi+ys
			}
		})
		return
	case device.BinarySub:
		p.run(func(o [3]int, n int) {
			ai, bi, yi := o[0], o[1], o[2]
			for i := 0; i < n; i++ {
				y[yi] = a[ai] - b[bi]
				ai, bi, yi = ai+as, bi+bs, yi+ys
			}
		})
		return
	case device.BinaryDiv:
		p.run(func(o [3]int, n int) {
			ai, bi, yi := o[0], o[1], o[2]
			for i := 0; i < n; i++ {
				y[yi] = a[ai] / b[bi]
				ai, bi, yi = ai+as, bi+bs, yi+ys
			}
		})
		return
	}
	f := binaryFunc(op)
	p.run(func(o [3]int, n int) {
		ai, bi, yi := o[0], o[1], o[2]
		for i := 0; i < n; i++ {
			y[yi] = T(f(float64(a[ai]), float64(b[bi])))
			ai, bi, yi = ai+as, bi+bs, yi+ys
		}
	})
}

// addRow sets y[i] = a[i] + b[i], eight float32 lanes at a time where a vector form runs
// (the same correctly rounded sums).
func addRow[T float](y, a, b []T) {
	y, b = y[:len(a)], b[:len(a)]
	if y32, ok := any(y).([]float32); ok && vecLevel != vecNone {
		if n := len(y) &^ 7; n > 0 {
			addF32AVX(&y32[0], &any(a).([]float32)[0], &any(b).([]float32)[0], n)
			y, a, b = y[n:], a[n:], b[n:]
		}
	}
	for i := range y {
		y[i] = a[i] + b[i]
	}
}

// mulRow sets y[i] = a[i] · b[i], eight float32 lanes at a time where a vector form runs
// (the same correctly rounded products).
func mulRow[T float](y, a, b []T) {
	y, b = y[:len(a)], b[:len(a)]
	if y32, ok := any(y).([]float32); ok && vecLevel != vecNone {
		if n := len(y) &^ 7; n > 0 {
			mulF32AVX(&y32[0], &any(a).([]float32)[0], &any(b).([]float32)[0], n)
			y, a, b = y[n:], a[n:], b[n:]
		}
	}
	for i := range y {
		y[i] = a[i] * b[i]
	}
}

func binaryFunc(op device.BinaryOp) func(a, b float64) float64 {
	switch op {
	case device.BinaryAdd:
		return func(a, b float64) float64 { return a + b }
	case device.BinarySub:
		return func(a, b float64) float64 { return a - b }
	case device.BinaryMul:
		return func(a, b float64) float64 { return a * b }
	case device.BinaryDiv:
		return func(a, b float64) float64 { return a / b }
	case device.BinaryMax:
		return math.Max
	case device.BinaryMin:
		return math.Min
	case device.BinaryPow:
		return math.Pow
	case device.BinaryEq:
		return func(a, b float64) float64 {
			if a == b {
				return 1
			}
			return 0
		}
	case device.BinaryGt:
		return func(a, b float64) float64 {
			if a > b {
				return 1
			}
			return 0
		}
	}
	device.Panicf("Binary", "unknown op %v", op)
	return nil
}
