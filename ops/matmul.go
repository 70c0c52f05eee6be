package ops

import (
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// Matmul is the matrix product with numpy.matmul semantics: 2-D operands multiply as
// matrices; operands with more axes are stacks of matrices whose batch axes broadcast; a 1-D
// first operand is a row vector and a 1-D second operand a column vector, and the promoted
// axis is removed from the result.
func Matmul(a, b *Tensor) *Tensor {
	checkFloat("matmul", a, b)
	if a.Rank() == 0 || b.Rank() == 0 {
		panic(errorf("matmul", "operands must have at least one axis, got %s and %s", shp(a), shp(b)))
	}
	va, vb := a.Rank() == 1, b.Rank() == 1
	if va {
		a = Reshape(a, 1, a.Dim(0))
	}
	if vb {
		b = Reshape(b, b.Dim(0), 1)
	}
	out := MatmulT(a, b, false, false)
	s := out.Shape()
	switch {
	case va && vb:
		return Reshape(out)
	case va:
		return Reshape(out, append(s[:len(s)-2], s[len(s)-1])...)
	case vb:
		return Reshape(out, s[:len(s)-1]...)
	}
	return out
}

// MatmulT computes op(a)·op(b) for operands of rank ≥ 2, where op transposes the last two axes
// when the flag is set, without materialising the transpose (the GEMM reads it). Batch axes
// broadcast as in Matmul. The backward pass is again MatmulT with other flags, so it is
// differentiable to any order.
func MatmulT(a, b *Tensor, transA, transB bool) *Tensor {
	dev := checkFloat("matmul", a, b)
	as, bs := a.Shape(), b.Shape()
	if len(as) < 2 || len(bs) < 2 {
		panic(errorf("matmul", "operands must have rank ≥ 2, got %s and %s", shp(a), shp(b)))
	}
	m, ka := as[len(as)-2], as[len(as)-1]
	if transA {
		m, ka = ka, m
	}
	kb, n := bs[len(bs)-2], bs[len(bs)-1]
	if transB {
		kb, n = n, kb
	}
	if ka != kb {
		panic(errorf("matmul", "inner dimensions differ: %s%s · %s%s", shp(a), tflag(transA), shp(b), tflag(transB)))
	}
	k := ka
	batch := broadcastShapes("matmul", as[:len(as)-2], bs[:len(bs)-2])
	nb := numel(batch)
	outShape := append(append([]int(nil), batch...), m, n)
	// Every element is written by the GEMM (β = 0: C is not read) unless the inner
	// dimension is empty, where the product is zeros.
	out := allocator(tensor.ContextOf(a, b), k == 0)(dev, a.DType(), outShape...)

	if out.Len() > 0 {
		p := device.GemmParams{TransA: transA, TransB: transB, M: m, N: n, K: k, Alpha: 1,
			LdA: as[len(as)-1], LdB: bs[len(bs)-1], LdC: n, Batch: nb, StrideC: m * n}
		ab, bb := a.Buffer(), b.Buffer()
		switch {
		case k == 0:
			// An empty inner dimension gives zeros, which Zeros already holds.
			p.Batch = 0
		case len(bs) == 2 && !transA && numel(as[:len(as)-2]) == nb:
			// A stack of matrices times one matrix is one tall GEMM.
			p.M, p.Batch = nb*m, 1
		default:
			p.StrideA = batchStride(as, batch, m*k)
			p.StrideB = batchStride(bs, batch, k*n)
			if p.StrideA < 0 {
				ax := expandRaw(a, append(append([]int(nil), batch...), as[len(as)-2:]...))
				ab, p.StrideA = ax.Buffer(), m*k
			}
			if p.StrideB < 0 {
				bx := expandRaw(b, append(append([]int(nil), batch...), bs[len(bs)-2:]...))
				bb, p.StrideB = bx.Buffer(), k*n
			}
		}
		if p.Batch > 0 {
			dev.Gemm(p, ab, bb, out.Buffer())
		}
	}

	return record("matmul", out, []*Tensor{a, b}, func(g *Tensor, needs []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if needs[0] {
			var ga *Tensor
			switch {
			case !transA && !transB:
				ga = MatmulT(g, b, false, true) // g·Bᵀ
			case !transA && transB:
				ga = MatmulT(g, b, false, false) // g·B
			case transA && !transB:
				ga = MatmulT(b, g, false, true) // (g·Bᵀ)ᵀ = B·gᵀ
			default:
				ga = MatmulT(b, g, true, true) // (g·B)ᵀ = Bᵀ·gᵀ
			}
			r[0] = SumTo(ga, as...)
		}
		if needs[1] {
			aa, gg := a, g
			if len(bs) == 2 && !transA && len(as) > 2 {
				// Fold the batch of A into rows: Σ_b A_bᵀ·g_b = [A_1;…;A_n]ᵀ·[g_1;…;g_n].
				aa, gg = Reshape(a, -1, as[len(as)-1]), Reshape(g, -1, n)
			}
			var gb *Tensor
			switch {
			case !transA && !transB:
				gb = MatmulT(aa, gg, true, false) // Aᵀ·g
			case transA && !transB:
				gb = MatmulT(aa, gg, false, false) // A·g
			case !transA && transB:
				gb = MatmulT(gg, aa, true, false) // gᵀ·A
			default:
				gb = MatmulT(gg, aa, true, true) // gᵀ·Aᵀ
			}
			r[1] = SumTo(gb, bs...)
		}
		return r
	})
}

func tflag(t bool) string {
	if t {
		return "ᵀ"
	}
	return ""
}

// batchStride is the distance between consecutive batch members of a contiguous operand of
// shape (whose last two axes hold size elements) read as the batch shape: size when its batch
// axes equal batch (up to leading ones), 0 when it has a single batch member, −1 when it
// broadcasts in a pattern one stride cannot express (the caller materialises it).
func batchStride(shape, batch []int, size int) int {
	ob := shape[:len(shape)-2]
	switch nb := numel(ob); {
	case nb == 1:
		return 0
	case nb == numel(batch):
		return size
	}
	return -1
}
