# kiln's build entry points. The default build is pure Go (CGO_ENABLED=0); CUDA targets
# (kernels, cuda, device-bundle, cuda-vet, cuda-testc) live in mk/cuda.mk.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build test test-poison test-race test-noasm test-mpi vet-mpi bench-dist fuzz vet fmt-check bench ci
all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o kiln ./cmd/kiln

# The README's test command: every package on the pure-Go backend, then the CPU backend and
# the engine again with the assembly kernels switched off (noasm), as CI runs them.
test:
	CGO_ENABLED=0 $(GO) test ./...
	CGO_ENABLED=0 $(GO) test -tags noasm ./device/... ./ops/... ./tensor/...

# The tests again with the memory of every uninitialised CPU buffer set to NaN, so that a
# primitive that reads what it did not write fails instead of reading recycled values.
test-poison:
	KILN_CPU_POISON=1 CGO_ENABLED=0 $(GO) test -count=1 ./...

# The concurrency tests under the race detector (which needs cgo and a C compiler): execution
# contexts on 16 goroutines, concurrent TabPFN fit+predict through the public API, the
# workers that predict rows from their local contexts, and the HTTP server's tests (its
# timed load test runs without the detector, in make test).
RACE_TESTS := TestContextsAreIndependent|TestConcurrentClassifiers|TestLocalContextsAreNearestRows|TestLocalRegressorIsNearestRows
test-race:
	CGO_ENABLED=1 $(GO) test -race -timeout 30m -run '^($(RACE_TESTS))$$' ./tensor ./models/tabpfn
	CGO_ENABLED=1 $(GO) test -race -timeout 30m -skip '^TestLoad$$' ./serve

# Every go test -fuzz target in the repository, each for FUZZTIME (CI: 20 s), by mk/fuzz.sh
# (which runs a target once more after the Go fuzz coordinator's deadline race, and only
# then). The seed corpora under testdata/fuzz run in make test as ordinary tests; this
# explores beyond them.
FUZZTIME ?= 20s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) sh mk/fuzz.sh

vet:
	CGO_ENABLED=0 $(GO) vet ./...

# The mpi build (cgo against Open MPI: apt-get install openmpi-bin libopenmpi-dev) and the
# multi-process tests under mpirun with 2 and 4 processes, with the failure drills
# (mk/test-mpi.sh).
vet-mpi:
	CGO_ENABLED=1 $(GO) vet -tags mpi ./...

test-mpi: vet-mpi
	bash mk/test-mpi.sh

# The data-parallel measurements (all-reduce bandwidth against MPI_Allreduce, scaling of
# training on 1 and 2 processes, DiLoCo against DDP) into bench/results/distributed-<date>/.
bench-dist:
	bash bench/distributed.sh

fmt-check:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi

# Go benchmarks of the CPU backend; `kiln bench` runs the anchored comparison.
bench:
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 3x ./device/cpu/...

ci: fmt-check vet build test

-include mk/cuda.mk
