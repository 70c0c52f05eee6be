package bench

import (
	"testing"
	"time"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
)

// TestFixedRepsAndGoAnchor checks that a case with Reps runs exactly that many times after
// its warm-up (as a collective needs on every process), that its Go anchor is timed the
// same way in the same run, and that the ratio is the anchor's time over the case's.
func TestFixedRepsAndGoAnchor(t *testing.T) {
	dev := device.MustGet("cpu")
	runs, anchorRuns, cleanups := 0, 0, 0
	setup := func(n *int, sleep time.Duration) func(device.Device) (func() error, func(), error) {
		return func(device.Device) (func() error, func(), error) {
			return func() error { *n++; time.Sleep(sleep); return nil }, func() { cleanups++ }, nil
		}
	}
	c := Case{Name: "fixed", Group: "allreduce", Work: 1e6, Unit: "GB/s", Reps: 5,
		Setup: setup(&runs, time.Millisecond), AnchorSetup: setup(&anchorRuns, 3*time.Millisecond), AnchorName: "slow"}
	rs, err := Run(dev, []Case{c}, Options{MinTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if runs != 6 || anchorRuns != 6 || cleanups != 2 {
		t.Errorf("runs %d, anchor runs %d, cleanups %d; want 6, 6, 2 (warm-up + 5 each)", runs, anchorRuns, cleanups)
	}
	if r.Anchor != "slow" || r.Seconds <= 0 || r.AnchorSeconds < 3e-3 || r.Ratio != r.AnchorSeconds/r.Seconds || r.Ratio < 1.5 {
		t.Errorf("result %+v: want the slow anchor's time over the case's", r)
	}
	if r.Rate != 1e6/r.Seconds/1e9 || r.AnchorRate != 1e6/r.AnchorSeconds/1e9 {
		t.Errorf("rates %v and %v do not follow from the times", r.Rate, r.AnchorRate)
	}
}
