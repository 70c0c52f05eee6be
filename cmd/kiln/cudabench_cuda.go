//go:build cuda || cudaemu

package main

// This file links the CUDA backend into cuda builds of kiln (importing device/cuda registers
// the "cuda" device kind) and adds the hidden `kiln cudabench` command that bench/gpu/run.sh
// uses: the kernel-level measurements whose PyTorch anchors bench/gpu/anchors.py takes in the
// same run (SGEMM fp32, the TF32 tensor-core GEMM, context-masked attention forward+backward at TabPFN shapes, and a
// device-to-device copy). Times are CUDA-event medians after a warm-up; every timed kernel is
// also checked against a float64 host reference on sampled outputs.

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/cuda"
	"github.com/kiln-ml/kiln/device/half"
	"github.com/kiln-ml/kiln/internal/flagbound"
)

type gemmResult struct {
	N      int     `json:"n"`
	Ms     float64 `json:"ms"`
	TFLOPS float64 `json:"tflops"`
	RelErr float64 `json:"rel_err"`
}

type attnResult struct {
	Batch    int     `json:"batch"`
	Lq       int     `json:"lq"`
	Lk       int     `json:"lk"`
	NContext int     `json:"ncontext"`
	D        int     `json:"d"`
	FwdMs    float64 `json:"fwd_ms"`
	BwdMs    float64 `json:"bwd_ms"`
	FwdTF    float64 `json:"fwd_tflops"`
	BwdTF    float64 `json:"bwd_tflops"`
	RelErrO  float64 `json:"rel_err_o"`
	RelErrDQ float64 `json:"rel_err_dq"`
	RelErrDK float64 `json:"rel_err_dk"`
	RelErrDV float64 `json:"rel_err_dv"`
}

type copyResult struct {
	Bytes int64   `json:"bytes"`
	Ms    float64 `json:"ms"`
	GBps  float64 `json:"gbps_read_plus_write"`
}

type cudaBenchReport struct {
	Device    device.Info       `json:"device"`
	Date      string            `json:"date"`
	SGEMM     []gemmResult      `json:"sgemm"`
	TF32GEMM  []gemmResult      `json:"tf32_gemm"`
	DGEMM     []gemmResult      `json:"dgemm"`
	DMMAGEMM  []gemmResult      `json:"dmma_gemm"`
	BF16GEMM  []gemmResult      `json:"bf16_gemm"`
	Attention []attnResult      `json:"attention"`
	FABF16    []attnResult      `json:"fa_bf16_attention"`
	FAMixed   []attnResult      `json:"fa_mixed_attention"`
	Copy      copyResult        `json:"copy"`
	MemStats  device.MemStats   `json:"mem_stats"`
	Errors    []string          `json:"errors,omitempty"`
	Notes     map[string]string `json:"notes"`
}

func init() {
	var (
		devName string
		asJSON  bool
		reps    int
		quick   bool
	)
	cmd := &cobra.Command{
		Use:    "cudabench",
		Short:  "Time kiln's CUDA kernels at the shapes bench/gpu/anchors.py measures in PyTorch",
		Hidden: true,
		Example: `  kiln cudabench --json > kiln.json
  kiln cudabench --quick`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := device.Get(devName)
			if err != nil {
				return err
			}
			g, ok := d.(*cuda.Device)
			if !ok {
				return fmt.Errorf("cudabench needs a cuda device, not %s", d.Name())
			}
			rep := cudaBenchReport{Device: g.Info(), Date: time.Now().UTC().Format(time.RFC3339), Notes: map[string]string{
				"timing": fmt.Sprintf("CUDA events, median of %d after 2 warm-ups", reps),
				"sgemm":  "C = A·B, row-major, fp32 FFMA (no TF32), square n×n×n; rel_err on 256 sampled outputs vs float64",
				"tf32_gemm": "the same products on the tensor cores with TF32 inputs (" + cuda.TF32Env + "=1); " +
					"rel_err against the float64 product of the unrounded inputs",
				"dgemm":     "C = A·B in float64 on the 16×16 shared-tile kernel, square n×n×n",
				"dmma_gemm": "the same float64 products on the FP64 tensor cores (" + cuda.DMMAEnv + "=1)",
				"bf16_gemm": "bfloat16 A, B, C on the tensor cores (" + cuda.BF16Env + "=1), fp32 accumulation; " +
					"rel_err against float64 of the bfloat16 inputs",
				"attention": "fp32, batch = batch·heads, every query attends to keys [0, ncontext); " +
					"flops 4·B·Lq·NC·D forward, 10·B·Lq·NC·D backward",
				"fa_bf16_attention": "the attention forward of bfloat16 Q, K, V on the tensor cores (" + cuda.FABF16Env + "=1, " +
					"FlashAttention-2), O and lse in bfloat16; rel_err_o against float64 of the bfloat16 inputs",
				"fa_mixed_attention": "float32 Q, K, V, dO with bfloat16 products (AttentionParams.Products, " + cuda.FABF16Env + "=1), " +
					"forward and backward on the tensor cores as mixed-precision training runs them; rel_err against " +
					"float64 of the float32 inputs (so it includes their rounding to bfloat16)",
				"copy": "cuMemcpyDtoD of one buffer, bytes counted read + write",
			}}
			sizes := []int{1024, 2048, 4096}
			attnD := []int{32, 64}
			batch, seq, nctx, copyN := 1024, 1024, 896, 1<<28
			if quick { // a smoke test of the command (also runs on the cudaemu emulator)
				sizes, attnD, batch, seq, nctx, copyN = []int{192}, []int{32, 64}, 2, 128, 100, 1<<20
			}
			run := func(name string, f func() error) {
				if err := f(); err != nil {
					rep.Errors = append(rep.Errors, name+": "+err.Error())
				}
			}
			for _, n := range sizes {
				run(fmt.Sprintf("sgemm %d", n), func() error {
					r, err := benchSGEMM(g, n, reps)
					rep.SGEMM = append(rep.SGEMM, r)
					return err
				})
			}
			g.SetTF32(true)
			for _, n := range sizes {
				run(fmt.Sprintf("tf32 gemm %d", n), func() error {
					r, err := benchSGEMM(g, n, reps)
					rep.TF32GEMM = append(rep.TF32GEMM, r)
					if err == nil && !(r.RelErr <= tf32MaxRelErr) {
						err = fmt.Errorf("relative error %.3g above %.0e: the TF32 kernel is wrong", r.RelErr, tf32MaxRelErr)
					}
					return err
				})
			}
			g.SetTF32(os.Getenv(cuda.TF32Env) == "1")
			for _, dmma := range []bool{false, true} {
				g.SetDMMA(dmma)
				for _, n := range sizes {
					run(fmt.Sprintf("dgemm %d (dmma %v)", n, dmma), func() error {
						r, err := benchGEMM(g, device.Float64, n, reps)
						if dmma {
							rep.DMMAGEMM = append(rep.DMMAGEMM, r)
						} else {
							rep.DGEMM = append(rep.DGEMM, r)
						}
						if err == nil && !(r.RelErr <= 1e-12) {
							err = fmt.Errorf("relative error %.3g above 1e-12: the float64 kernel is wrong", r.RelErr)
						}
						return err
					})
				}
			}
			g.SetDMMA(os.Getenv(cuda.DMMAEnv) == "1")
			g.SetBF16(true)
			for _, n := range sizes {
				run(fmt.Sprintf("bf16 gemm %d", n), func() error {
					r, err := benchGEMM(g, device.BFloat16, n, reps)
					rep.BF16GEMM = append(rep.BF16GEMM, r)
					if err == nil && !(r.RelErr <= 1e-2) {
						err = fmt.Errorf("relative error %.3g above 1e-2: the bfloat16 kernel is wrong", r.RelErr)
					}
					return err
				})
			}
			g.SetBF16(os.Getenv(cuda.BF16Env) == "1")
			for _, dh := range attnD {
				run(fmt.Sprintf("attention d=%d", dh), func() error {
					r, err := benchAttention(g, batch, seq, seq, nctx, dh, reps, 0)
					rep.Attention = append(rep.Attention, r)
					return err
				})
			}
			g.SetFABF16(true)
			for _, dh := range attnD {
				run(fmt.Sprintf("fa mixed attention d=%d", dh), func() error {
					r, err := benchAttention(g, batch, seq, seq, nctx, dh, reps, device.BFloat16)
					rep.FAMixed = append(rep.FAMixed, r)
					if err == nil && !(max(r.RelErrO, r.RelErrDQ, r.RelErrDK, r.RelErrDV) <= 5e-2) {
						err = fmt.Errorf("relative errors O %.3g dQ %.3g dK %.3g dV %.3g, some above 5e-2: the mixed attention kernels are wrong",
							r.RelErrO, r.RelErrDQ, r.RelErrDK, r.RelErrDV)
					}
					return err
				})
			}
			for _, dh := range attnD {
				run(fmt.Sprintf("fa bf16 attention d=%d", dh), func() error {
					r, err := benchAttentionFABF16(g, batch, seq, seq, nctx, dh, reps)
					rep.FABF16 = append(rep.FABF16, r)
					if err == nil && !(r.RelErrO <= 1e-2) {
						err = fmt.Errorf("relative error %.3g above 1e-2: the bfloat16 attention kernel is wrong", r.RelErrO)
					}
					return err
				})
			}
			g.SetFABF16(os.Getenv(cuda.FABF16Env) == "1")
			run("copy", func() error {
				r, err := benchCopy(g, copyN, reps) // 1 GiB of float32 (4 MiB with --quick)
				rep.Copy = r
				return err
			})
			rep.MemStats = g.MemStats()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(out, "kiln cudabench on %s: %s\n", g.Name(), g.Info().Description)
			for _, r := range rep.SGEMM {
				fmt.Fprintf(out, "sgemm n=%-5d %9.3f ms %7.2f TFLOP/s  rel err %.2g\n", r.N, r.Ms, r.TFLOPS, r.RelErr)
			}
			for _, r := range rep.TF32GEMM {
				fmt.Fprintf(out, "tf32 gemm n=%-5d %9.3f ms %7.2f TFLOP/s  rel err %.2g\n", r.N, r.Ms, r.TFLOPS, r.RelErr)
			}
			for _, r := range rep.DGEMM {
				fmt.Fprintf(out, "dgemm n=%-5d %9.3f ms %7.2f TFLOP/s  rel err %.2g\n", r.N, r.Ms, r.TFLOPS, r.RelErr)
			}
			for _, r := range rep.BF16GEMM {
				fmt.Fprintf(out, "bf16 gemm n=%-5d %9.3f ms %7.2f TFLOP/s  rel err %.2g\n", r.N, r.Ms, r.TFLOPS, r.RelErr)
			}
			for _, r := range rep.DMMAGEMM {
				fmt.Fprintf(out, "dmma gemm n=%-5d %9.3f ms %7.2f TFLOP/s  rel err %.2g\n", r.N, r.Ms, r.TFLOPS, r.RelErr)
			}
			for _, r := range rep.Attention {
				fmt.Fprintf(out, "attention B=%d L=%d nctx=%d d=%d: fwd %.3f ms (%.2f TFLOP/s), bwd %.3f ms (%.2f TFLOP/s); rel err O %.2g dQ %.2g dK %.2g dV %.2g\n",
					r.Batch, r.Lq, r.NContext, r.D, r.FwdMs, r.FwdTF, r.BwdMs, r.BwdTF, r.RelErrO, r.RelErrDQ, r.RelErrDK, r.RelErrDV)
			}
			for _, r := range rep.FABF16 {
				fmt.Fprintf(out, "fa bf16 attention B=%d L=%d nctx=%d d=%d: fwd %.3f ms (%.2f TFLOP/s); rel err O %.2g\n",
					r.Batch, r.Lq, r.NContext, r.D, r.FwdMs, r.FwdTF, r.RelErrO)
			}
			for _, r := range rep.FAMixed {
				fmt.Fprintf(out, "fa mixed attention B=%d L=%d nctx=%d d=%d: fwd %.3f ms (%.2f TFLOP/s), bwd %.3f ms (%.2f TFLOP/s); rel err O %.2g dQ %.2g dK %.2g dV %.2g\n",
					r.Batch, r.Lq, r.NContext, r.D, r.FwdMs, r.FwdTF, r.BwdMs, r.BwdTF, r.RelErrO, r.RelErrDQ, r.RelErrDK, r.RelErrDV)
			}
			fmt.Fprintf(out, "copy %d MiB: %.3f ms, %.0f GB/s (read+write)\n", rep.Copy.Bytes>>20, rep.Copy.Ms, rep.Copy.GBps)
			for _, e := range rep.Errors {
				fmt.Fprintln(out, "error:", e)
			}
			if len(rep.Errors) > 0 {
				return fmt.Errorf("%d measurements failed", len(rep.Errors))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&devName, "device", "cuda", "cuda device (cuda, cuda:N)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	flagbound.Int(f, &reps, "reps", 10, 1, 100000, "timed repetitions per measurement")
	f.BoolVar(&quick, "quick", false, "small sizes (a smoke test)")
	addCommand(cmd)
}

// tf32MaxRelErr bounds the TF32 GEMM's relative error against the float64 product of its
// unrounded inputs: rounding each input to 10 mantissa bits gives about 3e-4 on uniform
// [-1, 1] matrices, and a wrong fragment or tile index gives errors of order 1.
const tf32MaxRelErr = 5e-3

// timeMedian runs f twice to warm up, then reps times between events, and returns the median
// milliseconds.
func timeMedian(g *cuda.Device, reps int, f func()) (float64, error) {
	f()
	f()
	if err := g.Sync(); err != nil {
		return 0, err
	}
	ms := make([]float64, 0, reps)
	for i := 0; i < reps; i++ {
		start, err := g.Record()
		if err != nil {
			return 0, err
		}
		f()
		end, err := g.Record()
		if err != nil {
			return 0, err
		}
		t, err := g.Elapsed(start, end)
		if err != nil {
			return 0, err
		}
		ms = append(ms, t)
	}
	if err := g.Sync(); err != nil {
		return 0, err
	}
	slices.Sort(ms)
	return ms[len(ms)/2], nil
}

func allocFilled(g *cuda.Device, n int, seed uint64, dist device.Distribution, a, b float64) (device.Buffer, error) {
	return allocFilledAs(g, device.Float32, n, seed, dist, a, b)
}

func allocFilledAs(g *cuda.Device, dt device.DType, n int, seed uint64, dist device.Distribution, a, b float64) (device.Buffer, error) {
	buf, err := g.Alloc(dt, n)
	if err != nil {
		return nil, err
	}
	g.RandomFill(buf, dist, seed, 0, a, b)
	return buf, nil
}

func toHost(g *cuda.Device, b device.Buffer) ([]float32, error) {
	x := make([]float32, b.Len())
	return x, g.CopyToHost(x, b)
}

// toHost64 reads a buffer of any float dtype as float64.
func toHost64(g *cuda.Device, b device.Buffer) ([]float64, error) {
	switch b.DType() {
	case device.Float64:
		x := make([]float64, b.Len())
		return x, g.CopyToHost(x, b)
	case device.BFloat16:
		h := make([]half.BFloat16, b.Len())
		err := g.CopyToHost(h, b)
		x := make([]float64, len(h))
		for i, v := range h {
			x[i] = float64(v.Float32())
		}
		return x, err
	}
	x, err := toHost(g, b)
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y, err
}

func benchSGEMM(g *cuda.Device, n, reps int) (gemmResult, error) {
	return benchGEMM(g, device.Float32, n, reps)
}

// benchGEMM times the square n×n×n product C = A·B of dtype dt on uniform [-1, 1] inputs
// and measures its relative error on 256 sampled outputs against float64.
func benchGEMM(g *cuda.Device, dt device.DType, n, reps int) (gemmResult, error) {
	r := gemmResult{N: n}
	a, err := allocFilledAs(g, dt, n*n, 1, device.Uniform, -1, 1)
	if err != nil {
		return r, err
	}
	defer a.Free()
	b, err := allocFilledAs(g, dt, n*n, 2, device.Uniform, -1, 1)
	if err != nil {
		return r, err
	}
	defer b.Free()
	c, err := g.Alloc(dt, n*n)
	if err != nil {
		return r, err
	}
	defer c.Free()
	p := device.GemmParams{M: n, N: n, K: n, Alpha: 1, LdA: n, LdB: n, LdC: n, Batch: 1}
	r.Ms, err = timeMedian(g, reps, func() { g.Gemm(p, a, b, c) })
	if err != nil {
		return r, err
	}
	r.TFLOPS = 2 * math.Pow(float64(n), 3) / (r.Ms * 1e-3) / 1e12
	ha, err := toHost64(g, a)
	if err != nil {
		return r, err
	}
	hb, err := toHost64(g, b)
	if err != nil {
		return r, err
	}
	hc, err := toHost64(g, c)
	if err != nil {
		return r, err
	}
	rnd := rand.New(rand.NewPCG(uint64(n), 3))
	var num, den float64
	for s := 0; s < 256; s++ {
		i, j := rnd.IntN(n), rnd.IntN(n)
		var want float64
		for k := 0; k < n; k++ {
			want += ha[i*n+k] * hb[k*n+j]
		}
		num += math.Pow(hc[i*n+j]-want, 2)
		den += want * want
	}
	r.RelErr = math.Sqrt(num / den)
	return r, nil
}

// benchAttention times the float32 attention forward and backward, with products as
// AttentionParams.Products, and checks head 0 against a float64 host reference.
func benchAttention(g *cuda.Device, batch, lq, lk, nctx, dh, reps int, products device.DType) (attnResult, error) {
	r := attnResult{Batch: batch, Lq: lq, Lk: lk, NContext: nctx, D: dh}
	p := device.AttentionParams{Batch: batch, Lq: lq, Lk: lk, D: dh, Dv: dh, NContext: nctx, Scale: 1 / math.Sqrt(float64(dh)),
		Products: products}
	var bufs []device.Buffer
	defer func() {
		for _, b := range bufs {
			b.Free()
		}
	}()
	mk := func(n int, seed uint64) (device.Buffer, error) {
		b, err := allocFilled(g, n, seed, device.Normal, 0, 1)
		if err == nil {
			bufs = append(bufs, b)
		}
		return b, err
	}
	nq, nk := batch*lq*dh, batch*lk*dh
	q, err := mk(nq, 11)
	if err != nil {
		return r, err
	}
	k, err := mk(nk, 12)
	if err != nil {
		return r, err
	}
	v, err := mk(nk, 13)
	if err != nil {
		return r, err
	}
	dO, err := mk(nq, 14)
	if err != nil {
		return r, err
	}
	var o, lse, dq, dk, dv device.Buffer
	for _, x := range []struct {
		p *device.Buffer
		n int
	}{{&o, nq}, {&lse, batch * lq}, {&dq, nq}, {&dk, nk}, {&dv, nk}} {
		b, err := g.Alloc(device.Float32, x.n)
		if err != nil {
			return r, err
		}
		bufs = append(bufs, b)
		*x.p = b
	}
	fl := float64(batch) * float64(lq) * float64(nctx) * float64(dh)
	if r.FwdMs, err = timeMedian(g, reps, func() { g.Attention(p, q, k, v, o, lse) }); err != nil {
		return r, err
	}
	if r.BwdMs, err = timeMedian(g, reps, func() { g.AttentionBackward(p, q, k, v, o, lse, dO, dq, dk, dv) }); err != nil {
		return r, err
	}
	r.FwdTF = 4 * fl / (r.FwdMs * 1e-3) / 1e12
	r.BwdTF = 10 * fl / (r.BwdMs * 1e-3) / 1e12
	// Check head 0 against a float64 host reference.
	// Copy only head 0 down: a device-to-device copy into a small buffer first.
	get := func(b device.Buffer, n int) ([]float32, error) {
		small, err := g.Alloc(device.Float32, n)
		if err != nil {
			return nil, err
		}
		defer small.Free()
		g.CopyDeviceToDevice(small, 0, b, 0, n)
		return toHost(g, small)
	}
	var hs [8][]float32
	for i, x := range []struct {
		b device.Buffer
		n int
	}{{q, lq * dh}, {k, lk * dh}, {v, lk * dh}, {dO, lq * dh}, {o, lq * dh}, {dq, lq * dh}, {dk, lk * dh}, {dv, lk * dh}} {
		if hs[i], err = get(x.b, x.n); err != nil {
			return r, err
		}
	}
	ro, rdq, rdk, rdv := attentionRef(hs[0], hs[1], hs[2], hs[3], lq, lk, nctx, dh, p.Scale)
	r.RelErrO, r.RelErrDQ, r.RelErrDK, r.RelErrDV = relErr(hs[4], ro), relErr(hs[5], rdq), relErr(hs[6], rdk), relErr(hs[7], rdv)
	return r, nil
}

// benchAttentionFABF16 times the forward of bfloat16 attention (the caller switches the
// tensor-core kernel on) and checks head 0's O against the float64 reference of the
// bfloat16 inputs.
func benchAttentionFABF16(g *cuda.Device, batch, lq, lk, nctx, dh, reps int) (attnResult, error) {
	r := attnResult{Batch: batch, Lq: lq, Lk: lk, NContext: nctx, D: dh}
	p := device.AttentionParams{Batch: batch, Lq: lq, Lk: lk, D: dh, Dv: dh, NContext: nctx, Scale: 1 / math.Sqrt(float64(dh))}
	var bufs []device.Buffer
	defer func() {
		for _, b := range bufs {
			b.Free()
		}
	}()
	nq, nk := batch*lq*dh, batch*lk*dh
	var q, k, v, o, lse device.Buffer
	for i, x := range []struct {
		p *device.Buffer
		n int
	}{{&q, nq}, {&k, nk}, {&v, nk}, {&o, nq}, {&lse, batch * lq}} {
		var b device.Buffer
		var err error
		if i < 3 {
			b, err = allocFilledAs(g, device.BFloat16, x.n, uint64(11+i), device.Normal, 0, 1)
		} else {
			b, err = g.Alloc(device.BFloat16, x.n)
		}
		if err != nil {
			return r, err
		}
		bufs = append(bufs, b)
		*x.p = b
	}
	var err error
	if r.FwdMs, err = timeMedian(g, reps, func() { g.Attention(p, q, k, v, o, lse) }); err != nil {
		return r, err
	}
	r.FwdTF = 4 * float64(batch) * float64(lq) * float64(nctx) * float64(dh) / (r.FwdMs * 1e-3) / 1e12
	var hs [4][]float32
	for i, x := range []struct {
		b device.Buffer
		n int
	}{{q, lq * dh}, {k, lk * dh}, {v, lk * dh}, {o, lq * dh}} {
		small, err := g.Alloc(device.BFloat16, x.n)
		if err != nil {
			return r, err
		}
		g.CopyDeviceToDevice(small, 0, x.b, 0, x.n)
		h, err := toHost64(g, small)
		small.Free()
		if err != nil {
			return r, err
		}
		hs[i] = make([]float32, len(h))
		for j, y := range h {
			hs[i][j] = float32(y) // exact: bfloat16 values
		}
	}
	ro, _, _, _ := attentionRef(hs[0], hs[1], hs[2], make([]float32, lq*dh), lq, lk, nctx, dh, p.Scale)
	r.RelErrO = relErr(hs[3], ro)
	return r, nil
}

// attentionRef is the float64 reference for one head: O, dQ, dK, dV with the context mask.
func attentionRef(q, k, v, dO []float32, lq, lk, nctx, dh int, scale float64) (o, dq, dk, dv []float64) {
	o, dq = make([]float64, lq*dh), make([]float64, lq*dh)
	dk, dv = make([]float64, lk*dh), make([]float64, lk*dh)
	p := make([]float64, nctx)
	dp := make([]float64, nctx)
	for i := 0; i < lq; i++ {
		m := math.Inf(-1)
		for j := 0; j < nctx; j++ {
			var s float64
			for c := 0; c < dh; c++ {
				s += float64(q[i*dh+c]) * float64(k[j*dh+c])
			}
			p[j] = s * scale
			m = math.Max(m, p[j])
		}
		var l float64
		for j := range p {
			p[j] = math.Exp(p[j] - m)
			l += p[j]
		}
		var delta float64
		for j := range p {
			p[j] /= l
			for c := 0; c < dh; c++ {
				o[i*dh+c] += p[j] * float64(v[j*dh+c])
			}
		}
		for c := 0; c < dh; c++ {
			delta += float64(dO[i*dh+c]) * o[i*dh+c]
		}
		for j := range p {
			var s float64
			for c := 0; c < dh; c++ {
				s += float64(dO[i*dh+c]) * float64(v[j*dh+c])
				dv[j*dh+c] += p[j] * float64(dO[i*dh+c])
			}
			dp[j] = p[j] * (s - delta)
			for c := 0; c < dh; c++ {
				dq[i*dh+c] += dp[j] * float64(k[j*dh+c]) * scale
				dk[j*dh+c] += dp[j] * float64(q[i*dh+c]) * scale
			}
		}
	}
	return o, dq, dk, dv
}

func relErr(got []float32, want []float64) float64 {
	var num, den float64
	for i, w := range want {
		d := float64(got[i]) - w
		if math.IsNaN(d) {
			return math.NaN()
		}
		num += d * d
		den += w * w
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func benchCopy(g *cuda.Device, n, reps int) (copyResult, error) {
	r := copyResult{Bytes: int64(n) * 4}
	src, err := allocFilled(g, n, 5, device.Uniform, 0, 1)
	if err != nil {
		return r, err
	}
	defer src.Free()
	dst, err := g.Alloc(device.Float32, n)
	if err != nil {
		return r, err
	}
	defer dst.Free()
	if r.Ms, err = timeMedian(g, reps, func() { g.CopyDeviceToDevice(dst, 0, src, 0, n) }); err != nil {
		return r, err
	}
	r.GBps = 2 * float64(r.Bytes) / (r.Ms * 1e-3) / 1e9
	return r, nil
}
