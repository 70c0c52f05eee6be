package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/outguard"
	"github.com/kiln-ml/kiln/models/scaling"
)

func init() { addCommand(newScalingCmd()) }

func newScalingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scaling",
		Short: "Fit Chinchilla scaling laws and plan compute with them",
		Long: `Fit the parametric law L(N, D) = E + A/N^α + B/D^β to training runs the way
Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt") did, and plan with a law:
the compute-optimal (N, D) for a FLOP budget under C ≈ 6·N·D (Hoffmann et al. 2022) and the
inference-aware allocation of Sardana et al. 2024 ("Beyond Chinchilla-Optimal").`,
		Example: `  kiln scaling fit ../shared/data/scaling/chinchilla_svg_extracted.csv --drop-highest 5
  kiln scaling plan --compute 5.76e23 --law replication`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newScalingFitCmd(), newScalingPlanCmd())
	return cmd
}

// fitOutput is what `fit --json` writes: the FitResult (the law under "law", so that
// `plan --params` loads it) plus where the runs came from.
type fitOutput struct {
	*scaling.FitResult
	File        string  `json:"file"`
	Dropped     int     `json:"dropped_highest"`
	WallSeconds float64 `json:"wall_seconds"`
}

func newScalingFitCmd() *cobra.Command {
	def := scaling.DefaultCSVOptions()
	var (
		csvOpt    = def
		drop      int
		fitOpt    scaling.FitOptions
		asJSON    bool
		plotPath  string
		seed      uint64
		bootstrap int
	)
	cmd := &cobra.Command{
		Use:   "fit FILE.csv",
		Short: "Fit L(N, D) = E + A/N^α + B/D^β to training runs in a CSV file",
		Long: `Fit the Chinchilla law to runs (parameters, compute or tokens, final loss) as Besiroglu et al.
2024 did: Huber loss (δ = 1e-3) of log L − log L̂ summed over runs, with log L̂ = LSE(a − α·log N,
b − β·log D, e), minimised by L-BFGS from each of 4500 grid starts; bootstrap resamples of the runs
give standard errors and percentile intervals. The defaults read the replication's data file;
--drop-highest 5 reproduces its 240-run fit.`,
		Example: `  kiln scaling fit ../shared/data/scaling/chinchilla_svg_extracted.csv --drop-highest 5
  kiln scaling fit runs.csv --n-col params --d-col tokens --loss-col val_loss --bootstrap 200 --plot fit.png
  kiln scaling fit runs.csv --json > law.json && kiln scaling plan --compute 1e22 --params law.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("d-col") {
				if cmd.Flags().Changed("c-col") {
					return errors.New("give --c-col (compute) or --d-col (tokens), not both")
				}
				csvOpt.CCol = ""
			}
			if err := checkOutputs(cmd, []outguard.File{outFile("--plot", plotPath)}, inFile("FILE.csv", args[0])); err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			runs, err := scaling.ReadCSV(f, csvOpt)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if drop != 0 {
				if runs, err = scaling.DropHighest(runs, drop); err != nil {
					return err
				}
			}
			fitOpt.Seed, fitOpt.Bootstrap = seed, bootstrap
			workers := fitOpt.Workers
			if workers == 0 {
				workers = runtime.GOMAXPROCS(0)
			}
			if err := checkMemory(nil, fmt.Sprintf("scaling fit --bootstrap %d on %d runs", bootstrap, len(runs)),
				bootstrapBytes(bootstrap, len(runs), workers)); err != nil {
				return err
			}
			start := time.Now()
			res, err := scaling.Fit(runs, fitOpt)
			if err != nil {
				return err
			}
			wall := time.Since(start)
			if plotPath != "" {
				if err := writePlotFile(plotPath, runs, res.Law, args[0]); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, fitOutput{FitResult: res, File: args[0], Dropped: drop, WallSeconds: wall.Seconds()})
			}
			printFit(out, args[0], drop, res, wall)
			if plotPath != "" {
				fmt.Fprintf(out, "plot written to %s\n", plotPath)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&csvOpt.NCol, "n-col", def.NCol, "column with the parameter count N")
	fl.StringVar(&csvOpt.CCol, "c-col", def.CCol, "column with the training compute C in FLOPs (D = C/(6N))")
	fl.StringVar(&csvOpt.DCol, "d-col", "", "column with the training tokens D (instead of --c-col)")
	fl.StringVar(&csvOpt.LossCol, "loss-col", def.LossCol, "column with the final loss")
	flagbound.Int(fl, &drop, "drop-highest", 0, 0, 10_000_000, "drop the K runs with the highest loss (the replication drops 5)")
	flagbound.Int(fl, &bootstrap, "bootstrap", 1000, 0, 1_000_000, "bootstrap resamples for standard errors and intervals (0: none; the replication used 4000)")
	flagbound.Seed(fl, &seed, "seed", 1, "seed of the bootstrap resampling")
	flagbound.Float(fl, &fitOpt.Level, "level", 0.80, flagbound.Open(0, 1), "level of the bootstrap percentile intervals (0.80: Hoffmann et al.'s 10th–90th percentiles)")
	flagbound.Float(fl, &fitOpt.Delta, "delta", scaling.DefaultHuberDelta, flagbound.LeftOpen(0, 100), "Huber threshold on log-loss residuals")
	flagbound.Int(fl, &fitOpt.Workers, "workers", 0, 0, maxWorkers, "goroutines for the multi-start search and the bootstrap (0: GOMAXPROCS)")
	fl.BoolVar(&fitOpt.BootstrapFullGrid, "bootstrap-full-grid", false, "refit every resample from the whole 4500-point grid (slow) instead of from the full-data optima")
	fl.BoolVar(&asJSON, "json", false, "write the result as JSON (loadable by plan --params)")
	fl.StringVar(&plotPath, "plot", "", "write a PNG of the runs, iso-loss contours and the compute-optimal frontier (atomically)")
	return cmd
}

func writePlotFile(path string, runs []scaling.Run, law scaling.Law, source string) error {
	title := fmt.Sprintf("%s: L = %.3f + %.4g/N^%.3f + %.4g/D^%.3f", filepath.Base(source), law.E, law.A, law.Alpha, law.B, law.Beta)
	return writeOutput(path, func(w io.Writer) error { return scaling.WritePlot(w, runs, law, title) })
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printFit(w io.Writer, file string, drop int, res *scaling.FitResult, wall time.Duration) {
	dropped := ""
	if drop > 0 {
		dropped = fmt.Sprintf(" (after dropping the %d highest losses)", drop)
	}
	fmt.Fprintf(w, "%d runs from %s%s\n", res.Runs, file, dropped)
	fmt.Fprintf(w, "L(N, D) = E + A/N^alpha + B/D^beta; Huber delta=%g on log L, L-BFGS from %d starts (%d reached the best basin)\n\n",
		res.HuberDelta, res.Starts, res.StartsAtBest)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	b := res.Bootstrap
	if b != nil {
		fmt.Fprintf(tw, "param\testimate\tSE\t%g%% interval\t\n", 100*b.Level)
		for _, p := range b.Params {
			fmt.Fprintf(tw, "%s\t%s\t%s\t[%s, %s]\t\n", paramLabel(p.Name), fmtNum(p.Estimate), fmtNum(p.SE), fmtNum(p.Lo), fmtNum(p.Hi))
		}
	} else {
		l := res.Law
		fmt.Fprintf(tw, "param\testimate\t\n")
		for _, p := range []struct {
			name string
			v    float64
		}{{"E", l.E}, {"A", l.A}, {"B", l.B}, {"alpha", l.Alpha}, {"beta", l.Beta}, {"a", res.Exponents.A}, {"b", res.Exponents.B}} {
			fmt.Fprintf(tw, "%s\t%s\t\n", paramLabel(p.name), fmtNum(p.v))
		}
	}
	tw.Flush()
	r := res.Residuals
	fmt.Fprintf(w, "\nresiduals of log L (%d runs): RMSE %.4g, MAE %.4g, median |r| %.4g, max |r| %.4g, mean %.3g; %.1f%% within delta\n",
		r.N, r.RMSE, r.MAE, r.MedianAbs, r.MaxAbs, r.Mean, 100*r.WithinDelta)
	fmt.Fprintf(w, "Huber objective %.10g\n", res.Objective)
	if b != nil {
		fmt.Fprintf(w, "bootstrap: %d resamples (seed %d, %d failed)\n", b.Samples, b.Seed, b.Failed)
	}
	fmt.Fprintf(w, "wall time %.2fs\n", wall.Seconds())
}

func paramLabel(name string) string {
	switch name {
	case "a":
		return "a = beta/(alpha+beta)"
	case "b":
		return "b = alpha/(alpha+beta)"
	}
	return name
}

// fmtNum prints 5 significant figures, "n/a" for a quantity the bootstrap could not estimate.
func fmtNum(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.5g", v)
}

// humanCount writes a count with an SI-style suffix (parameters, tokens, FLOPs).
func humanCount(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e12:
		return fmt.Sprintf("%.3g (%.2fT)", v, v/1e12)
	case a >= 1e9:
		return fmt.Sprintf("%.3g (%.2fB)", v, v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.3g (%.2fM)", v, v/1e6)
	}
	return fmt.Sprintf("%.3g", v)
}

// namedLaw is a law with where it came from.
type namedLaw struct {
	Name   string      `json:"name"`
	Source string      `json:"source"`
	Law    scaling.Law `json:"law"`
}

// planOutput is what `plan --json` writes.
type planOutput struct {
	Compute    float64                `json:"compute,omitempty"`
	Law        namedLaw               `json:"law"`
	Optimal    *scaling.Allocation    `json:"optimal,omitempty"`
	Reference  *namedLaw              `json:"reference,omitempty"`
	RefOptimal *scaling.Allocation    `json:"reference_optimal,omitempty"`
	ForLoss    *scaling.Allocation    `json:"optimal_for_target_loss,omitempty"`
	Inference  *scaling.InferencePlan `json:"inference,omitempty"`
}

func newScalingPlanCmd() *cobra.Command {
	var (
		compute, infTokens, target float64
		paramsPath, lawName        string
		asJSON                     bool
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Compute-optimal and inference-aware (N, D) for a FLOP budget or a target loss",
		Long: `For a training budget C, the compute-optimal allocation under C ≈ 6·N·D: N_opt = G·(C/6)^a,
D_opt = G⁻¹·(C/6)^b with a = β/(α+β), b = α/(α+β), G = (αA/(βB))^(1/(α+β)) (Hoffmann et al. 2022),
printed next to the same allocation under a reference law (Hoffmann's published law, or the
replication's when Hoffmann's is the one chosen).

With --inference-tokens T, the allocation of Sardana et al. 2024: minimise 6·N·D_train + 2·N·T
subject to L(N, D_train) = ℓ, where ℓ is --target-loss or else the loss of the compute-optimal
model for C, compared with the Chinchilla-optimal pair that reaches the same loss.`,
		Example: `  kiln scaling plan --compute 5.76e23
  kiln scaling plan --compute 5.76e23 --law chinchilla
  kiln scaling plan --compute 1e23 --inference-tokens 2e13
  kiln scaling plan --target-loss 2.1 --inference-tokens 1e12 --params law.json --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			if fl.Changed("params") && fl.Changed("law") {
				return errors.New("give --params or --law, not both")
			}
			hasC, hasT := fl.Changed("compute"), fl.Changed("target-loss")
			if !hasC && !hasT {
				return errors.New("give --compute C (FLOPs) or --target-loss L")
			}
			var chosen namedLaw
			if paramsPath != "" {
				f, err := os.Open(paramsPath)
				if err != nil {
					return err
				}
				l, err := scaling.ReadLaw(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", paramsPath, err)
				}
				chosen = namedLaw{Name: paramsPath, Source: "fitted, " + paramsPath, Law: l}
			} else {
				p, err := scaling.LookupPreset(lawName)
				if err != nil {
					return err
				}
				chosen = namedLaw{Name: p.Name, Source: p.Source, Law: p.Law}
			}
			refName := "chinchilla"
			if chosen.Law == scaling.Hoffmann {
				refName = "replication"
			}
			rp, _ := scaling.LookupPreset(refName)
			ref := namedLaw{Name: rp.Name, Source: rp.Source, Law: rp.Law}

			out := planOutput{Law: chosen}
			if hasC {
				opt, err := chosen.Law.ComputeOptimal(compute)
				if err != nil {
					return err
				}
				refOpt, err := ref.Law.ComputeOptimal(compute)
				if err != nil {
					return err
				}
				out.Compute, out.Optimal, out.Reference, out.RefOptimal = compute, &opt, &ref, &refOpt
			}
			loss := target
			if !hasT && out.Optimal != nil {
				loss = out.Optimal.Loss
			}
			if hasT {
				a, err := chosen.Law.ComputeOptimalForLoss(target)
				if err != nil {
					return err
				}
				out.ForLoss = &a
			}
			if fl.Changed("inference-tokens") {
				p, err := chosen.Law.InferenceOptimal(loss, infTokens)
				if err != nil {
					return err
				}
				out.Inference = p
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			printPlan(cmd.OutOrStdout(), out)
			return nil
		},
	}
	fl := cmd.Flags()
	flagbound.Float(fl, &compute, "compute", 0, flagbound.LeftOpen(0, 1e40), "training budget C in FLOPs")
	fl.StringVar(&paramsPath, "params", "", "law from a JSON file (the output of `kiln scaling fit --json`, or {E, A, B, alpha, beta})")
	fl.StringVar(&lawName, "law", "replication", "published law: chinchilla (Hoffmann et al. 2022) or replication (Besiroglu et al. 2024)")
	flagbound.Float(fl, &infTokens, "inference-tokens", 0, flagbound.Closed(0, 1e40), "tokens the model will process at inference over its lifetime (Sardana et al. 2024)")
	flagbound.Float(fl, &target, "target-loss", 0, flagbound.LeftOpen(0, 1000), "target loss: the compute-optimal pair that reaches it, and the loss the inference-aware plan must reach")
	fl.BoolVar(&asJSON, "json", false, "write the plan as JSON")
	return cmd
}

func printLaw(w io.Writer, label string, l namedLaw) {
	fmt.Fprintf(w, "%s: %s (%s)\n  L(N, D) = %.4g + %.5g/N^%.4g + %.6g/D^%.4g\n", label, l.Name, l.Source, l.Law.E, l.Law.A, l.Law.Alpha, l.Law.B, l.Law.Beta)
}

func printPlan(w io.Writer, p planOutput) {
	printLaw(w, "law", p.Law)
	if p.Optimal != nil {
		printLaw(w, "reference", *p.Reference)
		fmt.Fprintf(w, "\ncompute-optimal allocation for C = %.3g FLOPs (C ≈ 6·N·D):\n", p.Compute)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "\t%s\t%s\t%s/%s\n", p.Law.Name, p.Reference.Name, p.Law.Name, p.Reference.Name)
		o, r := p.Optimal, p.RefOptimal
		fmt.Fprintf(tw, "parameters N\t%s\t%s\t%.3f\n", humanCount(o.N), humanCount(r.N), o.N/r.N)
		fmt.Fprintf(tw, "tokens D\t%s\t%s\t%.3f\n", humanCount(o.D), humanCount(r.D), o.D/r.D)
		fmt.Fprintf(tw, "tokens per parameter\t%.1f\t%.1f\t%.3f\n", o.TokensPerParam, r.TokensPerParam, o.TokensPerParam/r.TokensPerParam)
		fmt.Fprintf(tw, "loss at the optimum\t%.4f\t%.4f\t\n", o.Loss, r.Loss)
		la, lb := p.Law.Law.Exponents()
		ra, rb := p.Reference.Law.Exponents()
		fmt.Fprintf(tw, "N_opt ∝ C^a, D_opt ∝ C^b\ta=%.4f b=%.4f\ta=%.4f b=%.4f\t\n", la, lb, ra, rb)
		tw.Flush()
	}
	if p.ForLoss != nil {
		a := p.ForLoss
		fmt.Fprintf(w, "\ncompute-optimal pair reaching loss %.4g: N %s, D %s (%.1f tokens/param), C %.3g FLOPs\n",
			a.Loss, humanCount(a.N), humanCount(a.D), a.TokensPerParam, a.Compute)
	}
	if q := p.Inference; q != nil {
		fmt.Fprintf(w, "\ninference-aware allocation (Sardana et al. 2024) for loss %.4f and %s inference tokens:\n", q.TargetLoss, humanCount(q.InferenceTokens))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		c := q.Chinchilla
		fmt.Fprintf(tw, "\tinference-aware\tChinchilla-optimal\n")
		fmt.Fprintf(tw, "parameters N\t%s\t%s\n", humanCount(q.N), humanCount(c.N))
		fmt.Fprintf(tw, "training tokens D\t%s\t%s\n", humanCount(q.DTrain), humanCount(c.D))
		fmt.Fprintf(tw, "tokens per parameter\t%.1f\t%.1f\n", q.TokensPerParam, c.TokensPerParam)
		fmt.Fprintf(tw, "training FLOPs 6ND\t%.4g\t%.4g\n", q.TrainFLOPs, c.Compute)
		fmt.Fprintf(tw, "inference FLOPs 2NT\t%.4g\t%.4g\n", q.InferenceFLOPs, q.ChinchillaInfFLOPs)
		fmt.Fprintf(tw, "total FLOPs\t%.4g\t%.4g\n", q.TotalFLOPs, q.ChinchillaTotalFLOPs)
		tw.Flush()
		fmt.Fprintf(w, "FLOPs saved: %.4g (%.2f%% of the Chinchilla-optimal total)\n", q.SavedFLOPs, 100*q.SavedFraction)
	}
}
