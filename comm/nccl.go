//go:build cuda && mpi

package comm

// The nccl backend: NVIDIA NCCL collectives on CUDA buffers, for GPU training under mpirun.
// libnccl.so.2 is loaded at run time with dlopen, so the cuda+mpi binary builds without
// NCCL's headers and runs on machines without NCCL with the other backends. The NCCL
// communicator is bootstrapped over MPI: rank 0 makes the unique id, MPI broadcasts it.
// Collectives are enqueued on the CUDA legacy default stream, which the cuda device uses
// for every kernel and copy, so they are ordered with the computation that produces and
// consumes the buffers without extra synchronisation. Buffers that are not on a GPU (the
// loss, hashes) go through the MPI communicator.
//
// The watchdog: a blocking call or Wait polls the stream and NCCL's asynchronous error
// until Options.Timeout; past it the NCCL communicator is aborted and the job ended
// through MPI_Abort. NCCL does not say which peer is missing, so the message cannot name
// it (the MPI backend's heartbeats cover the MPI collectives of the same run).
//
// NCCL binds a communicator to the CUDA device current when it is made, and CUDA contexts
// are per OS thread, so every NCCL call runs with the goroutine locked to its thread and
// the buffer's device's primary context made current (as the cuda backend does for its
// own calls). The communicator is made at the first GPU collective, on that buffer's
// device: every rank reaches it in the same order, so the unique id's broadcast over MPI
// happens at the same point everywhere.

/*
#cgo LDFLAGS: -ldl -lcuda
#include <dlfcn.h>
#include <stdlib.h>
#include <stddef.h>
#include <cuda.h>

typedef struct ncclComm *ncclComm_t;
typedef struct { char internal[128]; } ncclUniqueId;
typedef int ncclResult_t;

static void *kn_lib;
static ncclResult_t (*kn_getUniqueId)(ncclUniqueId *);
static ncclResult_t (*kn_commInitRank)(ncclComm_t *, int, ncclUniqueId, int);
static ncclResult_t (*kn_allReduce)(const void *, void *, size_t, int, int, ncclComm_t, CUstream);
static ncclResult_t (*kn_broadcast)(const void *, void *, size_t, int, int, ncclComm_t, CUstream);
static ncclResult_t (*kn_reduceScatter)(const void *, void *, size_t, int, int, ncclComm_t, CUstream);
static ncclResult_t (*kn_allGather)(const void *, void *, size_t, int, ncclComm_t, CUstream);
static ncclResult_t (*kn_commAbort)(ncclComm_t);
static ncclResult_t (*kn_commDestroy)(ncclComm_t);
static ncclResult_t (*kn_getAsyncError)(ncclComm_t, ncclResult_t *);
static const char *(*kn_errorString)(ncclResult_t);

// kn_load opens libnccl.so.2 and resolves the calls used; 0 on success.
static int kn_load(void) {
	if (kn_lib) return 0;
	kn_lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!kn_lib) return 1;
#define KN_SYM(v, name) if (!(*(void **)&v = dlsym(kn_lib, name))) return 2;
	KN_SYM(kn_getUniqueId, "ncclGetUniqueId")
	KN_SYM(kn_commInitRank, "ncclCommInitRank")
	KN_SYM(kn_allReduce, "ncclAllReduce")
	KN_SYM(kn_broadcast, "ncclBroadcast")
	KN_SYM(kn_reduceScatter, "ncclReduceScatter")
	KN_SYM(kn_allGather, "ncclAllGather")
	KN_SYM(kn_commAbort, "ncclCommAbort")
	KN_SYM(kn_commDestroy, "ncclCommDestroy")
	KN_SYM(kn_getAsyncError, "ncclCommGetAsyncError")
	KN_SYM(kn_errorString, "ncclGetErrorString")
	return 0;
}

// kn_set_device makes the primary context of GPU ordinal current on this thread (the cuda
// backend holds its own reference to that context, so this one is released at once).
static int kn_set_device(int ordinal) {
	CUdevice dev;
	CUcontext ctx;
	if (cuDeviceGet(&dev, ordinal) != CUDA_SUCCESS) return -1;
	if (cuDevicePrimaryCtxRetain(&ctx, dev) != CUDA_SUCCESS) return -1;
	CUresult r = cuCtxSetCurrent(ctx);
	cuDevicePrimaryCtxRelease(dev);
	return r == CUDA_SUCCESS ? 0 : -1;
}

static const char *kn_dlerror(void) { const char *e = dlerror(); return e ? e : "unknown error"; }
static ncclResult_t kn_unique_id(void *out) { return kn_getUniqueId((ncclUniqueId *)out); }
static ncclResult_t kn_init(ncclComm_t *c, int n, void *id, int rank) { return kn_commInitRank(c, n, *(ncclUniqueId *)id, rank); }
// NCCL's data types (float32 = 7, float64 = 8) and operations (sum = 0, avg = 4).
static int kn_dtype(int bytes) { return bytes == 8 ? 8 : 7; }
static ncclResult_t kn_allreduce(ncclComm_t c, CUdeviceptr p, size_t n, int bytes, int op) {
	return kn_allReduce((void *)p, (void *)p, n, kn_dtype(bytes), op, c, 0);
}
static ncclResult_t kn_bcast(ncclComm_t c, CUdeviceptr p, size_t n, int bytes, int root) {
	return kn_broadcast((void *)p, (void *)p, n, kn_dtype(bytes), root, c, 0);
}
static ncclResult_t kn_reduce_scatter(ncclComm_t c, CUdeviceptr s, CUdeviceptr d, size_t n, int bytes, int op) {
	return kn_reduceScatter((void *)s, (void *)d, n, kn_dtype(bytes), op, c, 0);
}
static ncclResult_t kn_allgather(ncclComm_t c, CUdeviceptr s, CUdeviceptr d, size_t n, int bytes) {
	return kn_allGather((void *)s, (void *)d, n, kn_dtype(bytes), c, 0);
}
static ncclResult_t kn_async_error(ncclComm_t c) { ncclResult_t r = 0; kn_getAsyncError(c, &r); return r; }
static const char *kn_error(ncclResult_t r) { return kn_errorString(r); }
static void kn_abort(ncclComm_t c) { kn_commAbort(c); }
static void kn_destroy(ncclComm_t c) { kn_commDestroy(c); }
// kn_stream_done reports whether the default stream has finished its work (1), is still
// busy (0), or failed (-1).
static int kn_stream_done(void) {
	CUresult r = cuStreamQuery(0);
	return r == CUDA_SUCCESS ? 1 : r == CUDA_ERROR_NOT_READY ? 0 : -1;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/cpu"
)

func init() { register("nccl", openNCCL) }

// ncclComm runs CUDA buffers' collectives on NCCL and everything else on MPI.
type ncclComm struct {
	*mpiComm
	c       C.ncclComm_t // nil until the first GPU collective
	ordinal int          // the GPU the communicator is bound to
}

// devicePtr is implemented by the cuda device's buffers.
type devicePtr interface{ Ptr() uintptr }

func openNCCL(o Options) (Comm, error) {
	mc, err := openMPI(o)
	if err != nil {
		return nil, err
	}
	m := mc.(*mpiComm)
	if C.kn_load() != 0 {
		return nil, fmt.Errorf("comm: nccl: cannot load libnccl.so.2: %s", C.GoString(C.kn_dlerror()))
	}
	return &ncclComm{mpiComm: m}, nil
}

// onGPU runs fn with the calling goroutine locked to its thread and b's GPU current,
// making the NCCL communicator on that GPU first if there is none yet.
func (n *ncclComm) onGPU(b device.Buffer, fn func() error) error {
	o, ok := b.Device().(interface{ Ordinal() int })
	if !ok {
		return fmt.Errorf("comm: nccl: buffer of %s has no GPU ordinal", b.Device().Name())
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.kn_set_device(C.int(o.Ordinal())) != 0 {
		return fmt.Errorf("comm: nccl: cannot make GPU %d current", o.Ordinal())
	}
	if n.c == nil {
		if err := n.init(); err != nil {
			return err
		}
		n.ordinal = o.Ordinal()
	} else if o.Ordinal() != n.ordinal {
		return fmt.Errorf("comm: nccl: buffer on GPU %d, communicator on GPU %d", o.Ordinal(), n.ordinal)
	}
	return fn()
}

// init makes the NCCL communicator: rank 0's unique id travels as 16 float64 words of a
// CPU buffer over MPI, which copies the bytes without arithmetic.
func (n *ncclComm) init() error {
	idBuf, err := cpu.Default().Alloc(device.Float64, 16)
	if err != nil {
		return err
	}
	defer idBuf.Free()
	words := cpu.Float64s(idBuf)
	if n.Rank() == 0 {
		if r := C.kn_unique_id(unsafe.Pointer(&words[0])); r != 0 {
			return ncclError("ncclGetUniqueId", r)
		}
	}
	if err := n.mpiComm.Broadcast(idBuf, 0); err != nil {
		return err
	}
	id := C.CBytes(unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), 128))
	defer C.free(id)
	if r := C.kn_init(&n.c, C.int(n.Size()), id, C.int(n.Rank())); r != 0 {
		n.c = nil
		return ncclError("ncclCommInitRank", r)
	}
	return nil
}

func ncclError(op string, r C.ncclResult_t) error {
	return fmt.Errorf("comm: %s failed: %s (NCCL error %d)", op, C.GoString(C.kn_error(r)), int(r))
}

func (n *ncclComm) Backend() string { return "nccl" }

// gpu returns the device address of a CUDA buffer, or false for other buffers.
func gpu(b device.Buffer) (C.CUdeviceptr, bool) {
	if p, ok := b.(devicePtr); ok {
		return C.CUdeviceptr(p.Ptr()), true
	}
	return 0, false
}

// wait polls the stream until the enqueued collective has finished, NCCL reports an
// error, or the timeout passes (then the job ends). It runs inside onGPU.
func (n *ncclComm) wait(name string, count int) error {
	deadline := time.Now().Add(n.opt.Timeout)
	for nap := time.Microsecond; ; nap = min(2*nap, time.Millisecond) {
		switch C.kn_stream_done() {
		case 1:
			return nil
		case -1:
			return fmt.Errorf("comm: nccl %s: the CUDA stream failed", name)
		}
		if r := C.kn_async_error(n.c); r != 0 {
			return ncclError(name, r)
		}
		if time.Now().After(deadline) {
			C.kn_abort(n.c)
			n.mpiComm.Abort(WatchdogExitCode, fmt.Sprintf("comm: rank %d of %d: nccl %s (%d elements) did not complete within %s: a peer is dead or hung, ending the job",
				n.Rank(), n.Size(), name, count, n.opt.Timeout))
		}
		time.Sleep(nap)
	}
}

type ncclWork struct {
	n     *ncclComm
	buf   device.Buffer
	count int
}

func (w ncclWork) Wait() error {
	return w.n.onGPU(w.buf, func() error { return w.n.wait("allreduce", w.count) })
}

func ncclOp(op Op) C.int {
	if op == Mean {
		return 4 // ncclAvg, NCCL 2.10 and later
	}
	return 0 // ncclSum
}

func (n *ncclComm) StartAllReduce(buf device.Buffer, op Op) (Work, error) {
	p, ok := gpu(buf)
	if !ok {
		return n.mpiComm.StartAllReduce(buf, op)
	}
	if _, err := checkFloat("allreduce", buf); err != nil {
		return nil, err
	}
	err := n.onGPU(buf, func() error {
		if r := C.kn_allreduce(n.c, p, C.size_t(buf.Len()), C.int(buf.DType().Size()), ncclOp(op)); r != 0 {
			return ncclError("ncclAllReduce", r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ncclWork{n, buf, buf.Len()}, nil
}

func (n *ncclComm) AllReduce(buf device.Buffer, op Op) error {
	w, err := n.StartAllReduce(buf, op)
	if err != nil {
		return err
	}
	return w.Wait()
}

func (n *ncclComm) Broadcast(buf device.Buffer, root int) error {
	p, ok := gpu(buf)
	if !ok {
		return n.mpiComm.Broadcast(buf, root)
	}
	if _, err := checkFloat("broadcast", buf); err != nil {
		return err
	}
	if root < 0 || root >= n.Size() {
		return fmt.Errorf("comm: broadcast from rank %d of %d", root, n.Size())
	}
	return n.onGPU(buf, func() error {
		if r := C.kn_bcast(n.c, p, C.size_t(buf.Len()), C.int(buf.DType().Size()), C.int(root)); r != 0 {
			return ncclError("ncclBroadcast", r)
		}
		return n.wait("broadcast", buf.Len())
	})
}

func (n *ncclComm) ReduceScatter(src, dst device.Buffer, op Op) error {
	s, ok1 := gpu(src)
	d, ok2 := gpu(dst)
	if !ok1 || !ok2 {
		return n.mpiComm.ReduceScatter(src, dst, op)
	}
	if err := checkChunks("reduce-scatter", src, dst, n.Size()); err != nil {
		return err
	}
	return n.onGPU(src, func() error {
		if r := C.kn_reduce_scatter(n.c, s, d, C.size_t(dst.Len()), C.int(dst.DType().Size()), ncclOp(op)); r != 0 {
			return ncclError("ncclReduceScatter", r)
		}
		return n.wait("reduce-scatter", src.Len())
	})
}

func (n *ncclComm) AllGather(src, dst device.Buffer) error {
	s, ok1 := gpu(src)
	d, ok2 := gpu(dst)
	if !ok1 || !ok2 {
		return n.mpiComm.AllGather(src, dst)
	}
	if err := checkChunks("all-gather", dst, src, n.Size()); err != nil {
		return err
	}
	return n.onGPU(src, func() error {
		if r := C.kn_allgather(n.c, s, d, C.size_t(src.Len()), C.int(src.DType().Size())); r != 0 {
			return ncclError("ncclAllGather", r)
		}
		return n.wait("all-gather", dst.Len())
	})
}

func (n *ncclComm) Close() error {
	if n.c != nil {
		C.kn_destroy(n.c)
		n.c = nil
	}
	return n.mpiComm.Close()
}
