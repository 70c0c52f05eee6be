package devicetest_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/device/devicetest"
)

// TestConformance runs the quick suite on every registered device.
func TestConformance(t *testing.T) {
	for _, name := range device.Available() {
		t.Run(name, func(t *testing.T) {
			dev := device.MustGet(name)
			rs := devicetest.Run(dev, devicetest.Options{Quick: true})
			if len(rs) < 100 {
				t.Fatalf("only %d cases ran", len(rs))
			}
			seen := map[string]bool{}
			for _, r := range rs {
				seen[r.Primitive] = true
				if !r.Pass {
					t.Errorf("%s %s: max error %.3g > tol %.3g %s", r.Primitive, r.Case, r.MaxErr, r.Tol, r.Err)
				}
			}
			for _, p := range devicetest.Primitives() {
				if !seen[p] {
					t.Errorf("no case for %s", p)
				}
			}
		})
	}
}

// broken wraps the CPU device and perturbs one primitive's output, to show that the suite
// notices.
type broken struct {
	*cpu.Device
	what string
}

func (b broken) Gemm(p device.GemmParams, a, bb, c device.Buffer) {
	b.Device.Gemm(p, a, bb, c)
	if b.what == "gemm" {
		perturb(c, 1e-3)
	}
}

func (b broken) Softmax(x, y device.Buffer, rows, cols int, log bool) {
	b.Device.Softmax(x, y, rows, cols, log)
	if b.what == "softmax" {
		perturb(y, 1e-3)
	}
}

func (b broken) Attention(p device.AttentionParams, q, k, v, o, lse device.Buffer) {
	if b.what == "attention-mask" {
		p.NContext = p.Lk // ignores the context mask
	}
	b.Device.Attention(p, q, k, v, o, lse)
}

func (b broken) Reduce(op device.ReduceOp, x device.Buffer, outer, n, inner int, y device.Buffer) {
	if b.what == "reduce-panic" {
		panic("broken device")
	}
	b.Device.Reduce(op, x, outer, n, inner, y)
}

func (b broken) RandomFill(dst device.Buffer, dist device.Distribution, seed, offset uint64, lo, hi float64) {
	if b.what == "random-offset" {
		offset++ // the classic off-by-one in the counter
	}
	b.Device.RandomFill(dst, dist, seed, offset, lo, hi)
}

func (b broken) LayerNorm(x, gamma, beta, y, mean, rstd device.Buffer, rows, cols int, eps float64) {
	if b.what == "layernorm-eps" {
		eps *= 100
	}
	b.Device.LayerNorm(x, gamma, beta, y, mean, rstd, rows, cols, eps)
}

func (b broken) AttentionBackward(p device.AttentionParams, q, k, v, o, lse, dO, dq, dk, dv device.Buffer) {
	b.Device.AttentionBackward(p, q, k, v, o, lse, dO, dq, dk, dv)
	if b.what == "attention-dk" {
		perturb(dk, 1e-3)
	}
}

func (b broken) OptimizerStep(kind device.OptimKind, group []device.OptimTensor, h device.OptimHyper) error {
	switch b.what {
	case "optim-grad-scale":
		h.GradScale = 1 // ignores clipping and loss scaling
	case "optim-last-tensor":
		if len(group) > 1 {
			group = group[:len(group)-1] // forgets a tensor of the group
		}
	}
	err := b.Device.OptimizerStep(kind, group, h)
	if b.what == "optim-lamb" && kind == device.OptimLAMB {
		for _, t := range group {
			perturb(t.Param, 1e-3)
		}
	}
	return err
}

func (b broken) BSRMatMul(rowptr, colidx, vals, bb, c device.Buffer, blockRows, br, bc, n int) {
	b.Device.BSRMatMul(rowptr, colidx, vals, bb, c, blockRows, br, bc, n)
	if b.what == "bsr" {
		perturb(c, 1e-3)
	}
}

// perturb moves every element of a buffer by a relative and an absolute 1e-3 (NaN stays NaN).
func perturb(buf device.Buffer, rel float64) {
	switch buf.DType() {
	case device.Float32:
		s := cpu.Float32s(buf)
		for i := range s {
			s[i] = s[i]*float32(1+rel) + float32(rel)
		}
	case device.Float64:
		s := cpu.Float64s(buf)
		for i := range s {
			s[i] = s[i]*(1+rel) + rel
		}
	}
}

func TestBrokenDeviceFails(t *testing.T) {
	for _, c := range []struct{ what, prim string }{
		{"gemm", "Gemm"}, {"softmax", "Softmax"}, {"attention-mask", "Attention"}, {"reduce-panic", "Reduce"},
		{"random-offset", "RandomFill"}, {"layernorm-eps", "LayerNorm"}, {"attention-dk", "AttentionBackward"},
		{"optim-grad-scale", "OptimizerStep"}, {"optim-last-tensor", "OptimizerStep"}, {"optim-lamb", "OptimizerStep"},
		{"bsr", "BSRMatMul"},
	} {
		t.Run(c.what, func(t *testing.T) {
			// float32 and float64: the 16-bit dtypes run the same kernels on float32 copies
			// (device.InFloat32) of the wrapped device, past the breakage, and a 1e-3
			// perturbation is below bfloat16's resolution anyway.
			rs := devicetest.Run(broken{cpu.Default(), c.what}, devicetest.Options{Quick: true, Primitives: []string{c.prim},
				DTypes: []device.DType{device.Float32, device.Float64}})
			numeric := 0
			for _, r := range rs {
				// Cases that check argument validation are not affected by the breakage.
				if r.Primitive != c.prim || strings.HasSuffix(r.Case, "panics") {
					continue
				}
				// Ignoring the mask only matters where some keys lie outside the context.
				if c.what == "attention-mask" && contextIsAllKeys(r.Case) {
					continue
				}
				// Cases with bfloat16 products allow bfloat16's rounding (4·2⁻⁸ of scale), far
				// above a 1e-3 perturbation; a wrong mask still fails them.
				if c.what == "attention-dk" && strings.Contains(r.Case, "products=bfloat16") {
					continue
				}
				if !brokenOptimCase(c.what, r.Case) {
					continue
				}
				numeric++
				if r.Pass {
					t.Errorf("%s %s passed on a device with a broken %s (max error %g, tol %g)", r.Primitive, r.Case, c.what, r.MaxErr, r.Tol)
				}
				if c.what == "reduce-panic" && !strings.Contains(r.Err, "broken device") {
					t.Errorf("panic message not reported: %q", r.Err)
				}
			}
			if numeric == 0 {
				t.Fatal("no case exercised the broken primitive")
			}
		})
	}
}

// brokenOptimCase reports whether an OptimizerStep case can see the breakage what: the
// cases that run package optim (whose steps take one tensor or refuse) and those of the
// other kinds for the LAMB breakage cannot; a grad scale of 1 is the correct one.
func brokenOptimCase(what, name string) bool {
	if !strings.HasPrefix(what, "optim-") {
		return true
	}
	if strings.Contains(name, "optim:") || strings.Contains(name, "ErrUnsupported") {
		return false
	}
	switch what {
	case "optim-lamb":
		return strings.Contains(name, " lamb ")
	case "optim-grad-scale":
		return strings.Contains(name, "grad scale") && !strings.Contains(name, "grad scale 0 means 1")
	}
	return true
}

// contextIsAllKeys parses "Lk=%d ... NContext=%d" from an attention case name.
func contextIsAllKeys(name string) bool {
	var lk, nc int
	for _, f := range strings.Fields(name) {
		if v, ok := strings.CutPrefix(f, "Lk="); ok {
			lk, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(f, "NContext="); ok {
			nc, _ = strconv.Atoi(v)
		}
	}
	return lk == nc
}

// TestSuiteFreesBuffers checks the suite's own bookkeeping: MemStats live buffers return to
// the starting count, and the final MemStats case reports it.
func TestSuiteFreesBuffers(t *testing.T) {
	dev := cpu.Default()
	before := dev.MemStats().LiveBuffers
	rs := devicetest.Run(dev, devicetest.Options{Quick: true, Primitives: []string{"Gemm", "Gather"}})
	if after := dev.MemStats().LiveBuffers; after != before {
		t.Fatalf("live buffers %d → %d", before, after)
	}
	last := rs[len(rs)-1]
	if last.Primitive != "MemStats" || !last.Pass {
		t.Fatalf("last result %+v", last)
	}
}

// TestToleranceScale checks that the reported errors are meaningful: on a correct device the
// float64 cases are far tighter than float32 ones, and no tolerance is NaN or negative.
func TestToleranceScale(t *testing.T) {
	rs := devicetest.Run(cpu.Default(), devicetest.Options{Quick: true, Primitives: []string{"Gemm"}})
	var max32, max64 float64
	for _, r := range rs {
		if math.IsNaN(r.Tol) || r.Tol < 0 {
			t.Fatalf("%s %s: tolerance %v", r.Primitive, r.Case, r.Tol)
		}
		if strings.HasPrefix(r.Case, "f32") {
			max32 = math.Max(max32, r.MaxErr)
		} else if strings.HasPrefix(r.Case, "f64") {
			max64 = math.Max(max64, r.MaxErr)
		}
	}
	// A float64 error of exactly 0 is legitimate: the pure-Go (noasm) GEMM sums in the same
	// order as the reference. A zero float32 error is not: the reference runs in float64.
	if max32 == 0 || max64 > max32*1e-6 {
		t.Fatalf("float32 max error %g, float64 %g: expected rounding-level errors ~1e-8 and ~1e-17", max32, max64)
	}
}

// unfused is the CPU device without fused optimizer steps: optimizers fall back to
// optim.ComposedStep, which the suite then checks against its reference.
type unfused struct{ *cpu.Device }

func (unfused) OptimizerStep(device.OptimKind, []device.OptimTensor, device.OptimHyper) error {
	return device.ErrUnsupported
}

func TestComposedFallbackConforms(t *testing.T) {
	rs := devicetest.Run(unfused{cpu.Default()}, devicetest.Options{Quick: true, Primitives: []string{"OptimizerStep"}})
	fallback := 0
	for _, r := range rs {
		if !r.Pass {
			t.Errorf("%s %s: max error %.3g > tol %.3g %s", r.Primitive, r.Case, r.MaxErr, r.Tol, r.Err)
		}
		if strings.Contains(r.Case, "[ErrUnsupported") {
			fallback++
		}
	}
	if fallback < 60 {
		t.Fatalf("only %d cases went through the composed fallback", fallback)
	}
}

// noBSR hides the CPU backend's optional BSRMatMul: the suite says the primitive is absent
// instead of failing.
type noBSR struct{ device.Device }

func TestOptionalBSRAbsent(t *testing.T) {
	rs := devicetest.Run(noBSR{cpu.Default()}, devicetest.Options{Quick: true, Primitives: []string{"BSRMatMul"}})
	if len(rs) != 5 || !rs[0].Pass || !strings.Contains(rs[0].Case, "not implemented") {
		t.Fatalf("results %+v", rs)
	}
}
