package cpu

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/kiln-ml/kiln/device"
)

// TestAttentionBackwardPathsAgree checks that the one-pass backward (goroutines own whole
// heads) and the two-pass one (for few heads) give bit-identical gradients: with 2
// goroutines, 4 heads at once take the first path and each head alone the second. Both are
// checked against float64 references by the conformance suite; this pins them to each
// other, context mask and ragged tiles included.
func TestAttentionBackwardPathsAgree(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	p := device.AttentionParams{Batch: 4, Lq: 150, Lk: 140, D: 24, Dv: 20, NContext: 97, Scale: 0.3}
	rng := rand.New(rand.NewPCG(7, 8))
	fill := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	q, k, v := fill(p.Batch*p.Lq*p.D), fill(p.Batch*p.Lk*p.D), fill(p.Batch*p.Lk*p.Dv)
	dO := fill(p.Batch * p.Lq * p.Dv)
	o, lse := make([]float32, p.Batch*p.Lq*p.Dv), make([]float32, p.Batch*p.Lq)
	attention(p, q, k, v, o, lse)
	dq, dk, dv := fill(len(q)), fill(len(k)), fill(len(v)) // garbage must be overwritten
	attentionBackward(p, q, k, v, o, lse, dO, dq, dk, dv)

	one := p
	one.Batch = 1
	for b := 0; b < p.Batch; b++ {
		sl := func(x []float32, n int) []float32 { return x[b*n : (b+1)*n] }
		qn, kn, vn := p.Lq*p.D, p.Lk*p.D, p.Lk*p.Dv
		dq1, dk1, dv1 := fill(qn), fill(kn), fill(vn)
		attentionBackward(one, sl(q, qn), sl(k, kn), sl(v, vn), sl(o, p.Lq*p.Dv), sl(lse, p.Lq), sl(dO, p.Lq*p.Dv), dq1, dk1, dv1)
		for _, c := range []struct {
			name      string
			got, want []float32
		}{{"dQ", sl(dq, qn), dq1}, {"dK", sl(dk, kn), dk1}, {"dV", sl(dv, vn), dv1}} {
			for i := range c.want {
				if c.got[i] != c.want[i] {
					t.Fatalf("head %d %s[%d]: one-pass %v, two-pass %v", b, c.name, i, c.got[i], c.want[i])
				}
			}
		}
		// Keys outside the context get exactly zero gradient.
		for i := p.NContext * p.D; i < kn; i++ {
			if dk1[i] != 0 || sl(dk, kn)[i] != 0 {
				t.Fatalf("head %d: dK of a masked key is not zero", b)
			}
		}
	}
}

func TestTileSize(t *testing.T) {
	for _, c := range []struct{ n, max, want int }{
		{0, 256, 1}, {1, 256, 1}, {65, 256, 65}, {256, 256, 256}, {257, 256, 129}, {513, 256, 171}, {1024, 256, 256}, {1025, 256, 205},
	} {
		got := tileSize(c.n, c.max)
		tiles := (c.n + got - 1) / got
		if got != c.want || got > c.max || (c.n > 0 && tiles != (c.n+c.max-1)/c.max) {
			t.Errorf("tileSize(%d, %d) = %d (%d tiles), want %d", c.n, c.max, got, tiles, c.want)
		}
	}
}
