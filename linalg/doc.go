// Package linalg holds kiln's decompositions: tall-skinny QR (CholeskyQR2 with shifted
// CholeskyQR3 and Householder fallbacks), randomized SVD with scikit-learn's semantics,
// tensor-train decomposition (TT-SVD), structured sparse matrices in BSR storage with their
// generators, and readers for the matrix files the CLI accepts (.npy and CSV). CSV matrices
// are read with package data/csvio, the record reader and decimal number grammar the table
// loaders of package data use, so a number is spelled the same in every file kiln reads.
//
// # Where the work runs
//
// Everything proportional to the size of the input runs on the input tensor's device through
// device.Device primitives, mostly Gemm: Gram matrices AᵀA, products with the input, the
// triangular "solve" Q = A·R⁻¹ (a GEMM with the inverted k×k factor), reconstructions and
// Frobenius norms. Only small dense factorisations — the Cholesky factor of a k×k Gram
// matrix, its inverse, the SVD of the randomized SVD's (k+p)×(k+p) triangular factor, the
// SVDs of TT unfoldings — are copied to the host and done in float64 with gonum's LAPACK,
// then copied back in the input's dtype. So the same code runs on the CPU backend and on
// CUDA, and on CUDA the power iterations of the randomized SVD stay on the device apart from
// k×k round trips.
//
// The Householder QR and the LU power-iteration normaliser are host references (the whole
// m×k panel travels to the host and back); they are fallbacks and options, not the default
// path.
//
// # Errors
//
// Exported functions that take user input (shapes, ranks, tolerances, files) return errors.
// Panics from the tensor and device layers raised inside them (shape mismatches) are caught
// with tensor.Catch and returned as errors too.
package linalg
