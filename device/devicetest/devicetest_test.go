package devicetest_test

import (
	"math"
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

// perturb scales the last element of a buffer by 1+rel (the last, so that tiny cases see it too).
func perturb(buf device.Buffer, rel float64) {
	switch buf.DType() {
	case device.Float32:
		s := cpu.Float32s(buf)
		s[len(s)-1] = s[len(s)-1]*float32(1+rel) + float32(rel)
	case device.Float64:
		s := cpu.Float64s(buf)
		s[len(s)-1] = s[len(s)-1]*(1+rel) + rel
	}
}

func TestBrokenDeviceFails(t *testing.T) {
	for _, c := range []struct{ what, prim string }{
		{"gemm", "Gemm"}, {"softmax", "Softmax"}, {"attention-mask", "Attention"}, {"reduce-panic", "Reduce"},
	} {
		t.Run(c.what, func(t *testing.T) {
			rs := devicetest.Run(broken{cpu.Default(), c.what}, devicetest.Options{Quick: true, Primitives: []string{c.prim}})
			failed := 0
			for _, r := range rs {
				if r.Primitive != c.prim {
					continue
				}
				if !r.Pass {
					failed++
					if c.what == "reduce-panic" && !strings.Contains(r.Err, "broken device") {
						t.Errorf("panic message not reported: %q", r.Err)
					}
				}
			}
			// Cases that only check argument validation still pass; every numeric case of
			// the perturbed primitive must fail.
			if failed == 0 {
				t.Fatalf("the suite passed a device with a broken %s", c.prim)
			}
			t.Logf("%d of %d %s cases failed", failed, len(rs)-1, c.prim)
		})
	}
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
	if max32 == 0 || max64 == 0 || max64 > max32*1e-6 {
		t.Fatalf("float32 max error %g, float64 %g: expected rounding-level errors ~1e-8 and ~1e-17", max32, max64)
	}
}
