package comm

import (
	"fmt"
	"os"

	"github.com/kiln-ml/kiln/device"
)

// local is the communicator of a single process: rank 0 of 1.
type local struct{}

// Local returns the single-process communicator: Rank 0, Size 1. A sum or mean over one
// rank is the rank's own value, so AllReduce and Broadcast leave buffers as they are, and
// ReduceScatter and AllGather copy.
func Local() Comm { return local{} }

func (local) Backend() string { return "local" }
func (local) Rank() int       { return 0 }
func (local) Size() int       { return 1 }

func (local) AllReduce(buf device.Buffer, op Op) error {
	_, err := checkFloat("allreduce", buf)
	return err
}

func (l local) StartAllReduce(buf device.Buffer, op Op) (Work, error) {
	if err := l.AllReduce(buf, op); err != nil {
		return nil, err
	}
	return Done(nil), nil
}

func (local) Broadcast(buf device.Buffer, root int) error {
	if root != 0 {
		return fmt.Errorf("comm: broadcast from rank %d of 1", root)
	}
	_, err := checkFloat("broadcast", buf)
	return err
}

func (local) ReduceScatter(src, dst device.Buffer, op Op) error {
	if err := checkChunks("reduce-scatter", src, dst, 1); err != nil {
		return err
	}
	return copyBuffer(dst, src)
}

func (local) AllGather(src, dst device.Buffer) error {
	if err := checkChunks("all-gather", dst, src, 1); err != nil {
		return err
	}
	return copyBuffer(dst, src)
}

func (local) Barrier() error { return nil }

func (local) Abort(code int, msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(code)
}

func (local) Close() error { return nil }

// copyBuffer copies src into dst (same dtype, device and length) on their device.
func copyBuffer(dst, src device.Buffer) (err error) {
	if src.Len() == 0 {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(*device.Error); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	l := device.Contiguous([]int{src.Len()})
	src.Device().Unary(device.UnaryCopy, src, l, dst, l, 0)
	return nil
}
