// Package outguard checks a command's output files before the command does any work: an
// output must not be one of the command's inputs (by path, through a link, or as the same
// file under another name), two outputs must differ, the output's directory must accept new
// files, and temporary files that an interrupted earlier write of the output left behind are
// removed. Outputs are then written with package atomicfile, which replaces a file only once
// its new content is complete.
package outguard

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// File is an output or input file and the flag that names it ("--out"), for errors.
type File struct {
	Flag, Path string
}

// Same reports whether paths a and b name the same file: the same cleaned absolute path,
// the same path once links are resolved, or the same file (os.SameFile) under two names. A
// path that does not exist is the same as another only by name.
func Same(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if abs(a) == abs(b) {
		return true
	}
	ra, ea := filepath.EvalSymlinks(a)
	rb, eb := filepath.EvalSymlinks(b)
	if ea == nil && eb == nil && abs(ra) == abs(rb) {
		return true
	}
	sa, ea := os.Stat(a)
	sb, eb := os.Stat(b)
	return ea == nil && eb == nil && os.SameFile(sa, sb)
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// Check runs the checks on outputs before the work starts. Outputs and inputs with an empty
// path are skipped (an optional flag not given). Removed stale temporary files are named on
// notes (standard error).
func Check(outputs, inputs []File, notes io.Writer) error {
	for i, o := range outputs {
		if o.Path == "" {
			continue
		}
		for _, in := range inputs {
			if Same(o.Path, in.Path) {
				return fmt.Errorf("%s %s is the input %s %s: refusing to write over an input; choose another output file",
					o.Flag, o.Path, in.Flag, in.Path)
			}
		}
		for _, p := range outputs[:i] {
			if Same(o.Path, p.Path) {
				return fmt.Errorf("%s and %s both name %s: give each output its own file", p.Flag, o.Flag, o.Path)
			}
		}
		if err := atomicfile.CheckWritable(o.Path); err != nil {
			return fmt.Errorf("%s: %w", o.Flag, err)
		}
		removed, err := atomicfile.CleanStale(o.Path)
		if err != nil {
			return fmt.Errorf("%s: %w", o.Flag, err)
		}
		for _, r := range removed {
			fmt.Fprintf(notes, "note: removed %s, a temporary file an interrupted write of %s left behind\n", r, o.Path)
		}
	}
	return nil
}

// RefuseExisting fails when path exists: for outputs that are not meant to replace a file
// without being told (a new training run's checkpoint). how says how to go on anyway.
func RefuseExisting(o File, how string) error {
	if o.Path == "" {
		return nil
	}
	_, err := os.Lstat(o.Path)
	switch {
	case err == nil:
		return fmt.Errorf("%s %s already exists: %s", o.Flag, o.Path, how)
	case errors.Is(err, os.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("%s: %w", o.Flag, err)
	}
}
