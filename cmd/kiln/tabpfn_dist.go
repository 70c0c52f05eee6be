package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kiln-ml/kiln/comm"
	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/interrupt"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// distFlags are tabpfn train's data-parallel settings.
type distFlags struct {
	on            bool
	backend, mode string
	localSteps    int
	outerLR       float64
	outerMomentum float64
	hashEvery     int
	bucketKB      int
	timeout       time.Duration

	rank, size int // of the run, once open
}

func (d *distFlags) register(f *pflag.FlagSet) {
	def := tabpfn.DefaultDistConfig(nil)
	f.BoolVar(&d.on, "distributed", false, "train data-parallel on the processes mpirun started (needs a kiln built with -tags mpi)")
	f.StringVar(&d.backend, "comm", "auto", "communicator with --distributed: auto (mpi under mpirun), mpi, nccl (GPUs; -tags 'cuda mpi') or local")
	f.StringVar(&d.mode, "dist-mode", tabpfn.DistDDP, "with --distributed: ddp, zero1 (optimizer state sharded over the ranks) or diloco (--local-steps between synchronisations)")
	flagbound.Int(f, &d.localSteps, "local-steps", def.LocalSteps, 1, tabpfn.MaxTrainSteps, "diloco: local AdamW steps between outer steps (H)")
	flagbound.Float(f, &d.outerLR, "outer-lr", def.OuterLR, flagbound.LeftOpen(0, tabpfn.MaxLR), "diloco: outer learning rate (1 with --outer-momentum 0 averages the ranks' parameters)")
	flagbound.Float(f, &d.outerMomentum, "outer-momentum", def.OuterMomentum, flagbound.Closed(0, 0.999), "diloco: outer Nesterov momentum")
	flagbound.Int(f, &d.hashEvery, "hash-every", def.HashEvery, 0, tabpfn.MaxTrainSteps, "with --distributed: compare a hash of the parameters across ranks every N steps (0: never)")
	flagbound.Int(f, &d.bucketKB, "bucket-kb", def.BucketBytes>>10, tabpfn.MinBucketBytes>>10, tabpfn.MaxBucketBytes>>10, "ddp: gradient bucket size in KiB; each bucket's all-reduce starts during the backward pass once its gradients are in")
	flagbound.Duration(f, &d.timeout, "comm-timeout", comm.DefaultTimeout, comm.MinTimeout, comm.MaxTimeout, "with --distributed: a collective not completed by then ends the job, naming the ranks that did not reach it or stopped answering in it")
}

// open returns the communicator: the single-process one without --distributed.
func (d *distFlags) open(cmd *cobra.Command) (comm.Comm, error) {
	d.rank, d.size = 0, 1
	if !d.on {
		if n := comm.LaunchedSize(); n > 1 {
			return nil, fmt.Errorf("started by mpirun as one of %d processes without --distributed: each would train alone on the same --out", n)
		}
		return comm.Local(), nil
	}
	c, err := comm.Open(comm.Options{Backend: d.backend, Timeout: d.timeout, Stderr: cmd.ErrOrStderr()})
	if err != nil {
		return nil, err
	}
	d.rank, d.size = c.Rank(), c.Size()
	if d.rank != 0 {
		// Only rank 0 reports; the others' messages would repeat it N times.
		cmd.SetOut(discard{})
	}
	return c, nil
}

// deviceName gives each rank of a node its own GPU: "cuda" becomes cuda:<local rank>.
func (d *distFlags) deviceName(name string) string {
	if !d.on || name != "cuda" {
		return name
	}
	if lr, err := strconv.Atoi(os.Getenv("OMPI_COMM_WORLD_LOCAL_RANK")); err == nil {
		return fmt.Sprintf("cuda:%d", lr)
	}
	return name
}

// distribute makes tr one rank of the run.
func (d *distFlags) distribute(cmd *cobra.Command, c comm.Comm, tr *tabpfn.Trainer) error {
	if !d.on {
		return nil
	}
	dc := tabpfn.DefaultDistConfig(c)
	dc.Mode, dc.LocalSteps, dc.OuterLR, dc.OuterMomentum = strings.ToLower(d.mode), d.localSteps, d.outerLR, d.outerMomentum
	dc.HashEvery, dc.BucketBytes = d.hashEvery, d.bucketKB<<10
	if err := tr.Distribute(dc); err != nil {
		return err
	}
	if d.rank == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "distributed: %d ranks over %s, %s, %d of %d datasets per step on rank 0, optimizer state %.1f MiB per rank\n",
			d.size, c.Backend(), dc.Mode, (tr.Cfg.Prior.BatchSize+d.size-1)/d.size, tr.Cfg.Prior.BatchSize, float64(tr.OptimizerStateBytes())/(1<<20))
	}
	return nil
}

// summary is the run's communication for the final line.
func (d *distFlags) summary(tr *tabpfn.Trainer) string {
	if !d.on {
		return ""
	}
	st := tr.CommStats()
	overlap := ""
	if st.Overlapped > 0 {
		overlap = fmt.Sprintf(", %d gradient buckets sent during the backward pass", st.Overlapped)
	}
	return fmt.Sprintf(" × %d ranks (%s, %.1f MiB of parameters and gradients communicated per rank, %s waiting for collectives%s)",
		d.size, d.mode, float64(st.ParamBytes)/(1<<20), st.Wait.Round(time.Millisecond), overlap)
}

// finish closes the communicator after a successful run. A rank that fails ends the whole
// job (the others would otherwise wait for it in their next collective until the
// watchdog's timeout) with a message that names it; an interrupt, which every rank sees
// and stops for together, is returned as it is.
func (d *distFlags) finish(c comm.Comm, err error) error {
	if c == nil || !d.on {
		return err
	}
	if err != nil && d.size > 1 && interrupt.ExitCode(err) == 1 {
		c.Abort(1, fmt.Sprintf("kiln tabpfn train: rank %d of %d: %v", d.rank, d.size, err))
	}
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
