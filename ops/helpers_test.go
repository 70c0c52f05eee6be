package ops

import (
	"math"
	"os"
	"testing"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/rng"
	"github.com/kiln-ml/kiln/tensor"
)

// dev is the device the tests run on: "cpu" unless KILN_TEST_DEVICE names another (a test
// binary built with -tags cuda also registers "cuda").
var dev = testDevice()

func testDevice() device.Device {
	name := os.Getenv("KILN_TEST_DEVICE")
	if name == "" {
		name = "cpu"
	}
	return device.MustGet(name)
}

// randT returns a float64 tensor of uniform draws in [lo, hi).
func randT(seed uint64, lo, hi float64, shape ...int) *Tensor {
	v := make([]float64, numel(shape))
	rng.FillUniform(v, seed, 0, 0, lo, hi)
	return tensor.FromFloat64(dev, v, shape...)
}

// awayT draws from [−hi, −lo] ∪ [lo, hi], away from the kinks of relu, abs and friends.
func awayT(seed uint64, lo, hi float64, shape ...int) *Tensor {
	v := make([]float64, numel(shape))
	rng.FillUniform(v, seed, 0, 0, -1, 1)
	for i, x := range v {
		v[i] = math.Copysign(lo+(hi-lo)*math.Abs(x), x)
	}
	return tensor.FromFloat64(dev, v, shape...)
}

func idxT(v ...int32) *Tensor { return tensor.FromInt32(dev, v) }

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

func liveBuffers() int64 { return dev.MemStats().LiveBuffers }
