package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func init() {
	addCommand(&cobra.Command{
		Use:     "version",
		Short:   "Print kiln's version and the Go toolchain that built it",
		Example: "  kiln version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "kiln %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}
