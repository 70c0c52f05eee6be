package tensor_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: package tensor, which every kiln program imports, depends on the standard
// library and kiln only (golang.org/x/sys is tolerated); heavy third-party code such as
// gorgonia.org/tensor with Apache Arrow and protobuf belongs in package tensor/interop.
func TestDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var deps []string
	for _, p := range strings.Fields(string(out)) {
		deps = append(deps, p)
		if !strings.HasPrefix(p, "github.com/kiln-ml/kiln/") && !strings.HasPrefix(p, "golang.org/x/sys/") {
			t.Errorf("package tensor depends on %s", p)
		}
	}
	if len(deps) < 2 {
		t.Fatalf("go list found only %v", deps)
	}
}
