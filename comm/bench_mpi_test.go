//go:build mpi

package comm

func init() { blockingAllReduce = BlockingAllReduce }
