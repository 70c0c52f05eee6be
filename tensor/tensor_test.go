package tensor_test

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

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
	var kept *tensor.Tensor
	func() {
		s := tensor.NewScope()
		defer s.Close()
		a := tensor.Ones(d, tensor.Float32, 10)
		_ = a.Reshape(2, 5)
		_ = tensor.Concat(0, a, a)
		kept = s.Keep(a.Clone())
	}()
	require.Equal(t, before+1, d.MemStats().LiveBuffers)
	require.Equal(t, 10, len(kept.Float32s()))
	kept.Release()
	require.Equal(t, before, d.MemStats().LiveBuffers)
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

func TestInterop(t *testing.T) {
	d := cpu()
	m := mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6})
	x := tensor.FromMat(d, tensor.Float32, m)
	require.True(t, mat.Equal(m, x.ToMat()))
	dense := x.ToDense()
	require.Equal(t, []int{2, 3}, []int(dense.Shape()))
	back := tensor.FromDense(d, dense)
	require.Equal(t, x.Float32s(), back.Float32s())
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
