package tabpfn

import (
	_ "embed"
	"errors"

	"github.com/kiln-ml/kiln/device"
)

// defaultModel is the model kiln ships: 4 layers of width 128 (759,882 parameters), trained
// by kiln itself with `kiln tabpfn train` in four phases on GPUs and a CPU (the commands,
// logs, wall times and its evaluation are in bench/results/tabpfn-2026-11-27.md).
//
//go:embed default.safetensors
var defaultModel []byte

// DefaultModel loads the embedded model onto dev. Its config is ShippedConfig, trained on
// tables of up to 64 features (TrainedFeatures), which is how many each ensemble member
// presents by default.
func DefaultModel(dev device.Device) (*Model, error) { return LoadBytes(dev, defaultModel) }

// DefaultModelBytes is the embedded checkpoint, for tools that inspect it.
func DefaultModelBytes() []byte { return defaultModel }

// defaultRegressionModel is the regression model kiln ships beside the classifier: the
// shipped classifier's body with a bar-distribution output of DefaultBins bins, trained
// from the classifier by `kiln tabpfn train --task regression` on the regression prior
// (the commands, logs and its evaluation are in bench/results/regression-2026-12-03.md).
//
//go:embed regression.safetensors
var defaultRegressionModel []byte

// DefaultRegressionModel loads the embedded regression model onto dev. Its config is
// ShippedConfig().AsRegression(DefaultBins), trained on tables of up to 64 features
// (TrainedFeatures), which is how many each ensemble member presents by default.
func DefaultRegressionModel(dev device.Device) (*Model, error) {
	if len(defaultRegressionModel) == 0 {
		return nil, errors.New("tabpfn: this build embeds no regression model: give one (WithModelPath, --model)")
	}
	return LoadBytes(dev, defaultRegressionModel)
}
