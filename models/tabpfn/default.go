package tabpfn

import (
	_ "embed"

	"github.com/kiln-ml/kiln/device"
)

// defaultModel is the model kiln ships: trained by kiln itself with `kiln tabpfn train`
// in two phases (the commands, logs and wall times are in bench/results/tabpfn-2026-11-26.md).
//
//go:embed default.safetensors
var defaultModel []byte

// DefaultModel loads the embedded model onto dev.
func DefaultModel(dev device.Device) (*Model, error) { return LoadBytes(dev, defaultModel) }

// DefaultModelBytes is the embedded checkpoint, for tools that inspect it.
func DefaultModelBytes() []byte { return defaultModel }
