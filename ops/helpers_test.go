package ops

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/rng"
	"github.com/kiln-ml/kiln/tensor"
)

var cpu = device.MustGet("cpu")

// randT returns a float64 tensor of uniform draws in [lo, hi).
func randT(seed uint64, lo, hi float64, shape ...int) *Tensor {
	v := make([]float64, numel(shape))
	rng.FillUniform(v, seed, 0, 0, lo, hi)
	return tensor.FromFloat64(cpu, v, shape...)
}

// awayT draws from [−hi, −lo] ∪ [lo, hi], away from the kinks of relu, abs and friends.
func awayT(seed uint64, lo, hi float64, shape ...int) *Tensor {
	v := make([]float64, numel(shape))
	rng.FillUniform(v, seed, 0, 0, -1, 1)
	for i, x := range v {
		v[i] = math.Copysign(lo+(hi-lo)*math.Abs(x), x)
	}
	return tensor.FromFloat64(cpu, v, shape...)
}

func idxT(v ...int32) *Tensor { return tensor.FromInt32(cpu, v) }

func close(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(got[i]) {
			t.Fatalf("%s: element %d = %.12g, want %.12g", what, i, got[i], want[i])
		}
	}
}

func liveBuffers() int64 { return cpu.MemStats().LiveBuffers }
