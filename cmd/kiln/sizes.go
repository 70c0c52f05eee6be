package main

import (
	"slices"

	"github.com/kiln-ml/kiln/models/tabpfn"
	"github.com/kiln-ml/kiln/models/tabpfn/selfsup"
)

// Memory estimates for the sizes commands take on the command line, checked with
// checkMemory before anything of that size is allocated. They count the large arrays a
// command holds at once and leave out what is small beside them, so they are lower bounds
// of the real peak: a refusal means the request cannot fit, not that it might not. All
// arithmetic is in float64 so that absurd sizes give a huge estimate instead of an integer
// overflow.

// trainBytes is the activation memory of one forward and backward pass of TabPFN training:
// every layer keeps about 8·width + mlp_width float32 values per token for the backward
// pass, and a pass covers micro-batch (or batch) datasets of up to max-rows rows and
// max-features+1 tokens a row (with the contrastive task, a corpus task's rows plus two
// views of each test row). Parameters and optimizer state are small beside it.
func trainBytes(mc tabpfn.Config, tc tabpfn.TrainConfig) float64 {
	b := float64(tc.Prior.BatchSize)
	if mb := tc.MicroBatch; mb > 0 && mb < tc.Prior.BatchSize {
		b = float64(mb)
	}
	rows := float64(tc.Prior.MaxRows)
	if c := tc.Corpus; c != nil && slices.Contains(c.Tasks, selfsup.TaskContrastive) {
		// Two views of every test row join a corpus task's rows.
		rows += 2 * rows * (1 - tc.Prior.MinTrainFraction)
	}
	tokens := b * rows * float64(tc.Prior.MaxFeatures+1)
	return 4 * float64(mc.Layers) * tokens * float64(8*mc.Width+mc.MLPWidth)
}

// sparseBytes is `linalg sparse`: the dense copy of the n×n matrix on the host and on the
// device, its stored blocks, and the n×cols operand, product and reference (float64).
func sparseBytes(n, cols int, density float64) float64 {
	nf, cf := float64(n), float64(cols)
	return 8*nf*nf*(2+density) + 8*5*nf*cf
}

// rsvdBytes is `linalg rsvd --random m,n`: the m×n matrix, its generating factors U (m×r)
// and V (n×r, r = min(m, n)) in float64 on the host and in the working type, the sketches
// of rank+oversamples columns, and with exact the full SVD's float64 copy and factors.
func rsvdBytes(m, n, rank, oversamples, elt int, exact bool) float64 {
	mf, nf := float64(m), float64(n)
	r := min(mf, nf)
	e := float64(elt)
	b := e*mf*nf + (8+e)*(mf+nf)*r + 3*e*(mf+nf)*float64(rank+oversamples)
	if exact {
		b += 8 * (2*mf*nf + r*r)
	}
	return b
}

// ttBytes is `linalg tt --random`: the full tensor (and a noise array of its size, on the
// host in float64 too) plus the cores of ranks min(r, left, right).
func ttBytes(dims []int, r int) float64 {
	entries := 1.0
	for _, d := range dims {
		entries *= float64(d)
	}
	cores, left := 0.0, 1.0
	prev := 1.0
	for k, d := range dims {
		left *= float64(d)
		next := 1.0
		if k < len(dims)-1 {
			next = min(float64(r), left, entries/left)
		}
		cores += prev * float64(d) * next
		prev = next
	}
	return 8 * (4*entries + cores)
}

// bootstrapBytes is `scaling fit --bootstrap`: the estimates of every resample (a handful of
// float64 each, twice for the intervals) and one weight vector over the runs per worker.
func bootstrapBytes(resamples, runs, workers int) float64 {
	return 8*float64(resamples)*2*16 + 8*4*float64(workers)*float64(runs)
}
