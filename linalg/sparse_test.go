package linalg

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/rng"
	"github.com/kiln-ml/kiln/tensor"
)

// sparseDense returns a rows×cols matrix in which each br×bc block is nonzero with
// probability 0.3, and one of its entries may be zero even then.
func sparseDense(rows, cols, br, bc int, seed uint64) []float64 {
	d := make([]float64, rows*cols)
	for i := 0; i < rows/br; i++ {
		for j := 0; j < cols/bc; j++ {
			if rng.UniformAt(seed, 0, i*cols+j, 0, 1) > 0.3 {
				continue
			}
			for r := 0; r < br; r++ {
				for c := 0; c < bc; c++ {
					d[(i*br+r)*cols+j*bc+c] = rng.NormalAt(seed, 1<<20, (i*br+r)*cols+j*bc+c, 0, 1)
				}
			}
			d[(i*br)*cols+j*bc] = 0 // a stored block may hold zeros
		}
	}
	return d
}

func naiveMul(a []float64, m, k int, b []float64, n int) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += a[i*k+p] * b[p*n+j]
			}
			c[i*n+j] = s
		}
	}
	return c
}

func TestBSRDenseRoundTrip(t *testing.T) {
	d := sparseDense(12, 15, 3, 5, 1)
	a, err := DenseToBSR(d, 12, 15, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	nz := 0
	for i := 0; i < 4; i++ {
		for j := 0; j < 3; j++ {
			for r := 0; r < 3; r++ {
				for c := 0; c < 5; c++ {
					if d[(i*3+r)*15+j*5+c] != 0 {
						nz++
						r, c = 3, 5
					}
				}
			}
		}
	}
	if a.NNZBlocks() != nz || nz == 0 {
		t.Errorf("%d stored blocks, %d blocks hold a nonzero", a.NNZBlocks(), nz)
	}
	back := a.ToDense()
	for i := range d {
		if back[i] != d[i] {
			t.Fatalf("round trip differs at %d: %v vs %v", i, back[i], d[i])
		}
	}
}

func TestBSRMulDenseMatchesDense(t *testing.T) {
	d := sparseDense(24, 20, 4, 5, 2)
	a64, _ := DenseToBSR(d, 24, 20, 4, 5)
	for _, n := range []int{1, 7, 33} {
		b := make([]float64, 20*n)
		rng.FillNormal(b, 3, 0, 0, 0, 1)
		want := naiveMul(d, 24, 20, b, n)
		got, err := a64.MulDense(b, n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
				t.Fatalf("n=%d: C[%d] = %v, want %v", n, i, got[i], want[i])
			}
		}
		// float32 storage, compared with the float64 reference.
		d32 := make([]float32, len(d))
		for i, v := range d {
			d32[i] = float32(v)
		}
		b32 := make([]float32, len(b))
		for i, v := range b {
			b32[i] = float32(v)
		}
		a32, _ := DenseToBSR(d32, 24, 20, 4, 5)
		got32, _ := a32.MulDense(b32, n)
		for i := range want {
			if math.Abs(float64(got32[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
				t.Fatalf("float32 n=%d: C[%d] = %v, want %v", n, i, got32[i], want[i])
			}
		}
	}
	// Through tensors.
	bt := tensor.Normal(cpu(t), tensor.Float64, 5, 0, 0, 1, 20, 6)
	ct, err := a64.MulTensor(bt)
	if err != nil {
		t.Fatal(err)
	}
	want := naiveMul(d, 24, 20, bt.Float64s(), 6)
	for i, v := range ct.Float64s() {
		if math.Abs(v-want[i]) > 1e-12*(1+math.Abs(want[i])) {
			t.Fatalf("MulTensor: C[%d] = %v, want %v", i, v, want[i])
		}
	}
	if _, err := a64.MulTensor(tensor.Ones(cpu(t), tensor.Float32, 20, 2)); err == nil {
		t.Error("float64 BSR times a float32 tensor accepted")
	}
	if _, err := a64.MulDense(make([]float64, 19), 1); err == nil {
		t.Error("short B accepted")
	}
}

func TestSparseGeneratorsHitDensity(t *testing.T) {
	for _, kind := range []SparseKind{SparseBlock, SparseHierarchical} {
		for _, c := range []struct {
			n, block int
			density  float64
		}{{512, 16, 0.05}, {512, 8, 0.2}, {96, 4, 0.5}, {64, 1, 0.01}, {60, 6, 1}} {
			a, err := RandomSparse[float64](kind, c.n, c.block, c.density, 7)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Validate(); err != nil {
				t.Fatalf("%s %+v: %v", kind, c, err)
			}
			nb := c.n / c.block
			// Rounded to whole blocks: within half a block of the request.
			if got := a.Density(); math.Abs(got-c.density) > 0.5/float64(nb*nb)+1e-12 {
				t.Errorf("%s %+v: density %.5f", kind, c, got)
			}
			// Every stored block is dense with N(0,1) values (zero with probability 0).
			for _, v := range a.Values {
				if v == 0 {
					t.Fatalf("%s: zero value in a stored block", kind)
				}
			}
		}
	}
}

func TestSparseGeneratorsSeeded(t *testing.T) {
	for _, kind := range []SparseKind{SparseBlock, SparseHierarchical} {
		a, _ := RandomSparse[float64](kind, 128, 8, 0.1, 1)
		b, _ := RandomSparse[float64](kind, 128, 8, 0.1, 1)
		c, _ := RandomSparse[float64](kind, 128, 8, 0.1, 2)
		same := func(x, y *BSR[float64]) bool {
			if len(x.ColIdx) != len(y.ColIdx) {
				return false
			}
			for i := range x.ColIdx {
				if x.ColIdx[i] != y.ColIdx[i] {
					return false
				}
			}
			for i := range x.RowPtr {
				if x.RowPtr[i] != y.RowPtr[i] {
					return false
				}
			}
			return true
		}
		if !same(a, b) || a.Values[0] != b.Values[0] {
			t.Errorf("%s: same seed gave different matrices", kind)
		}
		if same(a, c) {
			t.Errorf("%s: seeds 1 and 2 gave the same pattern", kind)
		}
	}
}

// The hierarchical generator favours the diagonal quadrants at the root (weight 2), so on
// average about two thirds of the blocks lie there; the uniform generator puts half there.
func TestHierarchicalConcentratesOnDiagonal(t *testing.T) {
	frac := func(kind SparseKind) float64 {
		var in, total float64
		for seed := uint64(0); seed < 30; seed++ {
			a, _ := RandomSparse[float64](kind, 256, 8, 0.1, seed)
			nb := 32
			for i := 0; i < nb; i++ {
				for b := a.RowPtr[i]; b < a.RowPtr[i+1]; b++ {
					if (i < nb/2) == (a.ColIdx[b] < nb/2) {
						in++
					}
					total++
				}
			}
		}
		return in / total
	}
	h, u := frac(SparseHierarchical), frac(SparseBlock)
	t.Logf("fraction in the diagonal quadrants: hierarchical %.3f, block %.3f", h, u)
	if h < 0.6 || math.Abs(u-0.5) > 0.05 {
		t.Errorf("diagonal-quadrant fractions: hierarchical %.3f (want ≳ 2/3), block %.3f (want ≈ 1/2)", h, u)
	}
}

func TestSparseBadInput(t *testing.T) {
	for _, c := range []struct {
		n, block int
		density  float64
	}{{100, 16, 0.1}, {64, 8, 0}, {64, 8, 1.5}, {64, 8, math.NaN()}, {0, 8, 0.1}, {64, 0, 0.1}} {
		for _, kind := range []SparseKind{SparseBlock, SparseHierarchical} {
			if _, err := RandomSparse[float64](kind, c.n, c.block, c.density, 1); err == nil {
				t.Errorf("%s %+v accepted", kind, c)
			}
		}
	}
	if _, err := RandomSparse[float64]("banded", 64, 8, 0.1, 1); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := DenseToBSR(make([]float64, 12), 3, 4, 2, 2); err == nil {
		t.Error("blocks that do not tile accepted")
	}
	bad := &BSR[float64]{Rows: 4, Cols: 4, BR: 2, BC: 2, RowPtr: []int{0, 2, 2}, ColIdx: []int{1, 0}, Values: make([]float64, 8)}
	if err := bad.Validate(); err == nil {
		t.Error("unsorted block columns accepted")
	}
}

// bsrDev is the CPU device plus a BSRMatMul that computes from what it is handed, so the
// dispatch and the uploaded index arrays of MulTensor are checked.
type bsrDev struct {
	device.Device
	calls int
}

func (d *bsrDev) BSRMatMul(rowptr, colidx, vals, b, c device.Buffer, blockRows, br, bc, n int) {
	d.calls++
	rp := make([]int32, rowptr.Len())
	d.CopyToHost(rp, rowptr)
	ci := make([]int32, colidx.Len())
	d.CopyToHost(ci, colidx)
	v := make([]float64, vals.Len())
	d.CopyToHost(v, vals)
	a := &BSR[float64]{Rows: blockRows * br, BR: br, BC: bc, RowPtr: make([]int, len(rp))}
	for i, x := range rp {
		a.RowPtr[i] = int(x)
	}
	for _, x := range ci[:rp[blockRows]] {
		a.ColIdx = append(a.ColIdx, int(x))
	}
	a.Values = v[:len(a.ColIdx)*br*bc]
	a.Cols = b.Len() / n
	bh := make([]float64, b.Len())
	d.CopyToHost(bh, b)
	out, _ := a.MulDense(bh, n)
	d.CopyFromHost(c, out)
}

func TestBSRDeviceKernelContract(t *testing.T) {
	d := sparseDense(16, 12, 4, 3, 9)
	a, _ := DenseToBSR(d, 16, 12, 4, 3)
	dev := &bsrDev{Device: cpu(t)}
	// A tensor's device is its buffer's, which the wrapper cannot claim without wrapping
	// Alloc too; the device path is called directly (MulTensor's dispatch is one type
	// assertion on b.Device()).
	bt := tensor.Normal(cpu(t), tensor.Float64, 2, 0, 0, 1, 12, 5)
	c := a.mulOnDevice(dev, bt, 5)
	if dev.calls != 1 {
		t.Fatalf("BSRMatMul called %d times", dev.calls)
	}
	want := naiveMul(d, 16, 12, bt.Float64s(), 5)
	for i, v := range c.Float64s() {
		if math.Abs(v-want[i]) > 1e-12*(1+math.Abs(want[i])) {
			t.Fatalf("C[%d] = %v, want %v", i, v, want[i])
		}
	}
}
