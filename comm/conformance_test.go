package comm

import (
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
)

// The conformance suite runs every collective of the communicator this process gets from
// Open (local under go test; mpi when the test binary, built with -tags mpi, is started by
// mpirun: see make test-mpi) and checks each result against a float64 reference that every
// rank computes for itself from the same formula for every rank's input.
//
// KILN_COMM_BACKEND picks the backend (default auto) and KILN_COMM_DEVICE the device of the
// buffers (default cpu; cuda for nccl).

var testComm Comm

func TestMain(m *testing.M) {
	timeout := 2 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("KILN_COMM_TIMEOUT")); err == nil {
		timeout = d
	}
	c, err := Open(Options{Backend: os.Getenv("KILN_COMM_BACKEND"), Timeout: timeout})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	testComm = c
	code := m.Run()
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func testDevice(t *testing.T) device.Device {
	name := os.Getenv("KILN_COMM_DEVICE")
	if name == "" {
		name = "cpu"
	}
	dev, err := device.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

// input is rank r's value at element i: distinct per rank and element, of mixed sign and
// magnitude, exactly representable in float32.
func input(r, i int) float64 {
	return float64(float32(math.Sin(float64(i)*0.37+float64(r)*1.3) * float64(r+1) * math.Pow(2, float64(i%7-3))))
}

func upload(t *testing.T, dev device.Device, dt device.DType, v []float64) device.Buffer {
	t.Helper()
	b, err := dev.Alloc(dt, len(v))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) == 0 {
		return b
	}
	if dt == device.Float32 {
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		err = dev.CopyFromHost(b, f)
	} else {
		err = dev.CopyFromHost(b, v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func download(t *testing.T, b device.Buffer) []float64 {
	t.Helper()
	out := make([]float64, b.Len())
	if b.Len() == 0 {
		return out
	}
	if b.DType() == device.Float32 {
		f := make([]float32, b.Len())
		if err := b.Device().CopyToHost(f, b); err != nil {
			t.Fatal(err)
		}
		for i, x := range f {
			out[i] = float64(x)
		}
		return out
	}
	if err := b.Device().CopyToHost(out, b); err != nil {
		t.Fatal(err)
	}
	return out
}

// check compares got with want elementwise: exact for float64 copies, and within the
// rounding of a float32 or float64 sum of size terms otherwise.
func check(t *testing.T, what string, dt device.DType, got, want []float64, size int) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d elements, want %d", what, len(got), len(want))
		return
	}
	eps := 1e-15
	if dt == device.Float32 {
		eps = 1e-6
	}
	bad := 0
	for i := range got {
		tol := eps * float64(size) * (math.Abs(want[i]) + 8*float64(size))
		if math.Abs(got[i]-want[i]) > tol {
			if bad < 5 {
				t.Errorf("%s: element %d is %v, want %v (rank %d of %d)", what, i, got[i], want[i], testComm.Rank(), testComm.Size())
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d elements wrong in all", what, bad)
	}
}

var (
	sizes  = []int{0, 1, 7, 1000, 65537}
	dtypes = []device.DType{device.Float32, device.Float64}
)

func TestAllReduce(t *testing.T) {
	c, dev := testComm, testDevice(t)
	for _, dt := range dtypes {
		for _, n := range sizes {
			for _, op := range []Op{Sum, Mean} {
				mine := make([]float64, n)
				want := make([]float64, n)
				for i := range mine {
					mine[i] = input(c.Rank(), i)
					for r := 0; r < c.Size(); r++ {
						want[i] += input(r, i)
					}
					if op == Mean {
						want[i] /= float64(c.Size())
					}
				}
				b := upload(t, dev, dt, mine)
				if err := c.AllReduce(b, op); err != nil {
					t.Fatal(err)
				}
				check(t, fmt.Sprintf("allreduce %s %s n=%d", op, dt, n), dt, download(t, b), want, c.Size())
				b.Free()
			}
		}
	}
}

// TestStartAllReduce keeps several all-reduces in flight at once and waits for them in
// reverse order, as the gradient buckets of a backward pass do.
func TestStartAllReduce(t *testing.T) {
	c, dev := testComm, testDevice(t)
	const k = 6
	var bufs []device.Buffer
	var works []Work
	for j := 0; j < k; j++ {
		n := 100 + 37*j
		mine := make([]float64, n)
		for i := range mine {
			mine[i] = input(c.Rank(), i+j)
		}
		b := upload(t, dev, device.Float32, mine)
		w, err := c.StartAllReduce(b, Sum)
		if err != nil {
			t.Fatal(err)
		}
		bufs, works = append(bufs, b), append(works, w)
	}
	for j := k - 1; j >= 0; j-- {
		if err := works[j].Wait(); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, bufs[j].Len())
		for i := range want {
			for r := 0; r < c.Size(); r++ {
				want[i] += input(r, i+j)
			}
		}
		check(t, fmt.Sprintf("started allreduce %d", j), device.Float32, download(t, bufs[j]), want, c.Size())
		bufs[j].Free()
	}
}

func TestBroadcast(t *testing.T) {
	c, dev := testComm, testDevice(t)
	for _, dt := range dtypes {
		for _, n := range sizes {
			for root := 0; root < c.Size(); root++ {
				mine := make([]float64, n)
				want := make([]float64, n)
				for i := range mine {
					mine[i] = input(c.Rank(), i)
					want[i] = input(root, i)
				}
				b := upload(t, dev, dt, mine)
				if err := c.Broadcast(b, root); err != nil {
					t.Fatal(err)
				}
				check(t, fmt.Sprintf("broadcast from %d %s n=%d", root, dt, n), dt, download(t, b), want, 1)
				b.Free()
			}
		}
	}
}

func TestReduceScatter(t *testing.T) {
	c, dev := testComm, testDevice(t)
	for _, dt := range dtypes {
		for _, n := range sizes {
			for _, op := range []Op{Sum, Mean} {
				full := make([]float64, n*c.Size())
				for i := range full {
					full[i] = input(c.Rank(), i)
				}
				want := make([]float64, n)
				for i := range want {
					j := c.Rank()*n + i
					for r := 0; r < c.Size(); r++ {
						want[i] += input(r, j)
					}
					if op == Mean {
						want[i] /= float64(c.Size())
					}
				}
				src := upload(t, dev, dt, full)
				dst := upload(t, dev, dt, make([]float64, n))
				if err := c.ReduceScatter(src, dst, op); err != nil {
					t.Fatal(err)
				}
				check(t, fmt.Sprintf("reduce-scatter %s %s n=%d", op, dt, n), dt, download(t, dst), want, c.Size())
				src.Free()
				dst.Free()
			}
		}
	}
}

func TestAllGather(t *testing.T) {
	c, dev := testComm, testDevice(t)
	for _, dt := range dtypes {
		for _, n := range sizes {
			mine := make([]float64, n)
			for i := range mine {
				mine[i] = input(c.Rank(), i)
			}
			want := make([]float64, n*c.Size())
			for r := 0; r < c.Size(); r++ {
				for i := 0; i < n; i++ {
					want[r*n+i] = input(r, i)
				}
			}
			src := upload(t, dev, dt, mine)
			dst := upload(t, dev, dt, make([]float64, n*c.Size()))
			if err := c.AllGather(src, dst); err != nil {
				t.Fatal(err)
			}
			check(t, fmt.Sprintf("all-gather %s n=%d", dt, n), dt, download(t, dst), want, 1)
			src.Free()
			dst.Free()
		}
	}
}

func TestBarrier(t *testing.T) {
	for i := 0; i < 3; i++ {
		if err := testComm.Barrier(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMisuse checks that wrong buffers are refused on every rank alike, before any rank
// enters a collective.
func TestMisuse(t *testing.T) {
	c, dev := testComm, testDevice(t)
	i32, err := dev.Alloc(device.Int32, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer i32.Free()
	if err := c.AllReduce(i32, Sum); err == nil {
		t.Error("all-reduce of an int32 buffer: no error")
	}
	full := upload(t, dev, device.Float32, make([]float64, 3*c.Size()+1))
	chunk := upload(t, dev, device.Float32, make([]float64, 3))
	defer full.Free()
	defer chunk.Free()
	if err := c.AllGather(chunk, full); err == nil {
		t.Error("all-gather into a buffer of the wrong length: no error")
	}
	if err := c.ReduceScatter(full, chunk, Sum); err == nil {
		t.Error("reduce-scatter from a buffer of the wrong length: no error")
	}
	if err := c.Broadcast(chunk, c.Size()); err == nil {
		t.Error("broadcast from a rank out of range: no error")
	}
}

// TestWatchdogHang is the failure drill of make test-mpi: with KILN_COMM_HANG_RANK=r, rank
// r stops calling collectives while the others enter a barrier, and the job must end
// within the watchdog timeout (KILN_COMM_TIMEOUT, default 2 minutes) with a message that
// names rank r. Skipped unless the variable is set.
func TestWatchdogHang(t *testing.T) {
	var hang int
	if _, err := fmt.Sscan(os.Getenv("KILN_COMM_HANG_RANK"), &hang); err != nil {
		t.Skip("KILN_COMM_HANG_RANK not set")
	}
	if testComm.Rank() == hang {
		select {} // hung: never reaches the barrier
	}
	err := testComm.Barrier()
	t.Fatalf("barrier with rank %d hung returned (%v)", hang, err)
}
