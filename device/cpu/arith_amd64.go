//go:build amd64 && !noasm

package cpu

// addF32AVX sets y[i] = a[i] + b[i] for i < n, n a multiple of 8 (see arith_amd64.s).
//
//go:noescape
func addF32AVX(y, a, b *float32, n int)

// mulF32AVX sets y[i] = a[i] · b[i] for i < n, n a multiple of 8 (see arith_amd64.s).
//
//go:noescape
func mulF32AVX(y, a, b *float32, n int)
