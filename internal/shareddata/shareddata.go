// Package shareddata locates the project's shared data folder: ../shared/data beside the
// repository root (see shared/data/README.md). Tests and evaluations read the real datasets
// from there and never copy them into the repository; when the folder is absent (a clone
// outside the workplace), tests skip instead of failing.
package shareddata

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Path returns the path of rel inside the shared data folder, found by walking up from the
// working directory to the module root (the folder holding go.mod). It fails when there is no
// module root or the path does not exist.
func Path(rel ...string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("shareddata: no go.mod above the working directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared", "data"}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("shareddata: %w", err)
	}
	return p, nil
}

// Require is Path for tests: it skips the test when the shared data is absent.
func Require(t testing.TB, rel ...string) string {
	t.Helper()
	p, err := Path(rel...)
	if err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	return p
}
