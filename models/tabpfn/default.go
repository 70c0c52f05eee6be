package tabpfn

import (
	_ "embed"

	"github.com/kiln-ml/kiln/device"
)

// defaultModel is the model kiln ships: 4 layers of width 128 (759,882 parameters), trained
// by kiln itself with `kiln tabpfn train` in four phases on GPUs and a CPU (the commands,
// logs, wall times and its evaluation are in bench/results/tabpfn-2026-11-27.md).
//
//go:embed default.safetensors
var defaultModel []byte

// DefaultModel loads the embedded model onto dev. Its config is ShippedConfig.
func DefaultModel(dev device.Device) (*Model, error) { return LoadBytes(dev, defaultModel) }

// DefaultModelBytes is the embedded checkpoint, for tools that inspect it.
func DefaultModelBytes() []byte { return defaultModel }
