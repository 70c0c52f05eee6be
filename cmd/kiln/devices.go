package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu" // the pure-Go backend, always available
)

func init() { addCommand(newDevicesCmd()) }

// deviceEntry is one row of `kiln devices --json`: the device's Info, or why it could not be
// opened.
type deviceEntry struct {
	Name  string       `json:"name"`
	Info  *device.Info `json:"info,omitempty"`
	Error string       `json:"error,omitempty"`
}

func newDevicesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the devices this binary can run on",
		Long: `devices lists every usable device with what the backend reports about it: for the CPU the
logical cores and the GEMM kernel in use; in cuda builds each GPU's name, memory and compute
capability. Use a listed name with --device in other commands.`,
		Example: `  kiln devices
  kiln devices --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var entries []deviceEntry
			for _, name := range device.Available() {
				e := deviceEntry{Name: name}
				if dev, err := device.Get(name); err != nil {
					e.Error = err.Error()
				} else {
					info := dev.Info()
					e.Info = &info
				}
				entries = append(entries, e)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(entries)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tCORES\tMEMORY\tCOMPUTE\tKERNEL\tDESCRIPTION")
			for _, e := range entries {
				if e.Info == nil {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tunusable: %s\n", e.Name, e.Error)
					continue
				}
				i := e.Info
				cores, mem := "-", "-"
				if i.Cores > 0 {
					cores = fmt.Sprint(i.Cores)
				}
				if i.MemoryBytes > 0 {
					mem = fmt.Sprintf("%.1f GiB", float64(i.MemoryBytes)/(1<<30))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, i.Kind, cores, mem,
					orDash(i.ComputeCapability), orDash(i.Kernel), i.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the devices as JSON")
	return cmd
}

// orDash returns s, or "-" for a field the backend does not report.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
