package cpu

import (
	"strconv"
	"testing"

	"github.com/kiln-ml/kiln/device"
)

func benchBuf(b *testing.B, dt device.DType, n int) device.Buffer {
	buf, err := Default().Alloc(dt, n)
	if err != nil {
		b.Fatal(err)
	}
	Default().RandomFill(buf, device.Normal, 1, 0, 0, 1)
	b.Cleanup(buf.Free)
	return buf
}

// reportFlops adds a GFLOP/s metric for flops floating-point operations per iteration.
func reportFlops(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkGemm(b *testing.B) {
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		for _, n := range []int{64, 512} {
			b.Run(dt.String()+"/"+strconv.Itoa(n), func(b *testing.B) {
				d := Default()
				a, bb, c := benchBuf(b, dt, n*n), benchBuf(b, dt, n*n), benchBuf(b, dt, n*n)
				p := device.GemmParams{M: n, N: n, K: n, Alpha: 1, LdA: n, LdB: n, LdC: n, Batch: 1}
				for b.Loop() {
					d.Gemm(p, a, bb, c)
				}
				reportFlops(b, 2*float64(n)*float64(n)*float64(n))
			})
		}
	}
}

// attnBench is a TabPFN-sized attention call: 4 heads, 1024 queries over 1024 keys of which
// the first 768 are context, head dim 64.
var attnBench = device.AttentionParams{Batch: 4, Lq: 1024, Lk: 1024, D: 64, Dv: 64, NContext: 768, Scale: 0.125}

// attnBuffers returns random float32 Q, K, V, O and lse buffers for attention call p.
func attnBuffers(b *testing.B, p device.AttentionParams) (q, k, v, o, lse device.Buffer) {
	return benchBuf(b, device.Float32, p.Batch*p.Lq*p.D), benchBuf(b, device.Float32, p.Batch*p.Lk*p.D),
		benchBuf(b, device.Float32, p.Batch*p.Lk*p.Dv), benchBuf(b, device.Float32, p.Batch*p.Lq*p.Dv),
		benchBuf(b, device.Float32, p.Batch*p.Lq)
}

// attnGradBuffers returns random float32 dO, dQ, dK and dV buffers for attention call p.
func attnGradBuffers(b *testing.B, p device.AttentionParams) (dO, dq, dk, dv device.Buffer) {
	return benchBuf(b, device.Float32, p.Batch*p.Lq*p.Dv), benchBuf(b, device.Float32, p.Batch*p.Lq*p.D),
		benchBuf(b, device.Float32, p.Batch*p.Lk*p.D), benchBuf(b, device.Float32, p.Batch*p.Lk*p.Dv)
}

func BenchmarkAttention(b *testing.B) {
	p := attnBench
	q, k, v, o, lse := attnBuffers(b, p)
	for b.Loop() {
		Default().Attention(p, q, k, v, o, lse)
	}
	reportFlops(b, 2*float64(p.Batch*p.Lq*p.NContext*(p.D+p.Dv)))
}

func BenchmarkAttentionBackward(b *testing.B) {
	p := attnBench
	q, k, v, o, lse := attnBuffers(b, p)
	Default().Attention(p, q, k, v, o, lse)
	dO, dq, dk, dv := attnGradBuffers(b, p)
	for b.Loop() {
		Default().AttentionBackward(p, q, k, v, o, lse, dO, dq, dk, dv)
	}
	// The two recomputations of S and dP plus dV, dK, dQ: 7 products of B·Lq·NContext·D.
	reportFlops(b, 7*2*float64(p.Batch*p.Lq*p.NContext*p.D))
}

func BenchmarkSoftmax(b *testing.B) {
	const rows, cols = 1024, 1024
	x, y := benchBuf(b, device.Float32, rows*cols), benchBuf(b, device.Float32, rows*cols)
	b.SetBytes(rows * cols * 4 * 2)
	for b.Loop() {
		Default().Softmax(x, y, rows, cols, false)
	}
}

func BenchmarkLayerNorm(b *testing.B) {
	const rows, cols = 4096, 512
	x, y := benchBuf(b, device.Float32, rows*cols), benchBuf(b, device.Float32, rows*cols)
	g, be := benchBuf(b, device.Float32, cols), benchBuf(b, device.Float32, cols)
	m, r := benchBuf(b, device.Float32, rows), benchBuf(b, device.Float32, rows)
	b.SetBytes(rows * cols * 4 * 2)
	for b.Loop() {
		Default().LayerNorm(x, g, be, y, m, r, rows, cols, 1e-5)
	}
}

func BenchmarkBinaryAddRow(b *testing.B) {
	const rows, cols = 1024, 1024
	x, bias, y := benchBuf(b, device.Float32, rows*cols), benchBuf(b, device.Float32, cols), benchBuf(b, device.Float32, rows*cols)
	l := device.Contiguous([]int{rows, cols})
	bl := device.Layout{Shape: []int{rows, cols}, Strides: []int{0, 1}}
	b.SetBytes(rows * cols * 4 * 2)
	for b.Loop() {
		Default().Binary(device.BinaryAdd, x, l, bias, bl, y, l)
	}
}

func BenchmarkUnaryTranspose(b *testing.B) {
	const rows, cols = 1024, 1024
	x, y := benchBuf(b, device.Float32, rows*cols), benchBuf(b, device.Float32, rows*cols)
	xl := device.Layout{Shape: []int{rows, cols}, Strides: []int{1, rows}}
	b.SetBytes(rows * cols * 4 * 2)
	for b.Loop() {
		Default().Unary(device.UnaryCopy, x, xl, y, device.Contiguous([]int{rows, cols}), 0)
	}
}

// BenchmarkUnaryHeadPermute times the copy that splits a TabPFN row attention's input into
// heads: [L, H, dh] → [H, L, dh] with L = 65 rows × 21 tokens, 4 heads of 32.
func BenchmarkUnaryHeadPermute(b *testing.B) {
	const l, h, dh = 65 * 21, 4, 32
	x, y := benchBuf(b, device.Float32, l*h*dh), benchBuf(b, device.Float32, l*h*dh)
	xl := device.Layout{Shape: []int{h, l, dh}, Strides: []int{dh, h * dh, 1}}
	b.SetBytes(l * h * dh * 4 * 2)
	for b.Loop() {
		Default().Unary(device.UnaryCopy, x, xl, y, device.Contiguous([]int{h, l, dh}), 0)
	}
}

func BenchmarkUnaryGelu(b *testing.B) {
	const n = 1 << 20
	x, y := benchBuf(b, device.Float32, n), benchBuf(b, device.Float32, n)
	l := device.Contiguous([]int{n})
	b.SetBytes(n * 4 * 2)
	for b.Loop() {
		Default().Unary(device.UnaryGeluErf, x, l, y, l, 0)
	}
}

func BenchmarkReduceSumRows(b *testing.B) {
	const rows, cols = 1024, 1024
	x, y := benchBuf(b, device.Float32, rows*cols), benchBuf(b, device.Float32, cols)
	b.SetBytes(rows * cols * 4)
	for b.Loop() {
		Default().Reduce(device.ReduceSum, x, 1, rows, cols, y)
	}
}

func BenchmarkReduceSumLastAxis(b *testing.B) {
	const rows, cols = 1024, 1024
	x, y := benchBuf(b, device.Float32, rows*cols), benchBuf(b, device.Float32, rows)
	b.SetBytes(rows * cols * 4)
	for b.Loop() {
		Default().Reduce(device.ReduceSum, x, rows, cols, 1, y)
	}
}

func BenchmarkRandomFillNormal(b *testing.B) {
	const n = 1 << 20
	x := benchBuf(b, device.Float32, n)
	b.SetBytes(n * 4)
	for b.Loop() {
		Default().RandomFill(x, device.Normal, 3, 0, 0, 1)
	}
}

// BenchmarkAttentionManySmallHeads is the other TabPFN pattern: attention between the
// features of each item, so thousands of heads over a few dozen positions.
func BenchmarkAttentionManySmallHeads(b *testing.B) {
	p := device.AttentionParams{Batch: 4096, Lq: 20, Lk: 20, D: 32, Dv: 32, NContext: 20, Scale: 0.17}
	q, k, v, o, lse := attnBuffers(b, p)
	for b.Loop() {
		Default().Attention(p, q, k, v, o, lse)
	}
	reportFlops(b, 2*float64(p.Batch*p.Lq*p.NContext*(p.D+p.Dv)))
}

// attnTabPFNShapes are the attention calls of a TabPFN forward pass at the model's head dim of
// 32 (4 heads of 128): across the 65 tokens of rows of 64 features and the 21 of rows of 20,
// across the rows of 64- and 256-row local contexts (their training rows and one test row as
// queries), and a whole context of 1,024 rows.
var attnTabPFNShapes = []struct {
	name string
	p    device.AttentionParams
}{
	{"tokens65", device.AttentionParams{Batch: 260, Lq: 65, Lk: 65, D: 32, Dv: 32, NContext: 65, Scale: 0.17}},
	{"tokens21", device.AttentionParams{Batch: 1040, Lq: 21, Lk: 21, D: 32, Dv: 32, NContext: 21, Scale: 0.17}},
	{"rows65", device.AttentionParams{Batch: 260, Lq: 65, Lk: 64, D: 32, Dv: 32, NContext: 64, Scale: 0.17}},
	{"rows257", device.AttentionParams{Batch: 84, Lq: 257, Lk: 256, D: 32, Dv: 32, NContext: 256, Scale: 0.17}},
	{"rows1024", device.AttentionParams{Batch: 84, Lq: 1024, Lk: 1024, D: 32, Dv: 32, NContext: 768, Scale: 0.17}},
}

// BenchmarkAttentionTabPFNShapes times the forward pass at attnTabPFNShapes.
func BenchmarkAttentionTabPFNShapes(b *testing.B) {
	for _, c := range attnTabPFNShapes {
		p := c.p
		q, k, v, o, lse := attnBuffers(b, p)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				Default().Attention(p, q, k, v, o, lse)
			}
			reportFlops(b, 2*float64(p.Batch*p.Lq*p.NContext*(p.D+p.Dv)))
		})
	}
}

// BenchmarkAttentionBackwardTabPFNShapes times the backward pass at attnTabPFNShapes, the
// attention of training and fine-tuning.
func BenchmarkAttentionBackwardTabPFNShapes(b *testing.B) {
	for _, c := range attnTabPFNShapes {
		p := c.p
		q, k, v, o, lse := attnBuffers(b, p)
		Default().Attention(p, q, k, v, o, lse)
		dO, dq, dk, dv := attnGradBuffers(b, p)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				Default().AttentionBackward(p, q, k, v, o, lse, dO, dq, dk, dv)
			}
			reportFlops(b, 7*2*float64(p.Batch*p.Lq*p.NContext*p.D))
		})
	}
}
