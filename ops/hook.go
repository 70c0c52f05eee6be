package ops

import (
	"sync"

	"github.com/kiln-ml/kiln/tensor"
)

// leafHooks holds the ready callbacks of the BackwardWithHook calls in progress, one per
// execution context (a context is used by one goroutine at a time, so by one call).
var leafHooks sync.Map // *tensor.Context → func(*Tensor)

// BackwardWithHook is Backward, calling ready(leaf) as soon as each leaf's gradient of
// this pass has been accumulated into leaf.Grad(), while the engine goes on with the rest
// of the graph. The engine visits a leaf once, after every path to it, so at that moment
// leaf.Grad() is final for the pass: data-parallel training starts sending it to the other
// processes while the remaining gradients are computed. ready runs on the calling
// goroutine, in grad mode off; it may read leaf.Grad() but must not change it (the
// gradient's storage may be shared with tensors the pass still uses). The loss must
// belong to an execution context.
func BackwardWithHook(loss *Tensor, ready func(leaf *Tensor)) {
	c := loss.Context()
	if c == nil {
		panic(errorf("backward", "BackwardWithHook needs a loss of an execution context"))
	}
	if ready != nil {
		leafHooks.Store(c, ready)
		defer leafHooks.Delete(c)
	}
	Backward(loss)
}

// leafReady calls the hook registered for context c, if any.
func leafReady(c *tensor.Context, leaf *Tensor) {
	if h, ok := leafHooks.Load(c); ok {
		h.(func(*Tensor))(leaf)
	}
}
