package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/interrupt"
	"github.com/kiln-ml/kiln/internal/outguard"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

func init() { tabpfnCmd.AddCommand(newTabpfnFinetuneCmd()) }

func newTabpfnFinetuneCmd() *cobra.Command {
	var (
		trainPath, target, outPath string
		modelPath, devName         string
		force                      bool
		cfg                        = tabpfn.DefaultFineTuneConfig()
	)
	cmd := &cobra.Command{
		Use:   "finetune",
		Short: "Fine-tune TabPFN on one training table; predict and embed use the result with --model",
		Long: `finetune continues training the model (the embedded one, or --model) on a table of your own:
each step is an in-context task drawn from the table's training rows (a random context and
query rows from the rest, seen through a random preprocessing variant, feature order and label
rotation, as the classifier's ensemble members see a table), and the loss is the query rows'
cross-entropy (tabpfn.FineTune). A stratified --holdout share of the rows is kept out and
scored (log loss) before training and every --eval-every steps; training stops after
--patience scorings without improvement, and the best parameters are written, so the model
written is never worse on the held-out rows than the one it started from (when no step
helped, it is that model, unchanged). The log shows the held-out scores.

--out is written atomically, never over an input, and replaces an existing file only with
--force. Use it with kiln tabpfn predict --model (and embed, eval) on the same kind of data.`,
		Example: `  kiln tabpfn finetune --train train.csv --out ft.safetensors
  kiln tabpfn predict --train train.csv --test test.csv --model ft.safetensors --out preds.csv
  kiln tabpfn finetune --train train.csv --target species --steps 200 --lr 3e-5 --out ft.safetensors --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if trainPath == "" || outPath == "" {
				return errors.New("give --train (the table to fine-tune on) and --out (the model to write)")
			}
			if !force {
				if err := outguard.RefuseExisting(outFile("--out", outPath), "give --force to replace it"); err != nil {
					return err
				}
			}
			if err := checkOutputs(cmd, []outguard.File{outFile("--out", outPath)},
				inFile("--train", trainPath), inFile("--model", modelPath)); err != nil {
				return err
			}
			train, err := data.Load(trainPath, data.Options{Target: target})
			if err != nil {
				return err
			}
			dev, err := device.Get(devName)
			if err != nil {
				return err
			}
			var m *tabpfn.Model
			if modelPath != "" {
				m, err = tabpfn.Load(dev, modelPath)
			} else {
				m, err = tabpfn.DefaultModel(dev)
			}
			if err != nil {
				return err
			}
			defer m.Release()
			cfg.Columns, cfg.Log = train.Columns, cmd.ErrOrStderr()
			ctx := cmdContext(cmd)
			interrupt.Cooperate()
			ft, res, err := tabpfn.FineTune(ctx, m, train.X, train.Y, train.NumClasses(), cfg)
			if err != nil {
				return err
			}
			defer ft.Release()
			base := "embedded default"
			if modelPath != "" {
				base = filepath.Base(modelPath)
			}
			meta := map[string]string{
				"tabpfn.finetuned_from":      base,
				"tabpfn.finetuned_on":        filepath.Base(trainPath),
				"tabpfn.finetune_steps":      strconv.Itoa(res.Steps),
				"tabpfn.finetune_best_step":  strconv.Itoa(res.BestStep),
				"tabpfn.finetune_start_loss": strconv.FormatFloat(res.StartLoss, 'g', 6, 64),
				"tabpfn.finetune_best_loss":  strconv.FormatFloat(res.BestLoss, 'g', 6, 64),
			}
			if err := ft.Save(outPath, meta, nil); err != nil {
				return err
			}
			verdict := fmt.Sprintf("best at step %d", res.BestStep)
			if res.BestStep == 0 {
				verdict = "no step improved it: the model written is the starting model"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fine-tuned %d steps on %d rows (%d held out): held-out log loss %.4f → %.4f, ROC AUC %.4f → %.4f, %s; wrote %s\n",
				res.Steps, train.Rows(), res.Holdout, res.StartLoss, res.BestLoss, res.StartAUC, res.BestAUC, verdict, outPath)
			return interrupt.Err(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&trainPath, "train", "", "the table to fine-tune on, CSV with a header row or Parquet, with a class column")
	f.StringVar(&target, "target", "", "name of the class column (default: the last column)")
	f.StringVar(&outPath, "out", "", "the fine-tuned model (safetensors), written atomically")
	f.BoolVar(&force, "force", false, "replace an existing --out")
	f.StringVar(&modelPath, "model", "", "model to start from (default: the model embedded in kiln)")
	f.StringVar(&devName, "device", "cpu", `device to train on ("cpu", "cuda", "cuda:1")`)
	flagbound.Int(f, &cfg.Steps, "steps", cfg.Steps, 0, tabpfn.MaxTrainSteps, "most optimizer steps (one in-context task each)")
	flagbound.Float(f, &cfg.LR, "lr", cfg.LR, flagbound.LeftOpen(0, 1), "AdamW learning rate (constant)")
	flagbound.Int(f, &cfg.EvalEvery, "eval-every", cfg.EvalEvery, 1, tabpfn.MaxTrainSteps, "steps between scorings of the held-out rows")
	flagbound.Int(f, &cfg.Patience, "patience", cfg.Patience, 1, 1000, "scorings without improvement before stopping")
	flagbound.Float(f, &cfg.HoldoutFraction, "holdout", cfg.HoldoutFraction, flagbound.Open(0, 1), "share of the rows held out for early stopping (stratified)")
	flagbound.Int(f, &cfg.ContextRows, "context-rows", cfg.ContextRows, 2, maxTableRows, "most context rows of a task")
	flagbound.Int(f, &cfg.QueryRows, "query-rows", cfg.QueryRows, 1, maxTableRows, "most query rows of a task")
	flagbound.Int(f, &cfg.Ensemble, "ensemble", cfg.Ensemble, 1, maxEnsemble, "ensemble members of the classifier that scores the held-out rows")
	flagbound.Seed(f, &cfg.Seed, "seed", 0, "seed of the held-out split, the tasks and the scoring")
	return cmd
}
