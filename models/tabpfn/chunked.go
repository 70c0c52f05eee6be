package tabpfn

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/nn"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// DefaultChunkTokens bounds the tokens (rows × tokens per row) of one block of work in the
// chunked forward pass. Each intermediate of a block holds that many tokens × the model's
// width, and a block keeps about twenty of them: some 85 MB at the shipped width of 128 (see
// EstimateMemory). On a 2-core CPU, blocks of this size fit+predicted a 1,024×100 table as
// fast as blocks four times larger, at less than half the peak memory
// (bench/results/tabpfn-scale-2026-12-03.md).
const DefaultChunkTokens = 8192

// chunkedScorer runs a *Model on one dataset in memory bounded by one copy of the
// activations plus one block of work, whatever the numbers of rows and features.
type chunkedScorer struct {
	m         *Model
	chunkRows int // rows per block; 0 chooses DefaultChunkTokens / (features + 1)
}

// blocks returns the block sizes of the chunked pass over r rows of t tokens each, for a
// budget of tokens per block: rows per block of the attention across a row's tokens, and
// columns × rows per block of the attention across rows (as many whole columns as the
// budget holds, at least one; rows cut to fit the budget when one column exceeds it).
func blocks(budget, t, r int) (rowBlock, colBlock, queryBlock int) {
	rowBlock = max(1, budget/t)
	colBlock = min(t, max(1, budget/r))
	queryBlock = min(r, max(1, budget/colBlock))
	return rowBlock, colBlock, queryBlock
}

// Probabilities computes what Model.Probabilities computes, for a batch of one dataset.
//
// It holds the activations of every row (training and test) once, column-major
// ([tokens, rows, width]), and runs the layers one after the other over all rows, each of
// a layer's two attentions a block at a time, writing each block's result back in place:
//
//  1. attention across the tokens of a row reads whole rows and writes them back (a block
//     of rows);
//  2. attention across rows within a column reads whole columns and writes them back (a
//     block of columns, each attending to the training rows of the same columns, whose keys
//     and values are computed once per block before any of its rows is overwritten).
//
// Both are exact: rows do not interact in step 1 nor columns in step 2. Only the target
// tokens of the test rows reach the decoder, so the last layer computes the feature
// attention's queries for the target token alone and the row attention for the target
// column's test rows alone, a fraction of a full layer. Peak memory is the one copy of the
// activations plus one block (EstimateMemory); nothing grows with the number of layers. The
// arithmetic mirrors Model.Forward step by step; TestChunkedScorerMatchesForward holds the
// two together.
func (s chunkedScorer) Probabilities(in Input, temperature float64) (out [][]float64, err error) {
	m := s.m
	if err := in.check(m.Cfg); err != nil {
		return nil, err
	}
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return nil, fmt.Errorf("tabpfn: temperature must be positive and finite, got %v", temperature)
	}
	// A classifier's outputs are its classes, masked to the dataset's; a regression model's
	// are the bins of its bar distribution, all of them.
	K := m.Cfg.outputs()
	var nc int
	var mask []float32
	if !m.Cfg.Regression() {
		nc = in.Classes[0]
		mask = classMask(nc, K)
	}
	res := make([]float64, 0, (in.Rows-in.NTrain)*K)
	err = s.forward(in, func(ec *tensor.Context, t *tensor.Tensor) {
		logits := m.dec.Forward(t)
		if mask != nil {
			logits = ops.Add(logits, ec.FromFloat32(m.Dev, mask, 1, K))
		}
		if temperature != 1 {
			logits = ops.MulScalar(logits, 1/temperature)
		}
		p := ops.Softmax(logits, -1).Float64s()
		if mask == nil {
			res = append(res, p...)
		} else {
			res = classProbs(p, K, nc, res)
		}
	})
	if err != nil {
		return nil, err
	}
	return [][]float64{res}, nil
}

// Embeddings returns the test rows' target tokens after the last layer, Width values per
// row in row order: what the decoder turns into class logits (Classifier.Embed).
func (s chunkedScorer) Embeddings(in Input) ([]float64, error) {
	res := make([]float64, 0, (in.Rows-in.NTrain)*s.m.Cfg.Width)
	err := s.forward(in, func(_ *tensor.Context, t *tensor.Tensor) {
		res = append(res, t.Float64s()...)
	})
	return res, err
}

// forward runs the chunked pass of Probabilities over one dataset and calls each, in row
// order, with the target tokens after the last layer ([n, Width]) of each block of test
// rows, inside a scope that ends when each returns.
func (s chunkedScorer) forward(in Input, each func(ec *tensor.Context, tokens *tensor.Tensor)) error {
	m := s.m
	if err := in.check(m.Cfg); err != nil {
		return err
	}
	if in.Batch != 1 {
		return fmt.Errorf("tabpfn: chunked forward takes one dataset, got a batch of %d", in.Batch)
	}
	cfg, dev := m.Cfg, m.Dev
	F, N, R, E := in.Features, in.NTrain, in.Rows, cfg.Width
	T := F + 1
	budget := DefaultChunkTokens
	if s.chunkRows > 0 {
		budget = s.chunkRows * T
	}
	rowBlock, colBlock, queryBlock := blocks(budget, T, R)
	return tensor.Catch(func() error {
		ec := tensor.NewContext()
		defer ec.Close()
		ec.SetGradEnabled(false)
		featEmb := m.featIn.Forward(ec.Normal(dev, tensor.Float32, in.FeatureSeed, 0, 0, 1, F, cfg.FeatureDim)) // [F,E]
		dt := featEmb.DType()
		// embed returns the tokens [rows, T, E] of rows lo..hi of in.X.
		embed := func(lo, hi int) *tensor.Tensor {
			n := hi - lo
			x := ops.Add(m.cell.Forward(ec.FromFloat32(dev, encodeCells(in.X[lo*F:hi*F]), n, F, 2)), featEmb)
			tgt := m.targetTokens(ec, in, 0, lo, hi) // [n,E]
			return ops.Concat(1, x, ops.Reshape(tgt, n, 1, E))
		}
		// split and merge move heads between [C, L, E] and [C, H, L, E/H].
		split := func(a *nn.MultiHeadAttention, x *tensor.Tensor) *tensor.Tensor {
			return ops.Permute(ops.Reshape(x, x.Dim(0), x.Dim(1), a.Heads, E/a.Heads), 0, 2, 1, 3)
		}
		merge := func(o *tensor.Tensor) *tensor.Tensor {
			return ops.Reshape(ops.Permute(o, 0, 2, 1, 3), o.Dim(0), o.Dim(2), E)
		}
		// scoped runs fn in a scope of its own, which releases every tensor fn makes.
		scoped := func(fn func()) {
			sc := ec.NewScope()
			defer sc.Close()
			fn()
		}
		// contextKV returns the row attention's keys and values [C, H, N, E/H] of the
		// training rows of the columns c [C, N, E] holds.
		contextKV := func(l layer, c func() *tensor.Tensor) (k, v *tensor.Tensor) {
			sc := ec.NewScope()
			defer sc.Close()
			x := c()
			k, v = split(l.rowAttn, l.rowAttn.K.Forward(x)), split(l.rowAttn, l.rowAttn.V.Forward(x))
			sc.Keep(k, v)
			return k, v
		}
		// rowStep finishes layer l for the tokens c [C, n, E], whose queries attend to the
		// training rows' keys and values of the same columns.
		rowStep := func(l layer, c, k, v *tensor.Tensor) *tensor.Tensor {
			o := merge(ops.Attention(split(l.rowAttn, l.rowAttn.Q.Forward(c)), k, v, N, 0))
			c = l.norm2.Forward(ops.Add(c, l.rowAttn.Out.Forward(o)))
			return l.norm3.Forward(ops.Add(c, l.mlp.Forward(c)))
		}

		// x holds every row's tokens column-major: token t of row r at [t, r].
		outer := ec.NewScope()
		defer outer.Close()
		x := ec.Uninit(dev, dt, T, R, E)
		rows := func(lo, hi int) device.Layout { // rows lo..hi of x as [n, T, E]
			return device.Layout{Shape: []int{hi - lo, T, E}, Strides: []int{E, R * E, 1}, Offset: lo * E}
		}
		cols := func(t0, t1, lo, hi int) device.Layout { // tokens t0..t1 of rows lo..hi as [C, n, E]
			return device.Layout{Shape: []int{t1 - t0, hi - lo, E}, Strides: []int{R * E, E, 1}, Offset: (t0*R + lo) * E}
		}
		read := func(l device.Layout) *tensor.Tensor { return gather(ec, x, l) }

		for lo := 0; lo < R; lo += rowBlock {
			hi := min(lo+rowBlock, R)
			scoped(func() { scatter(x, rows(lo, hi), embed(lo, hi)) })
		}
		last := len(m.layers) - 1
		for _, l := range m.layers[:last] {
			// 1. Across the tokens of each row.
			for lo := 0; lo < R; lo += rowBlock {
				hi := min(lo+rowBlock, R)
				scoped(func() {
					h := read(rows(lo, hi))
					scatter(x, rows(lo, hi), l.norm1.Forward(ops.Add(h, l.featAttn.Forward(h, h, T))))
				})
			}
			// 2. Across rows within each column; rows attend to the training rows only. MLP.
			for t0 := 0; t0 < T; t0 += colBlock {
				t1 := min(t0+colBlock, T)
				scoped(func() {
					k, v := contextKV(l, func() *tensor.Tensor { return read(cols(t0, t1, 0, N)) })
					for lo := 0; lo < R; lo += queryBlock {
						hi := min(lo+queryBlock, R)
						scoped(func() { scatter(x, cols(t0, t1, lo, hi), rowStep(l, read(cols(t0, t1, lo, hi)), k, v)) })
					}
				})
			}
		}

		// The last layer, for the target tokens only: their feature attention over all rows
		// (the training rows' keys and values of the row attention come from them), then the
		// row attention and MLP for the test rows.
		l := m.layers[last]
		tgt := ec.Uninit(dev, dt, 1, R, E)
		for lo := 0; lo < R; lo += rowBlock {
			hi := min(lo+rowBlock, R)
			scoped(func() {
				h := read(rows(lo, hi))
				q := ops.Slice(h, 1, F, T) // [n, 1, E]
				q = l.norm1.Forward(ops.Add(q, l.featAttn.Forward(q, h, T)))
				scatter(tgt, tensor.SliceLayout([]int{1, R, E}, 1, lo, hi), q)
			})
		}
		outer.Keep(tgt)
		outer.Close() // releases x
		k, v := contextKV(l, func() *tensor.Tensor { return ops.Slice(tgt, 1, 0, N) })
		for lo := N; lo < R; lo += budget { // one column: budget rows per block
			hi := min(lo+budget, R)
			scoped(func() {
				c := rowStep(l, ops.Slice(tgt, 1, lo, hi), k, v) // [1, n, E]
				each(ec, ops.Reshape(c, hi-lo, E))
			})
		}
		return nil
	})
}

// gather copies the elements of x at layout l (a strided view of x's buffer) into a new
// contiguous tensor of l's shape in ec. It records no autograd history: the chunked pass
// runs without gradients.
func gather(ec *tensor.Context, x *tensor.Tensor, l device.Layout) *tensor.Tensor {
	out := ec.Uninit(x.Device(), x.DType(), l.Shape...)
	x.Device().Unary(device.UnaryCopy, x.Buffer(), l, out.Buffer(), out.Layout(), 0)
	return out
}

// scatter writes src, whose shape is l's (or has as many elements, laid out as l's shape),
// into dst's buffer at layout l, in place.
func scatter(dst *tensor.Tensor, l device.Layout, src *tensor.Tensor) {
	sl := device.Contiguous(l.Shape)
	if src.Len() != sl.NumElements() {
		panic(fmt.Errorf("tabpfn: scatter of %v into a view of shape %v", src.Shape(), l.Shape))
	}
	dst.Device().Unary(device.UnaryCopy, src.Buffer(), sl, dst.Buffer(), l, 0)
}
