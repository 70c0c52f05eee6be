package alloctest

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that records Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

var sink []byte

func TestCheck(t *testing.T) {
	runs := 0
	big := func() { runs++; sink = make([]byte, 4<<20) }
	r := &recorder{TB: t}
	Check(r, 1<<20, "a 4 MiB buffer", big)
	if r.failed == "" {
		t.Fatal("4 MiB allowed under a 1 MiB limit")
	}
	if runs != Runs {
		t.Fatalf("measured %d times before failing, want %d", runs, Runs)
	}
	r = &recorder{TB: t}
	runs = 0
	Check(r, 16<<20, "a 4 MiB buffer", big)
	if r.failed != "" || runs != 1 {
		t.Fatalf("under the limit: failed %q after %d runs", r.failed, runs)
	}
	if n := Measure(big); n < 4<<20 {
		t.Fatalf("Measure saw %d bytes of a 4 MiB allocation", n)
	}
}
