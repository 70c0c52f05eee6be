package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot/vg"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/outguard"
	"github.com/kiln-ml/kiln/optim/compare"
)

func init() { addCommand(newOptimCmd()) }

func newOptimCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "optim",
		Short: "Compare kiln's optimizers (SGD, AdamW, LAMB, Sophia, AdaHessian) on a real dataset",
		Example: `  kiln optim compare
  kiln optim compare --dataset ../shared/data/tabular/letter.csv --steps 500 --plot curves.png --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	c.AddCommand(newOptimCompareCmd())
	return c
}

// newOptimCompareCmd is the command line of package optim/compare: flags, the memory limits,
// and the outputs (the report on standard output, the plot through the guarded atomic
// writer).
func newOptimCompareCmd() *cobra.Command {
	var (
		dataset, plotPath, devName, only string
		sweep, asJSON                    bool
	)
	cfg := compare.DefaultConfig()
	c := &cobra.Command{
		Use:   "compare",
		Short: "Train one small MLP with every optimizer under the same budget and seed",
		Long: `compare trains the same MLP (features → hidden → ReLU → classes, float32, identical
initial weights) on a CSV classification dataset with each optimizer, for the same number of
minibatch steps over the same minibatches. Features are standardised with training-set
statistics; a stratified test split measures accuracy. Each optimizer runs at its default
learning rate (SGD: 0.05 with momentum 0.9) or, with --sweep, at 0.1×, 1× and 10× of it,
keeping the run with the lowest final training loss. Sophia refreshes its Hessian with the
Gauss-Newton-Bartlett estimate every 10 steps (SophiaG); AdaHessian estimates |Hv| every step.
The table reports the final full-training-set loss, test accuracy, wall time and time per
step; --plot draws the minibatch loss curves (10-step moving average) to a PNG. The work is
done by package optim/compare.`,
		Example: `  kiln optim compare
  kiln optim compare --dataset ../shared/data/tabular/iris.csv --steps 200 --sweep=false
  kiln optim compare --steps 500 --plot curves.png --json --optimizers adamw,lamb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(only) != "" {
				cfg.Optimizers = strings.Split(only, ",")
			}
			if _, err := compare.Select(cfg.Optimizers); err != nil {
				return err
			}
			if err := checkOutputs(cmd, []outguard.File{outFile("--plot", plotPath)}, inFile("--dataset", dataset)); err != nil {
				return err
			}
			if _, err := os.Stat(dataset); err != nil {
				return fmt.Errorf("dataset %s: %w (the default is read relative to the repository root)", dataset, err)
			}
			dev, err := device.Get(devName)
			if err != nil {
				return err
			}
			if !sweep {
				cfg.LRFactors = []float64{1}
			}
			cfg.CheckMemory = func(what string, bytes float64) error {
				return checkMemory(dev, "optim compare: "+what, bytes)
			}
			rep, err := compare.Run(dev, dataset, cfg)
			if err != nil {
				return err
			}
			if plotPath != "" {
				p, err := rep.Plot()
				if err != nil {
					return err
				}
				if err := savePlot(p, 8*vg.Inch, 5*vg.Inch, plotPath); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			if err := rep.WriteText(out); err != nil {
				return err
			}
			if plotPath != "" {
				fmt.Fprintf(out, "loss curves written to %s\n", plotPath)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dataset, "dataset", "../shared/data/tabular/digits.csv", "CSV file with a header row, or Parquet file (.parquet, .pq); the last column is the class")
	flagbound.Int(f, &cfg.Steps, "steps", cfg.Steps, 1, 10_000_000, "minibatch steps per optimizer (the minibatches are built up front: their memory is checked)")
	flagbound.Int(f, &cfg.Batch, "batch", cfg.Batch, 1, maxTableRows, "minibatch rows")
	flagbound.Int(f, &cfg.Hidden, "hidden", cfg.Hidden, 1, 1<<20, "hidden units of the MLP")
	flagbound.Seed(f, &cfg.Seed, "seed", cfg.Seed, "seed of the split, the initial weights, the minibatches and the Hessian probes")
	f.BoolVar(&sweep, "sweep", true, "try 0.1×, 1× and 10× each optimizer's default learning rate and keep the best")
	f.StringVar(&only, "optimizers", "", "comma-separated subset of sgd,adamw,lamb,sophia,adahessian (default all)")
	flagbound.Float(f, &cfg.TestFraction, "test-fraction", cfg.TestFraction, flagbound.Open(0, 1), "fraction of rows held out (stratified) for test accuracy")
	f.StringVar(&plotPath, "plot", "", "write the loss curves to this PNG (or .svg) file")
	f.StringVar(&devName, "device", "cpu", "device: cpu, cuda, cuda:1 …")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON (with the loss curves)")
	return c
}
