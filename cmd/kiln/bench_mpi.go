//go:build mpi

package main

import "github.com/kiln-ml/kiln/comm"

func init() { allreduceAnchor = comm.BlockingAllReduce }
