package comm

import (
	"fmt"
	"testing"

	"github.com/kiln-ml/kiln/device"
)

// blockingAllReduce is plain MPI_Allreduce where the build has MPI (bench_mpi_test.go).
var blockingAllReduce func(Comm, device.Buffer) error

// BenchmarkAllReduce measures the in-place float32 sum all-reduce over message sizes, on
// the communicator and, in an mpi build, through MPI_Allreduce directly in the same run.
// Under mpirun every rank must run the same iterations, so give a fixed count:
//
//	mpirun -np 2 build/comm-mpi.test -test.run '^$' -test.bench AllReduce -test.benchtime 20x
//
// algbw is bytes/time; busbw = algbw·2(N−1)/N, the bandwidth each link carries in a ring
// all-reduce (the convention of nccl-tests), comparable across N.
func BenchmarkAllReduce(b *testing.B) {
	c := testComm
	dev, err := device.Get("cpu")
	if err != nil {
		b.Fatal(err)
	}
	for _, bytes := range []int{4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20} {
		buf, err := dev.Alloc(device.Float32, bytes/4)
		if err != nil {
			b.Fatal(err)
		}
		impls := []struct {
			name string
			fn   func() error
		}{{"kiln", func() error { return c.AllReduce(buf, Sum) }}}
		if blockingAllReduce != nil {
			impls = append(impls, struct {
				name string
				fn   func() error
			}{"MPI_Allreduce", func() error { return blockingAllReduce(c, buf) }})
		}
		for _, im := range impls {
			b.Run(fmt.Sprintf("%s/%dKiB", im.name, bytes>>10), func(b *testing.B) {
				b.SetBytes(int64(bytes))
				if err := c.Barrier(); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := im.fn(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				sec := b.Elapsed().Seconds() / float64(b.N)
				n := float64(c.Size())
				b.ReportMetric(float64(bytes)/sec/1e9, "algbw_GB/s")
				if n > 1 {
					b.ReportMetric(float64(bytes)/sec/1e9*2*(n-1)/n, "busbw_GB/s")
				}
			})
		}
		buf.Free()
	}
}
