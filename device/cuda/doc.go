// Package cuda is kiln's NVIDIA GPU backend: it registers the device kind "cuda" ("cuda",
// "cuda:N") and implements every device.Device primitive by launching the kernels of
// kernels/ (one fatbin embedded in the binary) through gorgonia.org/cu, the CUDA driver API.
//
// The backend is compiled only with the cuda build tag (`make kernels` first, then
// `CGO_ENABLED=1 go build -tags cuda`). Without the tag this package holds only its pure-Go
// caching allocator logic, so the default build needs neither cgo nor a CUDA toolkit.
//
// gorgonia.org/cu calls cuInit in its package init and exits the process when no driver or GPU
// is present: a cuda binary runs only on a GPU machine, and CI compiles the cuda tests
// (`go test -tags cuda -c`) without running them.
//
// Threading: a CUDA context is current per OS thread. Every entry point locks its goroutine to
// its OS thread, makes the device's primary context current, does its calls and unlocks, all
// under the device's mutex; so callers need no thread discipline of their own. Everything runs
// on the legacy default stream, which orders kernels, memsets and copies: a buffer freed into
// the cache and handed out again is never touched by two kernels at once.
package cuda

// The typed kernel bindings (kernels_gen.go) are generated from kernels/*.cu.
//go:generate go run ./internal/kernelgen -src ../../kernels/kiln.cu -out kernels_gen.go
