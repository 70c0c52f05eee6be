// Package device defines the Device interface: the small set of coarse primitives that every
// kiln backend implements (GEMM, elementwise maps with broadcasting, reductions, softmax,
// layer normalisation, context-masked attention, gather/scatter, counter-based random fill
// and fused optimizer steps), together with a registry that turns names such as "cpu",
// "cuda" and "cuda:1" into devices.
//
// Everything above this package (tensor, ops, nn, optim, models) calls these primitives and
// never branches on which backend runs them. The pure-Go backend lives in device/cpu and is
// always registered; device/cuda registers itself in builds with the cuda tag.
//
// Conventions shared by all primitives:
//
//   - Shapes, strides and offsets are counted in elements, not bytes. Matrices are row-major.
//   - Primitives do not return errors. Misuse (a wrong length, a dtype mismatch) is a
//     programmer error and panics with an *Error; the public boundaries (tensor constructors,
//     the CLI, model APIs) recover it into an ordinary error. Allocation and host copies,
//     which can fail for reasons outside the caller's control (out of memory), return errors.
//   - Work may be asynchronous on accelerators: results are visible to the host after
//     CopyToHost or Sync.
//
// Memory: a Buffer is released explicitly with Free. Backends must not rely on finalizers to
// release device memory; the tensor package counts references and frees a buffer when its
// last tensor is released (see tensor.Scope).
package device

import (
	"fmt"
	"io"
)

// DType is the element type of a buffer.
type DType uint8

const (
	Float32 DType = iota + 1
	Float64
	Int32 // indices for Gather/ScatterAdd only
	// BFloat16 and Float16 are 16-bit floats stored as their bits (package half). Backends
	// store them at 2 bytes an element and compute in float32: each primitive widens its
	// 16-bit operands to float32 and rounds its outputs back to nearest-even (InFloat32).
	BFloat16
	Float16
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Int32:
		return "int32"
	case BFloat16:
		return "bfloat16"
	case Float16:
		return "float16"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// IsHalf reports whether d is one of the 16-bit float dtypes.
func (d DType) IsHalf() bool { return d == BFloat16 || d == Float16 }

// Size is the size of one element in bytes.
func (d DType) Size() int {
	switch d {
	case Float64:
		return 8
	case Float32, Int32:
		return 4
	case BFloat16, Float16:
		return 2
	}
	return 0
}

// Buffer is a run of elements of one dtype in one device's memory.
type Buffer interface {
	Device() Device
	DType() DType
	Len() int
	// Free returns the memory to the device (or its caching allocator). Calling it twice is
	// a no-op. Using a freed buffer is a programmer error.
	Free()
}

// Info describes a device for `kiln devices`.
type Info struct {
	Name              string `json:"name"`
	Kind              string `json:"kind"`
	Description       string `json:"description"`
	Cores             int    `json:"cores,omitempty"`
	MemoryBytes       int64  `json:"memory_bytes,omitempty"`
	ComputeCapability string `json:"compute_capability,omitempty"`
	Kernel            string `json:"kernel,omitempty"` // e.g. the CPU GEMM micro-kernel in use
}

// MemStats reports a device's allocator statistics.
type MemStats struct {
	LiveBuffers int64 // buffers allocated and not yet freed
	LiveBytes   int64
	CachedBytes int64 // held by a caching allocator for reuse
	PeakBytes   int64
	Allocs      int64 // total allocations served
	CacheHits   int64
}

// Device is a compute backend. Callers use a device from one goroutine at a time (the CPU
// backend happens to tolerate more, but the CUDA stream does not); the CPU backend
// parallelises inside each primitive.
type Device interface {
	Name() string // canonical name: "cpu", "cuda:0"
	Info() Info
	MemStats() MemStats

	// Alloc returns a zero-filled buffer of n elements.
	Alloc(dtype DType, n int) (Buffer, error)
	// CopyFromHost copies a []float32, []float64, []int32, []half.BFloat16 or []half.Float16
	// (matching dst's dtype and length) into dst.
	CopyFromHost(dst Buffer, src any) error
	// CopyToHost copies src into a host slice of those types, of matching dtype and length.
	CopyToHost(dst any, src Buffer) error
	// Sync waits until all queued work is done and reports any deferred failure.
	Sync() error

	// Fill sets n elements of dst starting at offset to v.
	Fill(dst Buffer, offset, n int, v float64)
	// Convert copies n elements from src (offset so) to dst (offset do), converting dtype;
	// float to int32 truncates toward zero.
	Convert(dst Buffer, do int, src Buffer, so int, n int)

	// Gemm computes, for each batch b, C_b = alpha·op(A_b)·op(B_b) + beta·C_b.
	Gemm(p GemmParams, a, b, c Buffer)

	// Unary writes y[yl(i)] = f(x[xl(i)]) for every multi-index i of xl.Shape (yl.Shape must
	// be equal). Strided layouts on both sides are how transposes, slices, concatenation and
	// their backward passes are materialised (UnaryCopy). alpha parameterises some maps
	// (leaky ReLU slope, ELU alpha, power exponent, scale, threshold).
	Unary(op UnaryOp, x Buffer, xl Layout, y Buffer, yl Layout, alpha float64)
	// Binary writes y[yl(i)] = f(a[al(i)], b[bl(i)]) for every multi-index i of the common
	// shape. Broadcasting is expressed by zero strides in al or bl. y may alias a or b
	// element for element (in-place accumulation y += x).
	Binary(op BinaryOp, a Buffer, al Layout, b Buffer, bl Layout, y Buffer, yl Layout)
	// Reduce reduces the middle axis of a contiguous [outer, n, inner] view of x into y of
	// shape [outer, inner]. An empty axis (n = 0) gives the identity: 0 for sums, −Inf for
	// max, +Inf for min.
	Reduce(op ReduceOp, x Buffer, outer, n, inner int, y Buffer)

	// Softmax computes row-wise softmax (or log-softmax when log is true) of a contiguous
	// rows×cols matrix.
	Softmax(x, y Buffer, rows, cols int, log bool)
	// SoftmaxBackward computes dx from the forward output y and dy: for softmax
	// dx = y ⊙ (dy − Σ dy⊙y), for log-softmax dx = dy − exp(y)·Σ dy.
	SoftmaxBackward(y, dy, dx Buffer, rows, cols int, log bool)

	// LayerNorm normalises each row of a rows×cols matrix: y = (x−μ)·rstd·γ + β. gamma and
	// beta may be nil (no affine). mean and rstd (length rows) receive the statistics the
	// backward pass needs.
	LayerNorm(x, gamma, beta, y, mean, rstd Buffer, rows, cols int, eps float64)
	// LayerNormBackward computes dx and accumulates nothing: dgamma and dbeta (may be nil)
	// are overwritten with the column sums.
	LayerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta Buffer, rows, cols int)

	// Attention computes, for each of p.Batch independent heads, O = softmax(Q·Kᵀ·scale)·V
	// where every query attends only to the first p.NContext keys (the PFN context mask).
	// Q is Batch×Lq×D, K is Batch×Lk×D, V is Batch×Lk×Dv, O is Batch×Lq×Dv, all contiguous.
	// lse (Batch×Lq) receives the log-sum-exp of each query's scaled scores for the
	// backward pass. Implementations tile over keys with an online softmax, so no more than
	// one tile of scores exists at a time.
	Attention(p AttentionParams, q, k, v, o, lse Buffer)
	// AttentionBackward computes dQ, dK, dV (overwritten) from dO and the forward's O and lse.
	AttentionBackward(p AttentionParams, q, k, v, o, lse, dO, dq, dk, dv Buffer)

	// Gather copies rows: out[i, :] = table[idx[i], :] for a rows×width table and n indices
	// (an Int32 buffer). An index out of range panics.
	Gather(table Buffer, rows, width int, idx Buffer, n int, out Buffer)
	// ScatterAdd accumulates rows: table[idx[i], :] += src[i, :].
	ScatterAdd(table Buffer, rows, width int, idx Buffer, n int, src Buffer)

	// RandomFill fills dst with numbers from the Philox-4x32-10 stream keyed by seed,
	// starting at counter offset (see package rng for the exact mapping from counter to
	// numbers, which every backend reproduces). Uniform draws in [a, b); Normal draws
	// mean a, standard deviation b.
	RandomFill(dst Buffer, dist Distribution, seed, offset uint64, a, b float64)

	// OptimizerStep runs one fused optimizer update over every tensor of a parameter group.
	// Backends that do not implement a kind return ErrUnsupported, and the optimizer falls
	// back to composed ops.
	OptimizerStep(kind OptimKind, group []OptimTensor, h OptimHyper) error
}

// Layout is a strided view: element i (a multi-index over Shape) lives at
// Offset + Σ idx[d]·Strides[d]. Strides may be zero (broadcast) or negative (reversed
// views); every backend supports both, and the conformance suite checks them.
type Layout struct {
	Shape   []int
	Strides []int
	Offset  int
}

// Contiguous returns the row-major layout of shape.
func Contiguous(shape []int) Layout {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return Layout{Shape: shape, Strides: st}
}

// NumElements is the product of the shape's extents (1 for a scalar).
func (l Layout) NumElements() int {
	n := 1
	for _, d := range l.Shape {
		n *= d
	}
	return n
}

// GemmParams describes a (batched, strided) GEMM. A is M×K (K×M when TransA), B is K×N
// (N×K when TransB), C is M×N; Ld* are row strides, Stride* the distance between
// consecutive batch members (0 broadcasts A or B; C's members must not overlap), Off* the
// first element. Batch is at least 1.
type GemmParams struct {
	TransA, TransB   bool
	M, N, K          int
	Alpha, Beta      float64
	LdA, LdB, LdC    int
	StrideA, StrideB int
	StrideC          int
	OffA, OffB, OffC int
	Batch            int
}

// AttentionParams describes a batched attention call.
type AttentionParams struct {
	Batch, Lq, Lk, D, Dv int
	NContext             int     // queries attend to keys [0, NContext); 1 ≤ NContext ≤ Lk
	Scale                float64 // usually 1/√D
	// Products, when BFloat16, allows the device to round the operands of attention's
	// matrix products (Q·Kᵀ and P·V; in the backward also dO·Vᵀ, Pᵀ·dO, dSᵀ·Q and dS·K)
	// to bfloat16, accumulating in float32 and keeping the softmax statistics, O, lse and
	// the gradients in the operands' dtype: mixed precision for float32 operands. Zero
	// means every product in the operands' dtype. A device without such kernels computes
	// in the operands' dtype either way; the results then differ by the rounding of P,
	// dS and the operands to bfloat16.
	Products DType
}

// UnaryOp names an elementwise map.
type UnaryOp uint8

const (
	UnaryCopy UnaryOp = iota
	UnaryNeg
	UnaryExp
	UnaryLog
	UnarySqrt
	UnaryRsqrt
	UnaryAbs
	UnarySign
	UnaryTanh
	UnarySigmoid
	UnaryRelu
	UnaryReluGrad  // 1 where x > 0 else 0
	UnaryLeakyRelu // alpha = negative slope
	UnaryLeakyGrad // 1 where x > 0 else alpha
	UnaryElu       // alpha·(eˣ−1) for x ≤ 0
	UnaryEluGrad   // 1 where x > 0 else alpha·eˣ
	UnaryGeluErf   // x·Φ(x)
	UnaryGeluTanh  // 0.5x(1+tanh(√(2/π)(x+0.044715x³)))
	UnaryErf       // erf(x)
	UnaryPowScalar // x^alpha
	UnaryScale     // alpha·x
	UnaryAddScalar // x + alpha
	UnaryRecip     // 1/x
	UnarySquare    // x²
	UnaryGtScalar  // 1 where x > alpha else 0
	UnaryIsFinite  // 1 where x is finite else 0
	numUnaryOps
)

var unaryNames = [...]string{"copy", "neg", "exp", "log", "sqrt", "rsqrt", "abs", "sign", "tanh", "sigmoid",
	"relu", "relu_grad", "leaky_relu", "leaky_relu_grad", "elu", "elu_grad", "gelu_erf", "gelu_tanh", "erf",
	"pow_scalar", "scale", "add_scalar", "recip", "square", "gt_scalar", "isfinite"}

func (o UnaryOp) String() string {
	if int(o) < len(unaryNames) {
		return unaryNames[o]
	}
	return fmt.Sprintf("unary(%d)", uint8(o))
}

// UnaryOps lists every unary map, for conformance suites.
func UnaryOps() []UnaryOp {
	ops := make([]UnaryOp, numUnaryOps)
	for i := range ops {
		ops[i] = UnaryOp(i)
	}
	return ops
}

// BinaryOp names an elementwise map of two operands.
type BinaryOp uint8

const (
	BinaryAdd BinaryOp = iota
	BinarySub
	BinaryMul
	BinaryDiv
	BinaryMax
	BinaryMin
	BinaryPow
	BinaryEq // 1 where a == b else 0
	BinaryGt // 1 where a > b else 0
	numBinaryOps
)

var binaryNames = [...]string{"add", "sub", "mul", "div", "max", "min", "pow", "eq", "gt"}

func (o BinaryOp) String() string {
	if int(o) < len(binaryNames) {
		return binaryNames[o]
	}
	return fmt.Sprintf("binary(%d)", uint8(o))
}

// BinaryOps lists every binary map, for conformance suites.
func BinaryOps() []BinaryOp {
	ops := make([]BinaryOp, numBinaryOps)
	for i := range ops {
		ops[i] = BinaryOp(i)
	}
	return ops
}

// ReduceOp names a reduction.
type ReduceOp uint8

const (
	ReduceSum ReduceOp = iota
	ReduceMax
	ReduceMin
	ReduceSumSquares
	numReduceOps
)

var reduceNames = [...]string{"sum", "max", "min", "sum_squares"}

func (o ReduceOp) String() string {
	if int(o) < len(reduceNames) {
		return reduceNames[o]
	}
	return fmt.Sprintf("reduce(%d)", uint8(o))
}

// ReduceOps lists every reduction, for conformance suites.
func ReduceOps() []ReduceOp {
	ops := make([]ReduceOp, numReduceOps)
	for i := range ops {
		ops[i] = ReduceOp(i)
	}
	return ops
}

// Distribution selects what RandomFill draws.
type Distribution uint8

const (
	Uniform Distribution = iota
	Normal
)

// OptimKind names a fused optimizer step.
type OptimKind uint8

const (
	OptimSGD OptimKind = iota
	OptimAdamW
	OptimLAMB
	OptimSophia
	OptimAdaHessian
)

var optimNames = [...]string{"sgd", "adamw", "lamb", "sophia", "adahessian"}

func (k OptimKind) String() string {
	if int(k) < len(optimNames) {
		return optimNames[k]
	}
	return fmt.Sprintf("OptimKind(%d)", uint8(k))
}

// OptimKinds lists every fused optimizer kind, for conformance suites.
func OptimKinds() []OptimKind {
	ks := make([]OptimKind, len(optimNames))
	for i := range ks {
		ks[i] = OptimKind(i)
	}
	return ks
}

// OptimTensor is one parameter with its gradient and optimizer state buffers (their meaning
// depends on the kind, documented in package optim). All buffers have N elements.
type OptimTensor struct {
	Param, Grad Buffer
	State       []Buffer
	N           int
}

// OptimHyper holds the hyper-parameters of one fused step; each kind reads the fields it
// documents in package optim.
type OptimHyper struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Momentum, Dampening                float64
	Rho, BatchSize, HessianPower       float64
	GradScale                          float64 // gradients are multiplied by this first (clipping); 0 means 1
	Step                               int     // 1-based step count for bias correction
	Nesterov, AMSGrad, NVLamb          bool
	BiasCorrection                     bool
}

// Profiler is implemented by backends that can say where a run's time went (the CUDA
// backend, with KILN_CUDA_PROFILE=1 set when the device opens). ProfileReport writes the
// profile since the device opened or since the last report and starts a new one; it reports
// false, writing nothing, when profiling is off.
type Profiler interface {
	ProfileReport(w io.Writer) (bool, error)
}

// BSRMultiplier is implemented by backends with a block-sparse × dense product (both
// backends of this repository; package linalg multiplies on the host for a device without
// it). The conformance suite checks it like the primitives of Device.
type BSRMultiplier interface {
	// BSRMatMul overwrites the (blockRows·br)×n matrix c with A·b. A is in block compressed
	// sparse row storage: block row i owns the stored blocks rowptr[i] … rowptr[i+1]−1
	// (rowptr: blockRows+1 Int32), block k sits in block column colidx[k] (Int32) and its
	// br·bc values are vals[k·br·bc:], row-major, in b's dtype. b is a dense row-major matrix
	// with n columns whose rows are A's columns; rows of c whose block row stores nothing
	// become zeros. Elements of c past blockRows·br·n are not written.
	BSRMatMul(rowptr, colidx, vals, b, c Buffer, blockRows, br, bc, n int)
}

// UninitAllocator is implemented by backends that can hand out memory without zero-filling
// it. On the CUDA backend the fill of Alloc is a memset launch per buffer, a quarter of a
// TabPFN training step's GPU time; outputs that a primitive writes in full do not need it.
// The caller must write every element before anything reads one.
type UninitAllocator interface {
	AllocUninit(dtype DType, n int) (Buffer, error)
}

// AllocUninit returns a buffer of n elements whose contents are unspecified: from
// dev.AllocUninit where dev has it, else from dev.Alloc (zero-filled).
func AllocUninit(dev Device, dtype DType, n int) (Buffer, error) {
	if u, ok := dev.(UninitAllocator); ok {
		return u.AllocUninit(dtype, n)
	}
	return dev.Alloc(dtype, n)
}

// ErrUnsupported is returned by OptimizerStep for kinds a backend does not fuse.
var ErrUnsupported = fmt.Errorf("device: primitive not supported by this backend")

// Error is the panic value of a misused primitive.
type Error struct {
	Op  string
	Msg string
}

func (e *Error) Error() string { return "device: " + e.Op + ": " + e.Msg }

// Panicf panics with an *Error; backends use it for programmer errors.
func Panicf(op, format string, args ...any) {
	panic(&Error{Op: op, Msg: fmt.Sprintf(format, args...)})
}
