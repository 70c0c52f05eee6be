package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/kiln-ml/kiln/bench"
	"github.com/kiln-ml/kiln/comm"
	"github.com/kiln-ml/kiln/device"
)

// The allreduce group of `kiln bench`: the communicator's in-place float32 sum all-reduce
// over message sizes, on CPU buffers. Under mpirun every process runs the same fixed
// number of repetitions (a collective needs all of them) and, in an mpi build, the same
// buffer through MPI_Allreduce directly as the anchor:
//
//	mpirun -np 2 kiln bench --only allreduce
//
// Only rank 0 prints. Without mpirun the world is one process and the all-reduce a copy.

// allreduceAnchor is plain blocking MPI_Allreduce where the build has MPI (bench_mpi.go).
var allreduceAnchor func(comm.Comm, device.Buffer) error

var (
	benchWorldOnce sync.Once
	benchWorld     comm.Comm
	benchWorldErr  error
)

// benchComm opens this process's communicator once: the MPI world under mpirun.
func benchComm() (comm.Comm, error) {
	benchWorldOnce.Do(func() {
		benchWorld, benchWorldErr = comm.Open(comm.Options{Stderr: os.Stderr})
	})
	return benchWorld, benchWorldErr
}

func init() {
	extraBenchCases = append(extraBenchCases, func(kind string, quick bool) []bench.Case {
		sizes, reps := []int{4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20}, 20
		if quick {
			sizes, reps = []int{4 << 10, 1 << 20}, 3
		}
		var cs []bench.Case
		for _, bytes := range sizes {
			c := bench.Case{
				Name: fmt.Sprintf("allreduce f32 %d KiB", bytes>>10), Group: "allreduce",
				Work: float64(bytes), Unit: "GB/s", Reps: reps,
				Setup: allreduceSetup(bytes, func(c comm.Comm, b device.Buffer) error { return c.AllReduce(b, comm.Sum) }),
			}
			if allreduceAnchor != nil {
				c.AnchorSetup, c.AnchorName = allreduceSetup(bytes, allreduceAnchor), "MPI_Allreduce"
			}
			cs = append(cs, c)
		}
		return cs
	})
}

// allreduceSetup prepares a float32 buffer of bytes on the CPU (collectives on other
// devices go through their own backends) and returns one all-reduce of it by op, preceded
// by a barrier so that every rank's timing starts together.
func allreduceSetup(bytes int, op func(comm.Comm, device.Buffer) error) func(device.Device) (func() error, func(), error) {
	return func(dev device.Device) (func() error, func(), error) {
		c, err := benchComm()
		if err != nil {
			return nil, nil, err
		}
		if dev.Info().Kind != "cpu" {
			return nil, nil, fmt.Errorf("the allreduce cases run on CPU buffers, not %s", dev.Name())
		}
		buf, err := dev.Alloc(device.Float32, bytes/4)
		if err != nil {
			return nil, nil, err
		}
		if err := c.Barrier(); err != nil {
			buf.Free()
			return nil, nil, err
		}
		return func() error { return op(c, buf) }, func() { buf.Free() }, nil
	}
}
