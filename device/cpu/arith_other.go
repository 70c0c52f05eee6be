//go:build !amd64 || noasm

package cpu

func addF32AVX(y, a, b *float32, n int) {
	panic("cpu: addF32AVX without assembly")
}

func mulF32AVX(y, a, b *float32, n int) {
	panic("cpu: mulF32AVX without assembly")
}
