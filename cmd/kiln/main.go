// Command kiln is the command-line face of the kiln tensor engine: TabPFN training and
// prediction, linear algebra, scaling laws, optimizer comparisons, benchmarks, device listing
// and the backend self-test.
//
// Each subcommand lives in its own file and registers itself with addCommand from an init
// function, so adding a command never means editing this file.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/internal/interrupt"

	"github.com/spf13/cobra"

	// The pure-Go backend is always present; cuda builds add device/cuda in cudabench_cuda.go.
	_ "github.com/kiln-ml/kiln/device/cpu"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

var rootCmd = &cobra.Command{
	Use:   "kiln",
	Short: "kiln: a tensor engine for Go on CPUs and NVIDIA GPUs",
	Long: `kiln trains and serves tabular foundation models (TabPFN) and runs linear algebra,
optimizers and scaling-law fits on a pure-Go CPU backend or on NVIDIA GPUs through its own
CUDA kernels (cuda builds).

Outputs are written atomically and never over an input; every numeric flag states its range
in its help, and sizes that imply memory are refused beyond 75% of the physical (or the
device's) memory, a limit KILN_MEMORY_LIMIT (such as 64G) replaces. Exit status: 0 on
success, 1 on an error, 130 after SIGINT and 143 after SIGTERM (an interrupted training run
saves its checkpoint first).`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

var registered []*cobra.Command

// addCommand registers a top-level subcommand; call it from an init function.
func addCommand(c *cobra.Command) { registered = append(registered, c) }

func main() {
	rootCmd.AddCommand(registered...)
	// SIGINT and SIGTERM cancel the command's context; see package interrupt for how a
	// command stops and why the exit status is 130 or 143.
	ctx, stop := interrupt.Watch(context.Background(), os.Stderr)
	err := rootCmd.ExecuteContext(ctx)
	stop()
	// A device that profiles (KILN_CUDA_PROFILE=1) says where the command's time went.
	for _, d := range device.Opened() {
		if p, ok := d.(device.Profiler); ok {
			if _, perr := p.ProfileReport(os.Stderr); perr != nil {
				fmt.Fprintln(os.Stderr, "kiln: profile:", perr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kiln:", err)
		os.Exit(interrupt.ExitCode(err))
	}
}
