//go:build !amd64 || noasm

package cpu

func rowMomentsF32AVX512(x *float32, n int) (mu, ss float64) {
	panic("cpu: rowMomentsF32AVX512 without assembly")
}

func normAffineF32AVX512(y, x, gamma, beta *float32, n int, mu, rs float64) {
	panic("cpu: normAffineF32AVX512 without assembly")
}
