package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/internal/atomicfile"
	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/interrupt"
	"github.com/kiln-ml/kiln/internal/outguard"
)

// Every file a command writes goes through writeOutput: atomically (package atomicfile, so
// a reader never sees a torn file and a failed write keeps the old one) and under
// interrupt.Hold (so an interrupt never ends the process half-way through, and no output is
// started after one). Before the work, checkOutputs refuses outputs that are inputs and
// outputs whose directory cannot take them, and removes stale temporaries.

// inFile and outFile name a file flag for checkOutputs.
func inFile(flag, path string) outguard.File  { return outguard.File{Flag: flag, Path: path} }
func outFile(flag, path string) outguard.File { return outguard.File{Flag: flag, Path: path} }

// checkOutputs runs outguard.Check, with notes on the command's standard error.
func checkOutputs(cmd *cobra.Command, outputs []outguard.File, inputs ...outguard.File) error {
	return outguard.Check(outputs, inputs, cmd.ErrOrStderr())
}

// writeOutput writes path atomically with write's bytes.
func writeOutput(path string, write func(io.Writer) error) error {
	release, err := interrupt.Hold()
	if err != nil {
		return err
	}
	defer release()
	return atomicfile.WriteFunc(path, write)
}

// writeOutputBytes writes data to path atomically.
func writeOutputBytes(path string, data []byte) error {
	return writeOutput(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// savePlot renders p at width×height in the format of path's extension (png, svg, pdf, eps,
// jpg, tif; png when there is none) and writes it atomically.
func savePlot(p *plot.Plot, width, height vg.Length, path string) error {
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if format == "" {
		format = "png"
	}
	wt, err := p.WriterTo(width, height, format)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeOutput(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}

// checkMemory refuses a request whose estimated bytes exceed the memory limit of dev: a
// share of the accelerator's memory when dev reports it, of the host's otherwise.
func checkMemory(dev device.Device, what string, bytes float64) error {
	if dev != nil {
		if info := dev.Info(); info.Kind != "cpu" && info.MemoryBytes > 0 {
			return flagbound.CheckDeviceMemory(what, bytes, dev.Name(), info.MemoryBytes)
		}
	}
	return flagbound.CheckMemory(what, bytes)
}

// Shared flag bounds: sizes well past anything a command meets in practice, so that a
// mistyped value fails with its range instead of allocating.
const (
	maxEnsemble      = 256       // ensemble members or members per pair of classes
	maxTableRows     = 1_000_000 // rows of a table a TabPFN member or the prior may take
	maxTableFeatures = 100_000   // features of such a table
	maxClassCount    = 100_000   // classes of a table
	maxWorkers       = 4096      // goroutines
)
