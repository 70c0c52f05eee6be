// Command kernelgen writes device/cuda's typed kernel bindings (kernels_gen.go) from the
// extern "C" entry points of kernels/*.cu, so that a launch with a wrong kernel name, a
// wrong number of arguments or an argument of the wrong kind fails to compile:
//
//	go generate ./device/cuda/
//
// It runs the C preprocessor ($CXX -E, default g++) over kernels/kiln.cu with __global__
// marked, reads each entry point's parameter list, and groups the kernels that differ only
// in their dtype tokens (f32, f64, i32) into one binding per family. A pointer parameter
// whose element type follows a dtype token becomes an elemPtr (a device address with its
// dtype, checked when the member is chosen); every other parameter keeps one Go type:
// ptr[T] for a fixed pointer, int for long long, float64 for double, and [8]int for a run
// of eight scalars named p0 … p7. Each binding passes the kernel's signature string with
// the launch; the CPU emulator (kernels/emu) compares it with the types of the compiled
// kernel.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"

	"github.com/kiln-ml/kiln/internal/atomicfile"
)

func main() {
	src := flag.String("src", "../../kernels/kiln.cu", "the kernel module's source")
	out := flag.String("out", "kernels_gen.go", "the Go file to write")
	flag.Parse()
	if err := run(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "kernelgen:", err)
		os.Exit(1)
	}
}

func run(src, out string) error {
	code, err := bindings(src)
	if err != nil {
		return err
	}
	return atomicfile.Write(out, code)
}

// compiler is the C++ compiler whose preprocessor expands the kernel sources.
func compiler() string {
	if cxx := os.Getenv("CXX"); cxx != "" {
		return cxx
	}
	return "g++"
}

// bindings preprocesses the kernel module src and returns the Go source of its bindings.
func bindings(src string) ([]byte, error) {
	cmd := exec.Command(compiler(), "-E", "-P", "-x", "c++", "-D__global__="+kernelMark, "-D__launch_bounds__(...)=", src)
	cmd.Stderr = os.Stderr
	pre, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("preprocessing %s with %s: %w", src, compiler(), err)
	}
	ks, err := parseKernels(string(pre))
	if err != nil {
		return nil, err
	}
	fams, err := groupFamilies(ks)
	if err != nil {
		return nil, err
	}
	return generate(fams, "kernels/kiln.cu")
}
