//go:build mpi

package comm

// The mpi backend: a small cgo binding of the dozen Open MPI calls kiln needs. The Go MPI
// bindings in the field were considered first: the go-mpi forks (yoo, JohannWeging,
// renyuneyun) are unmaintained since the 2010s and have no non-blocking collectives;
// gosl/mpi comes with the whole gosl library; cogentcore's lab/base/mpi is maintained but
// wraps only blocking calls on Go slices, with no reduce-scatter, no error handler and no
// request objects. The watchdog here needs MPI-3 non-blocking collectives polled with a
// deadline, and MPI_ERRORS_RETURN, so a binding of exactly those calls is smaller than any
// of them and has no dependency beyond libmpi.
//
// Threading: every MPI call is made by one goroutine locked to the OS thread that called
// MPI_Init_thread (MPI_THREAD_FUNNELED), the worker; Comm methods hand it jobs. Buffers
// of the CPU device are passed to MPI in place, pinned (runtime.Pinner) while a request is
// in flight; buffers of other devices are staged through host memory by the calling
// goroutine, since a device is used from one goroutine at a time.

/*
#cgo pkg-config: ompi-c
#include <mpi.h>
#include <stdlib.h>
#include <time.h>
#include <sched.h>

static MPI_Comm kc_world = MPI_COMM_NULL; // collectives
// Heartbeats: each rank tells every peer the state 2·seq when it enters collective number
// seq, again every second while it waits there, and 2·seq+1 when the collective has
// completed for it; each rank records the latest state of every peer and when it last heard
// from it.
static MPI_Comm kc_hb = MPI_COMM_NULL;
static int kc_rank, kc_size;
static long long *kc_hb_send, *kc_hb_recv, *kc_hb_seen, *kc_hb_heard;
static MPI_Request *kc_hb_sreq, *kc_hb_rreq;

static MPI_Datatype kc_dtype(int bytes) { return bytes == 8 ? MPI_DOUBLE : MPI_FLOAT; }

static int kc_init(int *rank, int *size) {
	int inited = 0, provided = 0, rc;
	MPI_Initialized(&inited);
	if (!inited && (rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS) return rc;
	if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &kc_world)) != MPI_SUCCESS) return rc;
	if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &kc_hb)) != MPI_SUCCESS) return rc;
	MPI_Comm_set_errhandler(kc_world, MPI_ERRORS_RETURN);
	MPI_Comm_set_errhandler(kc_hb, MPI_ERRORS_RETURN);
	MPI_Comm_rank(kc_world, &kc_rank);
	MPI_Comm_size(kc_world, &kc_size);
	*rank = kc_rank;
	*size = kc_size;
	int n = kc_size;
	kc_hb_send = calloc(n, sizeof(long long));
	kc_hb_recv = calloc(n, sizeof(long long));
	kc_hb_seen = calloc(n, sizeof(long long));
	kc_hb_heard = calloc(n, sizeof(long long));
	kc_hb_sreq = calloc(n, sizeof(MPI_Request));
	kc_hb_rreq = calloc(n, sizeof(MPI_Request));
	for (int p = 0; p < n; p++) {
		kc_hb_sreq[p] = MPI_REQUEST_NULL;
		kc_hb_rreq[p] = MPI_REQUEST_NULL;
		if (p != kc_rank) MPI_Irecv(&kc_hb_recv[p], 1, MPI_LONG_LONG, p, 0, kc_hb, &kc_hb_rreq[p]);
	}
	return MPI_SUCCESS;
}

static long long kc_now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

// kc_hb_progress records the latest state each peer announced and when.
static void kc_hb_progress(void) {
	for (int p = 0; p < kc_size; p++) {
		while (kc_hb_rreq[p] != MPI_REQUEST_NULL) {
			int flag = 0;
			if (MPI_Test(&kc_hb_rreq[p], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || !flag) break;
			kc_hb_seen[p] = kc_hb_recv[p];
			kc_hb_heard[p] = kc_now_ns();
			MPI_Irecv(&kc_hb_recv[p], 1, MPI_LONG_LONG, p, 0, kc_hb, &kc_hb_rreq[p]);
		}
	}
}

// kc_hb_announce tells every peer this rank's state. A peer whose previous announcement is
// still in flight is skipped: it will see a later one.
static void kc_hb_announce(long long state) {
	for (int p = 0; p < kc_size; p++) {
		if (p == kc_rank) continue;
		int flag = 1;
		if (kc_hb_sreq[p] != MPI_REQUEST_NULL) MPI_Test(&kc_hb_sreq[p], &flag, MPI_STATUS_IGNORE);
		if (!flag) continue;
		kc_hb_send[p] = state;
		MPI_Isend(&kc_hb_send[p], 1, MPI_LONG_LONG, p, 0, kc_hb, &kc_hb_sreq[p]);
	}
	kc_hb_progress();
}

static long long kc_hb_seen_of(int p) { return kc_hb_seen[p]; }
// kc_hb_silent_ns is how long ago peer p was last heard from (since start if never).
static long long kc_hb_silent_ns(int p, long long start) {
	long long t = kc_hb_heard[p] > start ? kc_hb_heard[p] : start;
	return kc_now_ns() - t;
}

static int kc_iallreduce(void *buf, int n, int bytes, MPI_Request *req) {
	return MPI_Iallreduce(MPI_IN_PLACE, buf, n, kc_dtype(bytes), MPI_SUM, kc_world, req);
}
static int kc_ibcast(void *buf, int n, int bytes, int root, MPI_Request *req) {
	return MPI_Ibcast(buf, n, kc_dtype(bytes), root, kc_world, req);
}
static int kc_ireduce_scatter(void *src, void *dst, int n, int bytes, MPI_Request *req) {
	return MPI_Ireduce_scatter_block(src, dst, n, kc_dtype(bytes), MPI_SUM, kc_world, req);
}
static int kc_iallgather(void *src, void *dst, int n, int bytes, MPI_Request *req) {
	return MPI_Iallgather(src, n, kc_dtype(bytes), dst, n, kc_dtype(bytes), kc_world, req);
}
static int kc_ibarrier(MPI_Request *req) { return MPI_Ibarrier(kc_world, req); }

// kc_allreduce_blocking is plain MPI_Allreduce, the reference of the all-reduce benchmark.
static int kc_allreduce_blocking(void *buf, int n, int bytes) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, kc_dtype(bytes), MPI_SUM, kc_world);
}

// kc_poll tests req until it completes or budget_ns pass. Non-blocking collectives make
// progress only inside MPI calls, so it tests without pause for the first 2 ms (yielding
// the core to any other runnable thread between tests), then sleeps for growing intervals
// up to 100 µs, so that a long wait for a slow peer does not take the cores of ranks that
// share them (mpirun --oversubscribe).
static int kc_poll(MPI_Request *req, long long budget_ns, int *done) {
	struct timespec t0, now, nap = {0, 1000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int rc = MPI_Test(req, done, MPI_STATUS_IGNORE);
		if (rc != MPI_SUCCESS || *done) return rc;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long el = (now.tv_sec - t0.tv_sec) * 1000000000LL + (now.tv_nsec - t0.tv_nsec);
		if (el >= budget_ns) return MPI_SUCCESS;
		if (el < 2000000) {
			sched_yield();
			continue;
		}
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 100000) nap.tv_nsec *= 2;
	}
}

static void kc_error_string(int rc, char *out, int cap) {
	int len = 0;
	if (MPI_Error_string(rc, out, &len) != MPI_SUCCESS) len = 0;
	out[len < cap ? len : cap - 1] = 0;
}

static void kc_abort(int code) { MPI_Abort(kc_world != MPI_COMM_NULL ? kc_world : MPI_COMM_WORLD, code); }

static int kc_finalize(void) {
	for (int p = 0; p < kc_size; p++) {
		if (kc_hb_rreq[p] != MPI_REQUEST_NULL) {
			MPI_Cancel(&kc_hb_rreq[p]);
			MPI_Wait(&kc_hb_rreq[p], MPI_STATUS_IGNORE);
		}
		if (kc_hb_sreq[p] != MPI_REQUEST_NULL) MPI_Wait(&kc_hb_sreq[p], MPI_STATUS_IGNORE);
	}
	MPI_Barrier(kc_world);
	MPI_Comm_free(&kc_hb);
	MPI_Comm_free(&kc_world);
	return MPI_Finalize();
}
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/cpu"
)

func init() { register("mpi", openMPI) }

// WatchdogExitCode is the exit status of a job ended because a collective timed out.
const WatchdogExitCode = 124

type mpiComm struct {
	rank, size int
	opt        Options
	jobs       chan func()
	abort      chan abortReq
	closed     atomic.Bool
	once       sync.Once
	seq        int64 // collectives started; the worker's alone
}

type abortReq struct {
	code int
	msg  string
}

// mpiOnce guards MPI_Init: MPI can be initialised once per process.
var (
	mpiOnce  sync.Once
	mpiComm0 *mpiComm
	mpiErr0  error
)

func openMPI(o Options) (Comm, error) {
	mpiOnce.Do(func() {
		c := &mpiComm{opt: o, jobs: make(chan func()), abort: make(chan abortReq, 1)}
		ready := make(chan error)
		go c.worker(ready)
		if err := <-ready; err != nil {
			mpiErr0 = err
			return
		}
		mpiComm0 = c
	})
	if mpiErr0 != nil {
		return nil, mpiErr0
	}
	return mpiComm0, nil
}

// worker owns the MPI thread: it initialises MPI, then runs the jobs handed to it.
func (c *mpiComm) worker(ready chan<- error) {
	runtime.LockOSThread() // never unlocked: MPI_THREAD_FUNNELED ties MPI to this thread
	var rank, size C.int
	if rc := C.kc_init(&rank, &size); rc != C.MPI_SUCCESS {
		ready <- mpiError("MPI_Init", rc)
		return
	}
	c.rank, c.size = int(rank), int(size)
	ready <- nil
	for {
		select {
		case job, ok := <-c.jobs:
			if !ok {
				return
			}
			job()
		case a := <-c.abort:
			c.doAbort(a)
		}
	}
}

func mpiError(op string, rc C.int) error {
	buf := make([]C.char, 512)
	C.kc_error_string(rc, &buf[0], C.int(len(buf)))
	return fmt.Errorf("comm: %s failed: %s (MPI error %d)", op, C.GoString(&buf[0]), int(rc))
}

func (c *mpiComm) Backend() string { return "mpi" }
func (c *mpiComm) Rank() int       { return c.rank }
func (c *mpiComm) Size() int       { return c.size }

// do runs fn on the worker and returns its error.
func (c *mpiComm) do(fn func() error) error {
	if c.closed.Load() {
		return ErrClosed
	}
	errc := make(chan error, 1)
	c.jobs <- func() { errc <- fn() }
	return <-errc
}

// collective starts one non-blocking MPI collective on the worker and polls it to
// completion. Before starting it announces the collective's number to every peer, so that
// a rank whose collective does not complete within the timeout can say which ranks never
// reached it; then it ends the job.
func (c *mpiComm) collective(name string, n int, dt device.DType, start func(req *C.MPI_Request) C.int) error {
	c.seq++
	seq := c.seq
	C.kc_hb_announce(C.longlong(2 * seq))
	var req C.MPI_Request
	if rc := start(&req); rc != C.MPI_SUCCESS {
		return mpiError(name, rc)
	}
	deadline := time.Now().Add(c.opt.Timeout)
	last, ping := time.Now(), time.Now()
	for {
		var done C.int
		if rc := C.kc_poll(&req, C.longlong(50*time.Millisecond), &done); rc != C.MPI_SUCCESS {
			return mpiError(name, rc)
		}
		if done != 0 {
			C.kc_hb_announce(C.longlong(2*seq + 1))
			return nil
		}
		if time.Since(ping) > time.Second {
			C.kc_hb_announce(C.longlong(2 * seq)) // still here, waiting
			ping = time.Now()
		}
		// A gap far longer than a poll means this process itself was not running (stopped,
		// or starved): its wait does not count against the peers.
		if now := time.Now(); now.Sub(last) > 5*time.Second {
			deadline = deadline.Add(now.Sub(last))
			last = now
		} else {
			last = now
		}
		select {
		case a := <-c.abort:
			c.doAbort(a)
		default:
		}
		if time.Now().After(deadline) {
			c.doAbort(abortReq{WatchdogExitCode, c.watchdogMessage(name, n, dt, seq, deadline.Add(-c.opt.Timeout))})
		}
	}
}

// watchdogMessage says which collective timed out and which peers are to blame: those
// that never reached it, and those that reached it but have stopped answering (a rank
// stopped or stuck inside the collective; a rank waiting in it says so every second).
func (c *mpiComm) watchdogMessage(name string, n int, dt device.DType, seq int64, started time.Time) string {
	C.kc_hb_progress()
	startNs := C.kc_now_ns() - C.longlong(time.Since(started))
	var late, silent []string
	for p := 0; p < c.size; p++ {
		if p == c.rank {
			continue
		}
		st := int64(C.kc_hb_seen_of(C.int(p)))
		quiet := time.Duration(C.kc_hb_silent_ns(C.int(p), startNs))
		switch {
		case st < 2*seq:
			last := "none"
			if st > 0 {
				last = fmt.Sprintf("#%d", st/2)
			}
			late = append(late, fmt.Sprintf("rank %d (last reached %s)", p, last))
		case st == 2*seq && quiet > 5*time.Second:
			silent = append(silent, fmt.Sprintf("rank %d (silent for %s)", p, quiet.Round(time.Second)))
		}
	}
	size := fmt.Sprintf(" (%d %s)", n, dt)
	if name == "barrier" {
		size = ""
	}
	what := fmt.Sprintf("comm: rank %d of %d: %s #%d%s did not complete within %s", c.rank, c.size, name, seq, size, c.opt.Timeout)
	switch {
	case len(late) > 0:
		return what + "; not reached by " + strings.Join(late, ", ") + ": that rank is dead or hung, ending the job"
	case len(silent) > 0:
		return what + "; reached but not answering: " + strings.Join(silent, ", ") + ": that rank is dead or hung inside it, ending the job"
	}
	return what + "; every rank reached it and is waiting in it, so MPI itself is stuck: ending the job"
}

func (c *mpiComm) doAbort(a abortReq) {
	fmt.Fprintln(c.opt.Stderr, a.msg)
	C.kc_abort(C.int(a.code))
	select {} // MPI_Abort does not return
}

// Abort ends the job. It hands the request to the worker (the MPI thread), which takes it
// between polls of a collective in flight or at once when idle.
func (c *mpiComm) Abort(code int, msg string) {
	if code == 0 {
		code = 1
	}
	c.abort <- abortReq{code, msg}
	select {}
}

// hostView is a buffer's contents in host memory: the CPU device's own slice, or a staged
// copy of another device's buffer.
type hostView struct {
	buf    device.Buffer
	f32    []float32
	f64    []float64
	staged bool
}

func viewOf(b device.Buffer, load bool) (hostView, error) {
	v := hostView{buf: b}
	if _, ok := b.Device().(*cpu.Device); ok {
		if b.DType() == device.Float32 {
			v.f32 = cpu.Float32s(b)
		} else {
			v.f64 = cpu.Float64s(b)
		}
		return v, nil
	}
	v.staged = true
	if b.DType() == device.Float32 {
		v.f32 = make([]float32, b.Len())
	} else {
		v.f64 = make([]float64, b.Len())
	}
	if load && b.Len() > 0 {
		if err := b.Device().CopyToHost(v.host(), b); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (v hostView) host() any {
	if v.f32 != nil {
		return v.f32
	}
	return v.f64
}

func (v hostView) ptr() unsafe.Pointer {
	if len(v.f32) > 0 {
		return unsafe.Pointer(&v.f32[0])
	}
	if len(v.f64) > 0 {
		return unsafe.Pointer(&v.f64[0])
	}
	return nil
}

func (v hostView) pin(p *runtime.Pinner) {
	if q := v.ptr(); q != nil {
		p.Pin(q)
	}
}

func (v hostView) scale(f float64) {
	for i := range v.f32 {
		v.f32[i] = float32(float64(v.f32[i]) * f)
	}
	for i := range v.f64 {
		v.f64[i] *= f
	}
}

// store copies a staged view back to its device buffer.
func (v hostView) store() error {
	if !v.staged || v.buf.Len() == 0 {
		return nil
	}
	return v.buf.Device().CopyFromHost(v.buf, v.host())
}

func bytesOf(dt device.DType) C.int { return C.int(dt.Size()) }

func checkCount(op string, n int) error {
	if n > math.MaxInt32 {
		return fmt.Errorf("comm: %s of %d elements: MPI counts stop at 2³¹−1", op, n)
	}
	return nil
}

// allReduceJob returns the worker's half of an all-reduce on v.
func (c *mpiComm) allReduceJob(v hostView, op Op) func() error {
	return func() error {
		n, dt := v.buf.Len(), v.buf.DType()
		var pin runtime.Pinner
		defer pin.Unpin()
		v.pin(&pin)
		err := c.collective("allreduce", n, dt, func(req *C.MPI_Request) C.int {
			return C.kc_iallreduce(v.ptr(), C.int(n), bytesOf(dt), req)
		})
		if err == nil && op == Mean {
			v.scale(1 / float64(c.size))
		}
		return err
	}
}

func (c *mpiComm) AllReduce(buf device.Buffer, op Op) error {
	w, err := c.StartAllReduce(buf, op)
	if err != nil {
		return err
	}
	return w.Wait()
}

type mpiWork struct {
	errc chan error
	v    hostView
	once sync.Once
	err  error
}

func (w *mpiWork) Wait() error {
	w.once.Do(func() {
		w.err = <-w.errc
		if w.err == nil {
			w.err = w.v.store()
		}
	})
	return w.err
}

func (c *mpiComm) StartAllReduce(buf device.Buffer, op Op) (Work, error) {
	if _, err := checkFloat("allreduce", buf); err != nil {
		return nil, err
	}
	if err := checkCount("allreduce", buf.Len()); err != nil {
		return nil, err
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if buf.Len() == 0 {
		return Done(nil), nil
	}
	v, err := viewOf(buf, true)
	if err != nil {
		return nil, err
	}
	job := c.allReduceJob(v, op)
	w := &mpiWork{errc: make(chan error, 1), v: v}
	c.jobs <- func() { w.errc <- job() }
	return w, nil
}

func (c *mpiComm) Broadcast(buf device.Buffer, root int) error {
	if _, err := checkFloat("broadcast", buf); err != nil {
		return err
	}
	if root < 0 || root >= c.size {
		return fmt.Errorf("comm: broadcast from rank %d of %d", root, c.size)
	}
	if err := checkCount("broadcast", buf.Len()); err != nil {
		return err
	}
	if buf.Len() == 0 {
		return nil
	}
	v, err := viewOf(buf, c.rank == root)
	if err != nil {
		return err
	}
	err = c.do(func() error {
		var pin runtime.Pinner
		defer pin.Unpin()
		v.pin(&pin)
		return c.collective("broadcast", buf.Len(), buf.DType(), func(req *C.MPI_Request) C.int {
			return C.kc_ibcast(v.ptr(), C.int(buf.Len()), bytesOf(buf.DType()), C.int(root), req)
		})
	})
	if err != nil {
		return err
	}
	return v.store()
}

func (c *mpiComm) ReduceScatter(src, dst device.Buffer, op Op) error {
	if err := checkChunks("reduce-scatter", src, dst, c.size); err != nil {
		return err
	}
	if err := checkCount("reduce-scatter", src.Len()); err != nil {
		return err
	}
	if dst.Len() == 0 {
		return nil
	}
	s, err := viewOf(src, true)
	if err != nil {
		return err
	}
	d, err := viewOf(dst, false)
	if err != nil {
		return err
	}
	err = c.do(func() error {
		var pin runtime.Pinner
		defer pin.Unpin()
		s.pin(&pin)
		d.pin(&pin)
		err := c.collective("reduce-scatter", src.Len(), src.DType(), func(req *C.MPI_Request) C.int {
			return C.kc_ireduce_scatter(s.ptr(), d.ptr(), C.int(dst.Len()), bytesOf(dst.DType()), req)
		})
		if err == nil && op == Mean {
			d.scale(1 / float64(c.size))
		}
		return err
	})
	if err != nil {
		return err
	}
	return d.store()
}

func (c *mpiComm) AllGather(src, dst device.Buffer) error {
	if err := checkChunks("all-gather", dst, src, c.size); err != nil {
		return err
	}
	if err := checkCount("all-gather", dst.Len()); err != nil {
		return err
	}
	if src.Len() == 0 {
		return nil
	}
	s, err := viewOf(src, true)
	if err != nil {
		return err
	}
	d, err := viewOf(dst, false)
	if err != nil {
		return err
	}
	err = c.do(func() error {
		var pin runtime.Pinner
		defer pin.Unpin()
		s.pin(&pin)
		d.pin(&pin)
		return c.collective("all-gather", dst.Len(), dst.DType(), func(req *C.MPI_Request) C.int {
			return C.kc_iallgather(s.ptr(), d.ptr(), C.int(src.Len()), bytesOf(src.DType()), req)
		})
	})
	if err != nil {
		return err
	}
	return d.store()
}

func (c *mpiComm) Barrier() error {
	return c.do(func() error {
		return c.collective("barrier", 0, device.Float32, func(req *C.MPI_Request) C.int { return C.kc_ibarrier(req) })
	})
}

// BlockingAllReduce is MPI_Allreduce (sum, in place) called directly, without the
// watchdog's non-blocking request and polling: the reference the all-reduce benchmark
// compares AllReduce with. CPU buffers only.
func BlockingAllReduce(c Comm, buf device.Buffer) error {
	m, ok := c.(*mpiComm)
	if !ok {
		return fmt.Errorf("comm: BlockingAllReduce needs the mpi backend, not %s", c.Backend())
	}
	v, err := viewOf(buf, true)
	if err != nil {
		return err
	}
	if v.staged {
		return fmt.Errorf("comm: BlockingAllReduce takes CPU buffers")
	}
	return m.do(func() error {
		var pin runtime.Pinner
		defer pin.Unpin()
		v.pin(&pin)
		if rc := C.kc_allreduce_blocking(v.ptr(), C.int(buf.Len()), bytesOf(buf.DType())); rc != C.MPI_SUCCESS {
			return mpiError("MPI_Allreduce", rc)
		}
		return nil
	})
}

func (c *mpiComm) Close() error {
	var err error
	c.once.Do(func() {
		err = c.do(func() error {
			if rc := C.kc_finalize(); rc != C.MPI_SUCCESS {
				return mpiError("MPI_Finalize", rc)
			}
			return nil
		})
		c.closed.Store(true)
	})
	return err
}
