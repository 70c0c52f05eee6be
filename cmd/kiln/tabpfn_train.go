package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/interrupt"
	"github.com/kiln-ml/kiln/internal/outguard"
	"github.com/kiln-ml/kiln/models/tabpfn"
	"github.com/kiln-ml/kiln/models/tabpfn/selfsup"
)

// checkTrainOutputs refuses, before the model is built: an existing --out without --resume
// or --force (a new run would replace a file that may be another run's checkpoint or
// anything else), --resume with --force, and outputs that are inputs (--export over --out,
// --init or the --config file) or cannot be written.
func checkTrainOutputs(cmd *cobra.Command, out, export, initPath, cfgPath string, resume, force bool) error {
	switch {
	case resume && force:
		return fmt.Errorf("--resume continues the run at --out; --force replaces it: give one")
	case !resume && !force:
		if err := outguard.RefuseExisting(outFile("--out", out), "give --resume to continue the run it holds, or --force to replace it"); err != nil {
			return err
		}
	}
	cfgFile := cfgPath
	if strings.HasPrefix(cfgPath, "{") {
		cfgFile = "" // inline JSON
	}
	return checkOutputs(cmd, []outguard.File{outFile("--out", out), outFile("--export", export)},
		inFile("--init", initPath), inFile("--config", cfgFile))
}

func init() { tabpfnCmd.AddCommand(newTabpfnTrainCmd()) }

func newTabpfnTrainCmd() *cobra.Command {
	var (
		out, devName, cfgPath, export string
		initPath                      string
		initLayers                    int
		mechanisms, task, precision   string
		bins                          int
		steps, batch, every, workers  int
		microBatch                    int
		resume, force, freezeBody     bool
		lr                            float64
		seed                          uint64
		maxRows, maxFeatures          int
		minRows, warmup               int
		dist                          distFlags
		corpusDir, sslTasks, guard    string
		corpusFraction                float64
		corpusHoldout                 int
		groups                        float64
		maskedWeight, contrastWeight  float64
		temperature                   float64
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
--max-features and --prior-mechanisms that differs from the checkpoint's setting starts a new
phase from the checkpoint's step: the prior takes the new shapes and mechanisms and a new
warm-up and cosine schedule runs to --steps (a curriculum, such as larger tables once small
ones are learned); the optimizer state carries over. Given with the values the run already
uses (the command line of the interrupted run), they continue its phase.
An existing --out is continued with --resume or replaced with --force, never overwritten
unasked; an interrupt (SIGINT, SIGTERM) saves the checkpoint and exits with status 130 or 143. --init starts a new run (step 0, fresh optimizer) from a trained model's
weights instead of a random initialisation, and --init-layers deepens that model first: each
old layer is followed by a near-identity copy whose residual branches start at zero
(tabpfn.Deepen), so the deeper model starts from almost the old one's function. A way to grow
a converged model rather than train a larger one from scratch.
--distributed trains on every process that mpirun starts (mpirun -np N kiln tabpfn train
--distributed ..., with a kiln built with -tags mpi): each rank trains on its share of each
batch (the datasets at positions rank, rank+N, ... of the batch one process would draw, so N
processes train as one with the same --seed and --batch), the parameters are broadcast from
rank 0 and their hashes compared every --hash-every steps, and rank 0 alone logs and writes
the checkpoint, which resumes on any number of processes. --dist-mode picks how the ranks
combine their work: ddp (gradients all-reduced in buckets, the same AdamW step everywhere),
zero1 (gradients reduce-scattered, AdamW on each rank's shard of the parameters and state,
parameters all-gathered: a 1/N share of the optimizer state per rank) or diloco (--local-steps
AdamW steps on each rank's own data, then the averaged parameter change is applied with outer
Nesterov momentum, --outer-lr and --outer-momentum). A rank that fails or hangs ends the job:
a collective that has not completed within --comm-timeout aborts every rank with a message
naming the ranks that did not reach it or stopped answering in it.

--corpus DIR mixes self-supervised tasks from real tables into training: a share
--corpus-fraction of the batches (a pure function of the seed and the step, so resumable) are
column-as-target tasks (TabDPT) drawn from the CSV tables of DIR instead of the prior: for a
classifier, a column with 2 to max_classes categories keeps them as the classes and a numeric
one is cut into classes at quantiles; with --task regression, the target is a numeric column
with at least 10 distinct known values (categorical and few-valued columns are never targets),
standardised on the context rows as the regression prior's targets, and rows whose target is
missing are dropped. Corpus tables whose column names and shape match a table in the
--corpus-guard folders (default: the tabular and regression folders beside DIR) are refused;
unreadable tables are skipped with a warning naming the file. --ssl-tasks adds auxiliary losses
on the column tasks' tables, in the same forward pass: "masked" hides 15% of the feature cells
(the model's missing-value input) and reconstructs them from their final cell tokens with a
small head (numeric cells by squared error on the standardised value, categorical ones by
cross-entropy; VIME), weighted by --masked-weight; "contrastive" appends two corrupted views of
each test row (60% of its cells replaced by draws from their column) and trains their row
embeddings, through a small projection head, with InfoNCE at --contrastive-temperature (SCARF),
weighted by --contrastive-weight. "masked" and "contrastive" train classifiers only: --task
regression takes --ssl-tasks column. The heads are training-only: checkpoints hold them (and
--resume restores them), --export leaves them out. The step log then shows the unweighted
auxiliary losses. The corpus settings are part of the run: --resume reads the checkpoint's, and
refuses different ones.

--task regression trains a regression model: the prior's datasets get continuous targets (with
noise, heteroscedasticity, outliers and skew), the model's target tokens encode numbers and its
output is a bar distribution of --bins bins over the standardised target whose borders are
quantiles of the prior's targets, trained by negative log-likelihood. With --init of a
classifier, the classifier's body starts the run and the target encoder and output layer are new.

--precision bf16 trains in mixed precision (Micikevicius et al. 2018): the matrix products of
every linear layer and of attention take bfloat16 operands (the activations and a bfloat16 copy
of each float32 weight, products summed in float32), while layer norm, softmax, the loss, the
residual stream, the master weights, their gradients and the AdamW state stay float32. bfloat16
keeps float32's exponent range, so no loss scaling is needed (Kalamkar et al. 2019). On CUDA the
bfloat16 products run on the tensor cores with KILN_CUDA_BF16=1 (otherwise on float32 copies);
on the CPU they are computed in float32 and only the rounding is bfloat16's, so bf16 is not
faster there. The precision is part of the run: --resume continues it, and refuses a different
--precision.`,
		Example: `  kiln tabpfn train --out run.safetensors --steps 4000
  kiln tabpfn train --out run.safetensors --resume            # after an interruption
  kiln tabpfn train --out run.safetensors --resume --steps 6000 --export model.safetensors
  kiln tabpfn train --out run.safetensors --resume --steps 9000 --lr 3e-4 --max-rows 512 --max-features 48
  kiln tabpfn train --out deep.safetensors --init models/tabpfn/default.safetensors --init-layers 8 --lr 1e-4 --steps 2000
  kiln tabpfn train --task regression --out reg.safetensors --init models/tabpfn/default.safetensors --steps 20000
  kiln tabpfn train --out c.safetensors --init models/tabpfn/default.safetensors --corpus ../shared/data/corpus --corpus-fraction 0.5 --lr 1e-4 --steps 500
  kiln tabpfn train --out s.safetensors --init models/tabpfn/default.safetensors --corpus ../shared/data/corpus --ssl-tasks column,masked,contrastive --steps 500
  kiln tabpfn train --task regression --out r.safetensors --init models/tabpfn/regression.safetensors --corpus ../shared/data/corpus --corpus-fraction 0.3 --steps 500
  KILN_CUDA_BF16=1 kiln tabpfn train --device cuda --precision bf16 --out run.safetensors --steps 4000
  kiln tabpfn train --out tiny.safetensors --config '{"layers":1,"width":16,"heads":2,"mlp_width":32,"feature_dim":8,"max_classes":10,"max_features":20,"max_train_rows":256}' --steps 50
  mpirun -np 4 kiln tabpfn train --distributed --out run.safetensors --batch 32 --steps 4000
  mpirun -np 4 kiln tabpfn train --distributed --dist-mode diloco --local-steps 32 --out run.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			c, err := dist.open(cmd)
			if err != nil {
				return err
			}
			defer func() { err = dist.finish(c, err) }()
			switch {
			case resume && initPath != "":
				return fmt.Errorf("--init starts a new run; --resume continues one: give one")
			case !resume && initPath != "" && cfgPath != "":
				return fmt.Errorf("--init and --config both set the model's shape: give one")
			case !resume && initLayers != 0 && initPath == "":
				return fmt.Errorf("--init-layers needs --init")
			case task != "classification" && task != tabpfn.TaskRegression:
				return fmt.Errorf("--task %q: want classification or regression", task)
			case cmd.Flags().Changed("bins") && task != tabpfn.TaskRegression:
				return fmt.Errorf("--bins is for --task regression")
			case precision != tabpfn.PrecisionFP32 && precision != tabpfn.PrecisionBF16:
				return fmt.Errorf("--precision %q: want %s or %s", precision, tabpfn.PrecisionFP32, tabpfn.PrecisionBF16)
			case resume && cmd.Flags().Changed("freeze-body"):
				return fmt.Errorf("--freeze-body is set when a run starts; --resume keeps the run's setting")
			}
			regression := task == tabpfn.TaskRegression
			if err := checkTrainOutputs(cmd, out, export, initPath, cfgPath, resume, force); err != nil {
				return err
			}
			cc, err := corpusConfig(cmd, corpusDir, corpusFraction, sslTasks, guard, corpusHoldout)
			if err != nil {
				return err
			}
			if err := sslFlags(cmd, cc, maskedWeight, contrastWeight, temperature); err != nil {
				return err
			}
			if regression && cc != nil {
				for _, name := range cc.Tasks {
					if name != selfsup.TaskColumn {
						return fmt.Errorf("--ssl-tasks %s: the %q task trains a classifier; --task regression takes --ssl-tasks %s",
							strings.Join(cc.Tasks, ","), name, selfsup.TaskColumn)
					}
				}
			}
			dev, err := device.Get(dist.deviceName(devName))
			if err != nil {
				return err
			}
			var tr *tabpfn.Trainer
			if resume {
				if _, err := os.Stat(out); err != nil {
					return fmt.Errorf("--resume: %w", err)
				}
				tr, err = tabpfn.Resume(dev, out, steps)
				if err != nil {
					return err
				}
				if cmd.Flags().Changed("task") && tr.Model.Cfg.Regression() != regression {
					return fmt.Errorf("--task %s, but %s holds a %s run", task, out, taskName(tr.Model.Cfg))
				}
				if cmd.Flags().Changed("precision") && precision != tr.Cfg.PrecisionName() {
					tr.Model.Release()
					return fmt.Errorf("--precision %s, but the run at %s trains in %s; a resume keeps the run's precision (give the same or none)", precision, out, tr.Cfg.PrecisionName())
				}
				if cmd.Flags().Changed("prior-groups") && groups != tr.Cfg.Prior.GroupFraction {
					tr.Model.Release()
					return fmt.Errorf("--prior-groups %g, but the run at %s draws %g; a resume keeps the run's prior (give the same or none)", groups, out, tr.Cfg.Prior.GroupFraction)
				}
				if cmd.Flags().Changed("bins") && bins != tr.Model.Cfg.Bins {
					return fmt.Errorf("--bins %d, but %s has %d bins (the output layer's size is fixed for a run)", bins, out, tr.Model.Cfg.Bins)
				}
				// How often to checkpoint and how many prior workers run are settings of this
				// process, not of what is learned (the batches depend on seed and step only), so
				// a flag given on resume replaces the checkpoint's: keeping a stored --every 1
				// would write a full checkpoint after every step of every later resume.
				if cc != nil && !cc.Equal(tr.Cfg.Corpus) {
					tr.Model.Release()
					return fmt.Errorf("--corpus: the run at %s was started with other corpus settings; a resume keeps them (give the same flags or none)", out)
				}
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
				// Only settings that differ from the checkpoint's make a new phase: resuming with
				// the interrupted run's own command line continues its phase.
				ph := tr.PhaseChanges(tabpfn.Phase{Steps: steps, LR: lr, Warmup: warmup, Batch: batch,
					MinRows: minRows, MaxRows: maxRows, MaxFeatures: maxFeatures, Mechanisms: mechanisms})
				if ph != (tabpfn.Phase{Steps: steps}) {
					if err := tr.NewPhase(ph); err != nil {
						return err
					}
					p := tr.Cfg.Prior
					fmt.Fprintf(cmd.ErrOrStderr(), "new phase from step %d: lr %.2g, warm-up %d, batch %d, rows %d-%d, features ≤ %d, %s prior\n",
						tr.Step, tr.Cfg.LR, tr.Cfg.Warmup, p.BatchSize, p.MinRows, p.MaxRows, p.MaxFeatures, p.Mechanisms())
				}
				if dist.rank == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "resuming %s at step %d of %d\n", out, tr.Step, tr.Cfg.Steps)
				}
			} else {
				mc := tabpfn.SmallConfig()
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
				tc.Prior.GroupFraction = groups
				tc.Seed, tc.CheckpointEvery, tc.Workers, tc.MicroBatch = seed, every, workers, microBatch
				tc.Corpus = cc
				tc.FreezeBody = freezeBody
				if precision == tabpfn.PrecisionBF16 {
					tc.Precision = precision // fp32 is recorded by omission, as before the flag
				}
				tc.WarmupAsked = tc.Warmup
				tc.Warmup = min(tc.Warmup, tc.Steps/10)
				if initPath != "" {
					m, err := initModel(dev, initPath, initLayers)
					if err != nil {
						return err
					}
					from := ""
					switch {
					case regression && !m.Cfg.Regression():
						// The regression model starts as the classifier's binary classifier
						// of low against high targets (tabpfn.ToRegression).
						bars, err := tc.PriorBars(bins)
						if err != nil {
							m.Release()
							return err
						}
						r, err := tabpfn.ToRegression(m, bars)
						m.Release()
						if err != nil {
							return fmt.Errorf("--init: %w", err)
						}
						m, from = r, "the body of the classifier "
					case !regression && m.Cfg.Regression():
						m.Release()
						return fmt.Errorf("--init %s is a regression model: give --task regression", initPath)
					}
					if tr, err = tabpfn.NewTrainerFrom(m, tc, out); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "new run from the weights of %s%s: %s\n", from, initPath, m.Cfg.JSON())
				} else {
					if regression {
						mc = mc.AsRegression(bins)
					}
					if tr, err = tabpfn.NewTrainer(dev, mc, tc, out); err != nil {
						return err
					}
				}
			}
			if err := checkMemory(dev, "tabpfn train", trainBytes(tr.Model.Cfg, tr.Cfg)); err != nil {
				return err
			}
			tr.Warnings = cmd.ErrOrStderr()
			if n, _ := tr.CorpusTables(); n > 0 {
				c := tr.Cfg.Corpus
				kind := "classification"
				if tr.Model.Cfg.Regression() {
					kind = "regression"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "corpus %s: %d tables, %.0f%% of batches, %s tasks %s, guard %s\n",
					c.Dir, n, 100*c.Fraction, kind, strings.Join(c.Tasks, ","), strings.Join(c.Guard, ","))
			}
			// Run stops at a cancelled context after the step in flight and saves the
			// checkpoint; the interrupt then becomes the exit status (130 or 143), and
			// nothing is exported from an unfinished run.
			if err := dist.distribute(cmd, c, tr); err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			interrupt.Cooperate()
			start, startStep := time.Now(), tr.Step
			var report func(tabpfn.Progress)
			if dist.rank == 0 {
				report = tabpfn.LogProgress(cmd.ErrOrStderr())
			}
			if err := tr.Run(ctx, report); err != nil {
				return err
			}
			if dist.rank != 0 {
				return interrupt.Err(ctx) // rank 0 reports and exports
			}
			if err := interrupt.Err(ctx); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "interrupted at step %d of %d; checkpoint %s saved (continue with --resume)\n", tr.Step, tr.Cfg.Steps, out)
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trained to step %d in %s on %s%s; checkpoint %s\n", tr.Step, time.Since(start).Round(time.Second), dev.Name(), dist.summary(tr), out)
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
				// A signal during the (atomic, so complete) export still ends the run with
				// its status.
				if err := interrupt.Err(ctx); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "checkpoint file (safetensors), written atomically; an existing one needs --resume or --force")
	f.BoolVar(&force, "force", false, "replace an existing --out with a new run")
	f.StringVar(&devName, "device", "cpu", "device to train on (cpu, cuda, cuda:N)")
	flagbound.Int(f, &steps, "steps", 0, 0, tabpfn.MaxTrainSteps, "total optimizer steps (default 2000; with --resume, extends the run)")
	flagbound.Int(f, &batch, "batch", 0, 0, tabpfn.MaxBatch, "datasets per step (default 8)")
	f.StringVar(&cfgPath, "config", "", "model config as a JSON file or inline JSON (default: 3 layers of width 64, 162k parameters; the shipped model has 4 of width 128)")
	f.BoolVar(&resume, "resume", false, "continue from the checkpoint at --out")
	flagbound.Int(f, &every, "every", 100, 0, tabpfn.MaxTrainSteps, "checkpoint every N steps (0: only at the end and on an interrupt)")
	flagbound.Int(f, &workers, "workers", 2, 1, tabpfn.MaxWorkers, "prior generator goroutines")
	flagbound.Int(f, &microBatch, "micro-batch", 0, 0, tabpfn.MaxBatch, "datasets per forward/backward pass, gradients accumulated over the batch (same update, less memory; 0: the whole batch)")
	flagbound.Float(f, &lr, "lr", 0, flagbound.Closed(0, 1), "peak learning rate (default 1e-3)")
	flagbound.Seed(f, &seed, "seed", 1, "seed of the prior and the initialisation")
	flagbound.Int(f, &minRows, "min-rows", 0, 0, tabpfn.ConfigBounds().MaxRows, "smallest synthetic dataset (default 30 rows)")
	flagbound.Int(f, &maxRows, "max-rows", 0, 0, tabpfn.ConfigBounds().MaxRows, "largest synthetic dataset (default 160 rows)")
	flagbound.Int(f, &warmup, "warmup", 0, 0, tabpfn.MaxTrainSteps, "warm-up steps of the learning-rate schedule (default 100)")
	flagbound.Int(f, &maxFeatures, "max-features", 0, 0, tabpfn.ConfigBounds().MaxFeatures, "most features of a synthetic dataset (default 16)")
	f.StringVar(&mechanisms, "prior-mechanisms", "", `prior mechanism set: "basic" (TabPFN's original; the default) or "extended" (adds mixed activations and unordered argmax classes); with --resume, starts a new phase`)
	flagbound.Float(f, &groups, "prior-groups", 0, flagbound.Closed(0, 1), "share of synthetic datasets drawn as grouped designs: rows in groups sharing an identifier, group-level features and a group effect on the target (panels, multilevel data)")
	f.StringVar(&initPath, "init", "", "start a new run from this model's weights and config (a model or training checkpoint; fresh optimizer state)")
	flagbound.Int(f, &initLayers, "init-layers", 0, 0, 1024, "with --init: deepen the model to this many layers first, each new layer a near-identity copy of the one before it (tabpfn.Deepen)")
	f.StringVar(&export, "export", "", "also write the model alone (no optimizer state) to this file")
	dist.register(f)
	f.StringVar(&corpusDir, "corpus", "", "folder of real CSV tables to draw self-supervised tasks from (see above)")
	flagbound.Float(f, &corpusFraction, "corpus-fraction", 0.5, flagbound.Closed(0, 1), "with --corpus: share of batches drawn from the corpus")
	f.StringVar(&sslTasks, "ssl-tasks", selfsup.TaskColumn, `with --corpus: self-supervised tasks, comma-separated: "column" (column as target, TabDPT; always needed), "masked" (masked-cell reconstruction, VIME), "contrastive" (corrupted-row InfoNCE, SCARF)`)
	flagbound.Float(f, &maskedWeight, "masked-weight", tabpfn.DefaultMaskedWeight, flagbound.LeftOpen(0, 1000), "with --ssl-tasks masked: weight of the masked-cell loss added to the task's")
	flagbound.Float(f, &contrastWeight, "contrastive-weight", tabpfn.DefaultContrastiveWeight, flagbound.LeftOpen(0, 1000), "with --ssl-tasks contrastive: weight of the InfoNCE loss added to the task's")
	flagbound.Float(f, &temperature, "contrastive-temperature", tabpfn.DefaultInfoNCETemperature, flagbound.Closed(1e-3, 1000), "with --ssl-tasks contrastive: InfoNCE temperature (SCARF's default: 1)")
	f.StringVar(&guard, "corpus-guard", "", `with --corpus: comma-separated folders of evaluation tables that corpus tables must not copy (default: the "tabular" and "regression" folders beside the corpus that exist; "none": no guard)`)
	flagbound.Int(f, &corpusHoldout, "corpus-holdout", 0, 0, 1_000_000, "with --corpus: keep every N-th table (in name order) out of training, for tabpfn.HeldOutCorpusLoss (0: train on all)")
	f.StringVar(&task, "task", "classification", `"classification" or "regression" (a bar-distribution output over the standardised target, trained on the prior's regression datasets; with --init of a classifier, its body starts the run); with --resume, the checkpoint's`)
	f.BoolVar(&freezeBody, "freeze-body", false, "train only the target encoder and the decoder; the encoders of the cells and features and every layer keep the values they start with (with --init of a classifier: a regression head on the classifier's body)")
	f.StringVar(&precision, "precision", tabpfn.PrecisionFP32, `arithmetic of training: "fp32", or "bf16" for mixed precision (bfloat16 matrix products, float32 master weights, gradients and optimizer state); with --resume, the checkpoint's`)
	flagbound.Int(f, &bins, "bins", tabpfn.DefaultBins, 2, tabpfn.MaxBins, "bins of a new regression model's bar distribution, borders at quantiles of the prior's targets")
	return cmd
}

// corpusConfig builds the corpus settings of the flags (nil without --corpus): the tasks
// are checked, and the guard defaults to the evaluation folders beside the corpus.
func corpusConfig(cmd *cobra.Command, dir string, fraction float64, tasks, guard string, holdout int) (*tabpfn.CorpusConfig, error) {
	if dir == "" {
		for _, name := range []string{"corpus-fraction", "ssl-tasks", "corpus-guard", "corpus-holdout"} {
			if cmd.Flags().Changed(name) {
				return nil, fmt.Errorf("--%s needs --corpus", name)
			}
		}
		return nil, nil
	}
	ts, err := selfsup.ParseTasks(strings.Split(tasks, ","))
	if err != nil {
		return nil, fmt.Errorf("--ssl-tasks: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cc := &tabpfn.CorpusConfig{Dir: abs, Fraction: fraction, Tasks: ts, HoldoutEvery: holdout}
	switch guard {
	case "none":
	case "":
		for _, name := range []string{"tabular", "regression"} {
			p := filepath.Join(filepath.Dir(abs), name)
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				cc.Guard = append(cc.Guard, p)
			}
		}
	default:
		for _, p := range strings.Split(guard, ",") {
			ap, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			cc.Guard = append(cc.Guard, ap)
		}
	}
	return cc, cc.Validate()
}

// sslFlags puts the auxiliary losses' flags into cc, refusing a flag whose task is not in
// --ssl-tasks.
func sslFlags(cmd *cobra.Command, cc *tabpfn.CorpusConfig, maskedWeight, contrastWeight, temperature float64) error {
	for _, f := range []struct {
		name, task string
		v          float64
		dst        func(*tabpfn.CorpusConfig, float64)
	}{
		{"masked-weight", selfsup.TaskMasked, maskedWeight, func(c *tabpfn.CorpusConfig, v float64) { c.MaskedWeight = v }},
		{"contrastive-weight", selfsup.TaskContrastive, contrastWeight, func(c *tabpfn.CorpusConfig, v float64) { c.ContrastiveWeight = v }},
		{"contrastive-temperature", selfsup.TaskContrastive, temperature, func(c *tabpfn.CorpusConfig, v float64) { c.Temperature = v }},
	} {
		on := cc != nil && slices.Contains(cc.Tasks, f.task)
		if cmd.Flags().Changed(f.name) && !on {
			return fmt.Errorf("--%s needs --corpus with --ssl-tasks including %s", f.name, f.task)
		}
		if on {
			f.dst(cc, f.v)
		}
	}
	if cc == nil {
		return nil
	}
	return cc.Validate()
}

// taskName names a model's task for messages.
func taskName(c tabpfn.Config) string {
	if c.Regression() {
		return "regression"
	}
	return "classification"
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
