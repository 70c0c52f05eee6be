package optim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// quadratic returns f(θ) = ½θᵀAθ + bᵀθ for a symmetric A (n×n, row-major) as an ops closure.
func quadratic(c *tensor.Context, dev device.Device, a, b []float64, param *tensor.Tensor) func() *tensor.Tensor {
	n := len(b)
	at := c.FromFloat64(dev, a, n, n)
	bt := c.FromFloat64(dev, b)
	return func() *tensor.Tensor {
		theta := ops.In(c, param)[0]
		return ops.Add(ops.MulScalar(ops.SumAll(ops.Mul(theta, ops.Matmul(at, theta))), 0.5), ops.SumAll(ops.Mul(bt, theta)))
	}
}

func randomSPD(r *rand.Rand, n int) []float64 {
	m := make([]float64, n*n)
	for i := range m {
		m[i] = r.NormFloat64()
	}
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for k := 0; k < n; k++ {
				s += m[k*n+i] * m[k*n+j]
			}
			a[i*n+j] = s / float64(n)
		}
		a[i*n+i] += 1
	}
	return a
}

// meanWithin checks that the sample mean of draws (one row per draw) matches want within
// 5 standard errors (estimated from the draws) plus a small absolute slack.
func meanWithin(t *testing.T, what string, draws [][]float64, want []float64) {
	t.Helper()
	n := float64(len(draws))
	for i := range want {
		var s, s2 float64
		for _, d := range draws {
			s += d[i]
			s2 += d[i] * d[i]
		}
		mean := s / n
		sd := math.Sqrt(math.Max(s2/n-mean*mean, 0))
		if d := math.Abs(mean - want[i]); d > 5*sd/math.Sqrt(n)+1e-9 {
			t.Errorf("%s[%d]: mean of %d draws %.5f, true diagonal %.5f (|diff| %.3g > 5 s.e. %.3g)", what, i, len(draws), mean, want[i], d, 5*sd/math.Sqrt(n))
		}
	}
}

// TestDiagonalEstimatorsConverge: on a quadratic with a known dense Hessian A, the means of
// Hutchinson's u⊙Au (Gaussian u) and of v⊙Av (Rademacher v) converge to diag(A).
func TestDiagonalEstimatorsConverge(t *testing.T) {
	dev := device.MustGet("cpu")
	r := rand.New(rand.NewPCG(3, 4))
	const n, draws = 6, 4000
	a := randomSPD(r, n)
	b := randVec(r, n, 1)
	theta := tensor.FromFloat64(dev, randVec(r, n, 1)).SetRequiresGrad(true)
	defer theta.Release()
	ctx := tensor.NewContext()
	defer ctx.Close()
	f := quadratic(ctx, dev, a, b, theta)
	diag := make([]float64, n)
	for i := range diag {
		diag[i] = a[i*n+i]
	}
	gen := tensor.NewGenerator(11)
	var hutch, rad [][]float64
	for k := 0; k < draws; k++ {
		s := ctx.NewScope()
		h, err := HutchinsonDiag(ctx, f, []*tensor.Tensor{theta}, gen)
		if err != nil {
			t.Fatal(err)
		}
		hutch = append(hutch, h[0].Float64s())
		loss, grads, hv, vhv, err := RademacherHVP(ctx, f, []*tensor.Tensor{theta}, gen)
		if err != nil {
			t.Fatal(err)
		}
		rad = append(rad, vhv[0].Float64s())
		if k == 0 {
			// The loss and gradient come from the same pass: check them against A and b.
			th := theta.Float64s()
			wantLoss := 0.0
			for i := 0; i < n; i++ {
				gi := b[i]
				for j := 0; j < n; j++ {
					wantLoss += 0.5 * th[i] * a[i*n+j] * th[j]
					gi += a[i*n+j] * th[j]
				}
				wantLoss += b[i] * th[i]
				if d := math.Abs(grads[0].Float64s()[i] - gi); d > 1e-12 {
					t.Fatalf("gradient[%d] off by %g", i, d)
				}
			}
			if math.Abs(loss-wantLoss) > 1e-12 {
				t.Fatalf("loss %v, want %v", loss, wantLoss)
			}
			_ = hv
		}
		s.Close()
	}
	meanWithin(t, "hutchinson", hutch, diag)
	meanWithin(t, "rademacher", rad, diag)
}

// TestGaussNewtonBartlettConverges: for softmax regression the Gauss-Newton matrix is the
// Hessian, whose diagonal for W[a,c] is (1/B)·Σᵢ xᵢₐ²·pᵢc(1−pᵢc); the mean of the GNB
// estimate B·ĝ⊙ĝ must converge to it.
func TestGaussNewtonBartlettConverges(t *testing.T) {
	dev := device.MustGet("cpu")
	r := rand.New(rand.NewPCG(5, 6))
	const bsz, d, c, draws = 12, 3, 4, 8000
	x := randVec(r, bsz*d, 1)
	w0 := randVec(r, d*c, 0.7)
	ctx := tensor.NewContext()
	defer ctx.Close()
	xt := ctx.FromFloat64(dev, x, bsz, d)
	w := tensor.FromFloat64(dev, w0, d, c).SetRequiresGrad(true)
	defer w.Release()
	logits := func() *tensor.Tensor { return ops.Matmul(xt, w) }
	want := make([]float64, d*c)
	for i := 0; i < bsz; i++ {
		z := make([]float64, c)
		mx := math.Inf(-1)
		for k := 0; k < c; k++ {
			for a := 0; a < d; a++ {
				z[k] += x[i*d+a] * w0[a*c+k]
			}
			mx = math.Max(mx, z[k])
		}
		sum := 0.0
		for k := range z {
			z[k] = math.Exp(z[k] - mx)
			sum += z[k]
		}
		for a := 0; a < d; a++ {
			for k := 0; k < c; k++ {
				p := z[k] / sum
				want[a*c+k] += x[i*d+a] * x[i*d+a] * p * (1 - p) / bsz
			}
		}
	}
	gen := tensor.NewGenerator(2)
	var est [][]float64
	for k := 0; k < draws; k++ {
		s := ctx.NewScope()
		e, err := GaussNewtonBartlett(ctx, logits, []*tensor.Tensor{w}, gen)
		if err != nil {
			t.Fatal(err)
		}
		est = append(est, e[0].Float64s())
		s.Close()
	}
	meanWithin(t, "gnb", est, want)
}

// TestAdaHessianClosedForm: on f = ½Σaᵢθᵢ² the Hessian is diagonal, so |Hv| = a exactly for
// every Rademacher v, v̂ₜ = a² at every step, and AdaHessian reduces to
// θₜ = θₜ₋₁ − lr·m̂ₜ/(a + ε) with m̂ₜ the bias-corrected EMA of the gradients aθ.
func TestAdaHessianClosedForm(t *testing.T) {
	dev := device.MustGet("cpu")
	a := []float64{1, 4, 0.25, 9}
	th := []float64{1, -1, 2, 0.5}
	theta := tensor.FromFloat64(dev, th).SetRequiresGrad(true)
	defer theta.Release()
	ctx := tensor.NewContext()
	defer ctx.Close()
	f := func() *tensor.Tensor {
		return ops.MulScalar(ops.SumAll(ops.Mul(ctx.FromFloat64(dev, a), ops.Square(theta))), 0.5)
	}
	c := DefaultAdaHessian()
	c.LR = 0.5
	o, err := NewAdaHessian(Params(theta), c)
	if err != nil {
		t.Fatal(err)
	}
	gen := tensor.NewGenerator(1)
	m := make([]float64, len(a))
	for step := 1; step <= 4; step++ {
		s := ctx.NewScope()
		if _, err := o.Prepare(ctx, f, gen); err != nil {
			t.Fatal(err)
		}
		if err := o.Step(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		bc1 := 1 - math.Pow(c.Beta1, float64(step))
		for i := range th {
			m[i] = c.Beta1*m[i] + (1-c.Beta1)*a[i]*th[i]
			th[i] -= c.LR * (m[i] / bc1) / (a[i] + c.Eps)
		}
		got := theta.Float64s()
		for i := range th {
			if math.Abs(got[i]-th[i]) > 1e-12 {
				t.Fatalf("step %d: θ[%d] = %v, closed form %v", step, i, got[i], th[i])
			}
		}
	}
	ops.ZeroGrad(theta)
}

// TestSophiaClosedForm: with β1 = 0 (m = g), β2 = 0 (h = ĥ) and ρ = 1 on f = ½Σaᵢθᵢ², the
// first step (h = 0) is the sign step θ − lr·sign(aθ), and once h = diag(A) = a the step is
// the clipped Newton step θ − lr·sign(θ)·min(|θ|, 1).
func TestSophiaClosedForm(t *testing.T) {
	dev := device.MustGet("cpu")
	a := []float64{1, 4, 0.25, 9}
	th := []float64{0.3, -2, 3, 0.5}
	theta := tensor.FromFloat64(dev, th).SetRequiresGrad(true)
	defer theta.Release()
	ctx := tensor.NewContext()
	defer ctx.Close()
	at := ctx.FromFloat64(dev, a)
	f := func() *tensor.Tensor { return ops.MulScalar(ops.SumAll(ops.Mul(at, ops.Square(theta))), 0.5) }
	c := DefaultSophia()
	c.LR, c.Beta1, c.Beta2, c.Rho, c.WeightDecay, c.K = 0.5, 0, 0, 1, 0, 1
	o, err := NewSophia(Params(theta), c)
	if err != nil {
		t.Fatal(err)
	}
	step := func() {
		t.Helper()
		ops.ZeroGrad(theta)
		s := ctx.NewScope()
		ops.Backward(f())
		s.Close()
		if err := o.Step(); err != nil {
			t.Fatal(err)
		}
	}
	sign := func(v float64) float64 { return math.Copysign(1, v) }
	step()
	for i := range th {
		th[i] -= c.LR * sign(th[i])
	}
	check := func(when string) {
		got := theta.Float64s()
		for i := range th {
			if math.Abs(got[i]-th[i]) > 1e-12 {
				t.Fatalf("%s: θ[%d] = %v, closed form %v", when, i, got[i], th[i])
			}
		}
	}
	check("sign step")
	if err := o.UpdateHessian([]*tensor.Tensor{at}); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 3; k++ {
		step()
		for i := range th {
			th[i] -= c.LR * sign(th[i]) * math.Min(math.Abs(th[i]), 1)
		}
		check("clipped Newton step")
	}
	ops.ZeroGrad(theta)
}

// TestAdaHessianSpatialAveraging: |Hv| is averaged over the trailing axes of a rank-3 tensor
// by default, over blocks of SpatialBlock elements when set, not at all with SpatialBlock 1,
// and never for rank ≤ 2.
func TestAdaHessianSpatialAveraging(t *testing.T) {
	dev := device.MustGet("cpu")
	hv := []float64{1, -2, 3, 4, 5, -6, 7, 8, 9, -10, 11, 12}
	abs := make([]float64, len(hv))
	for i, v := range hv {
		abs[i] = math.Abs(v)
	}
	blockMean := func(bs int) []float64 {
		out := make([]float64, len(abs))
		for r := 0; r < len(abs)/bs; r++ {
			s := 0.0
			for j := 0; j < bs; j++ {
				s += abs[r*bs+j]
			}
			for j := 0; j < bs; j++ {
				out[r*bs+j] = s / float64(bs)
			}
		}
		return out
	}
	for _, c := range []struct {
		shape []int
		block int
		want  []float64
	}{
		{[]int{2, 2, 3}, 0, blockMean(3)},
		{[]int{2, 2, 3}, 4, blockMean(4)},
		{[]int{2, 2, 3}, 1, abs},
		{[]int{4, 3}, 0, abs},
		{[]int{1, 1, 2, 6}, 0, blockMean(12)},
	} {
		p := tensor.Zeros(dev, tensor.Float64, c.shape...).Detach()
		cfg := DefaultAdaHessian()
		cfg.SpatialBlock = c.block
		o, err := NewAdaHessian(Params(p), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.SetHessian([]*tensor.Tensor{tensor.FromFloat64(dev, hv, c.shape...)}); err != nil {
			t.Fatal(err)
		}
		got := o.state[0][0][2].Float64s()
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-15 {
				t.Fatalf("shape %v block %d: averaged estimate %v, want %v", c.shape, c.block, got, c.want)
			}
		}
		o.Release()
	}
	p := tensor.Zeros(dev, tensor.Float64, 2, 2, 3).Detach()
	cfg := DefaultAdaHessian()
	cfg.SpatialBlock = 5
	if _, err := NewAdaHessian(Params(p), cfg); err == nil {
		t.Fatal("a block of 5 accepted for 12 elements")
	}
}
