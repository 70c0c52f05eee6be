package cpu

import (
	"math"
	"sync"

	"github.com/kiln-ml/kiln/device"
)

// Reduce reduces the middle axis of a contiguous [outer, n, inner] view of x into y
// ([outer, inner]). Sums accumulate in float64 whatever the dtype. n == 0 yields the
// identity (0 for sums, −Inf for max, +Inf for min).
func (d *Device) Reduce(op device.ReduceOp, x device.Buffer, outer, n, inner int, y device.Buffer) {
	if d.widened("Reduce", []device.Buffer{x, y}, []device.Buffer{y}, func(f func(device.Buffer) device.Buffer) { d.Reduce(op, f(x), outer, n, inner, f(y)) }) {
		return
	}
	const name = "Reduce"
	yb := getFloat(y, name, "y", 0)
	xb := getFloat(x, name, "x", yb.dtype)
	if op >= device.ReduceOp(len(device.ReduceOps())) {
		device.Panicf(name, "unknown op %v", op)
	}
	if outer < 0 || n < 0 || inner < 0 {
		device.Panicf(name, "negative size [%d, %d, %d]", outer, n, inner)
	}
	needLen(xb, outer*n*inner, name, "x")
	needLen(yb, outer*inner, name, "y")
	if yb.dtype == device.Float32 {
		reduce(op, floats[float32](xb), outer, n, inner, floats[float32](yb))
	} else {
		reduce(op, floats[float64](xb), outer, n, inner, floats[float64](yb))
	}
}

// reduceBlock is the number of inner columns one task accumulates, so that the float64
// accumulator stays in L1.
const reduceBlock = 512

func reduce[T float](op device.ReduceOp, x []T, outer, n, inner int, y []T) {
	init := 0.0
	switch op {
	case device.ReduceMax:
		init = math.Inf(-1)
	case device.ReduceMin:
		init = math.Inf(1)
	}
	// acc folds x[start : start+cnt·inner : inner] into the accumulators of one block of
	// columns.
	acc := func(a []float64, x []T) {
		w := len(a)
		if inner == 1 {
			// A contiguous run (row sums): a plain loop, with no per-element sub-slicing.
			a[0] = foldRun(op, a[0], x)
			return
		}
		switch op {
		case device.ReduceSum:
			for j := 0; j+w <= len(x); j += inner {
				for c, v := range x[j : j+w] {
					a[c] += float64(v)
				}
			}
		case device.ReduceSumSquares:
			for j := 0; j+w <= len(x); j += inner {
				for c, v := range x[j : j+w] {
					a[c] += float64(v) * float64(v)
				}
			}
		case device.ReduceMax:
			for j := 0; j+w <= len(x); j += inner {
				for c, v := range x[j : j+w] {
					if f := float64(v); f > a[c] || f != f {
						a[c] = f
					}
				}
			}
		case device.ReduceMin:
			for j := 0; j+w <= len(x); j += inner {
				for c, v := range x[j : j+w] {
					if f := float64(v); f < a[c] || f != f {
						a[c] = f
					}
				}
			}
		}
	}
	combine := func(a, b float64) float64 {
		switch op {
		case device.ReduceMax:
			if b > a || b != b {
				return b
			}
			return a
		case device.ReduceMin:
			if b < a || b != b {
				return b
			}
			return a
		}
		return a + b
	}
	if outer*inner == 0 {
		return
	}
	if outer*inner < 8 && n*outer*inner >= parallelThreshold {
		// Few outputs over a long axis (a full sum): split the axis itself into chunks with
		// partial accumulators, then combine them.
		for o := 0; o < outer; o++ {
			for c := 0; c < inner; c++ {
				parts := make([]float64, 64)
				chunks := min(len(parts), n)
				parallelFor(chunks, n/chunks, func(lo, hi int) {
					for p := lo; p < hi; p++ {
						a := []float64{init}
						s, e := p*n/chunks, (p+1)*n/chunks
						base := o*n*inner + c
						acc(a, x[base+s*inner:base+(e-1)*inner+1])
						parts[p] = a[0]
					}
				})
				r := init
				for _, v := range parts[:chunks] {
					r = combine(r, v)
				}
				y[o*inner+c] = T(r)
			}
		}
		return
	}
	blocks := (inner + reduceBlock - 1) / reduceBlock
	parallelFor(outer*blocks, n*min(inner, reduceBlock), func(lo, hi int) {
		a := make([]float64, min(inner, reduceBlock))
		for t := lo; t < hi; t++ {
			o, blk := t/blocks, t%blocks
			c0, c1 := blk*reduceBlock, min(inner, (blk+1)*reduceBlock)
			a := a[:c1-c0]
			for c := range a {
				a[c] = init
			}
			if n > 0 {
				base := o*n*inner + c0
				acc(a, x[base:base+(n-1)*inner+len(a)])
			}
			out := y[o*inner+c0 : o*inner+c1]
			for c, v := range a {
				out[c] = T(v)
			}
		}
	})
}

// foldRun folds the contiguous run x into r.
func foldRun[T float](op device.ReduceOp, r float64, x []T) float64 {
	switch op {
	case device.ReduceSum, device.ReduceSumSquares:
		// Four independent accumulators hide the latency of the dependent float64 adds.
		sq := op == device.ReduceSumSquares
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= len(x); i += 4 {
			v0, v1, v2, v3 := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
			if sq {
				v0, v1, v2, v3 = v0*v0, v1*v1, v2*v2, v3*v3
			}
			s0 += v0
			s1 += v1
			s2 += v2
			s3 += v3
		}
		for ; i < len(x); i++ {
			v := float64(x[i])
			if sq {
				v *= v
			}
			s0 += v
		}
		r += (s0 + s1) + (s2 + s3)
	case device.ReduceMax:
		for _, v := range x {
			if f := float64(v); f > r || f != f {
				r = f
			}
		}
	case device.ReduceMin:
		for _, v := range x {
			if f := float64(v); f < r || f != f {
				r = f
			}
		}
	}
	return r
}

// Softmax computes the row-wise softmax (or log-softmax) of a rows×cols matrix, subtracting
// the row maximum first so that exp never overflows; the normaliser accumulates in float64.
func (d *Device) Softmax(x, y device.Buffer, rows, cols int, log bool) {
	if d.widened("Softmax", []device.Buffer{x, y}, []device.Buffer{y}, func(f func(device.Buffer) device.Buffer) { d.Softmax(f(x), f(y), rows, cols, log) }) {
		return
	}
	const name = "Softmax"
	yb := getFloat(y, name, "y", 0)
	xb := getFloat(x, name, "x", yb.dtype)
	if rows < 0 || cols < 0 {
		device.Panicf(name, "negative size %d×%d", rows, cols)
	}
	needLen(xb, rows*cols, name, "x")
	needLen(yb, rows*cols, name, "y")
	if yb.dtype == device.Float32 {
		softmax(floats[float32](xb), floats[float32](yb), rows, cols, log)
	} else {
		softmax(floats[float64](xb), floats[float64](yb), rows, cols, log)
	}
}

func softmax[T float](x, y []T, rows, cols int, log bool) {
	if cols == 0 {
		return
	}
	if x32, ok := any(x).([]float32); ok {
		softmax32(x32, any(y).([]float32), rows, cols, log)
		return
	}
	parallelFor(rows, 4*cols, func(lo, hi int) {
		// The exponentials are kept in float64 between the two passes, so each is computed
		// once and float32 output is rounded once.
		var e []float64
		if !log {
			e = make([]float64, cols)
		}
		for r := lo; r < hi; r++ {
			xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
			m := math.Inf(-1)
			for _, v := range xr {
				if f := float64(v); f > m || f != f {
					m = f
				}
			}
			s := 0.0
			if log {
				for _, v := range xr {
					s += math.Exp(float64(v) - m)
				}
				// (x−m) − log s rather than x − (m + log s): the first difference is exact
				// near the maximum, so a row with a large offset loses no digits.
				ls := math.Log(s)
				for i, v := range xr {
					yr[i] = T((float64(v) - m) - ls)
				}
				continue
			}
			for i, v := range xr {
				e[i] = math.Exp(float64(v) - m)
				s += e[i]
			}
			inv := 1 / s
			for i, v := range e {
				yr[i] = T(v * inv)
			}
		}
	})
}

// softmax32 is the float32 softmax: the same float64 normaliser, but the exponentials come
// from expShift32 (a table-driven exp accurate to float32, no call per element) and are
// stored as float32 straight into y, so a row is read once for the maximum and once for the
// exponentials, and y is scaled in place. Rounding e^x to float32 before the scale costs at
// most half an ulp more than rounding once. x may be y.
func softmax32(x, y []float32, rows, cols int, log bool) {
	parallelFor(rows, 2*cols, func(lo, hi int) {
		var e []float32 // log-softmax keeps the exponentials apart: y may alias x
		if log {
			e = make([]float32, cols)
		}
		for r := lo; r < hi; r++ {
			xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
			m := xr[0]
			for _, v := range xr[1:] {
				if v > m || v != v { // once NaN, m stays NaN and so does the row
					m = v
				}
			}
			mf := float64(m)
			if log {
				// (x−m) − log s rather than x − (m + log s): the first difference is exact
				// near the maximum, so a row with a large offset loses no digits.
				ls := math.Log(expShift32(e, xr, mf))
				for i, v := range xr {
					yr[i] = float32((float64(v) - mf) - ls)
				}
				continue
			}
			inv := 1 / expShift32(yr, xr, mf)
			for i, v := range yr {
				yr[i] = float32(float64(v) * inv)
			}
		}
	})
}

// SoftmaxBackward computes dx from the forward output y and dy: dx = y ⊙ (dy − Σ dy⊙y) for
// softmax and dx = dy − exp(y)·Σ dy for log-softmax.
func (d *Device) SoftmaxBackward(y, dy, dx device.Buffer, rows, cols int, log bool) {
	if d.widened("SoftmaxBackward", []device.Buffer{y, dy, dx}, []device.Buffer{dx}, func(f func(device.Buffer) device.Buffer) { d.SoftmaxBackward(f(y), f(dy), f(dx), rows, cols, log) }) {
		return
	}
	const name = "SoftmaxBackward"
	dxb := getFloat(dx, name, "dx", 0)
	yb := getFloat(y, name, "y", dxb.dtype)
	dyb := getFloat(dy, name, "dy", dxb.dtype)
	if rows < 0 || cols < 0 {
		device.Panicf(name, "negative size %d×%d", rows, cols)
	}
	for _, b := range []*buffer{yb, dyb, dxb} {
		needLen(b, rows*cols, name, "an operand")
	}
	if dxb.dtype == device.Float32 {
		softmaxBackward(floats[float32](yb), floats[float32](dyb), floats[float32](dxb), rows, cols, log)
	} else {
		softmaxBackward(floats[float64](yb), floats[float64](dyb), floats[float64](dxb), rows, cols, log)
	}
}

func softmaxBackward[T float](y, dy, dx []T, rows, cols int, log bool) {
	_, f32 := any(y).([]float32) // float32 takes e^y from exp32 (see fastexp.go)
	parallelFor(rows, 3*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, dyr, dxr := y[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
			s := 0.0
			if log {
				for _, g := range dyr {
					s += float64(g)
				}
				if f32 {
					for i, v := range yr {
						dxr[i] = T(float64(dyr[i]) - exp32(float64(v))*s)
					}
					continue
				}
				for i, v := range yr {
					dxr[i] = T(float64(dyr[i]) - math.Exp(float64(v))*s)
				}
				continue
			}
			for i, v := range yr {
				s += float64(dyr[i]) * float64(v)
			}
			for i, v := range yr {
				dxr[i] = T(float64(v) * (float64(dyr[i]) - s))
			}
		}
	})
}

// LayerNorm normalises each row (Ba, Kiros and Hinton 2016): y = (x−μ)·rstd·γ + β with
// rstd = 1/√(var + eps) and the biased variance. The statistics use two passes in float64
// (mean first, then squared deviations) so float32 rows with a large mean keep their
// precision.
func (d *Device) LayerNorm(x, gamma, beta, y, mean, rstd device.Buffer, rows, cols int, eps float64) {
	if d.widened("LayerNorm", []device.Buffer{x, gamma, beta, y, mean, rstd}, []device.Buffer{y, mean, rstd}, func(f func(device.Buffer) device.Buffer) {
		d.LayerNorm(f(x), f(gamma), f(beta), f(y), f(mean), f(rstd), rows, cols, eps)
	}) {
		return
	}
	const name = "LayerNorm"
	yb := getFloat(y, name, "y", 0)
	dt := yb.dtype
	xb := getFloat(x, name, "x", dt)
	mb := getFloat(mean, name, "mean", dt)
	rb := getFloat(rstd, name, "rstd", dt)
	if rows < 0 || cols <= 0 && rows > 0 {
		device.Panicf(name, "bad size %d×%d", rows, cols)
	}
	needLen(xb, rows*cols, name, "x")
	needLen(yb, rows*cols, name, "y")
	needLen(mb, rows, name, "mean")
	needLen(rb, rows, name, "rstd")
	var gb, bb *buffer
	if gamma != nil {
		gb = getFloat(gamma, name, "gamma", dt)
		needLen(gb, cols, name, "gamma")
	}
	if beta != nil {
		bb = getFloat(beta, name, "beta", dt)
		needLen(bb, cols, name, "beta")
	}
	if dt == device.Float32 {
		layerNorm(floats[float32](xb), optFloats[float32](gb), optFloats[float32](bb), floats[float32](yb), floats[float32](mb), floats[float32](rb), rows, cols, eps)
	} else {
		layerNorm(floats[float64](xb), optFloats[float64](gb), optFloats[float64](bb), floats[float64](yb), floats[float64](mb), floats[float64](rb), rows, cols, eps)
	}
}

// optFloats is floats for optional operands: nil stays nil.
func optFloats[T float](b *buffer) []T {
	if b == nil {
		return nil
	}
	return floats[T](b)
}

func layerNorm[T float](x, gamma, beta, y, mean, rstd []T, rows, cols int, eps float64) {
	x32, vec := any(x).([]float32)
	vec = vec && vecLevel == vecAVX512 && cols%8 == 0 && gamma != nil && beta != nil
	parallelFor(rows, 4*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
			var mu, ss float64
			if vec {
				mu, ss = rowMomentsF32AVX512(&x32[r*cols], cols)
			} else {
				mu = sum8(xr) / float64(cols)
				ss = sumSqDev8(xr, mu)
			}
			rs := 1 / math.Sqrt(ss/float64(cols)+eps)
			mean[r], rstd[r] = T(mu), T(rs)
			// The affine options are decided once per row, not per element. The explicit
			// conversions round every product, as the vector form does: Go may otherwise
			// fuse a product and a sum into one rounding.
			switch {
			case vec:
				normAffineF32AVX512(&any(yr).([]float32)[0], &x32[r*cols], &any(gamma).([]float32)[0], &any(beta).([]float32)[0], cols, mu, rs)
			case gamma != nil && beta != nil:
				g, b := gamma[:len(xr)], beta[:len(xr)]
				for i, v := range xr {
					yr[i] = T(float64(float64((float64(v)-mu)*rs)*float64(g[i])) + float64(b[i]))
				}
			case gamma != nil:
				g := gamma[:len(xr)]
				for i, v := range xr {
					yr[i] = T(float64((float64(v)-mu)*rs) * float64(g[i]))
				}
			case beta != nil:
				b := beta[:len(xr)]
				for i, v := range xr {
					yr[i] = T(float64((float64(v)-mu)*rs) + float64(b[i]))
				}
			default:
				for i, v := range xr {
					yr[i] = T((float64(v) - mu) * rs)
				}
			}
		}
	})
}

// sum8 is the float64 sum of x in eight lanes, lane l summing x[l], x[l+8], …, combined as
// ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)): the order of the vector form
// (layernorm_amd64.s), and partial sums that break the add latency chain of one
// accumulator.
func sum8[T float](x []T) float64 { return lanes8(x, 0, false) }

// sumSqDev8 is Σ (x[i] − mu)² in float64, in sum8's lanes and order.
func sumSqDev8[T float](x []T, mu float64) float64 { return lanes8(x, mu, true) }

// lanes8 sums x[i] − mu, or its square, in sum8's lanes and order (x − 0 is x exactly).
func lanes8[T float](x []T, mu float64, square bool) float64 {
	var s [8]float64
	for i, v := range x {
		d := float64(v) - mu
		if square {
			d = float64(d * d)
		}
		s[i%8] += d
	}
	return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
}

// LayerNormBackward computes, with x̂ = (x−μ)·rstd and g = dy·γ,
// dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂)), dγ = Σ_rows dy⊙x̂ and dβ = Σ_rows dy. The column
// sums are accumulated per goroutine in float64 and combined at the end, so dγ and dβ are
// overwritten, not accumulated.
func (d *Device) LayerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta device.Buffer, rows, cols int) {
	if d.widened("LayerNormBackward", []device.Buffer{x, gamma, mean, rstd, dy, dx, dgamma, dbeta}, []device.Buffer{dx, dgamma, dbeta}, func(f func(device.Buffer) device.Buffer) {
		d.LayerNormBackward(f(x), f(gamma), f(mean), f(rstd), f(dy), f(dx), f(dgamma), f(dbeta), rows, cols)
	}) {
		return
	}
	const name = "LayerNormBackward"
	dxb := getFloat(dx, name, "dx", 0)
	dt := dxb.dtype
	xb := getFloat(x, name, "x", dt)
	mb := getFloat(mean, name, "mean", dt)
	rb := getFloat(rstd, name, "rstd", dt)
	dyb := getFloat(dy, name, "dy", dt)
	if rows < 0 || cols <= 0 && rows > 0 {
		device.Panicf(name, "bad size %d×%d", rows, cols)
	}
	needLen(xb, rows*cols, name, "x")
	needLen(dyb, rows*cols, name, "dy")
	needLen(dxb, rows*cols, name, "dx")
	needLen(mb, rows, name, "mean")
	needLen(rb, rows, name, "rstd")
	var gb, dgb, dbb *buffer
	if gamma != nil {
		gb = getFloat(gamma, name, "gamma", dt)
		needLen(gb, cols, name, "gamma")
	}
	if dgamma != nil {
		dgb = getFloat(dgamma, name, "dgamma", dt)
		needLen(dgb, cols, name, "dgamma")
	}
	if dbeta != nil {
		dbb = getFloat(dbeta, name, "dbeta", dt)
		needLen(dbb, cols, name, "dbeta")
	}
	if dt == device.Float32 {
		layerNormBackward(floats[float32](xb), optFloats[float32](gb), floats[float32](mb), floats[float32](rb), floats[float32](dyb),
			floats[float32](dxb), optFloats[float32](dgb), optFloats[float32](dbb), rows, cols)
	} else {
		layerNormBackward(floats[float64](xb), optFloats[float64](gb), floats[float64](mb), floats[float64](rb), floats[float64](dyb),
			floats[float64](dxb), optFloats[float64](dgb), optFloats[float64](dbb), rows, cols)
	}
}

func layerNormBackward[T float](x, gamma, mean, rstd, dy, dx, dgamma, dbeta []T, rows, cols int) {
	needSums := dgamma != nil || dbeta != nil
	type partial struct{ dg, db []float64 }
	var parts []partial
	var mu sync.Mutex
	parallelFor(rows, 8*cols, func(lo, hi int) {
		var p partial
		if needSums {
			p = partial{make([]float64, cols), make([]float64, cols)}
		}
		for r := lo; r < hi; r++ {
			xr, dyr, dxr := x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
			m, rs := float64(mean[r]), float64(rstd[r])
			sg, sgx := 0.0, 0.0
			for i, v := range xr {
				xh := (float64(v) - m) * rs
				g := float64(dyr[i])
				if needSums {
					p.dg[i] += g * xh
					p.db[i] += g
				}
				if gamma != nil {
					g *= float64(gamma[i])
				}
				sg += g
				sgx += g * xh
			}
			sg /= float64(cols)
			sgx /= float64(cols)
			for i, v := range xr {
				xh := (float64(v) - m) * rs
				g := float64(dyr[i])
				if gamma != nil {
					g *= float64(gamma[i])
				}
				dxr[i] = T(rs * (g - sg - xh*sgx))
			}
		}
		if needSums {
			mu.Lock()
			parts = append(parts, p)
			mu.Unlock()
		}
	})
	if !needSums {
		return
	}
	for i := 0; i < cols; i++ {
		g, b := 0.0, 0.0
		for _, p := range parts {
			g += p.dg[i]
			b += p.db[i]
		}
		if dgamma != nil {
			dgamma[i] = T(g)
		}
		if dbeta != nil {
			dbeta[i] = T(b)
		}
	}
}
