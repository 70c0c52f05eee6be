package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
)

// anchorCase is a case with an anchor spec and nothing to time.
func anchorCase() Case {
	return Case{Name: "noop", Group: "noop", Work: 1, Unit: "ops/s", Anchor: map[string]any{"kind": "noop"},
		Setup: func(device.Device) (func() error, func(), error) {
			return func() error { return nil }, func() {}, nil
		}}
}

// fakePython writes an "interpreter" that copies the script it is given to copyTo and
// answers with a timing for the noop case, so the test needs no numpy.
func fakePython(t *testing.T, copyTo string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "python")
	script := "#!/bin/sh\ncat \"$1\" > " + copyTo + "\ncat > /dev/null\necho '{\"noop\": {\"seconds\": 0.5, \"kernel\": \"fake\"}}'\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The anchors run the script built into the binary, whatever the working directory, or the
// one named by AnchorScript; the temporary copy is removed afterwards.
func TestAnchorScriptEmbeddedOrGiven(t *testing.T) {
	disk, err := os.ReadFile(filepath.Join("anchors", "numpy_anchors.py"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk, NumpyAnchors) {
		t.Fatal("the embedded anchor script differs from bench/anchors/numpy_anchors.py")
	}
	dev := device.MustGet("cpu")
	seen := filepath.Join(t.TempDir(), "seen.py")
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(t.TempDir()) // nothing to find here
	tmpBefore, _ := filepath.Glob(filepath.Join(os.TempDir(), "kiln-numpy-anchors-*.py"))
	res, err := Run(dev, []Case{anchorCase()}, Options{Anchors: true, Python: fakePython(t, seen), MinReps: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Anchor != "fake" || res[0].AnchorSeconds != 0.5 {
		t.Fatalf("anchor not paired: %+v", res[0])
	}
	got, _ := os.ReadFile(seen)
	if !bytes.Equal(got, NumpyAnchors) {
		t.Fatal("the interpreter was not given the embedded script")
	}
	tmpAfter, _ := filepath.Glob(filepath.Join(os.TempDir(), "kiln-numpy-anchors-*.py"))
	if len(tmpAfter) > len(tmpBefore) {
		t.Fatalf("temporary anchor script left behind: %v", tmpAfter)
	}

	own := filepath.Join(t.TempDir(), "mine.py")
	os.WriteFile(own, []byte("# my anchors\n"), 0o644)
	if _, err := Run(dev, []Case{anchorCase()}, Options{Anchors: true, Python: fakePython(t, seen), MinReps: 1, AnchorScript: own}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(seen); string(got) != "# my anchors\n" {
		t.Fatalf("AnchorScript not run: got %q", got)
	}
}
