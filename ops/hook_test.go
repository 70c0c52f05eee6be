package ops

import (
	"testing"

	"github.com/kiln-ml/kiln/tensor"
)

// BackwardWithHook reports each leaf once, with its complete gradient of the pass, and
// accumulates exactly what Backward does.
func TestBackwardWithHook(t *testing.T) {
	c := tensor.NewContext()
	defer c.Close()
	x := randT(1, -1, 1, 3).SetRequiresGrad(true)
	w := randT(2, -1, 1, 3).SetRequiresGrad(true)
	defer ZeroGrad(x, w)
	loss := func() *Tensor {
		p := In(c, x, w)
		return Add(SumAll(Mul(p[0], p[1])), SumAll(Square(p[0])))
	}
	Backward(loss())
	wantX, wantW := x.Grad().Float64s(), w.Grad().Float64s()
	ZeroGrad(x, w)
	seen := map[*Tensor][]float64{}
	BackwardWithHook(loss(), func(leaf *Tensor) {
		if _, dup := seen[leaf]; dup {
			t.Errorf("leaf reported twice")
		}
		seen[leaf] = leaf.Grad().Float64s()
	})
	if len(seen) != 2 {
		t.Fatalf("%d leaves reported, want 2", len(seen))
	}
	close(t, "dx at the hook", seen[x], wantX, 0)
	close(t, "dw at the hook", seen[w], wantW, 0)
	close(t, "dx", x.Grad().Float64s(), wantX, 0)
	// The hook is gone after the call: a plain Backward reports nothing.
	ZeroGrad(x, w)
	n := len(seen)
	Backward(loss())
	if len(seen) != n {
		t.Error("hook called after BackwardWithHook returned")
	}
}
