package disttest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// TestCompareModes is the measurement behind bench/results/distributed-*: DDP, ZeRO-1 and
// DiLoCo with H = 1, 8 and 32 train the same small model on the same batches for the same
// number of steps, and each reports its held-out loss (on prior batches no run trains on),
// its training loss and the bytes it communicated. It runs only when KILN_COMPARE_OUT
// names the JSON-lines file that rank 0 appends to (KILN_COMPARE_STEPS: steps, default 256):
//
//	mpirun -np 2 -x KILN_COMPARE_OUT=out.jsonl build/disttest-mpi.test -test.run TestCompareModes -test.timeout 1h
func TestCompareModes(t *testing.T) {
	out := os.Getenv("KILN_COMPARE_OUT")
	if out == "" {
		t.Skip("KILN_COMPARE_OUT not set")
	}
	steps := 256
	fmt.Sscan(os.Getenv("KILN_COMPARE_STEPS"), &steps)
	mc := tabpfn.Config{Layers: 2, Width: 32, Heads: 4, MLPWidth: 64, FeatureDim: 16, MaxClasses: 10, MaxFeatures: 20, MaxRows: 256}
	tc := tabpfn.DefaultTrainConfig()
	tc.Steps, tc.Warmup, tc.CheckpointEvery, tc.Workers, tc.Seed, tc.LR = steps, steps/10, 0, 1, 11, 3e-3
	tc.Prior.BatchSize, tc.Prior.MinRows, tc.Prior.MaxRows, tc.Prior.MaxFeatures = 8, 30, 60, 8
	type row struct {
		Ranks       int     `json:"ranks"`
		Mode        string  `json:"mode"`
		H           int     `json:"local_steps,omitempty"`
		OuterLR     float64 `json:"outer_lr,omitempty"`
		OuterMom    float64 `json:"outer_momentum,omitempty"`
		Steps       int     `json:"steps"`
		EvalLoss    float64 `json:"eval_loss"`
		TrainLoss   float64 `json:"train_loss_last32"`
		ParamBytes  int64   `json:"param_bytes_per_rank"`
		Collectives int64   `json:"collectives"`
		Seconds     float64 `json:"seconds"`
		CommSeconds float64 `json:"comm_seconds"`
		OptBytes    int64   `json:"optimizer_state_bytes_per_rank"`
	}
	cases := []row{{Mode: tabpfn.DistDDP}, {Mode: tabpfn.DistZeRO1}}
	for _, h := range []int{1, 8, 32} {
		cases = append(cases, row{Mode: tabpfn.DistDiLoCo, H: h, OuterLR: 0.7, OuterMom: 0.9})
	}
	for _, r := range cases {
		dc := tabpfn.DefaultDistConfig(world)
		dc.Mode, dc.HashEvery = r.Mode, 64
		if r.H > 0 {
			dc.LocalSteps, dc.OuterLR, dc.OuterMomentum = r.H, r.OuterLR, r.OuterMom
		}
		tr, err := tabpfn.NewTrainer(device.MustGet("cpu"), mc, tc, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Distribute(dc); err != nil {
			t.Fatal(err)
		}
		var losses []float64
		start := time.Now()
		if err := tr.Run(context.Background(), func(p tabpfn.Progress) { losses = append(losses, p.Loss) }); err != nil {
			t.Fatal(err)
		}
		r.Seconds = time.Since(start).Seconds()
		st := tr.CommStats()
		r.Ranks, r.Steps, r.ParamBytes, r.Collectives, r.CommSeconds = world.Size(), steps, st.ParamBytes, st.Collectives, st.Wait.Seconds()
		r.OptBytes = tr.OptimizerStateBytes()
		tail := losses[max(len(losses)-32, 0):]
		for _, l := range tail {
			r.TrainLoss += l / float64(len(tail))
		}
		r.EvalLoss = evalLoss(t, tr, tc)
		if world.Rank() == 0 {
			f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			line, _ := json.Marshal(r)
			fmt.Fprintln(f, string(line))
			f.Close()
			t.Logf("%s", line)
		}
		tr.Model.Release()
	}
}

// evalLoss is the mean loss over 16 prior batches drawn far beyond the training steps.
func evalLoss(t *testing.T, tr *tabpfn.Trainer, tc tabpfn.TrainConfig) float64 {
	pc := tc.Prior
	pc.Seed = tc.Seed
	pc.MaxClasses = min(pc.MaxClasses, tr.Model.Cfg.MaxClasses)
	s, err := prior.NewSampler(pc)
	if err != nil {
		t.Fatal(err)
	}
	ec := tensor.NewContext()
	defer ec.Close()
	ec.SetGradEnabled(false)
	var sum float64
	const n = 16
	for i := uint64(0); i < n; i++ {
		in, y := tabpfn.InputFromBatch(s.Batch(1_000_000+i), 99)
		err := ops.Try(func() error {
			sc := ec.NewScope()
			defer sc.Close()
			sum += tr.Model.Loss(ec, in, y).Item() / n
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return sum
}
