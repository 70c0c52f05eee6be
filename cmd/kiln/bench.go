package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/bench"
	"github.com/kiln-ml/kiln/comm"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/internal/outguard"
)

// extraBenchCases lets other command files (tabpfn) add end-to-end cases to `kiln bench`.
var extraBenchCases []func(kind string, quick bool) []bench.Case

func init() {
	var (
		devName, plotPath, only string
		anchors                 string
		asJSON, quick, noAnchor bool
		markdown                bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark the engine on a device against an anchor measured in the same run",
		Long: `bench times GEMM, attention at TabPFN shapes, layer norm, softmax, the fused AdamW step,
a device copy and TabPFN fit+predict on the chosen device. On the CPU each case is also timed
through numpy/OpenBLAS (Debian's python3-numpy) in the same run and reported as a ratio
(kiln rate / numpy rate; above 1 kiln is faster). The numpy anchor script is built into the
binary (bench/anchors/numpy_anchors.py at build time) and run from a temporary copy; --anchors
runs another one instead. GPU anchors (PyTorch) run through bench/gpu/run.sh on a machine with
a GPU.`,
		Example: `  kiln bench
  kiln bench --only gemm,attention --plot ratios.png
  kiln bench --device cuda --json --no-anchor`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutputs(cmd, []outguard.File{outFile("--plot", plotPath)}, inFile("--anchors", anchors)); err != nil {
				return err
			}
			if anchors != "" {
				if st, err := os.Stat(anchors); err != nil {
					return fmt.Errorf("--anchors: %w", err)
				} else if st.IsDir() {
					return fmt.Errorf("--anchors %s is a directory: give the script file", anchors)
				}
			}
			dev, err := device.Get(devName)
			if err != nil {
				return err
			}
			kind := dev.Info().Kind
			cases := bench.StandardCases(bench.DefaultSizes(kind, quick))
			for _, f := range extraBenchCases {
				cases = append(cases, f(kind, quick)...)
			}
			if only != "" {
				keep := map[string]bool{}
				for _, g := range strings.Split(only, ",") {
					keep[strings.TrimSpace(g)] = true
				}
				var sel []bench.Case
				for _, c := range cases {
					if keep[c.Group] {
						sel = append(sel, c)
					}
				}
				if len(sel) == 0 {
					return fmt.Errorf("--only %q matches no case; groups: %s", only, strings.Join(bench.Groups(cases), ", "))
				}
				cases = sel
			}
			// Under mpirun (the allreduce group) every rank runs the cases; rank 0 reports.
			out := cmd.OutOrStdout()
			if comm.LaunchedSize() > 1 {
				c, err := benchComm()
				if err != nil {
					return err
				}
				defer c.Close()
				if c.Rank() != 0 {
					out, asJSON = io.Discard, false
				}
			}
			opts := bench.Options{Anchors: !noAnchor, AnchorScript: anchors}
			if quick {
				opts.MinTime, opts.MinReps = 20*time.Millisecond, 1
			}
			if !asJSON && out != io.Discard {
				opts.Progress = func(name string) { fmt.Fprintf(os.Stderr, "  timing %s\n", name) }
			}
			start := time.Now()
			results, err := bench.Run(dev, cases, opts)
			if err != nil && results == nil {
				return err
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "warning:", err)
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{
					"device": dev.Info(), "date": time.Now().UTC().Format(time.RFC3339),
					"go": runtime.Version(), "gomaxprocs": runtime.GOMAXPROCS(0), "results": results,
				})
			}
			fmt.Fprintf(out, "kiln bench on %s (%s), %s, %d threads, %.0fs\n\n", dev.Name(), dev.Info().Description,
				time.Now().UTC().Format("2006-01-02"), runtime.GOMAXPROCS(0), time.Since(start).Seconds())
			if markdown {
				bench.WriteMarkdown(out, results)
			} else if err := bench.WriteTable(out, results); err != nil {
				return err
			}
			if plotPath != "" && out != io.Discard {
				err := writeOutput(plotPath, func(w io.Writer) error {
					return bench.PlotTo(w, bench.PlotFormat(plotPath), "kiln on "+dev.Name()+" vs anchor", results)
				})
				if err != nil {
					return err
				}
				fmt.Fprintln(out, "\nplot written to", plotPath)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&devName, "device", "cpu", "device to benchmark (cpu, cuda, cuda:N)")
	f.BoolVar(&asJSON, "json", false, "print results as JSON")
	f.BoolVar(&markdown, "markdown", false, "print results as a markdown table")
	f.StringVar(&plotPath, "plot", "", "write a bar chart of the ratios to this PNG/SVG file")
	f.StringVar(&only, "only", "", "comma-separated groups to run (gemm, attention, layernorm, softmax, adamw, copy, reduce, tabpfn, allreduce)")
	f.BoolVar(&quick, "quick", false, "small sizes and few repetitions (a smoke test)")
	f.BoolVar(&noAnchor, "no-anchor", false, "skip the numpy anchors")
	f.StringVar(&anchors, "anchors", "", "numpy anchor script to run instead of the one built into kiln")
	addCommand(cmd)
}
