package disttest

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/comm"
	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

var world comm.Comm

func TestMain(m *testing.M) {
	c, err := comm.Open(comm.Options{Backend: os.Getenv("KILN_COMM_BACKEND"), Timeout: 5 * time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	world = c
	code := m.Run()
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func modelConfig() tabpfn.Config {
	return tabpfn.Config{Layers: 2, Width: 16, Heads: 2, MLPWidth: 32, FeatureDim: 8, MaxClasses: 10, MaxFeatures: 20, MaxRows: 256}
}

// trainConfig is 20 steps of batches of 8 small datasets: 8 shares evenly between 2 and 4
// ranks, and uneven shares are tested by the prior's own tests.
func trainConfig() tabpfn.TrainConfig {
	tc := tabpfn.DefaultTrainConfig()
	tc.Steps, tc.Warmup, tc.CheckpointEvery, tc.Workers, tc.Seed = 20, 3, 0, 1, 7
	tc.Prior.BatchSize, tc.Prior.MinRows, tc.Prior.MaxRows, tc.Prior.MaxFeatures = 8, 16, 32, 5
	return tc
}

type result struct {
	losses []float64
	params map[string][]float32
	tr     *tabpfn.Trainer
}

func run(t *testing.T, tc tabpfn.TrainConfig, path string, dc *tabpfn.DistConfig) result {
	t.Helper()
	return runUntil(t, tc, path, dc, 0)
}

// runUntil trains, interrupting the run (as SIGINT does) after step stopAt when it is
// above 0.
func runUntil(t *testing.T, tc tabpfn.TrainConfig, path string, dc *tabpfn.DistConfig, stopAt int) result {
	t.Helper()
	dev := device.MustGet("cpu")
	tr, err := tabpfn.NewTrainer(dev, modelConfig(), tc, path)
	if err != nil {
		t.Fatal(err)
	}
	return finishUntil(t, tr, dc, stopAt)
}

func finish(t *testing.T, tr *tabpfn.Trainer, dc *tabpfn.DistConfig) result {
	t.Helper()
	return finishUntil(t, tr, dc, 0)
}

func finishUntil(t *testing.T, tr *tabpfn.Trainer, dc *tabpfn.DistConfig, stopAt int) result {
	t.Helper()
	if dc != nil {
		if err := tr.Distribute(*dc); err != nil {
			t.Fatal(err)
		}
	}
	var r result
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	report := func(p tabpfn.Progress) {
		r.losses = append(r.losses, p.Loss)
		if p.Step == stopAt {
			cancel()
		}
	}
	if err := tr.Run(ctx, report); err != nil {
		t.Fatal(err)
	}
	r.params = map[string][]float32{}
	for _, n := range tr.Model.NamedParameters() {
		r.params[n.Name] = n.Tensor.Float32s()
	}
	r.tr = tr
	return r
}

// reference is one process's run, which every rank trains for itself.
var refCache = map[string]result{}

func reference(t *testing.T, tc tabpfn.TrainConfig) result {
	key := fmt.Sprintf("%+v", tc)
	if r, ok := refCache[key]; ok {
		return r
	}
	r := run(t, tc, "", nil)
	refCache[key] = r
	return r
}

// near checks got against want: every step's loss and every parameter tensor within tol
// relative (the tensor's L2 distance over its norm). The attention key biases are left
// out: softmax is invariant to a shift of every score of a query, so their exact gradient
// is zero and what they get is rounding noise, which AdamW normalises into full-size steps
// whose signs any change in summation order flips. They are checked to stay as small as
// such steps make them.
func near(t *testing.T, what string, got, want result, tol float64) {
	t.Helper()
	if len(got.losses) != len(want.losses) {
		t.Fatalf("%s: %d steps, want %d", what, len(got.losses), len(want.losses))
	}
	for i := range want.losses {
		if d := math.Abs(got.losses[i]-want.losses[i]) / math.Abs(want.losses[i]); d > tol {
			t.Errorf("%s (rank %d of %d): step %d loss %v, one process %v (relative %.2g)", what, world.Rank(), world.Size(), i+1, got.losses[i], want.losses[i], d)
		}
	}
	for name, w := range want.params {
		g := got.params[name]
		if strings.HasSuffix(name, ".k.bias") {
			for i := range g {
				if math.Abs(float64(g[i])) > 0.1 {
					t.Errorf("%s: key bias %s[%d] = %v: grown beyond rounding noise", what, name, i, g[i])
					break
				}
			}
			continue
		}
		var diff, norm float64
		for i := range w {
			diff += (float64(g[i]) - float64(w[i])) * (float64(g[i]) - float64(w[i]))
			norm += float64(w[i]) * float64(w[i])
		}
		if rel := math.Sqrt(diff / math.Max(norm, 1e-30)); rel > tol {
			t.Errorf("%s (rank %d of %d): parameter %s differs from one process's by %.2g relative", what, world.Rank(), world.Size(), name, rel)
		}
	}
}

func distConfig(mode string) *tabpfn.DistConfig {
	dc := tabpfn.DefaultDistConfig(world)
	dc.Mode, dc.HashEvery = mode, 5
	dc.BucketBytes = 4 << 10 // several buckets even for the tiny model
	return &dc
}

// TestDDPMatchesOneProcess: N ranks, each on its share of every batch, end where one
// process ends, step by step.
func TestDDPMatchesOneProcess(t *testing.T) {
	tc := trainConfig()
	r := run(t, tc, "", distConfig(tabpfn.DistDDP))
	near(t, "ddp", r, reference(t, tc), 1e-5)
	// Most buckets start during the backward pass (all but those holding the first
	// parameters, whose gradients come last).
	if st := r.tr.CommStats(); st.Overlapped < int64(tc.Steps) {
		t.Errorf("%d buckets started during the backward pass in %d steps", st.Overlapped, tc.Steps)
	}
}

// With micro-batches the ranks' groups differ from one process's, and the sum still holds.
func TestDDPMicroBatchMatchesOneProcess(t *testing.T) {
	tc := trainConfig()
	tc.Steps, tc.MicroBatch = 8, 1
	ref := tc
	ref.MicroBatch = 0
	near(t, "ddp micro-batch", run(t, tc, "", distConfig(tabpfn.DistDDP)), reference(t, ref), 1e-5)
}

// TestZeRO1MatchesAdamW: AdamW over shards equals AdamW over everything.
func TestZeRO1MatchesAdamW(t *testing.T) {
	tc := trainConfig()
	r := run(t, tc, "", distConfig(tabpfn.DistZeRO1))
	near(t, "zero1", r, reference(t, tc), 1e-5)
	full := reference(t, tc).tr.OptimizerStateBytes()
	if got, want := r.tr.OptimizerStateBytes(), (full+int64(world.Size())-1)/int64(world.Size()); got > want+8 {
		t.Errorf("zero1 holds %d bytes of optimizer state, want about %d (%d / %d ranks)", got, want, full, world.Size())
	}
}

// TestDiLoCoH1 checks DiLoCo's outer loop. With one local step, outer lr 1 and no momentum
// the outer step sets the parameters to the mean of the ranks' AdamW steps: in one process
// that is plain training (to the rounding of global − (global − local)). On N ranks it is
// the mean of N AdamW updates of N gradients, which is not AdamW of their mean (Adam is
// not linear in the gradient), so it is compared with DDP loosely.
func TestDiLoCoH1(t *testing.T) {
	tc := trainConfig()
	dc := distConfig(tabpfn.DistDiLoCo)
	dc.LocalSteps, dc.OuterLR, dc.OuterMomentum = 1, 1, 0
	got := run(t, tc, "", dc)
	if world.Size() == 1 {
		near(t, "diloco H=1", got, reference(t, tc), 1e-5)
		return
	}
	ref := reference(t, tc)
	last := len(ref.losses) - 1
	if d := math.Abs(got.losses[last]-ref.losses[last]) / ref.losses[last]; d > 0.05 {
		t.Errorf("diloco H=1 on %d ranks: final loss %v, DDP's %v", world.Size(), got.losses[last], ref.losses[last])
	}
}

// TestDiLoCoCommunicatesEveryHSteps: H local steps between all-reduces, and the ranks'
// parameters agree after every synchronisation (the hash check would fail the run).
func TestDiLoCoCommunicatesEveryHSteps(t *testing.T) {
	tc := trainConfig()
	tc.Steps = 12
	dc := distConfig(tabpfn.DistDiLoCo)
	dc.LocalSteps = 4
	r := run(t, tc, "", dc)
	st := r.tr.CommStats()
	var n int64
	for _, p := range r.params {
		n += int64(len(p))
	}
	// The parameters' broadcast from rank 0, then one all-reduce per synchronisation.
	if want := (1 + 3) * 4 * n; st.ParamBytes != want {
		t.Errorf("diloco H=4 over 12 steps moved %d parameter bytes, want a broadcast and 3 syncs of %d", st.ParamBytes, 4*n)
	}
}

// sharedDir is a directory every rank of this job sees: the job's ranks share a parent
// (mpirun's daemon) on one machine.
func sharedDir(t *testing.T) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("kiln-disttest-%d-%d", os.Getppid(), world.Size()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestResumeOnOneProcess: a run checkpointed by N ranks resumes on one process (rank 0,
// without Distribute) and ends where a one-process run ends; DDP and ZeRO-1 checkpoints
// both hold AdamW's full state.
func TestResumeOnOneProcess(t *testing.T) {
	for _, mode := range []string{tabpfn.DistDDP, tabpfn.DistZeRO1} {
		tc := trainConfig()
		path := filepath.Join(sharedDir(t), mode+".safetensors")
		// Interrupted after step 10: the ranks agree to stop after the step in flight and
		// rank 0 checkpoints it.
		runUntil(t, tc, path, distConfig(mode), 10)
		if err := world.Barrier(); err != nil {
			t.Fatal(err)
		}
		if world.Rank() == 0 {
			tr, err := tabpfn.Resume(device.MustGet("cpu"), path, tc.Steps)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Step < 10 || tr.Step > 11 {
				t.Fatalf("%s checkpoint at step %d, want 10 or 11", mode, tr.Step)
			}
			k := tr.Step
			got := finish(t, tr, nil)
			ref := reference(t, tc)
			ref.losses = ref.losses[k:]
			near(t, mode+" resumed on one process", got, ref, 1e-5)
			os.Remove(path)
		}
		if err := world.Barrier(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResumeOnMoreRanks: a one-process checkpoint continues on N ranks.
func TestResumeOnMoreRanks(t *testing.T) {
	tc := trainConfig()
	path := filepath.Join(sharedDir(t), "one.safetensors")
	if world.Rank() == 0 {
		runUntil(t, tc, path, nil, 10)
	}
	if err := world.Barrier(); err != nil {
		t.Fatal(err)
	}
	tr, err := tabpfn.Resume(device.MustGet("cpu"), path, tc.Steps)
	if err != nil {
		t.Fatal(err)
	}
	tr.Path = "" // this test's ranks write nothing
	k := tr.Step
	got := finish(t, tr, distConfig(tabpfn.DistZeRO1))
	ref := reference(t, tc)
	ref.losses = ref.losses[k:]
	near(t, "one-process checkpoint resumed with zero1", got, ref, 1e-5)
	if err := world.Barrier(); err != nil {
		t.Fatal(err)
	}
	if world.Rank() == 0 {
		os.RemoveAll(sharedDir(t))
	}
}

// TestHashCatchesDivergence: a rank whose parameters drift from the others' (here rank
// 1's, nudged after step 1) fails the parameter check on every rank, naming it.
func TestHashCatchesDivergence(t *testing.T) {
	if world.Size() < 2 {
		t.Skip("needs 2 ranks or more")
	}
	tc := trainConfig()
	tc.Steps = 4
	tr, err := tabpfn.NewTrainer(device.MustGet("cpu"), modelConfig(), tc, "")
	if err != nil {
		t.Fatal(err)
	}
	dc := distConfig(tabpfn.DistDDP)
	dc.HashEvery = 1
	if err := tr.Distribute(*dc); err != nil {
		t.Fatal(err)
	}
	err = tr.Run(context.Background(), func(p tabpfn.Progress) {
		if p.Step == 1 && world.Rank() == 1 {
			w := tr.Model.NamedParameters()[0].Tensor
			v := w.Float32s()
			v[0] += 1e-3
			if err := w.Device().CopyFromHost(w.Buffer(), v); err != nil {
				t.Fatal(err)
			}
		}
	})
	if err == nil || !strings.Contains(err.Error(), "rank 1") || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("rank %d: run with a diverged rank 1 returned %v", world.Rank(), err)
	}
}

// TestDDPWithAuxiliaryTasks: corpus batches with the masked-cell and contrastive losses
// (whose masks and views are keyed by each dataset's slot in the whole batch) train under
// DDP as in one process.
func TestDDPWithAuxiliaryTasks(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("a,b,kind,c\n")
	for i := 0; i < 120; i++ {
		a := math.Sin(float64(i) * 0.37)
		fmt.Fprintf(&b, "%.3f,%.3f,%s,%d\n", a, a*a+0.1*math.Cos(float64(i)), []string{"x", "y", "z"}[i%3], i%4)
	}
	if err := os.WriteFile(filepath.Join(dir, "p__t.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tc := trainConfig()
	tc.Steps = 6
	tc.Corpus = &tabpfn.CorpusConfig{Dir: dir, Fraction: 1, Tasks: []string{"column", "masked", "contrastive"}}
	near(t, "ddp with auxiliary tasks", run(t, tc, "", distConfig(tabpfn.DistDDP)), reference(t, tc), 1e-5)
}
