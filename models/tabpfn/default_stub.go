package tabpfn

import (
	"errors"

	"github.com/kiln-ml/kiln/device"
)

// DefaultModel is a placeholder until the trained model is embedded (default.go replaces
// this file).
func DefaultModel(dev device.Device) (*Model, error) {
	return nil, errors.New("tabpfn: no default model embedded yet")
}
