//go:build amd64 && !noasm

package cpu

import "golang.org/x/sys/cpu"

// hasVecExp says whether the AVX-512 forms in fastexp_amd64.s run here (AVX-512F; cpu.X86
// reports it only when the OS saves the wide registers).
var hasVecExp = cpu.X86.HasAVX512F

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
