package ops

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/tensor"
)

// host is a float64 array with a shape, for reference computations by plain loops.
type host struct {
	v     []float64
	shape []int
}

func hostOf(t *Tensor) host { return host{t.Float64s(), t.Shape()} }

func (h host) at(idx ...int) float64 {
	off, st := 0, 1
	for d := len(h.shape) - 1; d >= 0; d-- {
		off += idx[d] * st
		st *= h.shape[d]
	}
	return h.v[off]
}

// each calls fn for every multi-index of shape in row-major order.
func each(shape []int, fn func(idx []int)) {
	idx := make([]int, len(shape))
	n := numel(shape)
	for i := 0; i < n; i++ {
		fn(idx)
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// bidx maps an index of the broadcast shape to an index of shape (aligned right).
func bidx(idx, shape []int) []int {
	out := make([]int, len(shape))
	off := len(idx) - len(shape)
	for j := range shape {
		if shape[j] != 1 {
			out[j] = idx[j+off]
		}
	}
	return out
}

func TestBroadcastForward(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	a, b := ctx.Track(randT(1, -1, 1, 3, 1, 5)), ctx.Track(randT(2, 0.5, 1, 4, 1))
	ha, hb := hostOf(a), hostOf(b)
	for name, c := range map[string]struct {
		op func(a, b *Tensor) *Tensor
		f  func(x, y float64) float64
	}{
		"add": {Add, func(x, y float64) float64 { return x + y }},
		"sub": {Sub, func(x, y float64) float64 { return x - y }},
		"mul": {Mul, func(x, y float64) float64 { return x * y }},
		"div": {Div, func(x, y float64) float64 { return x / y }},
		"max": {Maximum, math.Max},
		"pow": {func(a, b *Tensor) *Tensor { return Pow(b, a) }, func(x, y float64) float64 { return math.Pow(y, x) }},
	} {
		got := c.op(a, b)
		if !tensor.SameShape(got.Shape(), []int{3, 4, 5}) {
			t.Fatalf("%s: shape %v", name, got.Shape())
		}
		var want []float64
		each(got.Shape(), func(idx []int) {
			want = append(want, c.f(ha.at(bidx(idx, ha.shape)...), hb.at(bidx(idx, hb.shape)...)))
		})
		close(t, name, got.Float64s(), want, 1e-14)
	}
}

func TestMatmulForward(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	for _, c := range []struct {
		as, bs []int
		ta, tb bool
	}{
		{[]int{3, 4}, []int{4, 5}, false, false},
		{[]int{2, 3, 4}, []int{4, 5}, false, false},
		{[]int{3, 4}, []int{2, 4, 5}, false, false},
		{[]int{2, 1, 3, 4}, []int{3, 4, 2}, false, false},
		{[]int{2, 4, 3}, []int{4, 5}, true, false},
		{[]int{2, 3, 4}, []int{2, 5, 4}, false, true},
		{[]int{1, 4, 3}, []int{3, 5, 4}, true, true},
		{[]int{3, 1, 4, 3}, []int{1, 2, 5, 4}, true, true},
	} {
		a, b := randT(3, -1, 1, c.as...), randT(4, -1, 1, c.bs...)
		got := MatmulT(a, b, c.ta, c.tb)
		ha, hb := hostOf(a), hostOf(b)
		ra, rb := len(c.as), len(c.bs)
		k := c.as[ra-1]
		if c.ta {
			k = c.as[ra-2]
		}
		var want []float64
		gs := got.Shape()
		each(gs, func(idx []int) {
			i, j := idx[len(idx)-2], idx[len(idx)-1]
			ia := bidx(idx[:len(idx)-2], c.as[:ra-2])
			ib := bidx(idx[:len(idx)-2], c.bs[:rb-2])
			sum := 0.0
			for kk := 0; kk < k; kk++ {
				av := ha.at(append(append([]int(nil), ia...), i, kk)...)
				if c.ta {
					av = ha.at(append(append([]int(nil), ia...), kk, i)...)
				}
				bv := hb.at(append(append([]int(nil), ib...), kk, j)...)
				if c.tb {
					bv = hb.at(append(append([]int(nil), ib...), j, kk)...)
				}
				sum += av * bv
			}
			want = append(want, sum)
		})
		close(t, "matmul", got.Float64s(), want, 1e-12)
	}
	// numpy's 1-D rules.
	v := randT(5, -1, 1, 4)
	m := randT(6, -1, 1, 4, 3)
	if got := Matmul(v, m).Shape(); !tensor.SameShape(got, []int{3}) {
		t.Fatalf("vec·mat shape %v", got)
	}
	if got := Matmul(T(m), v).Shape(); !tensor.SameShape(got, []int{3}) {
		t.Fatalf("mat·vec shape %v", got)
	}
	dot := Matmul(v, v)
	vv := v.Float64s()
	want := 0.0
	for _, x := range vv {
		want += x * x
	}
	if dot.Rank() != 0 || math.Abs(dot.Item()-want) > 1e-14 {
		t.Fatalf("dot = %v %v, want scalar %v", dot.Shape(), dot.Item(), want)
	}
}

func TestReduceForward(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	x := ctx.Track(randT(7, -1, 1, 3, 4, 5, 2))
	hx := hostOf(x)
	for _, axes := range [][]int{{1}, {0, 2}, {1, 2}, {-1, 0}, {}} {
		ax := normAxes("test", axes, 4)
		red := map[int]bool{}
		for _, a := range ax {
			red[a] = true
		}
		kept := keptShape(x.Shape(), ax)
		sum := make([]float64, numel(kept))
		mx := make([]float64, numel(kept))
		for i := range mx {
			mx[i] = math.Inf(-1)
		}
		each(x.Shape(), func(idx []int) {
			o, st := 0, 1
			for d := 3; d >= 0; d-- {
				if !red[d] {
					o += idx[d] * st
				}
				st *= kept[d]
			}
			v := hx.at(idx...)
			sum[o] += v
			mx[o] = math.Max(mx[o], v)
		})
		gs := Sum(x, true, axes...)
		if !tensor.SameShape(gs.Shape(), kept) {
			t.Fatalf("sum %v keepdim shape %v, want %v", axes, gs.Shape(), kept)
		}
		close(t, "sum", gs.Float64s(), sum, 1e-13)
		gm := Max(x, false, axes...)
		if !tensor.SameShape(gm.Shape(), droppedShape(x.Shape(), ax)) {
			t.Fatalf("max %v shape %v", axes, gm.Shape())
		}
		close(t, "max", gm.Float64s(), mx, 0)
		mean := Mean(x, false, axes...).Float64s()
		n := float64(x.Len() / len(sum))
		for i := range sum {
			sum[i] /= n
		}
		close(t, "mean", mean, sum, 1e-13)
	}
	// Ties share the gradient of max equally.
	tie := tensor.FromFloat64(dev, []float64{1, 3, 3, 2}).SetRequiresGrad(true)
	g := Grad([]*Tensor{MaxAll(tie)}, []*Tensor{tie}, nil, false)[0]
	close(t, "tied max gradient", g.Float64s(), []float64{0, 0.5, 0.5, 0}, 0)
}

func TestSoftmaxLayerNormForward(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	x := ctx.Track(randT(8, -3, 3, 4, 7))
	hx := hostOf(x)
	gamma, beta := ctx.Track(randT(9, 0.5, 1.5, 7)), ctx.Track(randT(10, -1, 1, 7))
	gv, bv := gamma.Float64s(), beta.Float64s()
	var sm, lsm, ln []float64
	for i := 0; i < 4; i++ {
		mx, z, mean, vr := math.Inf(-1), 0.0, 0.0, 0.0
		for j := 0; j < 7; j++ {
			mx = math.Max(mx, hx.at(i, j))
			mean += hx.at(i, j) / 7
		}
		for j := 0; j < 7; j++ {
			z += math.Exp(hx.at(i, j) - mx)
			vr += (hx.at(i, j) - mean) * (hx.at(i, j) - mean) / 7
		}
		for j := 0; j < 7; j++ {
			sm = append(sm, math.Exp(hx.at(i, j)-mx)/z)
			lsm = append(lsm, hx.at(i, j)-mx-math.Log(z))
			ln = append(ln, (hx.at(i, j)-mean)/math.Sqrt(vr+1e-5)*gv[j]+bv[j])
		}
	}
	close(t, "softmax", Softmax(x, -1).Float64s(), sm, 1e-13)
	close(t, "log_softmax", LogSoftmax(x, 1).Float64s(), lsm, 1e-13)
	close(t, "softmax axis 0 of the transpose", T(Softmax(T(x), 0)).Float64s(), sm, 1e-13)
	close(t, "layer_norm", LayerNorm(x, gamma, beta, 1e-5).Float64s(), ln, 1e-12)
}

// refAttention is attention by hand loops for [B, L, D] operands.
func refAttention(q, k, v host, nctx int, scale float64) []float64 {
	b, lq, d := q.shape[0], q.shape[1], q.shape[2]
	dv := v.shape[2]
	var out []float64
	for bi := 0; bi < b; bi++ {
		for i := 0; i < lq; i++ {
			sc := make([]float64, nctx)
			mx := math.Inf(-1)
			for j := 0; j < nctx; j++ {
				for c := 0; c < d; c++ {
					sc[j] += q.at(bi, i, c) * k.at(bi, j, c) * scale
				}
				mx = math.Max(mx, sc[j])
			}
			z := 0.0
			for j := range sc {
				sc[j] = math.Exp(sc[j] - mx)
				z += sc[j]
			}
			for c := 0; c < dv; c++ {
				o := 0.0
				for j := range sc {
					o += sc[j] / z * v.at(bi, j, c)
				}
				out = append(out, o)
			}
		}
	}
	return out
}

func TestAttentionForward(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	q, k, v := ctx.Track(randT(11, -1, 1, 3, 70, 5)), ctx.Track(randT(12, -1, 1, 3, 90, 5)), ctx.Track(randT(13, -1, 1, 3, 90, 6))
	for _, nctx := range []int{1, 37, 90} {
		got := Attention(q, k, v, nctx, 0)
		want := refAttention(hostOf(q), hostOf(k), hostOf(v), nctx, 1/math.Sqrt(5))
		close(t, "attention", got.Float64s(), want, 1e-12)
		close(t, "attention reference ops", attentionReference(q, k, v, nctx, 0).Float64s(), want, 1e-12)
	}
	// A device without bfloat16 product kernels (the CPU) computes AttentionMixed exactly.
	if q.Device().Name() == "cpu" {
		close(t, "attention mixed", AttentionMixed(q, k, v, 37, 0, tensor.BFloat16).Float64s(), Attention(q, k, v, 37, 0).Float64s(), 0)
	}
	// Keys at or after nContext get zero gradient.
	kk := k.SetRequiresGrad(true)
	defer kk.SetRequiresGrad(false)
	g := Grad([]*Tensor{SumAll(Attention(q, kk, v, 37, 0))}, []*Tensor{kk}, nil, false)[0]
	hg := hostOf(g)
	for j := 37; j < 90; j++ {
		for c := 0; c < 5; c++ {
			if hg.at(1, j, c) != 0 {
				t.Fatalf("masked key %d has gradient %v", j, hg.at(1, j, c))
			}
		}
	}
}

func TestShapeOpsForward(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	x := ctx.Track(randT(14, -1, 1, 3, 5, 2))
	hx := hostOf(x)
	sel := IndexSelect(x, 1, idxT(4, 0, 4))
	var want []float64
	each([]int{3, 3, 2}, func(idx []int) {
		want = append(want, hx.at(idx[0], []int{4, 0, 4}[idx[1]], idx[2]))
	})
	close(t, "index_select", sel.Float64s(), want, 0)
	want = want[:0]
	each([]int{3, 2, 2}, func(idx []int) { want = append(want, hx.at(idx[0], idx[1]+2, idx[2])) })
	close(t, "slice", Slice(x, 1, 2, 4).Float64s(), want, 0)
	c := Concat(-1, x, Slice(x, 2, 0, 1))
	want = want[:0]
	each([]int{3, 5, 3}, func(idx []int) { want = append(want, hx.at(idx[0], idx[1], min(idx[2], 2)%2)) })
	close(t, "concat", c.Float64s(), want, 0)
	p := Permute(x, 2, 0, 1)
	want = want[:0]
	each([]int{2, 3, 5}, func(idx []int) { want = append(want, hx.at(idx[1], idx[2], idx[0])) })
	close(t, "permute", p.Float64s(), want, 0)
}

func TestCrossEntropyForward(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	logits := ctx.Track(randT(15, -3, 3, 5, 4))
	targets := []int32{3, 0, 1, 1, 2}
	w := []float64{1, 0, 1, 1, 0}
	hl := hostOf(logits)
	num, den := 0.0, 0.0
	for i, tg := range targets {
		z := 0.0
		for j := 0; j < 4; j++ {
			z += math.Exp(hl.at(i, j))
		}
		num += w[i] * (math.Log(z) - hl.at(i, int(tg)))
		den += w[i]
	}
	got := CrossEntropy(logits, idxT(targets...), tensor.FromFloat64(dev, w)).Item()
	if math.Abs(got-num/den) > 1e-13 {
		t.Fatalf("cross entropy %v, want %v", got, num/den)
	}
	got3 := CrossEntropy(logits.Reshape(5, 1, 4), idxT(targets...).Reshape(5, 1), tensor.FromFloat64(dev, w, 5, 1)).Item()
	if math.Abs(got3-num/den) > 1e-13 {
		t.Fatalf("cross entropy of [5, 1, 4] logits %v, want %v", got3, num/den)
	}
	// A class masked out with a −Inf logit neither poisons the loss nor the gradient.
	masked := Add(logits.SetRequiresGrad(true), tensor.FromFloat64(dev, []float64{0, 0, math.Inf(-1), 0}, 4))
	ce := CrossEntropy(masked, idxT(3, 0, 1, 1, 0), nil)
	g := Grad([]*Tensor{ce}, []*Tensor{logits}, nil, false)[0]
	logits.SetRequiresGrad(false)
	if err := CheckFinite("masked cross entropy", ce, g); err != nil {
		t.Fatal(err)
	}
	zero := CrossEntropy(logits, idxT(targets...), tensor.Zeros(dev, tensor.Float64, 5)).Item()
	if zero != 0 {
		t.Fatalf("all-masked cross entropy %v, want 0", zero)
	}
}

func TestDropout(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	x := ctx.Ones(dev, tensor.Float64, 200, 50)
	if Dropout(x, 0.3, false, nil) != x {
		t.Fatal("dropout in eval mode is not the identity")
	}
	y := Dropout(x, 0.3, true, tensor.NewGenerator(3)).Float64s()
	zeros := 0
	for _, v := range y {
		switch {
		case v == 0:
			zeros++
		case math.Abs(v-1/0.7) > 1e-15:
			t.Fatalf("survivor scaled to %v, want %v", v, 1/0.7)
		}
	}
	// 10000 Bernoulli(0.3) draws: sd of the fraction ≈ 0.0046.
	if frac := float64(zeros) / float64(len(y)); math.Abs(frac-0.3) > 0.02 {
		t.Fatalf("dropped fraction %v, want ≈ 0.3", frac)
	}
	y2 := Dropout(x, 0.3, true, tensor.NewGenerator(3)).Float64s()
	close(t, "same seed, same mask", y2, y, 0)
}

func TestGeluForward(t *testing.T) {
	ctx := tensor.NewContext()
	defer ctx.Close()
	x := ctx.Track(randT(16, -4, 4, 9))
	var exact, approx []float64
	for _, v := range x.Float64s() {
		exact = append(exact, v*0.5*(1+math.Erf(v/math.Sqrt2)))
		approx = append(approx, 0.5*v*(1+math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
	}
	close(t, "gelu", Gelu(x).Float64s(), exact, 1e-14)
	close(t, "gelu_tanh", GeluTanh(x).Float64s(), approx, 1e-14)
}

// TestEmptyInnerDimensionGivesZeros: a product with an empty inner dimension is a sum over
// nothing, so zeros on every backend, also where new memory is not zero-filled (the CUDA
// backend's uninitialised allocations, which its emulator poisons with NaN).
func TestEmptyInnerDimensionGivesZeros(t *testing.T) {
	a := tensor.Zeros(dev, tensor.Float64, 3, 0)
	b := tensor.Zeros(dev, tensor.Float64, 0, 4)
	for i, v := range Matmul(a, b).Float64s() {
		if v != 0 {
			t.Fatalf("[3,0]·[0,4]: element %d is %v, want 0", i, v)
		}
	}
}
