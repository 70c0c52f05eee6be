//go:build cuda

package kernels

// #cgo CFLAGS: -O2
// #include "gomath.cuh"
import "C"

// The host compilation of gomath.cuh (the Go-exact log/sin/cos of the normal random fill),
// exposed so a test checks it against package math without a GPU: the device pass of the
// same source uses explicitly rounded intrinsics, so agreeing here means the transcription
// of Go's algorithms is right.

func hostLog(x float64) float64 { return float64(C.go_log(C.double(x))) }

func hostSinCos(x float64) (sin, cos float64) {
	var s, c C.double
	C.go_sincos(C.double(x), &s, &c)
	return float64(s), float64(c)
}
