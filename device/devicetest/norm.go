package devicetest

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
)

func reduceCases(s *suite, dt device.DType) {
	shapes := pick(s,
		[][3]int{{1, 1, 1}, {3, 7, 5}, {7, 33, 1}, {1, 40_001, 1}, {5, 13, 1100}},
		// Long axes with few outputs ({1, 5000, 70}, {3, 3001, 40}, {2, 300_001, 1}) take the
		// CUDA backend's split two-pass path, with chunks that do not divide n.
		[][3]int{{1, 1, 1}, {2, 0, 3}, {3, 7, 5}, {1, 130, 1}, {7, 33, 1}, {1, 40_001, 1}, {2, 1000, 3}, {5, 13, 1100}, {1, 1_000_003, 1}, {300, 130, 1},
			{1, 5000, 70}, {3, 3001, 40}, {2, 300_001, 1}})
	for _, op := range device.ReduceOps() {
		for _, sh := range shapes {
			outer, n, inner := sh[0], sh[1], sh[2]
			s.run("Reduce", dt, fmt.Sprintf("%v [%d,%d,%d]", op, outer, n, inner), func(e *env) float64 {
				x := e.normal(outer*n*inner, 0.5, 2)
				y0 := e.uniform(outer*inner+1, -1, 1)
				yb := e.upload(y0)
				e.dev.Reduce(op, e.upload(x), outer, n, inner, yb)
				want, scale := append([]float64(nil), y0...), plusOne(y0)
				for o := 0; o < outer; o++ {
					for c := 0; c < inner; c++ {
						var r, mag float64
						switch op {
						case device.ReduceMax:
							r = math.Inf(-1)
						case device.ReduceMin:
							r = math.Inf(1)
						}
						for j := 0; j < n; j++ {
							v := x[(o*n+j)*inner+c]
							switch op {
							case device.ReduceSum:
								r += v
								mag += math.Abs(v)
							case device.ReduceSumSquares:
								r += v * v
								mag += v * v
							case device.ReduceMax:
								r = math.Max(r, v)
							case device.ReduceMin:
								r = math.Min(r, v)
							}
						}
						want[o*inner+c] = r
						if op == device.ReduceSum || op == device.ReduceSumSquares {
							scale[o*inner+c] = mag + math.SmallestNonzeroFloat64
						}
					}
				}
				e.compare(e.download(yb), want, scale)
				if op == device.ReduceMax || op == device.ReduceMin {
					return 0
				}
				return e.tol(8, n+2)
			})
		}
	}
}

func softmaxShapes(s *suite) [][2]int {
	return pick(s, [][2]int{{1, 1}, {7, 33}, {3, 1000}, {300, 130}},
		[][2]int{{1, 1}, {1, 7}, {7, 33}, {33, 130}, {3, 1000}, {300, 130}, {2, 20_000}})
}

// softmaxRef returns softmax (or log-softmax) rows of x in float64.
func softmaxRef(x []float64, rows, cols int, log bool) []float64 {
	y := make([]float64, len(x))
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(v - m)
		}
		for j, v := range row {
			if log {
				y[r*cols+j] = v - m - math.Log(sum)
			} else {
				y[r*cols+j] = math.Exp(v-m) / sum
			}
		}
	}
	return y
}

// softmaxInput is N(0, 3²), with the first row shifted by +500 when there are several rows:
// exp overflows there unless the row maximum is subtracted. (A single row stays unshifted,
// because the shift limits how precisely log-softmax can be checked on its row.)
func softmaxInput(e *env, rows, cols int) []float64 {
	x := e.normal(rows*cols, 0, 3)
	if rows > 1 {
		for j := 0; j < cols; j++ {
			x[j] += 500
		}
	}
	return e.round(x)
}

func softmaxCases(s *suite, dt device.DType) {
	for _, sh := range softmaxShapes(s) {
		for _, log := range []bool{false, true} {
			rows, cols := sh[0], sh[1]
			s.run("Softmax", dt, fmt.Sprintf("%s %d×%d", softmaxName(log), rows, cols), func(e *env) float64 {
				x := softmaxInput(e, rows, cols)
				yb := e.alloc(dt, rows*cols)
				e.dev.Softmax(e.upload(x), yb, rows, cols, log)
				want := softmaxRef(x, rows, cols, log)
				scale := plusOne(want)
				if log {
					// x − m − log s: the rounding of x and m enters as u·|x|.
					for i, v := range x {
						scale[i] += math.Abs(v)
					}
				} else {
					scale = abs(want)
					for i := range scale {
						scale[i] += math.SmallestNonzeroFloat64
					}
				}
				e.compare(e.download(yb), want, scale)
				return e.tol(16, cols+32)
			})
		}
	}
}

func softmaxName(log bool) string {
	if log {
		return "log-softmax"
	}
	return "softmax"
}

func softmaxBackwardCases(s *suite, dt device.DType) {
	for _, sh := range softmaxShapes(s) {
		for _, log := range []bool{false, true} {
			rows, cols := sh[0], sh[1]
			s.run("SoftmaxBackward", dt, fmt.Sprintf("%s %d×%d", softmaxName(log), rows, cols), func(e *env) float64 {
				y := e.round(softmaxRef(softmaxInput(e, rows, cols), rows, cols, log))
				dy := e.normal(rows*cols, 0, 1)
				dxb := e.alloc(dt, rows*cols)
				e.dev.SoftmaxBackward(e.upload(y), e.upload(dy), dxb, rows, cols, log)
				want, scale := make([]float64, len(y)), make([]float64, len(y))
				for r := 0; r < rows; r++ {
					yr, dyr := y[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols]
					var sum, sumAbs float64
					for j := range yr {
						if log {
							sum += dyr[j]
							sumAbs += math.Abs(dyr[j])
						} else {
							sum += dyr[j] * yr[j]
							sumAbs += math.Abs(dyr[j] * yr[j])
						}
					}
					for j, v := range yr {
						i := r*cols + j
						if log {
							want[i] = dyr[j] - math.Exp(v)*sum
							scale[i] = math.Abs(dyr[j]) + math.Exp(v)*sumAbs
						} else {
							want[i] = v * (dyr[j] - sum)
							scale[i] = math.Abs(v) * (math.Abs(dyr[j]) + sumAbs)
						}
						scale[i] += math.SmallestNonzeroFloat64
					}
				}
				e.compare(e.download(dxb), want, scale)
				return e.tol(16, cols+32)
			})
		}
	}
}

func layerNormShapes(s *suite) [][2]int {
	return pick(s, [][2]int{{1, 1}, {7, 33}, {5, 1000}, {200, 257}},
		// {3001, 40}: many rows, few columns, the split path for dγ and dβ on CUDA.
		[][2]int{{1, 1}, {1, 7}, {7, 33}, {33, 130}, {5, 1000}, {200, 257}, {2, 10_000}, {3001, 40}})
}

// lnStats returns the float64 mean and 1/√(var+eps) of each row (two-pass, biased variance).
func lnStats(x []float64, rows, cols int, eps float64) (mean, rstd []float64) {
	mean, rstd = make([]float64, rows), make([]float64, rows)
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		m := 0.0
		for _, v := range row {
			m += v
		}
		m /= float64(cols)
		vr := 0.0
		for _, v := range row {
			vr += (v - m) * (v - m)
		}
		mean[r], rstd[r] = m, 1/math.Sqrt(vr/float64(cols)+eps)
	}
	return
}

const lnEps = 1e-5

// lnAffine names which of γ and β a LayerNorm case passes (the others are nil).
var lnAffine = []struct {
	name        string
	gamma, beta bool
}{{"no affine", false, false}, {"γ only", true, false}, {"β only", false, true}, {"γ,β", true, true}}

func layerNormCases(s *suite, dt device.DType) {
	for _, sh := range layerNormShapes(s) {
		for _, aff := range lnAffine {
			rows, cols := sh[0], sh[1]
			s.run("LayerNorm", dt, fmt.Sprintf("%d×%d %s", rows, cols, aff.name), func(e *env) float64 {
				x := e.normal(rows*cols, 3, 2) // a mean offset tests the two-pass variance
				var gamma, beta []float64
				var gb, bb device.Buffer
				if aff.gamma {
					gamma = e.normal(cols, 1, 0.5)
					gb = e.upload(gamma)
				}
				if aff.beta {
					beta = e.normal(cols, 0, 0.5)
					bb = e.upload(beta)
				}
				yb, mb, rb := e.alloc(dt, rows*cols), e.alloc(dt, rows), e.alloc(dt, rows)
				e.dev.LayerNorm(e.upload(x), gb, bb, yb, mb, rb, rows, cols, lnEps)
				mean, rstd := lnStats(x, rows, cols, lnEps)
				want, scale := make([]float64, len(x)), make([]float64, len(x))
				meanScale := make([]float64, rows)
				for r := 0; r < rows; r++ {
					for j := 0; j < cols; j++ {
						i := r*cols + j
						g, b := 1.0, 0.0
						if aff.gamma {
							g = gamma[j]
						}
						if aff.beta {
							b = beta[j]
						}
						want[i] = (x[i]-mean[r])*rstd[r]*g + b
						scale[i] = math.Abs(g)*(math.Abs(x[i])+math.Abs(mean[r]))*rstd[r] + math.Abs(b)
						meanScale[r] += math.Abs(x[i]) / float64(cols)
					}
				}
				e.compare(e.download(yb), want, scale)
				e.compare(e.download(mb), mean, meanScale)
				e.compare(e.download(rb), rstd, rstd)
				return e.tol(16, cols+32)
			})
		}
	}
}

// lnSums names which of dγ and dβ a LayerNormBackward case asks for.
var lnSums = []struct {
	name   string
	dg, db bool
}{{"", false, false}, {" dγ", true, false}, {" dβ", false, true}, {" dγ,dβ", true, true}}

func layerNormBackwardCases(s *suite, dt device.DType) {
	for _, sh := range layerNormShapes(s) {
		for _, withGamma := range []bool{false, true} {
			for _, sums := range lnSums {
				rows, cols := sh[0], sh[1]
				name := fmt.Sprintf("%d×%d", rows, cols)
				if withGamma {
					name += " γ"
				}
				s.run("LayerNormBackward", dt, name+sums.name, func(e *env) float64 {
					return runLayerNormBackward(e, rows, cols, withGamma, sums.dg, sums.db)
				})
			}
		}
	}
}

func runLayerNormBackward(e *env, rows, cols int, withGamma, wantDg, wantDb bool) float64 {
	x := e.normal(rows*cols, 3, 2)
	dy := e.normal(rows*cols, 0, 1)
	mean, rstd := lnStats(x, rows, cols, lnEps)
	var gamma []float64
	var gb, dgb, dbb device.Buffer
	if withGamma {
		gamma = e.normal(cols, 1, 0.5)
		gb = e.upload(gamma)
	}
	// Garbage in dγ and dβ: they are overwritten, not accumulated into.
	if wantDg {
		dgb = e.upload(e.uniform(cols, -1, 1))
	}
	if wantDb {
		dbb = e.upload(e.uniform(cols, -1, 1))
	}
	dxb := e.alloc(e.dt, rows*cols)
	e.dev.LayerNormBackward(e.upload(x), gb, e.upload(e.round(append([]float64(nil), mean...))), e.upload(e.round(append([]float64(nil), rstd...))),
		e.upload(dy), dxb, dgb, dbb, rows, cols)

	dx, dxScale := make([]float64, len(x)), make([]float64, len(x))
	dg, dgScale := make([]float64, cols), make([]float64, cols)
	db, dbScale := make([]float64, cols), make([]float64, cols)
	xh, g := make([]float64, cols), make([]float64, cols)
	for r := 0; r < rows; r++ {
		var sg, sgx, sgAbs, sgxAbs float64
		for j := 0; j < cols; j++ {
			i := r*cols + j
			xh[j] = (x[i] - mean[r]) * rstd[r]
			g[j] = dy[i]
			if withGamma {
				g[j] *= gamma[j]
			}
			sg += g[j]
			sgx += g[j] * xh[j]
			sgAbs += math.Abs(g[j])
			sgxAbs += math.Abs(g[j]) * (math.Abs(x[i]) + math.Abs(mean[r])) * rstd[r]
			dg[j] += dy[i] * xh[j]
			// x̂ is computed from x − μ: its rounding error scales with (|x|+|μ|)·rstd.
			dgScale[j] += math.Abs(dy[i]) * (math.Abs(x[i]) + math.Abs(mean[r])) * rstd[r]
			db[j] += dy[i]
			dbScale[j] += math.Abs(dy[i])
		}
		n := float64(cols)
		for j := 0; j < cols; j++ {
			i := r*cols + j
			dx[i] = rstd[r] * (g[j] - sg/n - xh[j]*sgx/n)
			// Likewise for the x̂ in dx.
			xhAbs := (math.Abs(x[i]) + math.Abs(mean[r])) * rstd[r]
			dxScale[i] = rstd[r]*(math.Abs(g[j])+sgAbs/n+xhAbs*sgxAbs/n) + math.SmallestNonzeroFloat64
		}
	}
	e.compare(e.download(dxb), dx, dxScale)
	for j := range dgScale {
		dgScale[j] += math.SmallestNonzeroFloat64
		dbScale[j] += math.SmallestNonzeroFloat64
	}
	if wantDg {
		e.compare(e.download(dgb), dg, dgScale)
	}
	if wantDb {
		e.compare(e.download(dbb), db, dbScale)
	}
	return e.tol(32, rows+cols+32)
}
