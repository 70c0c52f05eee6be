package tabpfn

import (
	_ "embed"

	"github.com/kiln-ml/kiln/device"
)

// defaultModel is the model kiln ships: trained by kiln itself with `kiln tabpfn train`
// (the command, log and wall time are recorded in bench/results/tabpfn-training-*.md).
//
//go:embed default.safetensors
var defaultModel []byte

// DefaultModel loads the embedded model onto dev.
func DefaultModel(dev device.Device) (*Model, error) { return LoadBytes(dev, defaultModel) }

// DefaultModelBytes is the embedded checkpoint, for tools that inspect it.
func DefaultModelBytes() []byte { return defaultModel }
