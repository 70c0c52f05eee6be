package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

func init() { tabpfnCmd.AddCommand(newTabpfnTrainCmd()) }

func newTabpfnTrainCmd() *cobra.Command {
	var (
		out, devName, cfgPath, export string
		initPath                      string
		initLayers                    int
		mechanisms                    string
		steps, batch, every, workers  int
		microBatch                    int
		resume                        bool
		lr                            float64
		seed                          uint64
		maxRows, maxFeatures          int
		minRows, warmup               int
	)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Pre-train a TabPFN model on the synthetic prior",
		Long: `train draws batches of synthetic classification datasets from kiln's prior (structural
causal models and Bayesian neural networks) and trains the TabPFN transformer to predict the
test rows of each from its training rows, with AdamW, linear warm-up then cosine decay and
gradient clipping. It prints step, loss, datasets per second and time left, and writes an
atomic checkpoint (model, optimizer state, step) every --every steps; --resume continues a
killed run exactly where its last checkpoint left it (the prior's batches are a function of
the seed and the step); --every, --workers and --micro-batch given with --resume replace the
checkpoint's. --micro-batch N runs the forward and backward passes on N datasets at a time
and accumulates the gradient (the same update; activation memory for N datasets rather than
the batch), for large tables on a machine with little memory.
With --resume, any of --lr, --warmup, --batch, --min-rows, --max-rows,
--max-features and --prior-mechanisms starts a new phase from the checkpoint's step: the
prior takes the new shapes and mechanisms and a new warm-up and cosine schedule runs to
--steps (a curriculum, such as larger tables once small ones are learned); the optimizer
state carries over. --init starts a new run (step 0, fresh optimizer) from a trained model's
weights instead of a random initialisation, and --init-layers deepens that model first: each
old layer is followed by a near-identity copy whose residual branches start at zero
(tabpfn.Deepen), so the deeper model starts from almost the old one's function. A way to grow
a converged model rather than train a larger one from scratch.`,
		Example: `  kiln tabpfn train --out run.safetensors --steps 4000
  kiln tabpfn train --out run.safetensors --resume            # after an interruption
  kiln tabpfn train --out run.safetensors --resume --steps 6000 --export model.safetensors
  kiln tabpfn train --out run.safetensors --resume --steps 9000 --lr 3e-4 --max-rows 512 --max-features 48
  kiln tabpfn train --out deep.safetensors --init models/tabpfn/default.safetensors --init-layers 8 --lr 1e-4 --steps 2000
  kiln tabpfn train --out tiny.safetensors --config '{"layers":1,"width":16,"heads":2,"mlp_width":32,"feature_dim":8,"max_classes":10,"max_features":20,"max_train_rows":256}' --steps 50`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			if every < 0 || workers < 1 || microBatch < 0 {
				return fmt.Errorf("--every and --micro-batch must be ≥ 0 and --workers ≥ 1, got %d, %d and %d", every, microBatch, workers)
			}
			dev, err := device.Get(devName)
			if err != nil {
				return err
			}
			var tr *tabpfn.Trainer
			if resume {
				if initPath != "" {
					return fmt.Errorf("--init starts a new run; --resume continues one: give one")
				}
				if _, err := os.Stat(out); err != nil {
					return fmt.Errorf("--resume: %w", err)
				}
				tr, err = tabpfn.Resume(dev, out, steps)
				if err != nil {
					return err
				}
				// How often to checkpoint and how many prior workers run are settings of this
				// process, not of what is learned (the batches depend on seed and step only), so
				// a flag given on resume replaces the checkpoint's. Before, they were kept: a run
				// once started with --every 1 wrote its 15 MB checkpoint after every step of
				// every later resume, which made the H200 and H100 training host-bound.
				if cmd.Flags().Changed("every") {
					tr.Cfg.CheckpointEvery = every
				}
				if cmd.Flags().Changed("workers") {
					tr.Cfg.Workers = workers
				}
				if cmd.Flags().Changed("micro-batch") {
					tr.Cfg.MicroBatch = microBatch
				}
				// The checkpoint will record these settings: check them now, so that
				// it stays resumable.
				if err := tr.Cfg.Validate(); err != nil {
					return err
				}
				ph := tabpfn.Phase{Steps: steps, LR: lr, Warmup: warmup, Batch: batch,
					MinRows: minRows, MaxRows: maxRows, MaxFeatures: maxFeatures, Mechanisms: mechanisms}
				if ph != (tabpfn.Phase{Steps: steps}) {
					if err := tr.NewPhase(ph); err != nil {
						return err
					}
					p := tr.Cfg.Prior
					fmt.Fprintf(cmd.ErrOrStderr(), "new phase from step %d: lr %.2g, warm-up %d, batch %d, rows %d-%d, features ≤ %d, %s prior\n",
						tr.Step, tr.Cfg.LR, tr.Cfg.Warmup, p.BatchSize, p.MinRows, p.MaxRows, p.MaxFeatures, p.Mechanisms())
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "resuming %s at step %d of %d\n", out, tr.Step, tr.Cfg.Steps)
			} else {
				if initPath != "" && cfgPath != "" {
					return fmt.Errorf("--init and --config both set the model's shape: give one")
				}
				if initLayers != 0 && initPath == "" {
					return fmt.Errorf("--init-layers needs --init")
				}
				mc := tabpfn.DefaultConfig()
				if cfgPath != "" {
					raw := []byte(cfgPath)
					if cfgPath[0] != '{' {
						if raw, err = os.ReadFile(cfgPath); err != nil {
							return err
						}
					}
					if err := json.Unmarshal(raw, &mc); err != nil {
						return fmt.Errorf("--config: %w", err)
					}
				}
				tc := tabpfn.DefaultTrainConfig()
				if steps > 0 {
					tc.Steps = steps
				}
				if batch > 0 {
					tc.Prior.BatchSize = batch
				}
				if maxRows > 0 {
					tc.Prior.MaxRows = maxRows
				}
				if maxFeatures > 0 {
					tc.Prior.MaxFeatures = maxFeatures
				}
				if minRows > 0 {
					tc.Prior.MinRows = minRows
				}
				if warmup > 0 {
					tc.Warmup = warmup
				}
				if lr > 0 {
					tc.LR = lr
				}
				if mechanisms != "" {
					if tc.Prior, err = tc.Prior.WithMechanisms(mechanisms); err != nil {
						return fmt.Errorf("--prior-mechanisms: %w", err)
					}
				}
				tc.Seed, tc.CheckpointEvery, tc.Workers, tc.MicroBatch = seed, every, workers, microBatch
				tc.Warmup = min(tc.Warmup, tc.Steps/10)
				if initPath != "" {
					m, err := initModel(dev, initPath, initLayers)
					if err != nil {
						return err
					}
					if tr, err = tabpfn.NewTrainerFrom(m, tc, out); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "new run from the weights of %s: %s\n", initPath, m.Cfg.JSON())
				} else if tr, err = tabpfn.NewTrainer(dev, mc, tc, out); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			start, startStep := time.Now(), tr.Step
			if err := tr.Run(ctx, tabpfn.LogProgress(cmd.ErrOrStderr())); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trained to step %d in %s on %s; checkpoint %s\n", tr.Step, time.Since(start).Round(time.Second), dev.Name(), out)
			if export != "" {
				meta := map[string]string{"tabpfn.trained_steps": fmt.Sprint(tr.Step)}
				if tr.Step > startStep {
					// Only a device that trained in this run is named: an export-only resume
					// (--steps at or below the checkpoint's) says nothing about where the
					// steps before it ran.
					meta["tabpfn.device"] = dev.Name()
				}
				if err := tr.ExportModel(export, meta); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "model exported to", export)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "checkpoint file (safetensors), written atomically")
	f.StringVar(&devName, "device", "cpu", "device to train on (cpu, cuda, cuda:N)")
	f.IntVar(&steps, "steps", 0, "total optimizer steps (default 2000; with --resume, extends the run)")
	f.IntVar(&batch, "batch", 0, "datasets per step (default 8)")
	f.StringVar(&cfgPath, "config", "", "model config as a JSON file or inline JSON (default: the shipped size)")
	f.BoolVar(&resume, "resume", false, "continue from the checkpoint at --out")
	f.IntVar(&every, "every", 100, "checkpoint every N steps")
	f.IntVar(&workers, "workers", 2, "prior generator goroutines")
	f.IntVar(&microBatch, "micro-batch", 0, "datasets per forward/backward pass, gradients accumulated over the batch (same update, less memory; 0: the whole batch)")
	f.Float64Var(&lr, "lr", 0, "peak learning rate (default 1e-3)")
	f.Uint64Var(&seed, "seed", 1, "seed of the prior and the initialisation")
	f.IntVar(&minRows, "min-rows", 0, "smallest synthetic dataset (default 30 rows)")
	f.IntVar(&maxRows, "max-rows", 0, "largest synthetic dataset (default 160 rows)")
	f.IntVar(&warmup, "warmup", 0, "warm-up steps of the learning-rate schedule (default 100)")
	f.IntVar(&maxFeatures, "max-features", 0, "most features of a synthetic dataset (default 16)")
	f.StringVar(&mechanisms, "prior-mechanisms", "", `prior mechanism set: "basic" (TabPFN's original; the default) or "extended" (adds mixed activations and unordered argmax classes); with --resume, starts a new phase`)
	f.StringVar(&initPath, "init", "", "start a new run from this model's weights and config (a model or training checkpoint; fresh optimizer state)")
	f.IntVar(&initLayers, "init-layers", 0, "with --init: deepen the model to this many layers first, each new layer a near-identity copy of the one before it (tabpfn.Deepen)")
	f.StringVar(&export, "export", "", "also write the model alone (no optimizer state) to this file")
	return cmd
}

// initModel loads the model of --init (any kiln TabPFN checkpoint) and, with --init-layers,
// deepens it to that depth (tabpfn.Deepen).
func initModel(dev device.Device, path string, layers int) (*tabpfn.Model, error) {
	m, err := tabpfn.Load(dev, path)
	if err != nil {
		return nil, fmt.Errorf("--init: %w", err)
	}
	if layers == 0 || layers == m.Cfg.Layers {
		return m, nil
	}
	defer m.Release()
	deep, err := tabpfn.Deepen(m, layers)
	if err != nil {
		return nil, fmt.Errorf("--init-layers: %w", err)
	}
	return deep, nil
}
