package linalg

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/tensor"
)

func TestTTSVDExactWithFullRanks(t *testing.T) {
	dims := []int{4, 5, 3, 6}
	a := tensor.Normal(cpu(t), tensor.Float64, 9, 0, 0, 1, dims...)
	tt, err := TTSVD(a, TTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Full ranks are the unfolding ranks min(n_1⋯n_k, n_{k+1}⋯n_d) of a generic tensor.
	want := []int{1, 4, 18, 6, 1}
	for k, r := range want {
		if tt.Ranks[k] != r {
			t.Errorf("ranks %v, want %v", tt.Ranks, want)
			break
		}
	}
	checkCores(t, tt)
	rel, err := tt.RelativeError(a)
	if err != nil {
		t.Fatal(err)
	}
	if rel > 1e-13 || tt.Bound > 1e-13 {
		t.Errorf("full-rank TT: relative error %.2e, bound %.2e, want rounding level", rel, tt.Bound)
	}
	params := 1*4*4 + 4*5*18 + 18*3*6 + 6*6*1
	if tt.Params() != params {
		t.Errorf("params %d, want %d", tt.Params(), params)
	}
	if cr := tt.CompressionRatio(); math.Abs(cr-360.0/float64(params)) > 1e-12 {
		t.Errorf("compression ratio %v", cr)
	}
}

func checkCores(t *testing.T, tt *TT) {
	t.Helper()
	d := len(tt.Dims)
	if len(tt.Cores) != d || len(tt.Ranks) != d+1 || tt.Ranks[0] != 1 || tt.Ranks[d] != 1 {
		t.Fatalf("%d cores, ranks %v for %d dims", len(tt.Cores), tt.Ranks, d)
	}
	left := 1
	for k, c := range tt.Cores {
		sh := c.Shape()
		if len(sh) != 3 || sh[0] != tt.Ranks[k] || sh[1] != tt.Dims[k] || sh[2] != tt.Ranks[k+1] {
			t.Errorf("core %d has shape %v, want (%d, %d, %d)", k, sh, tt.Ranks[k], tt.Dims[k], tt.Ranks[k+1])
		}
		left *= tt.Dims[k]
		right := 1
		for _, n := range tt.Dims[k+1:] {
			right *= n
		}
		if k < d-1 && tt.Ranks[k+1] > min(left, right) {
			t.Errorf("rank r_%d = %d exceeds the unfolding bound %d", k+1, tt.Ranks[k+1], min(left, right))
		}
	}
}

// randomTT builds a tensor with exact TT ranks from random Gaussian cores, contracted here in
// float64 independently of TT.Full (nested loops).
func randomTT(dims, ranks []int, seed uint64) []float64 {
	cores := make([][]float64, len(dims))
	off := uint64(0)
	for k, n := range dims {
		c := tensor.Normal(cpuDev, tensor.Float64, seed, off, 0, 1, ranks[k]*n*ranks[k+1])
		cores[k] = c.Float64s()
		off += uint64(c.Len())
		c.Release()
	}
	total := 1
	for _, n := range dims {
		total *= n
	}
	out := make([]float64, total)
	idx := make([]int, len(dims))
	for flat := 0; flat < total; flat++ {
		rem := flat
		for k := len(dims) - 1; k >= 0; k-- {
			idx[k] = rem % dims[k]
			rem /= dims[k]
		}
		vec := []float64{1}
		for k, n := range dims {
			r0, r1 := ranks[k], ranks[k+1]
			nv := make([]float64, r1)
			for a := 0; a < r0; a++ {
				for b := 0; b < r1; b++ {
					nv[b] += vec[a] * cores[k][(a*n+idx[k])*r1+b]
				}
			}
			vec = nv
		}
		out[flat] = vec[0]
	}
	return out
}

func TestTTSVDRecoversLowRankTrain(t *testing.T) {
	dims := []int{5, 6, 4, 5, 3}
	ranks := []int{1, 2, 3, 3, 2, 1}
	data := randomTT(dims, ranks, 17)
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		a := tensor.FromFloat64As(cpu(t), dt, data, dims...)
		tt, err := TTSVD(a, TTOptions{Eps: 1e-4})
		if err != nil {
			t.Fatal(err)
		}
		for k := range ranks {
			if tt.Ranks[k] != ranks[k] {
				t.Errorf("%s: recovered ranks %v, want %v", dt, tt.Ranks, ranks)
				break
			}
		}
		rel, _ := tt.RelativeError(a)
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 1e-5
		}
		if rel > tol {
			t.Errorf("%s: relative error %.2e", dt, rel)
		}
		checkCores(t, tt)
	}
}

func TestTTSVDTruncationWithinBound(t *testing.T) {
	// A low-rank train plus noise: truncation has real work to do.
	dims := []int{6, 7, 5, 6}
	data := randomTT(dims, []int{1, 3, 4, 3, 1}, 23)
	noise := tensor.Normal(cpuDev, tensor.Float64, 29, 0, 0, 1, len(data)).Float64s()
	var sd, sn float64
	for i := range data {
		sd += data[i] * data[i]
		sn += noise[i] * noise[i]
	}
	scale := 0.05 * math.Sqrt(sd/sn)
	for i := range data {
		data[i] += scale * noise[i]
	}
	a := tensor.FromFloat64(cpu(t), data, dims...)
	for _, opts := range []TTOptions{{Eps: 0.1}, {Eps: 0.03}, {Eps: 0.3}, {MaxRank: 2}, {MaxRank: 3, Eps: 0.01}} {
		tt, err := TTSVD(a, opts)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := tt.RelativeError(a)
		t.Logf("%+v: ranks %v, error %.4f, bound %.4f, params %d, compression %.2f", opts, tt.Ranks, rel, tt.Bound, tt.Params(), tt.CompressionRatio())
		// Theorem 2.2: the error is at most the root sum of the discarded tails.
		if rel > tt.Bound*(1+1e-9) {
			t.Errorf("%+v: error %.6f exceeds the bound %.6f", opts, rel, tt.Bound)
		}
		if opts.Eps > 0 && tt.Bound > opts.Eps && (opts.MaxRank == 0) {
			t.Errorf("%+v: bound %.4f exceeds ε", opts, tt.Bound)
		}
		if opts.MaxRank > 0 {
			for _, r := range tt.Ranks {
				if r > opts.MaxRank {
					t.Errorf("%+v: rank %d above the cap", opts, r)
				}
			}
		}
		if tt.Bound == 0 {
			t.Errorf("%+v: nothing was truncated; the test tensor is too easy", opts)
		}
		checkCores(t, tt)
		tt.Release()
	}
}

func TestTTSVDBadInput(t *testing.T) {
	d := cpu(t)
	if _, err := TTSVD(tensor.Ones(d, tensor.Float64, 5), TTOptions{}); err == nil {
		t.Error("1-way tensor accepted")
	}
	if _, err := TTSVD(tensor.Ones(d, tensor.Float64, 2, 3), TTOptions{Eps: -1}); err == nil {
		t.Error("negative ε accepted")
	}
	if _, err := TTSVD(tensor.Ones(d, tensor.Float64, 2, 3), TTOptions{MaxRank: -1}); err == nil {
		t.Error("negative rank accepted")
	}
	bad := tensor.FromFloat64(d, []float64{1, math.Inf(1), 3, 4}, 2, 2)
	if _, err := TTSVD(bad, TTOptions{}); err == nil {
		t.Error("infinite entry accepted")
	}
}

// Unit extents make 1×N unfoldings; the train must still reproduce the tensor.
func TestTTSVDUnitExtents(t *testing.T) {
	for _, dims := range [][]int{{1, 5, 1}, {3, 1, 4}, {2, 3}} {
		a := tensor.Normal(cpu(t), tensor.Float64, 4, 0, 0, 1, dims...)
		tt, err := TTSVD(a, TTOptions{})
		if err != nil {
			t.Fatalf("%v: %v", dims, err)
		}
		checkCores(t, tt)
		if rel, _ := tt.RelativeError(a); rel > 1e-14 {
			t.Errorf("%v: relative error %.2e", dims, rel)
		}
	}
}
