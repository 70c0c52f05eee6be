//go:build !amd64 || noasm

package cpu

// Without the assembly forms the scalar loops of fastexp.go run everywhere.
var vecLevel = vecNone

func expShift32AVX2(dst, src *float32, n int, shift float64) float64 {
	panic("cpu: expShift32AVX2 without assembly")
}

func gelu32AVX2(dst, src *float32, n int) {
	panic("cpu: gelu32AVX2 without assembly")
}

func expShift32AVX512(dst, src *float32, n int, shift float64) float64 {
	panic("cpu: expShift32AVX512 without assembly")
}

func maxF32AVX512(src *float32, n int, init float32) float32 {
	panic("cpu: maxF32AVX512 without assembly")
}

func gelu32AVX512(dst, src *float32, n int) {
	panic("cpu: gelu32AVX512 without assembly")
}
