package compare_test

import (
	"fmt"
	"os"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/optim/compare"
)

// Compare AdamW and LAMB for 100 steps on a dataset, without a learning-rate sweep, and
// print the table.
func ExampleRun() {
	cfg := compare.DefaultConfig()
	cfg.Optimizers = []string{"adamw", "lamb"}
	cfg.Steps, cfg.LRFactors = 100, nil
	rep, err := compare.Run(device.MustGet("cpu"), "../../examples/wine/wine.csv", cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rep.WriteText(os.Stdout); err != nil {
		fmt.Println(err)
	}
}
