//go:build amd64 && !noasm

package cpu

import "golang.org/x/sys/cpu"

// vecLevel says which vector forms of fastexp_amd64.s run here: vecAVX512 (AVX-512F),
// vecAVX2 (AVX2 and FMA) or vecNone. cpu.X86 reports a feature only when the OS saves its
// registers. Tests lower it to check every form on one machine.
var vecLevel = func() int {
	switch {
	case cpu.X86.HasAVX512F:
		return vecAVX512
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return vecAVX2
	}
	return vecNone
}()

// expShift32AVX2 is expShift32 for n a multiple of 4 (see fastexp_amd64.s).
//
//go:noescape
func expShift32AVX2(dst, src *float32, n int, shift float64) float64

// gelu32AVX2 is gelu32 over src[0:n] into dst, n a multiple of 4.
//
//go:noescape
func gelu32AVX2(dst, src *float32, n int)

// expShift32AVX512 is expShift32 for n a multiple of 8 (see fastexp_amd64.s).
//
//go:noescape
func expShift32AVX512(dst, src *float32, n int, shift float64) float64

// maxF32AVX512 returns the largest of init and src[0:n], NaNs skipped, for n a multiple of 16.
//
//go:noescape
func maxF32AVX512(src *float32, n int, init float32) float32

// gelu32AVX512 is gelu32 over src[0:n] into dst, n a multiple of 8 (see fastexp_amd64.s).
//
//go:noescape
func gelu32AVX512(dst, src *float32, n int)
