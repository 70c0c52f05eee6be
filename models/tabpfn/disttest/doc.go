// Package disttest holds the tests of TabPFN's data-parallel training (tabpfn.Distribute).
// Under go test they run on the single-process communicator; make test-mpi runs the same
// tests with 2 and 4 processes under mpirun, where each rank also trains the one-process
// reference itself and compares.
package disttest
