package devicetest_test

import (
	"fmt"

	"github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/device/devicetest"
)

// Run the softmax cases on the CPU backend and count failures.
func ExampleRun() {
	rs := devicetest.Run(cpu.Default(), devicetest.Options{Quick: true, Primitives: []string{"Softmax"}})
	passed, failed := devicetest.Summary(rs)
	fmt.Println(passed > 0, failed)
	// Output: true 0
}
