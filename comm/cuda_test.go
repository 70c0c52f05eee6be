//go:build cuda && mpi

package comm

// With the cuda tag the conformance suite can run on GPU buffers through NCCL:
//
//	go test -tags 'cuda mpi' -c -o build/comm-nccl.test ./comm
//	mpirun -np 2 -x KILN_COMM_BACKEND=nccl -x KILN_COMM_DEVICE=cuda build/comm-nccl.test
//
// (one GPU per rank: the test opens cuda, so give each rank its own with
// CUDA_VISIBLE_DEVICES, or run the ranks on different machines).
import _ "github.com/kiln-ml/kiln/device/cuda"
