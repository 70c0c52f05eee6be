// Package comm is kiln's communicator: the collectives that data-parallel training needs
// (all-reduce, broadcast, reduce-scatter, all-gather, barrier) over the device buffers of
// a group of processes.
//
// Three backends implement Comm:
//
//   - local: one process (Size 1), pure Go; every collective is an identity or a copy. It
//     is the default, so code written against Comm runs unchanged without MPI.
//   - mpi: Open MPI through a small cgo binding (build tag mpi). Processes are started by
//     mpirun (mpirun -np N kiln ...); rank and size come from MPI_COMM_WORLD.
//   - nccl: NVIDIA NCCL for CUDA buffers (build tags cuda and mpi), loaded at run time,
//     its unique id bootstrapped over MPI; buffers that are not on a GPU go through MPI.
//
// Buffers are whole device buffers of float32 or float64. A collective runs in place where
// that is its natural form (AllReduce, Broadcast); ReduceScatter and AllGather take a full
// buffer of Size equal chunks and one chunk. Every rank must call the same collectives in
// the same order with the same lengths and dtypes, as in MPI.
//
// Failure: a collective that has not completed within Options.Timeout ends the whole job
// (on MPI through MPI_Abort) after printing which ranks did not arrive or stopped
// answering inside it, so that a dead or hung peer never leaves the others waiting forever.
package comm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kiln-ml/kiln/device"
)

// Op is the reduction of AllReduce and ReduceScatter.
type Op uint8

const (
	// Sum adds the ranks' values.
	Sum Op = iota
	// Mean adds the ranks' values and divides by Size.
	Mean
)

func (o Op) String() string {
	switch o {
	case Sum:
		return "sum"
	case Mean:
		return "mean"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Comm is a communicator over a fixed group of processes (ranks 0 … Size−1).
//
// Methods may be called from one goroutine at a time, like a Device; the asynchronous
// StartAllReduce lets that goroutine go on computing while a collective runs.
type Comm interface {
	// Backend names the implementation: "local", "mpi" or "nccl".
	Backend() string
	Rank() int
	Size() int

	// AllReduce replaces buf on every rank with the reduction of every rank's buf.
	AllReduce(buf device.Buffer, op Op) error
	// StartAllReduce begins AllReduce(buf, op) and returns at once; buf must not be read or
	// written until the Work's Wait returns. Collectives started by one rank complete in the
	// order they were started.
	StartAllReduce(buf device.Buffer, op Op) (Work, error)
	// Broadcast replaces buf on every rank with root's buf.
	Broadcast(buf device.Buffer, root int) error
	// ReduceScatter reduces src (Size·len(dst) elements, on every rank) and leaves chunk
	// Rank of the result in dst: dst = op over ranks of src[Rank·n : (Rank+1)·n].
	ReduceScatter(src, dst device.Buffer, op Op) error
	// AllGather concatenates every rank's src (n elements) into dst (Size·n elements) in
	// rank order.
	AllGather(src, dst device.Buffer) error
	// Barrier returns once every rank has entered it.
	Barrier() error

	// Abort ends every process of the job with the exit code after writing msg to stderr;
	// it does not return. For a rank that cannot go on (an error the others do not see),
	// so that they do not wait for it until their timeout.
	Abort(code int, msg string)
	// Close releases the communicator (MPI_Finalize on the mpi backend). Every rank must
	// call it; no collective may follow.
	Close() error
}

// Work is a collective in flight.
type Work interface {
	// Wait blocks until the collective has completed and reports its error.
	Wait() error
}

// Options configure Open.
type Options struct {
	// Backend is "local", "mpi", "nccl", or "" / "auto": mpi when the process was started by
	// mpirun (and this build has the mpi backend), otherwise local.
	Backend string
	// Timeout bounds every collective: one that has not completed by then ends the job with
	// a message naming the ranks that did not arrive. 0: DefaultTimeout.
	Timeout time.Duration
	// Stderr receives the watchdog's message (os.Stderr when nil).
	Stderr io.Writer
}

// DefaultTimeout is the watchdog limit of a collective when Options.Timeout is 0: long
// enough for a training step's worth of compute on a slow peer between two collectives.
// MinTimeout and MaxTimeout bound the limits a command line may set.
const (
	DefaultTimeout = 10 * time.Minute
	MinTimeout     = time.Second
	MaxTimeout     = 24 * time.Hour
)

// opener opens a backend; backends in files with build tags register one.
type opener func(o Options) (Comm, error)

var (
	regMu    sync.Mutex
	backends = map[string]opener{"local": func(Options) (Comm, error) { return Local(), nil }}
)

func register(name string, f opener) {
	regMu.Lock()
	defer regMu.Unlock()
	backends[name] = f
}

// Backends lists the backends compiled into this binary.
func Backends() []string {
	regMu.Lock()
	defer regMu.Unlock()
	var names []string
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LaunchedSize reports the number of processes the launcher started, from the environment
// that mpirun (Open MPI, or another PMI launcher) gives each process, and 0 when the
// process was not started by one.
func LaunchedSize() int {
	for _, k := range []string{"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"} {
		var n int
		if _, err := fmt.Sscan(os.Getenv(k), &n); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// Open returns the communicator of this process.
func Open(o Options) (Comm, error) {
	name := strings.ToLower(strings.TrimSpace(o.Backend))
	if name == "" || name == "auto" {
		name = "local"
		if n := LaunchedSize(); n > 0 {
			if _, ok := backends["mpi"]; !ok {
				if n > 1 {
					return nil, fmt.Errorf("comm: started by mpirun as one of %d processes, but this kiln was built without the mpi backend (build with -tags mpi)", n)
				}
			} else {
				name = "mpi"
			}
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	regMu.Lock()
	f, ok := backends[name]
	regMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("comm: backend %q is not in this build (have: %s; mpi needs -tags mpi, nccl -tags 'cuda mpi')",
			name, strings.Join(Backends(), ", "))
	}
	return f(o)
}

// checkFloat checks that b is a live float buffer and returns its dtype.
func checkFloat(op string, b device.Buffer) (device.DType, error) {
	if b == nil {
		return 0, fmt.Errorf("comm: %s: nil buffer", op)
	}
	if dt := b.DType(); dt != device.Float32 && dt != device.Float64 {
		return 0, fmt.Errorf("comm: %s: buffer has dtype %s, want float32 or float64", op, dt)
	}
	return b.DType(), nil
}

// checkChunks checks ReduceScatter's and AllGather's buffers: the same dtype and device,
// full holding size·len(chunk) elements.
func checkChunks(op string, full, chunk device.Buffer, size int) error {
	a, err := checkFloat(op, full)
	if err != nil {
		return err
	}
	b, err := checkFloat(op, chunk)
	if err != nil {
		return err
	}
	if a != b {
		return fmt.Errorf("comm: %s: buffers of dtypes %s and %s", op, a, b)
	}
	if full.Device() != chunk.Device() {
		return fmt.Errorf("comm: %s: buffers on %s and %s", op, full.Device().Name(), chunk.Device().Name())
	}
	if full.Len() != size*chunk.Len() {
		return fmt.Errorf("comm: %s: full buffer has %d elements, want %d ranks × %d", op, full.Len(), size, chunk.Len())
	}
	return nil
}

// done is a Work that has already completed.
type done struct{ err error }

func (d done) Wait() error { return d.err }

// Done returns a Work that has completed with err (nil for success).
func Done(err error) Work { return done{err} }

// ErrClosed is returned by collectives on a closed communicator.
var ErrClosed = errors.New("comm: communicator is closed")
