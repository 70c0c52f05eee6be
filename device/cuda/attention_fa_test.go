//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/devicetest"
	"github.com/kiln-ml/kiln/device/half"
)

// TestAttentionFABF16 runs the bfloat16 tensor-core attention forward (cuda.FABF16Env,
// kernels/attention.cu kiln_attn_fwd_fa_bf16_*) against the float64 definition evaluated on
// the same bfloat16 inputs: sequence lengths below, at and above the 64-query and 64-key
// tiles, NContext < Lk (the keys and values beyond the context are large, so that a leak
// through the mask shows), head dims 32 and 64 with D ≠ Dv and padding, and no context.
//
// Tolerance. The inputs are exact bfloat16 values, so the error comes from the kernel alone;
// with u = 2⁻⁸ (bfloat16's unit roundoff: 7 stored mantissa bits, 8 significant) and ε = 2⁻²⁴ (float32's):
//   - the probabilities are rounded to bfloat16 before P·V while l sums them unrounded:
//     at most u·Σⱼ pᵢⱼ|vⱼc| = u·scaleᵢc;
//   - O is rounded to bfloat16 once: at most u·|oᵢc| ≤ u·scaleᵢc;
//   - the scores are float32 sums of D exact products (tensor-core accumulation may
//     truncate, so 2ε per addition): |Δs| ≤ 2D·ε·Sᵢ with Sᵢ = scale·maxⱼ Σc |qᵢc kⱼc|, which
//     perturbs each pᵢⱼ and l by the relative factor e^{±2|Δs|} — at most 4·(2D·ε·Sᵢ)·scaleᵢc
//     on O; exp2f, the rescalings and the float32 P·V sum over NContext keys add
//     (NContext + 64)·ε·scaleᵢc;
//
// so |Δoᵢc| ≤ (2u + (8D·Sᵢ + NContext + 64)·ε)·scaleᵢc. The log-sum-exp is float32 then
// rounded to bfloat16: |Δlseᵢ| ≤ u·|lseᵢ| + (2D·Sᵢ + NContext + 64)·ε·(1 + |lseᵢ|).
// The test reports the largest error as a fraction of its bound.
func TestAttentionFABF16(t *testing.T) {
	d := gpu(t)
	d.SetFABF16(true)
	defer d.SetFABF16(false)
	ap := func(b, lq, lk, dh, dv, nc int) device.AttentionParams {
		return device.AttentionParams{Batch: b, Lq: lq, Lk: lk, D: dh, Dv: dv, NContext: nc, Scale: 1 / math.Sqrt(float64(dh))}
	}
	shapes := []device.AttentionParams{
		ap(2, 7, 33, 32, 32, 20),     // one partial tile of each, NContext < Lk
		ap(1, 64, 64, 64, 64, 64),    // exact tiles
		ap(1, 65, 130, 64, 64, 100),  // a second query block of one row; two key tiles, the last partial
		ap(2, 33, 50, 16, 24, 1),     // D, Dv < 32 (zero padding), D ≠ Dv, a single context key
		ap(1, 20, 200, 48, 64, 129),  // D = 48 padded to 64, three key tiles, one live key in the last
		ap(1, 5, 10, 64, 32, 0),      // no context: O = 0, lse = −inf
		ap(3, 70, 90, 32, 32, 90),    // NContext = Lk, several heads
		ap(1, 1, 3, 32, 32, 3),       // one query
		ap(1, 130, 300, 64, 64, 257), // three query blocks, five key tiles, one live key in the last
	}
	worst := 0.0
	for si, p := range shapes {
		name := fmt.Sprintf("B=%d Lq=%d Lk=%d D=%d Dv=%d NContext=%d", p.Batch, p.Lq, p.Lk, p.D, p.Dv, p.NContext)
		rng := rand.New(rand.NewPCG(uint64(si), 7))
		bf := func(n int, big func(i int) float64) []float64 {
			x := make([]float64, n)
			for i := range x {
				x[i] = float64(half.BFloat16FromFloat64(rng.NormFloat64() * big(i)).Float32())
			}
			return x
		}
		one := func(int) float64 { return 1 }
		beyond := func(width int, f float64) func(int) float64 { // keys at or past NContext get ×f
			return func(i int) float64 {
				if (i/width)%p.Lk >= p.NContext {
					return f
				}
				return 1
			}
		}
		q := bf(p.Batch*p.Lq*p.D, one)
		k := bf(p.Batch*p.Lk*p.D, beyond(p.D, 30))
		v := bf(p.Batch*p.Lk*p.Dv, beyond(p.Dv, 1000))
		qb, kb, vb := uploadBF16(t, d, q), uploadBF16(t, d, k), uploadBF16(t, d, v)
		ob, lb := uploadBF16(t, d, make([]float64, p.Batch*p.Lq*p.Dv)), uploadBF16(t, d, make([]float64, p.Batch*p.Lq))
		d.Attention(p, qb, kb, vb, ob, lb)
		o, lse := download(t, d, ob), download(t, d, lb)

		const u, eps = 0x1p-8, 0x1p-24
		maxO, maxL := 0.0, 0.0 // error / bound
		for b := 0; b < p.Batch; b++ {
			for i := 0; i < p.Lq; i++ {
				qi := q[(b*p.Lq+i)*p.D:][:p.D]
				s := make([]float64, p.NContext)
				m, sAbs := math.Inf(-1), 0.0
				for j := range s {
					kj := k[(b*p.Lk+j)*p.D:][:p.D]
					dot, abs := 0.0, 0.0
					for c, x := range qi {
						dot += x * kj[c]
						abs += math.Abs(x * kj[c])
					}
					s[j] = p.Scale * dot
					m, sAbs = math.Max(m, s[j]), math.Max(sAbs, p.Scale*abs)
				}
				sum := 0.0
				for j := range s {
					s[j] = math.Exp(s[j] - m)
					sum += s[j]
				}
				row := b*p.Lq + i
				if p.NContext == 0 {
					if !math.IsInf(lse[row], -1) {
						t.Errorf("%s: row %d: lse %v, want -Inf", name, row, lse[row])
					}
					for c := 0; c < p.Dv; c++ {
						if o[row*p.Dv+c] != 0 {
							t.Errorf("%s: o[%d,%d] = %v, want 0", name, row, c, o[row*p.Dv+c])
						}
					}
					continue
				}
				wantL := m + math.Log(sum)
				tolL := u*math.Abs(wantL) + (2*float64(p.D)*sAbs+float64(p.NContext)+64)*eps*(1+math.Abs(wantL))
				maxL = math.Max(maxL, math.Abs(lse[row]-wantL)/tolL)
				rel := 2*u + (8*float64(p.D)*sAbs+float64(p.NContext)+64)*eps
				for c := 0; c < p.Dv; c++ {
					want, scale := 0.0, 0.0
					for j, pj := range s {
						x := v[(b*p.Lk+j)*p.Dv+c]
						want += pj / sum * x
						scale += pj / sum * math.Abs(x)
					}
					got := o[row*p.Dv+c]
					e := math.Abs(got-want) / (rel*scale + math.SmallestNonzeroFloat64)
					if !(e <= maxO) { // NaN included
						maxO = e
					}
				}
			}
		}
		t.Logf("%s: max |Δo|/bound %.3f, max |Δlse|/bound %.3f", name, maxO, maxL)
		if !(maxO <= 1) || !(maxL <= 1) {
			t.Errorf("%s: error above the bound (o %.3g, lse %.3g of it)", name, maxO, maxL)
		}
		worst = math.Max(worst, math.Max(maxO, maxL))

		// The switch is what selects the kernel: the widened float32 path rounds only the
		// output, so on enough keys some element differs.
		if p.NContext >= 64 {
			d.SetFABF16(false)
			d.Attention(p, qb, kb, vb, ob, lb)
			d.SetFABF16(true)
			ow, same := download(t, d, ob), true
			for i := range ow {
				same = same && ow[i] == o[i]
			}
			if same {
				t.Errorf("%s: the tensor-core and the widened forward agree bit for bit: was the kernel used?", name)
			}
		}
		for _, b := range []device.Buffer{qb, kb, vb, ob, lb} {
			b.Free()
		}
	}
	t.Logf("worst error: %.3f of its bound", worst)
}

// uploadBF16 copies x, rounded to bfloat16, to a new bfloat16 buffer of d.
func uploadBF16(t *testing.T, d device.Device, x []float64) device.Buffer {
	t.Helper()
	b, err := d.Alloc(device.BFloat16, len(x))
	if err != nil {
		t.Fatal(err)
	}
	h := make([]half.BFloat16, len(x))
	for i, v := range x {
		h[i] = half.BFloat16FromFloat64(v)
	}
	if err := d.CopyFromHost(b, h); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformanceFABF16 runs the conformance suite's bfloat16 Attention cases with the
// tensor-core forward switched on (head dims ≤ 64 take it, 128 stays widened), against the
// suite's own references and bfloat16 tolerances.
func TestConformanceFABF16(t *testing.T) {
	d := gpu(t)
	d.SetFABF16(true)
	defer d.SetFABF16(false)
	rs := devicetest.Run(d, devicetest.Options{Quick: testing.Short(), DTypes: []device.DType{device.BFloat16}, Primitives: []string{"Attention"}})
	n := 0
	for _, r := range rs {
		if r.Primitive != "Attention" {
			continue
		}
		n++
		t.Logf("%s: max error %.3g, tol %.3g", r.Case, r.MaxErr, r.Tol)
		if !r.Pass {
			t.Errorf("%s %s: max error %.3g > tol %.3g %s", r.Primitive, r.Case, r.MaxErr, r.Tol, r.Err)
		}
	}
	if n == 0 {
		t.Fatal("no Attention case ran")
	}
}

// TestConformanceFAMixed runs the conformance suite's float32 Attention and AttentionBackward
// cases with the tensor-core kernels switched on: the cases whose AttentionParams.Products is
// BFloat16 take kiln_attn_*_fa_f32_* at head dims ≤ 64 and are held to the suite's bfloat16
// product tolerance; the others must stay on the exact float32 kernels and their tolerances.
func TestConformanceFAMixed(t *testing.T) {
	d := gpu(t)
	d.SetFABF16(true)
	defer d.SetFABF16(false)
	rs := devicetest.Run(d, devicetest.Options{Quick: testing.Short(), DTypes: []device.DType{device.Float32},
		Primitives: []string{"Attention", "AttentionBackward"}})
	mixed := map[string]int{}
	for _, r := range rs {
		if r.Primitive != "Attention" && r.Primitive != "AttentionBackward" {
			continue
		}
		if strings.Contains(r.Case, "products=bfloat16") {
			mixed[r.Primitive]++
		}
		t.Logf("%s %s: max error %.3g, tol %.3g", r.Primitive, r.Case, r.MaxErr, r.Tol)
		if !r.Pass {
			t.Errorf("%s %s: max error %.3g > tol %.3g %s", r.Primitive, r.Case, r.MaxErr, r.Tol, r.Err)
		}
	}
	if mixed["Attention"] == 0 || mixed["AttentionBackward"] == 0 {
		t.Fatalf("mixed-precision cases run: %v, want some of each primitive", mixed)
	}
}

// TestAttentionFAMixedSelection checks that the switch and AttentionParams.Products together
// select the mixed-precision kernels, forward and backward: with both, the results differ
// from the float32 kernels' (bfloat16 P and dS) but lie within the bfloat16 product
// tolerance of them; with Products zero, the switch changes nothing, bit for bit.
func TestAttentionFAMixedSelection(t *testing.T) {
	d := gpu(t)
	defer d.SetFABF16(false)
	for _, p := range []device.AttentionParams{
		{Batch: 2, Lq: 70, Lk: 130, D: 64, Dv: 64, NContext: 100, Scale: 0.125},
		{Batch: 1, Lq: 33, Lk: 80, D: 16, Dv: 32, NContext: 80, Scale: 0.25},
	} {
		rng := rand.New(rand.NewPCG(uint64(p.Lq), 3))
		bf := func(n int) []float64 {
			x := make([]float64, n)
			for i := range x {
				x[i] = float64(half.BFloat16FromFloat64(rng.NormFloat64()).Float32())
			}
			return x
		}
		q, k, v, dO := bf(p.Batch*p.Lq*p.D), bf(p.Batch*p.Lk*p.D), bf(p.Batch*p.Lk*p.Dv), bf(p.Batch*p.Lq*p.Dv)
		run := func(on bool, products device.DType) [5][]float64 {
			d.SetFABF16(on)
			p := p
			p.Products = products
			up := func(x []float64) device.Buffer { return upload(t, d, device.Float32, x) }
			qb, kb, vb, gb := up(q), up(k), up(v), up(dO)
			ob, lb := up(make([]float64, len(dO))), up(make([]float64, p.Batch*p.Lq))
			dq, dk, dv := up(make([]float64, len(q))), up(make([]float64, len(k))), up(make([]float64, len(v)))
			d.Attention(p, qb, kb, vb, ob, lb)
			d.AttentionBackward(p, qb, kb, vb, ob, lb, gb, dq, dk, dv)
			var out [5][]float64
			for i, b := range []device.Buffer{ob, lb, dq, dk, dv} {
				out[i] = download(t, d, b)
			}
			for _, b := range []device.Buffer{qb, kb, vb, gb, ob, lb, dq, dk, dv} {
				b.Free()
			}
			return out
		}
		exact, off := run(false, device.BFloat16), run(true, 0)
		mixed := run(true, device.BFloat16)
		names := []string{"o", "lse", "dq", "dk", "dv"}
		for i, name := range names {
			same, maxAbs, maxDiff := true, 0.0, 0.0
			for j, x := range exact[i] {
				same = same && off[i][j] == x
				maxAbs = math.Max(maxAbs, math.Abs(x))
				maxDiff = math.Max(maxDiff, math.Abs(mixed[i][j]-x))
			}
			if !same {
				t.Errorf("%+v %s: the switch changed a result of Products 0", p, name)
			}
			if name == "lse" {
				continue // float32 scores either way
			}
			t.Logf("%+v %s: max |mixed − float32| %.3g, max |float32| %.3g", p, name, maxDiff, maxAbs)
			if maxDiff == 0 {
				t.Errorf("%+v %s: mixed and float32 agree bit for bit: were the tensor-core kernels used?", p, name)
			}
			if !(maxDiff <= 16*0x1p-8*maxAbs) {
				t.Errorf("%+v %s: mixed differs from float32 by %.3g, above 16u·max|x| = %.3g", p, name, maxDiff, 16*0x1p-8*maxAbs)
			}
		}
	}
}
