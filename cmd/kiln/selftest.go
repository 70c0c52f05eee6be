package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/devicetest"
	"github.com/kiln-ml/kiln/internal/flagbound"
)

func init() { addCommand(newSelftestCmd()) }

// selftestJSON is the --json output of `kiln selftest`.
type selftestJSON struct {
	Device  string           `json:"device"`
	Info    device.Info      `json:"info"`
	Quick   bool             `json:"quick"`
	Passed  int              `json:"passed"`
	Failed  int              `json:"failed"`
	Results []selftestResult `json:"results"`
}

// selftestResult is devicetest.Result with the error as a pointer, because JSON has no NaN or
// infinity: a non-finite error (a NaN in the output) is written as null.
type selftestResult struct {
	Primitive string   `json:"primitive"`
	Case      string   `json:"case"`
	MaxErr    *float64 `json:"max_err"`
	Tol       float64  `json:"tol"`
	Pass      bool     `json:"pass"`
	Err       string   `json:"err,omitempty"`
}

func newSelftestCmd() *cobra.Command {
	var (
		devName, only string
		asJSON, quick bool
		failedOnly    bool
		seed          uint64
	)
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Run the device conformance suite and print each primitive's error against a float64 reference",
		Long: `selftest runs every group of the device conformance suite, one per primitive (` +
			strings.Join(devicetest.Primitives(), ", ") + `), in float32 and
float64 on random inputs of sizes that are not multiples of any tile, and compares each
result with a float64 reference computed on the host. Each row shows the largest scaled
error and the tolerance it must stay under (see package device/devicetest for how errors are
scaled and why each tolerance is what it is). The command fails if any case fails.`,
		Example: `  kiln selftest
  kiln selftest --quick
  kiln selftest --device cuda --only Gemm,Attention
  kiln selftest --device cuda:1 --json > selftest.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dev, err := device.Get(devName)
			if err != nil {
				return err
			}
			opts := devicetest.Options{Quick: quick, Seed: seed}
			if only != "" {
				known := devicetest.Primitives()
				for _, p := range strings.Split(only, ",") {
					p = strings.TrimSpace(p)
					match := false
					for _, k := range known {
						if strings.EqualFold(k, p) {
							opts.Primitives = append(opts.Primitives, k)
							match = true
						}
					}
					if !match {
						return fmt.Errorf("--only: unknown primitive %q; known: %s", p, strings.Join(known, ", "))
					}
				}
			}
			results := devicetest.Run(dev, opts)
			passed, failed := devicetest.Summary(results)
			out := cmd.OutOrStdout()
			if asJSON {
				j := selftestJSON{Device: dev.Name(), Info: dev.Info(), Quick: quick, Passed: passed, Failed: failed}
				for _, r := range results {
					if failedOnly && r.Pass {
						continue
					}
					sr := selftestResult{Primitive: r.Primitive, Case: r.Case, Tol: r.Tol, Pass: r.Pass, Err: r.Err}
					if !math.IsNaN(r.MaxErr) && !math.IsInf(r.MaxErr, 0) {
						v := r.MaxErr
						sr.MaxErr = &v
					}
					j.Results = append(j.Results, sr)
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(j); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "kiln selftest on %s (%s)\n\n", dev.Name(), dev.Info().Description)
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "PRIMITIVE\tCASE\tMAX ERROR\tTOLERANCE\tRESULT")
				for _, r := range results {
					if failedOnly && r.Pass {
						continue
					}
					res := "pass"
					if !r.Pass {
						res = "FAIL"
						if r.Err != "" {
							res += ": " + r.Err
						}
					}
					fmt.Fprintf(tw, "%s\t%s\t%.3g\t%.3g\t%s\n", r.Primitive, r.Case, r.MaxErr, r.Tol, res)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(out, "\n%d passed, %d failed\n", passed, failed)
			}
			if failed > 0 {
				return fmt.Errorf("selftest: %d of %d cases failed on %s", failed, passed+failed, dev.Name())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&devName, "device", "cpu", "device to test: cpu, cuda, cuda:N")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.BoolVar(&quick, "quick", false, "run a reduced set of sizes (same primitives and layouts)")
	f.StringVar(&only, "only", "", "comma-separated primitives to run (e.g. Gemm,Attention)")
	f.BoolVar(&failedOnly, "failed", false, "list only the failing cases (the summary still counts all)")
	flagbound.Seed(f, &seed, "seed", 1, "seed of the random inputs")
	return cmd
}
