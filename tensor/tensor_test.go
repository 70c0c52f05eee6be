package tensor_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/rng"
	"github.com/kiln-ml/kiln/tensor"
)

func cpu() device.Device { return device.MustGet("cpu") }

func seq(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i) + 0.5
	}
	return v
}

func TestConstructors(t *testing.T) {
	d := cpu()
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		z := tensor.Zeros(d, dt, 2, 3)
		require.Equal(t, []int{2, 3}, z.Shape())
		require.Equal(t, make([]float64, 6), z.Float64s())
		f := tensor.Full(d, dt, 2.5, 4)
		require.Equal(t, []float64{2.5, 2.5, 2.5, 2.5}, f.Float64s())
		a := tensor.Arange(d, dt, 1, 2, 0.25)
		require.Equal(t, []float64{1, 1.25, 1.5, 1.75}, a.Float64s())
		s := tensor.Scalar(d, dt, -3)
		require.Equal(t, 0, s.Rank())
		require.Equal(t, -3.0, s.Item())
	}
	x := tensor.FromFloat32(d, []float32{1, 2, 3, 4, 5, 6}, 3, 2)
	require.Equal(t, []float32{1, 2, 3, 4, 5, 6}, x.Float32s())
	require.Equal(t, 2, x.Dim(-1))
}

func TestPermuteTransposeSlice(t *testing.T) {
	d := cpu()
	const A, B, C = 2, 3, 4
	v := seq(A * B * C)
	x := tensor.FromFloat64(d, v, A, B, C)
	p := x.Permute(2, 0, 1) // shape C, A, B
	require.Equal(t, []int{C, A, B}, p.Shape())
	got := p.Float64s()
	for c := 0; c < C; c++ {
		for a := 0; a < A; a++ {
			for b := 0; b < B; b++ {
				require.Equal(t, v[(a*B+b)*C+c], got[(c*A+a)*B+b])
			}
		}
	}
	tr := x.Transpose(0, 2).Transpose(0, 2)
	require.Equal(t, v, tr.Float64s())
	s := x.Slice(1, 1, 3)
	require.Equal(t, []int{A, 2, C}, s.Shape())
	sg := s.Float64s()
	for a := 0; a < A; a++ {
		for b := 0; b < 2; b++ {
			for c := 0; c < C; c++ {
				require.Equal(t, v[(a*B+b+1)*C+c], sg[(a*2+b)*C+c])
			}
		}
	}
}

func TestConcat(t *testing.T) {
	d := cpu()
	a := tensor.FromFloat64(d, []float64{1, 2, 3, 4}, 2, 2)
	b := tensor.FromFloat64(d, []float64{5, 6}, 2, 1)
	c := tensor.Concat(1, a, b)
	require.Equal(t, []float64{1, 2, 5, 3, 4, 6}, c.Float64s())
	r := tensor.Concat(0, a, b.Reshape(1, 2))
	require.Equal(t, []float64{1, 2, 3, 4, 5, 6}, r.Float64s())
}

func TestReshapeSharesStorageAndCounts(t *testing.T) {
	d := cpu()
	before := d.MemStats().LiveBuffers
	x := tensor.FromFloat64(d, seq(6), 2, 3)
	v := x.Reshape(3, -1)
	require.Equal(t, []int{3, 2}, v.Shape())
	x.Release()
	// The view keeps the storage alive.
	require.Equal(t, seq(6), v.Float64s())
	require.Equal(t, before+1, d.MemStats().LiveBuffers)
	v.Release()
	require.Equal(t, before, d.MemStats().LiveBuffers)
	require.Panics(t, func() { v.Float64s() })
}

func TestScopeReleases(t *testing.T) {
	d := cpu()
	before := d.MemStats().LiveBuffers
	c := tensor.NewContext()
	defer c.Close()
	var kept *tensor.Tensor
	func() {
		s := c.NewScope()
		defer s.Close()
		a := c.Ones(d, tensor.Float32, 10)
		_ = a.Reshape(2, 5)
		_ = tensor.Concat(0, a, a)
		kept = s.Keep(a.Clone())
	}()
	require.Equal(t, before+1, d.MemStats().LiveBuffers)
	require.Same(t, c, kept.Context(), "a kept tensor moves to the parent scope of its context")
	require.Equal(t, 10, len(kept.Float32s()))
	c.Close()
	require.Equal(t, before, d.MemStats().LiveBuffers, "closing the context releases what its scopes kept")
	require.True(t, kept.Released())
	require.Panics(t, func() { c.Zeros(d, tensor.Float32, 1) }, "a closed context makes no tensors")
}

func TestContextOwnership(t *testing.T) {
	d := cpu()
	before := d.MemStats().LiveBuffers
	c := tensor.NewContext()
	free := tensor.Ones(d, tensor.Float32, 4)
	require.Nil(t, free.Context())
	in := c.FromFloat32(d, []float32{1, 2, 3, 4})
	require.Same(t, c, in.Context())
	// Derived tensors belong to the context of their operands; free ones mix in.
	require.Same(t, c, tensor.Concat(0, free, in).Context())
	require.Same(t, c, in.Reshape(2, 2).Context())
	both := tensor.Concat(0, free, free)
	require.Nil(t, both.Context(), "all-free operands give a free tensor")
	both.Release()
	require.Same(t, c, tensor.ContextOf(nil, free, in))

	other := tensor.NewContext()
	foreign := other.Ones(d, tensor.Float32, 4)
	require.PanicsWithError(t, "tensor: operands of shapes [4] and [4] belong to different execution contexts",
		func() { tensor.Concat(0, in, foreign) })
	require.Panics(t, func() { c.Track(foreign) })

	// Track adopts a free tensor; Detach frees one.
	adopted := c.Track(tensor.Zeros(d, tensor.Float32, 3))
	require.Same(t, c, adopted.Context())
	kept := c.Zeros(d, tensor.Float32, 5).Detach()
	require.Nil(t, kept.Context())

	c.Close()
	other.Close()
	require.True(t, adopted.Released())
	require.False(t, kept.Released())
	require.Panics(t, func() { in.Float32s() }, "closing the context released its tensors")
	kept.Release()
	free.Release()
	require.Equal(t, before, d.MemStats().LiveBuffers)
}

func TestContextGradMode(t *testing.T) {
	var none *tensor.Context
	require.True(t, none.GradEnabled(), "free tensors record gradients")
	c := tensor.NewContext()
	defer c.Close()
	require.True(t, c.GradEnabled())
	require.Panics(t, func() {
		c.NoGrad(func() {
			require.False(t, c.GradEnabled())
			panic("boom")
		})
	})
	require.True(t, c.GradEnabled(), "NoGrad restores the mode after a panic")
	other := tensor.NewContext()
	defer other.Close()
	other.NoGrad(func() { require.True(t, c.GradEnabled(), "grad mode belongs to one context") })
}

func TestNestedScopes(t *testing.T) {
	d := cpu()
	before := d.MemStats().LiveBuffers
	c := tensor.NewContext()
	defer c.Close()
	outer := c.NewScope()
	a := c.Ones(d, tensor.Float32, 2)
	inner := c.NewScope()
	b := c.Ones(d, tensor.Float32, 2)
	kept := inner.Keep(c.Ones(d, tensor.Float32, 2))
	// Closing the outer scope closes the inner one first.
	outer.Close()
	require.True(t, a.Released())
	require.True(t, b.Released())
	require.True(t, kept.Released(), "kept into the outer scope, released with it")
	inner.Close() // a no-op now
	require.Equal(t, before, d.MemStats().LiveBuffers)
	// New tensors go to the context's own scope again.
	x := c.Ones(d, tensor.Float32, 2)
	c.Close()
	require.True(t, x.Released())
}

// TestContextsAreIndependent runs scope-heavy work on 16 goroutines at once, each with its
// own context; under -race it also shows that contexts share no state.
func TestContextsAreIndependent(t *testing.T) {
	d := cpu()
	shared := tensor.FromFloat64(d, seq(6), 2, 3)
	defer shared.Release()
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		go func() {
			errs <- tensor.Catch(func() error {
				c := tensor.NewContext()
				defer c.Close()
				for i := 0; i < 50; i++ {
					s := c.NewScope()
					x := tensor.Concat(0, shared, c.FromFloat64(d, seq(6), 2, 3)).Reshape(-1)
					got := x.Float64s()
					if got[0] != 0.5 || got[11] != 5.5 {
						return fmt.Errorf("goroutine %d step %d: got %v", g, i, got)
					}
					s.Close()
				}
				return nil
			})
		}()
	}
	for g := 0; g < 16; g++ {
		require.NoError(t, <-errs)
	}
}

func TestRandomMatchesRNG(t *testing.T) {
	d := cpu()
	u := tensor.Uniform(d, tensor.Float64, 11, 5, -2, 2, 3, 7).Float64s()
	n := tensor.Normal(d, tensor.Float64, 11, 5, 1, 3, 21).Float64s()
	for i := range u {
		require.Equal(t, rng.UniformAt(11, 5, i, -2, 2), u[i])
		require.Equal(t, rng.NormalAt(11, 5, i, 1, 3), n[i])
	}
	g := tensor.NewGenerator(11)
	a := g.Normal(d, tensor.Float64, 0, 1, 5).Float64s()
	b := g.Normal(d, tensor.Float64, 0, 1, 5).Float64s()
	require.NotEqual(t, a, b, "successive draws of a generator must differ")
}

func TestBadInputIsAnError(t *testing.T) {
	d := cpu()
	cases := map[string]func(){
		"slice out of range": func() { tensor.Zeros(d, tensor.Float32, 3, 4).Slice(1, 2, 9) },
		"reshape mismatch":   func() { tensor.Zeros(d, tensor.Float32, 3, 4).Reshape(5, 2) },
		"NaN normal":         func() { tensor.Normal(d, tensor.Float32, 1, 0, math.NaN(), 1, 3) },
		"inf uniform":        func() { tensor.Uniform(d, tensor.Float32, 1, 0, 0, math.Inf(1), 3) },
		"data/shape":         func() { tensor.FromFloat32(d, []float32{1, 2, 3}, 2, 2) },
		"bad permute":        func() { tensor.Zeros(d, tensor.Float32, 3, 4).Permute(0, 0) },
		"bad axis":           func() { tensor.Zeros(d, tensor.Float32, 3, 4).Dim(2) },
		"concat mismatch": func() {
			tensor.Concat(0, tensor.Zeros(d, tensor.Float32, 3, 4), tensor.Zeros(d, tensor.Float32, 3, 5))
		},
	}
	for name, f := range cases {
		err := tensor.Catch(func() error { f(); return nil })
		require.Error(t, err, name)
		require.True(t, strings.HasPrefix(err.Error(), "tensor:") || strings.HasPrefix(err.Error(), "device:"), "%s: %v", name, err)
	}
	_, err := device.Get("tpu")
	require.ErrorContains(t, err, "available: cpu")
	_, err = device.Get("cuda:1")
	require.Error(t, err)
	_, err = device.Get("cpu:x")
	require.Error(t, err)
}
