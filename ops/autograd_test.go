package ops

import (
	"math"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

func TestBackwardAccumulatesIntoLeaves(t *testing.T) {
	c := tensor.NewContext()
	defer c.Close()
	x := randT(1, -1, 1, 3).SetRequiresGrad(true)
	w := randT(2, -1, 1, 3).SetRequiresGrad(true)
	defer ZeroGrad(x, w)
	xv, wv := x.Float64s(), w.Float64s()
	// loss = Σ x⊙w + Σ x² ⇒ ∂/∂x = w + 2x, ∂/∂w = x.
	loss := func() *Tensor {
		p := In(c, x, w)
		return Add(SumAll(Mul(p[0], p[1])), SumAll(Square(p[0])))
	}
	Backward(loss())
	want := make([]float64, 3)
	for i := range want {
		want[i] = wv[i] + 2*xv[i]
	}
	close(t, "dx", x.Grad().Float64s(), want, 1e-12)
	close(t, "dw", w.Grad().Float64s(), xv, 1e-12)
	// A second backward adds to the stored gradients.
	Backward(loss())
	for i := range want {
		want[i] *= 2
		xv[i] *= 2
	}
	close(t, "dx twice", x.Grad().Float64s(), want, 1e-12)
	close(t, "dw twice", w.Grad().Float64s(), xv, 1e-12)
	// Gradients are owned by the leaves: closing an inner scope does not release them.
	inner := c.NewScope()
	ZeroGrad(x)
	Backward(loss())
	inner.Close()
	if x.Grad() == nil || x.Grad().Released() {
		t.Fatal("leaf gradient released with the scope")
	}
}

func TestGradAPI(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	x := ctx.Track(randT(3, -1, 1, 2, 3)).SetRequiresGrad(true)
	u := ctx.Track(randT(4, -1, 1, 4)).SetRequiresGrad(true) // not used by y
	y := Exp(x)
	gout := ctx.Track(randT(5, -1, 1, 2, 3))
	g := Grad([]*Tensor{y}, []*Tensor{x, u}, []*Tensor{gout}, false)
	ev, gv := y.Float64s(), gout.Float64s()
	want := make([]float64, len(ev))
	for i := range want {
		want[i] = ev[i] * gv[i]
	}
	close(t, "vjp", g[0].Float64s(), want, 1e-12)
	close(t, "unused input", g[1].Float64s(), make([]float64, 4), 0)
	if x.Grad() != nil {
		t.Fatal("Grad must not touch leaves' Grad")
	}
	if g[0].RequiresGrad() {
		t.Fatal("gradient without createGraph must not be recorded")
	}

	// With createGraph the gradient of x³ is 3x², whose gradient is 6x.
	c := PowScalar(x, 3)
	g1 := Grad([]*Tensor{SumAll(c)}, []*Tensor{x}, nil, true)[0]
	if !g1.RequiresGrad() {
		t.Fatal("createGraph gradient is not recorded")
	}
	g2 := Grad([]*Tensor{SumAll(g1)}, []*Tensor{x}, nil, false)[0]
	xv := x.Float64s()
	for i := range xv {
		want[i] = 6 * xv[i]
	}
	close(t, "second derivative", g2.Float64s(), want, 1e-12)
	// Third order: d/dx Σ 6x = 6.
	g2c := Grad([]*Tensor{SumAll(Grad([]*Tensor{SumAll(Grad([]*Tensor{SumAll(PowScalar(x, 3))}, []*Tensor{x}, nil, true)[0])}, []*Tensor{x}, nil, true)[0])}, []*Tensor{x}, nil, false)[0]
	for i := range want {
		want[i] = 6
	}
	close(t, "third derivative", g2c.Float64s(), want, 1e-12)
}

func TestNoGrad(t *testing.T) {
	c := tensor.NewContext()
	defer c.Close()
	x := c.Track(randT(1, -1, 1, 3)).SetRequiresGrad(true)
	var y *Tensor
	c.NoGrad(func() { y = Tanh(x) })
	if y.RequiresGrad() || y.Node() != nil {
		t.Fatal("op recorded under NoGrad")
	}
	if !c.GradEnabled() {
		t.Fatal("NoGrad did not restore grad mode")
	}
	if d := Detach(Tanh(x)); d.RequiresGrad() || d.Node() != nil {
		t.Fatal("Detach kept the graph")
	}
	// Grad mode belongs to a context: turning it off elsewhere changes nothing here.
	other := tensor.NewContext()
	defer other.Close()
	other.NoGrad(func() {
		if y := Tanh(x); !y.RequiresGrad() {
			t.Fatal("another context's NoGrad switched recording off")
		}
	})
}

// TestHVPQuadratic checks HVP where the Hessian is known in closed form: f = ½xᵀAx + bᵀx has
// H = (A+Aᵀ)/2·2 = A + Aᵀ.
func TestHVPQuadratic(t *testing.T) {
	c := tensor.NewContext()
	defer c.Close()
	const n = 5
	a := c.Track(randT(10, -1, 1, n, n))
	b := c.Track(randT(11, -1, 1, n))
	x := c.Track(randT(12, -1, 1, n)).SetRequiresGrad(true)
	v := c.Track(randT(13, -1, 1, n))
	hv := HVP(c, func() *Tensor {
		return Add(MulScalar(Matmul(x, Matmul(a, x)), 0.5), SumAll(Mul(b, x)))
	}, []*Tensor{x}, []*Tensor{v})[0]
	av, vv := a.Float64s(), v.Float64s()
	want := make([]float64, n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			want[i] += 0.5 * (av[i*n+j] + av[j*n+i]) * vv[j]
		}
	}
	close(t, "Hv", hv.Float64s(), want, 1e-12)
	// A linear function has H = 0.
	hz := HVP(c, func() *Tensor { return SumAll(Mul(b, x)) }, []*Tensor{x}, []*Tensor{v})[0]
	close(t, "Hv of linear", hz.Float64s(), make([]float64, n), 0)
}

func mlpLoss(x, y *Tensor, act func(*Tensor) *Tensor) func(p []*Tensor) *Tensor {
	return func(p []*Tensor) *Tensor {
		h := act(Add(Matmul(x, p[0]), p[1]))
		out := Add(Matmul(h, p[2]), p[3])
		return MSE(out, y)
	}
}

// TestHVPMLP checks Hessian-vector products of a 2-layer MLP loss against finite differences
// of its gradient, for tanh, exact GELU and tanh-GELU activations.
func TestHVPMLP(t *testing.T) {
	x := randT(20, -1, 1, 7, 3)
	y := randT(21, -1, 1, 7, 2)
	for name, act := range map[string]func(*Tensor) *Tensor{"tanh": Tanh, "gelu": Gelu, "gelu_tanh": GeluTanh} {
		t.Run(name, func(t *testing.T) {
			params := []*Tensor{randT(22, -1, 1, 3, 5), randT(23, -0.5, 0.5, 5), randT(24, -1, 1, 5, 2), randT(25, -0.5, 0.5, 2)}
			if err := HVPCheck(mlpLoss(x, y, act), params, 1e-5, 1e-6); err != nil {
				t.Fatal(err)
			}
			if err := GradCheck(mlpLoss(x, y, act), params, 1e-6, 1e-7); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHVPAttentionBlock checks second order through a pre-norm attention block with
// projections, the context mask, a residual and a GELU MLP.
func TestHVPAttentionBlock(t *testing.T) {
	x := randT(30, -1, 1, 2, 5, 4)
	block := func(p []*Tensor) *Tensor {
		h := LayerNorm(x, p[0], p[1], 1e-5)
		q, k, v := Matmul(h, p[2]), Matmul(h, p[3]), Matmul(h, p[4])
		a := Add(x, Matmul(Attention(q, k, v, 3, 0), p[5]))
		return Add(a, Matmul(Gelu(Matmul(a, p[6])), p[7]))
	}
	params := []*Tensor{randT(31, 0.5, 1.5, 4), randT(32, -0.5, 0.5, 4), randT(33, -1, 1, 4, 4), randT(34, -1, 1, 4, 4),
		randT(35, -1, 1, 4, 4), randT(36, -1, 1, 4, 4), randT(37, -1, 1, 4, 6), randT(38, -1, 1, 6, 4)}
	if err := GradCheck(block, params, 1e-6, 1e-6); err != nil {
		t.Fatal(err)
	}
	if err := HVPCheck(block, params, 1e-5, 1e-5); err != nil {
		t.Fatal(err)
	}
}

// TestFusedMatchesComposed compares the fused backward primitives with their compositions
// directly on the same inputs.
func TestFusedMatchesComposed(t *testing.T) {
	fs := map[string]func(x []*Tensor) *Tensor{
		"softmax":     func(x []*Tensor) *Tensor { return Softmax(x[0], -1) },
		"log_softmax": func(x []*Tensor) *Tensor { return LogSoftmax(x[0], -1) },
		"layer_norm":  func(x []*Tensor) *Tensor { return LayerNorm(x[0], x[1], x[2], 1e-5) },
		"attention":   func(x []*Tensor) *Tensor { return Attention(x[3], x[4], x[5], 4, 0) },
	}
	for name, f := range fs {
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
			t.Run(name+"_"+dt.String(), func(t *testing.T) {
				c := tensor.NewContext()
				defer c.Close()
				mk := func(seed uint64, lo, hi float64, shape ...int) *Tensor {
					return c.Track(randT(seed, lo, hi, shape...)).AsType(dt).SetRequiresGrad(true)
				}
				xs := []*Tensor{mk(1, -2, 2, 3, 7), mk(2, 0.5, 1.5, 7), mk(3, -1, 1, 7),
					mk(4, -1, 1, 2, 5, 3), mk(5, -1, 1, 2, 6, 3), mk(6, -1, 1, 2, 6, 2)}
				gout := func(y *Tensor) *Tensor { return c.Track(randT(7, -1, 1, y.Shape()...)).AsType(dt) }
				y := f(xs)
				go1 := gout(y)
				fused := Grad([]*Tensor{y}, xs, []*Tensor{go1}, false)
				forceComposed = true
				composed := Grad([]*Tensor{f(xs)}, xs, []*Tensor{go1}, false)
				forceComposed = false
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 2e-5
				}
				for i := range xs {
					close(t, "input "+string(rune('0'+i)), fused[i].Float64s(), composed[i].Float64s(), tol)
				}
			})
		}
	}
}

func TestErrorsAtBoundary(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	a, b := ctx.Track(randT(1, -1, 1, 2, 3)), ctx.Track(randT(2, -1, 1, 4))
	released := randT(3, -1, 1, 2)
	released.Release()
	x32 := ctx.Track(randT(4, -1, 1, 3)).AsType(tensor.Float32)
	other := tensor.NewContext()
	defer other.Close()
	foreign := other.Track(randT(5, -1, 1, 2, 3))
	for _, c := range []struct {
		name, want string
		fn         func()
	}{
		{"broadcast", "shapes (2, 3) and (4) cannot be broadcast", func() { Add(a, b) }},
		{"matmul", "inner dimensions differ", func() { Matmul(a, randT(5, -1, 1, 2, 2)) }},
		{"slice", "[1:5] out of range", func() { Slice(a, 1, 1, 5) }},
		{"axis", "axis 3 out of range", func() { Sum(a, false, 3) }},
		{"dtype", "dtypes float64 and float32", func() { Mul(randT(6, 0, 1, 3), x32) }},
		{"released", "has been released", func() { Exp(released) }},
		{"nan slope", "slope must be finite", func() { LeakyRelu(a, math.NaN()) }},
		{"nan dropout", "probability must be in [0, 1)", func() { Dropout(a, math.NaN(), true, tensor.NewGenerator(1)) }},
		{"nan eps", "eps must be finite", func() { LayerNorm(a, nil, nil, math.NaN()) }},
		{"target", "target 7 of row 1 is not a class", func() { CrossEntropy(a, idxT(0, 7), nil) }},
		{"context", "nContext 0 out of range", func() { Attention(a, a, a, 0, 0) }},
		{"products", "products dtype int32 is not a 16-bit float dtype", func() { AttentionMixed(a, a, a, 1, 0, tensor.Int32) }},
		{"backward non-scalar", "loss must have one element", func() { Backward(Exp(a.SetRequiresGrad(true))) }},
		{"index dtype", "indices must be an int32 tensor", func() { Embedding(a, b) }},
		{"concat", "shapes (2, 3) and (4) have different ranks", func() { Concat(0, a, b) }},
		{"contexts", "belong to different execution contexts", func() { Add(a, foreign) }},
		{"hvp context", "does not belong to the execution context", func() {
			x := randT(6, -1, 1, 3).SetRequiresGrad(true)
			HVP(ctx, func() *Tensor { return SumAll(Square(x)) }, []*Tensor{x}, []*Tensor{randT(7, -1, 1, 3)})
		}},
		{"create graph free", "createGraph needs outputs that belong to an execution context", func() {
			x := randT(8, -1, 1, 3).SetRequiresGrad(true)
			Grad([]*Tensor{SumAll(Square(x))}, []*Tensor{x}, nil, true)
		}},
	} {
		err := Try(func() error { c.fn(); return nil })
		a.SetRequiresGrad(false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if !ctx.GradEnabled() {
		t.Fatal("grad mode left off after a panic")
	}
}

func TestGradHVPAndIntermediateInputs(t *testing.T) {
	c := tensor.NewContext()
	defer c.Close()
	x := c.Track(randT(40, -1, 1, 4)).SetRequiresGrad(true)
	v := c.Track(randT(41, -1, 1, 4))
	// f = Σ x³: ∇f = 3x², H·v = 6x⊙v.
	loss, g, hv := GradHVP(c, func() *Tensor { return SumAll(PowScalar(x, 3)) }, []*Tensor{x}, []*Tensor{v})
	xv, vv := x.Float64s(), v.Float64s()
	wantF, wantG, wantH := 0.0, make([]float64, 4), make([]float64, 4)
	for i := range xv {
		wantF += xv[i] * xv[i] * xv[i]
		wantG[i] = 3 * xv[i] * xv[i]
		wantH[i] = 6 * xv[i] * vv[i]
	}
	close(t, "loss", []float64{loss.Item()}, []float64{wantF}, 1e-14)
	close(t, "grad", g[0].Float64s(), wantG, 1e-14)
	close(t, "hv", hv[0].Float64s(), wantH, 1e-14)
	if g[0].RequiresGrad() || loss.RequiresGrad() {
		t.Fatal("GradHVP results are still in the graph")
	}
	// HVP leaves nothing but its result behind.
	before := liveBuffers()
	h := HVP(c, func() *Tensor { return SumAll(PowScalar(x, 3)) }, []*Tensor{x}, []*Tensor{v})
	if got := liveBuffers(); got != before+1 {
		t.Fatalf("HVP left %d buffers, want 1", got-before)
	}
	close(t, "hvp", h[0].Float64s(), wantH, 1e-14)

	// Gradients with respect to an intermediate tensor: z = Σ y², y = tanh x ⇒ ∂z/∂y = 2y.
	y := Tanh(x)
	gy := Grad([]*Tensor{SumAll(Square(y))}, []*Tensor{y}, nil, false)[0]
	yv := y.Float64s()
	for i := range yv {
		yv[i] *= 2
	}
	close(t, "intermediate", gy.Float64s(), yv, 1e-15)
	// The graph is kept after a backward pass: a second Grad over it works.
	gy2 := Grad([]*Tensor{SumAll(Square(y))}, []*Tensor{x}, nil, false)[0]
	if gy2.Len() != 4 {
		t.Fatal("second pass over a graph failed")
	}
}

func TestCheckFiniteAndGradCheckErrors(t *testing.T) {
	c := tensor.NewContext()
	defer c.Close()
	good := c.Track(randT(1, -1, 1, 3))
	bad := c.FromFloat64(dev, []float64{1, math.NaN(), 2})
	inf := c.FromFloat64(dev, []float64{math.Inf(1)})
	if err := CheckFinite("params", good); err != nil {
		t.Fatal(err)
	}
	if err := CheckFinite("params", good, bad); err == nil || !strings.Contains(err.Error(), "tensor 1 (shape (3)) holds NaN") {
		t.Fatalf("NaN not reported: %v", err)
	}
	if err := CheckFinite("loss", inf); err == nil {
		t.Fatal("infinity not reported")
	}
	f32 := c.Track(randT(2, -1, 1, 3)).AsType(tensor.Float32)
	if err := GradCheck(func(x []*Tensor) *Tensor { return x[0] }, []*Tensor{f32}, 1e-6, 1e-6); err == nil ||
		!strings.Contains(err.Error(), "need float64") {
		t.Fatalf("float32 gradcheck: %v", err)
	}
	// A wrong gradient is reported: x·|x| claimed to have gradient x (true: 2|x|).
	wrong := func(x []*Tensor) *Tensor {
		y := binaryRaw("test", device.BinaryMul, x[0], unaryRaw(device.UnaryAbs, x[0], 0))
		return record("wrong", y, x, func(g *Tensor, _ []bool) []*Tensor { return []*Tensor{Mul(g, x[0])} })
	}
	if err := GradCheck(wrong, []*Tensor{randT(3, 0.5, 1, 4)}, 1e-6, 1e-6); err == nil || !strings.Contains(err.Error(), "gradient check failed") {
		t.Fatalf("wrong gradient not caught: %v", err)
	}
	if err := HVPCheck(wrong, []*Tensor{randT(3, 0.5, 1, 4)}, 1e-5, 1e-5); err == nil {
		t.Fatal("wrong second derivative not caught")
	}
}
