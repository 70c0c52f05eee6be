package bench

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
)

// Sizes picks the problem sizes: the full set, or a quick one for smoke runs and tests.
type Sizes struct {
	GEMM      []int
	AttnBatch int // batch·heads for the attention cases
	Elem      int // elements of the elementwise, AdamW and copy cases
}

// DefaultSizes are the sizes recorded in bench/results for the CPU (the GPU check scales up).
func DefaultSizes(kind string, quick bool) Sizes {
	switch {
	case quick:
		return Sizes{GEMM: []int{64, 128}, AttnBatch: 2, Elem: 1 << 16}
	case kind == "cpu":
		return Sizes{GEMM: []int{256, 512, 1024, 2048}, AttnBatch: 16, Elem: 1 << 24}
	default:
		return Sizes{GEMM: []int{1024, 2048, 4096}, AttnBatch: 1024, Elem: 1 << 27}
	}
}

// StandardCases are the engine-level benchmarks: GEMM, attention at TabPFN shapes, layer
// norm, softmax, fused AdamW and a device copy.
func StandardCases(s Sizes) []Case {
	var cs []Case
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		for _, n := range s.GEMM {
			cs = append(cs, gemmCase(dt, n))
		}
	}
	// TabPFN's attention across rows: 1024 rows of which 896 are training context.
	for _, d := range []int{32, 64} {
		cs = append(cs, attentionCase(s.AttnBatch, 1024, 1024, d, 896))
	}
	rows := s.Elem / 256
	cs = append(cs,
		rowCase("layernorm", rows, 256),
		rowCase("softmax", rows, 256),
		adamwCase(s.Elem),
		copyCase(s.Elem),
		// Training-step reductions with few outputs and a long axis: a weight gradient and a
		// bias gradient over 131072 tokens of width 128, layer norm's dγ and dβ at that shape,
		// and the squared norm of one 128×384 weight for gradient clipping.
		weightGradCase(128, 384, 131072),
		reduceCase("reduce bias-grad", 131072, 128),
		reduceCase("reduce sum-squares", 49152, 1),
		lnBackwardCase(131072, 128),
	)
	return cs
}

func reduceCase(name string, n, inner int) Case {
	return Case{
		Name: fmt.Sprintf("%s %dx%d", name, n, inner), Group: "reduce",
		Work: float64(4 * n * inner), Unit: "GB/s", // reads x once (float32)
		Setup: func(dev device.Device) (func() error, func(), error) {
			b, free, err := allocAll(dev, device.Float32, n*inner, inner)
			if err != nil {
				return nil, nil, err
			}
			op := device.ReduceSum
			if inner == 1 {
				op = device.ReduceSumSquares
			}
			return func() error { dev.Reduce(op, b[0], 1, n, inner, b[1]); return nil }, free, nil
		},
	}
}

// lnBackwardCase times LayerNormBackward with dx, dγ and dβ (reads x and dy, writes dx).
func lnBackwardCase(rows, cols int) Case {
	return Case{
		Name: fmt.Sprintf("layernorm backward %dx%d", rows, cols), Group: "reduce",
		Work: float64(3 * 4 * rows * cols), Unit: "GB/s",
		Setup: func(dev device.Device) (func() error, func(), error) {
			// x, γ, mean, rstd, dy, dx, dγ, dβ
			b, free, err := allocAll(dev, device.Float32, rows*cols, cols, rows, rows, rows*cols, rows*cols, cols, cols)
			if err != nil {
				return nil, nil, err
			}
			return func() error {
				dev.LayerNormBackward(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], rows, cols)
				return nil
			}, free, nil
		},
	}
}

func dtypeName(dt device.DType) string { return dt.String() }

func alloc(dev device.Device, dt device.DType, n int, seed uint64) (device.Buffer, error) {
	b, err := dev.Alloc(dt, n)
	if err != nil {
		return nil, err
	}
	dev.RandomFill(b, device.Normal, seed, 0, 0, 1)
	return b, nil
}

func allocAll(dev device.Device, dt device.DType, sizes ...int) ([]device.Buffer, func(), error) {
	bufs := make([]device.Buffer, 0, len(sizes))
	free := func() {
		for _, b := range bufs {
			b.Free()
		}
	}
	for i, n := range sizes {
		b, err := alloc(dev, dt, n, uint64(i+1))
		if err != nil {
			free()
			return nil, nil, err
		}
		bufs = append(bufs, b)
	}
	return bufs, free, nil
}

func gemmCase(dt device.DType, n int) Case {
	short := map[device.DType]string{device.Float32: "f32", device.Float64: "f64"}[dt]
	return Case{
		Name: fmt.Sprintf("gemm %s %d", short, n), Group: "gemm",
		Anchor: map[string]any{"kind": "gemm", "n": n, "dtype": dtypeName(dt)},
		Work:   2 * float64(n) * float64(n) * float64(n), Unit: "GFLOP/s",
		Setup: func(dev device.Device) (func() error, func(), error) {
			b, free, err := allocAll(dev, dt, n*n, n*n, n*n)
			if err != nil {
				return nil, nil, err
			}
			p := device.GemmParams{M: n, N: n, K: n, Alpha: 1, LdA: n, LdB: n, LdC: n, Batch: 1}
			return func() error { dev.Gemm(p, b[0], b[1], b[2]); return nil }, free, nil
		},
	}
}

// weightGradCase times dW = Xᵀ·dY for a linear layer of m inputs and n outputs over k
// tokens (X stored k×m, dY k×n), accumulating into dW (β = 1) as autograd does.
func weightGradCase(m, n, k int) Case {
	return Case{
		Name: fmt.Sprintf("gemm weight-grad %dx%dx%d", m, n, k), Group: "reduce",
		Work: 2 * float64(m) * float64(n) * float64(k), Unit: "GFLOP/s",
		Setup: func(dev device.Device) (func() error, func(), error) {
			b, free, err := allocAll(dev, device.Float32, k*m, k*n, m*n)
			if err != nil {
				return nil, nil, err
			}
			p := device.GemmParams{M: m, N: n, K: k, TransA: true, Alpha: 1, Beta: 1, LdA: m, LdB: n, LdC: n, Batch: 1}
			return func() error { dev.Gemm(p, b[0], b[1], b[2]); return nil }, free, nil
		},
	}
}

func attentionCase(batch, lq, lk, d, nctx int) Case {
	// FLOPs of the forward pass over the context keys: QKᵀ and PV.
	flops := 4 * float64(batch) * float64(lq) * float64(nctx) * float64(d)
	return Case{
		Name: fmt.Sprintf("attention fwd b%d l%d ctx%d d%d", batch, lk, nctx, d), Group: "attention",
		Anchor: map[string]any{"kind": "attention", "batch": batch, "lq": lq, "lk": lk, "d": d, "nctx": nctx},
		Work:   flops, Unit: "GFLOP/s",
		Setup: func(dev device.Device) (func() error, func(), error) {
			b, free, err := allocAll(dev, device.Float32, batch*lq*d, batch*lk*d, batch*lk*d, batch*lq*d, batch*lq)
			if err != nil {
				return nil, nil, err
			}
			p := device.AttentionParams{Batch: batch, Lq: lq, Lk: lk, D: d, Dv: d, NContext: nctx, Scale: 1 / math.Sqrt(float64(d))}
			return func() error { dev.Attention(p, b[0], b[1], b[2], b[3], b[4]); return nil }, free, nil
		},
	}
}

func rowCase(kind string, rows, cols int) Case {
	return Case{
		Name: fmt.Sprintf("%s %dx%d", kind, rows, cols), Group: kind,
		Anchor: map[string]any{"kind": kind, "rows": rows, "cols": cols},
		Work:   float64(2 * 4 * rows * cols), Unit: "GB/s", // read x, write y (float32)
		Setup: func(dev device.Device) (func() error, func(), error) {
			b, free, err := allocAll(dev, device.Float32, rows*cols, rows*cols, cols, cols, rows, rows)
			if err != nil {
				return nil, nil, err
			}
			if kind == "softmax" {
				return func() error { dev.Softmax(b[0], b[1], rows, cols, false); return nil }, free, nil
			}
			return func() error { dev.LayerNorm(b[0], b[2], b[3], b[1], b[4], b[5], rows, cols, 1e-5); return nil }, free, nil
		},
	}
}

func adamwCase(n int) Case {
	return Case{
		Name: fmt.Sprintf("adamw fused %dM params", n>>20), Group: "adamw",
		Anchor: map[string]any{"kind": "adamw", "n": n},
		// AdamW reads p, g, m, v and writes p, m, v: 7 float32 streams, 28 bytes a parameter.
		Work: 28 * float64(n), Unit: "GB/s",
		Setup: func(dev device.Device) (func() error, func(), error) {
			b, free, err := allocAll(dev, device.Float32, n, n, n, n)
			if err != nil {
				return nil, nil, err
			}
			dev.Fill(b[2], 0, n, 0)
			dev.Fill(b[3], 0, n, 0)
			group := []device.OptimTensor{{Param: b[0], Grad: b[1], State: []device.Buffer{b[2], b[3]}, N: n}}
			h := device.OptimHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 1, BiasCorrection: true}
			return func() error { return dev.OptimizerStep(device.OptimAdamW, group, h) }, free, nil
		},
	}
}

func copyCase(n int) Case {
	return Case{
		Name: fmt.Sprintf("copy %dM f32", n>>20), Group: "copy",
		Anchor: map[string]any{"kind": "copy", "n": n},
		Work:   8 * float64(n), Unit: "GB/s",
		Setup: func(dev device.Device) (func() error, func(), error) {
			b, free, err := allocAll(dev, device.Float32, n, n)
			if err != nil {
				return nil, nil, err
			}
			return func() error { dev.Convert(b[1], 0, b[0], 0, n); return nil }, free, nil
		},
	}
}
