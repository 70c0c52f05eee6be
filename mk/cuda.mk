# CUDA targets, included by the main Makefile. Nothing here runs in the default (pure-Go)
# build. The kernels compile with any nvcc that knows sm_90 (11.8 or later); the Go side links
# against libcuda (the toolkit's stub is enough to link; the driver's is needed to run).
#
#   make kernels        kernels/*.cu → kernels/build/kiln.fatbin (sm_80 + sm_90 SASS, compute_80 PTX)
#   make cuda           kernels, then build/kiln-cuda built with -tags cuda
#   make cuda-vet       go vet -tags cuda over every package
#   make cuda-testc     compile (never run) the cuda test binaries
#   make device-bundle  bench/gpu/bundle/: stripped kiln cuda binary + run.sh, train.sh + PyTorch anchors
#                       + the shared tabular data for the evaluation of the trained model
#   make kernels-emu    kernels/build/libkilnemu.a: the kernels compiled as host C++, run as CPU fibers
#   make cuda-emu-test  the cuda package's tests (conformance suite included), then ops and nn, on that emulator
#
# A cuda binary exits at start on a machine without a GPU and driver (gorgonia.org/cu calls
# cuInit in its package init), so CI only builds and vets it.

NVCC        ?= nvcc
CUDA_ARCH   ?= -gencode arch=compute_80,code=[sm_80,compute_80] -gencode arch=compute_90,code=sm_90
NVCC_FLAGS  ?= -O3 -std=c++14 -Xptxas -v
KERNEL_SRC  := $(wildcard kernels/*.cu kernels/*.cuh)
FATBIN      := kernels/build/kiln.fatbin
CUDA_TAGS   := -tags cuda
CUDA_ENV    := CGO_ENABLED=1

.PHONY: kernels cuda cuda-vet cuda-testc device-bundle kernels-emu cuda-emu-test

kernels: $(FATBIN)

# One translation unit (kernels/kiln.cu includes every family): one module, no device link.
# ptxas's per-kernel report (registers, shared memory, spills) goes to kernels/build/ptxas.log.
$(FATBIN): $(KERNEL_SRC)
	@mkdir -p kernels/build
	$(NVCC) -fatbin $(CUDA_ARCH) $(NVCC_FLAGS) -o $@ kernels/kiln.cu 2> kernels/build/ptxas.log || \
		{ cat kernels/build/ptxas.log; rm -f $@; exit 1; }
	@grep -c "Compiling entry function" kernels/build/ptxas.log | xargs printf '%s kernel entries compiled\n'

cuda: kernels
	$(CUDA_ENV) $(GO) build $(CUDA_TAGS) -ldflags '$(LDFLAGS)' -o build/kiln-cuda ./cmd/kiln

cuda-vet: kernels
	$(CUDA_ENV) $(GO) vet $(CUDA_TAGS) ./...

# Compiles the test binaries of the cuda packages without running them (they need a GPU).
cuda-testc: kernels
	$(CUDA_ENV) $(GO) test $(CUDA_TAGS) -c -o /dev/null ./device/cuda/
	$(CUDA_ENV) $(GO) test $(CUDA_TAGS) -c -o /dev/null ./kernels/

# The bundle also takes the shared tabular data (3 MB; it is not in the repository, and the
# GPU machine may have nothing beside the bundle) so that run.sh can evaluate the model it
# trains.
device-bundle: kernels
	@mkdir -p bench/gpu/bundle
	$(CUDA_ENV) $(GO) build $(CUDA_TAGS) -ldflags '-s -w $(LDFLAGS)' -o bench/gpu/bundle/kiln ./cmd/kiln
	cp bench/gpu/run.sh bench/gpu/train.sh bench/gpu/anchors.py bench/gpu/rsvd_anchor.py bench/gpu/bundle/
	@if [ -d ../shared/data/tabular ]; then \
		mkdir -p bench/gpu/bundle/data/tabular && \
		install -m 644 ../shared/data/tabular/*.csv bench/gpu/bundle/data/tabular/ && \
		install -m 644 ../shared/data/tabular-baselines.json bench/gpu/bundle/data/; \
	else echo "no ../shared/data/tabular: run.sh will skip the evaluation"; fi
	@ls -l bench/gpu/bundle

# The CPU emulator of the kernel module (kernels/emu): every kernel of kernels/kiln.cu compiled
# as host C++, registered by the names ptxas reports, run as fibers on one CPU thread. No GPU needed.
EMU_LIB := kernels/build/libkilnemu.a
CXX     ?= g++

kernels-emu: $(EMU_LIB)

$(EMU_LIB): $(FATBIN) kernels/emu/emu.cpp kernels/emu/emu.h
	grep -o "Compiling entry function '[a-z0-9_]*' for 'sm_90'" kernels/build/ptxas.log | \
		sed "s/Compiling entry function '\([a-z0-9_]*\)'.*/REG(\1)/" | sort -u > kernels/build/emu_registry.inc
	$(CXX) -std=c++20 -O2 -ffp-contract=off -fno-strict-aliasing -Ikernels/build -c kernels/emu/emu.cpp -o kernels/build/emu.o
	ar rcs $@ kernels/build/emu.o

cuda-emu-test: $(EMU_LIB)
	$(CUDA_ENV) $(GO) test -tags cudaemu -short -count=1 ./device/cuda/
	# ops and nn on the emulated device, whose uninitialised allocations hold NaN: an op that
	# reads an element of its output before writing it fails here (tensor.Uninit).
	KILN_TEST_DEVICE=cuda $(CUDA_ENV) $(GO) test -tags cudaemu -short -count=1 ./ops/ ./nn/
