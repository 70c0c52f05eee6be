package tabpfn

import (
	"fmt"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/internal/flagbound"
)

// MemoryEstimate is the estimated peak memory of one ensemble member's prediction by the
// chunked forward pass (members run one after another, so it is the peak of a whole
// PredictProba). EstimateMemory computes it; bench/results/tabpfn-scale-2026-12-03.md
// compares it with measured peaks.
type MemoryEstimate struct {
	// Device is what the pass holds on the model's device: one copy of every row's
	// activations (features+1 tokens of the model's width per row) and one block of work.
	Device float64
	// Host is the member's inputs on the host: the presented rows as float32 and the
	// float64 matrices of preprocessing.
	Host float64
	// Total is the peak resident memory of the process: on the CPU, where tensors live in
	// the Go heap, twice Device+Host (the garbage collector's default pacing lets the heap
	// grow to twice what was live at the last collection), plus a fixed allowance for the
	// runtime, the program and the model's parameters; on an accelerator, Device plus twice
	// Host plus the allowance.
	Total float64
}

// memoryBase is the allowance for the Go runtime, the program and a model's parameters.
const memoryBase = 64 << 20

// EstimateMemory estimates the peak memory of a prediction of test rows against a context of
// train rows with features presented features, by a model of configuration cfg on dev (nil:
// the CPU), in blocks of DefaultChunkTokens tokens. The terms follow the chunked pass
// (chunkedScorer.Probabilities): the activations of all rows, held once, and one block's
// intermediates, about sixteen tokens × width and three tokens × MLP width per token of the
// block, plus the training rows' keys and values of one block of columns.
func EstimateMemory(cfg Config, dev device.Device, train, features, test int) MemoryEstimate {
	const f32 = 4
	t, r := float64(max(features, 1)+1), float64(train)+float64(test)
	e, h := float64(cfg.Width), float64(cfg.MLPWidth)
	budget := min(float64(DefaultChunkTokens), t*r) // a block holds at most every token
	_, colBlock, _ := blocks(DefaultChunkTokens, max(features, 1)+1, max(1, train+test))
	kv := 2 * float64(colBlock) * float64(train) * e
	est := MemoryEstimate{
		Device: f32 * (t*r*e + budget*(16*e+3*h) + kv),
		// Input.X and a member's training rows as float32; preprocessing's float64
		// matrices of the training rows (input, output, a row subsample) and test rows.
		Host: f32*(r+float64(train))*float64(features) + 8*(3*float64(train)+2*float64(test))*float64(features),
	}
	if onCPU(dev) {
		est.Total = 2*(est.Device+est.Host) + memoryBase
	} else {
		est.Total = 2*est.Host + memoryBase
	}
	return est
}

func onCPU(dev device.Device) bool { return dev == nil || dev.Info().Kind == "cpu" }

// checkMemory refuses a prediction whose estimate exceeds the memory limit of
// internal/flagbound (a share of physical memory; KILN_MEMORY_LIMIT overrides), and on an
// accelerator that reports its memory, a device part over the same share of that memory.
func checkMemory(cfg Config, dev device.Device, train, features, test int) error {
	est := EstimateMemory(cfg, dev, train, features, test)
	what := fmt.Sprintf("tabpfn: an ensemble member with %d training rows of %d features predicting %d rows", train, features, test)
	if err := flagbound.CheckMemory(what, est.Total); err != nil {
		return err
	}
	if !onCPU(dev) {
		if info := dev.Info(); info.MemoryBytes > 0 {
			return flagbound.CheckDeviceMemory(what+" on "+dev.Name(), est.Device, dev.Name(), info.MemoryBytes)
		}
	}
	return nil
}

// minTestGroup is the least number of test rows one forward pass takes at once when a
// prediction is cut into passes (see testGroup).
const minTestGroup = 2048

// testGroup returns how many of test rows one forward pass of a member with train training
// rows and features features takes. Test rows do not interact, so a prediction may be cut
// into passes of any size with the same result, but each pass recomputes the training rows:
// a pass takes at least as many test rows as there are training rows (or minTestGroup),
// which at most doubles the work, so that the activations of one pass stay within about
// twice the training rows'. Where even that exceeds the memory limit, passes are smaller;
// where one test row does not fit, it is an error naming the estimate.
func testGroup(cfg Config, dev device.Device, train, features, test int) (int, error) {
	g := min(test, max(train, minTestGroup))
	for g > 1 && checkMemory(cfg, dev, train, features, g) != nil {
		g /= 2
	}
	if err := checkMemory(cfg, dev, train, features, g); err != nil {
		return 0, err
	}
	return g, nil
}
