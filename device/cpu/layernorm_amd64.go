//go:build amd64 && !noasm

package cpu

// rowMomentsF32AVX512 returns sum8(x[0:n])/n and sumSqDev8 of x[0:n] about it, for n a
// positive multiple of 8 (see layernorm_amd64.s).
//
//go:noescape
func rowMomentsF32AVX512(x *float32, n int) (mu, ss float64)

// normAffineF32AVX512 sets y[i] = float32(((x[i] − mu)·rs)·gamma[i] + beta[i]) for i < n, n a
// multiple of 8 (see layernorm_amd64.s).
//
//go:noescape
func normAffineF32AVX512(y, x, gamma, beta *float32, n int, mu, rs float64)
