package prior

import (
	"context"
	"fmt"
	"math"
)

// Sampler draws datasets from the prior. It is safe for concurrent use: every method is a pure
// function of the configuration and its arguments.
type Sampler struct {
	cfg Config
}

// NewSampler checks cfg and returns a sampler.
func NewSampler(cfg Config) (*Sampler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Sampler{cfg: cfg}, nil
}

// Config returns the sampler's configuration.
func (s *Sampler) Config() Config { return s.cfg }

// shapeFrom draws rows uniformly in [MinRows, MaxRows], features uniformly in
// [1, MaxFeatures] and the training share uniformly in [MinTrainFraction, MaxTrainFraction],
// keeping at least two training rows and one test row.
func (s *Sampler) shapeFrom(seed, index uint64, domain uint32) Shape {
	r := newRand(seed, index, domain, 0)
	rows := uniformInt(r, s.cfg.MinRows, s.cfg.MaxRows)
	features := uniformInt(r, 1, s.cfg.MaxFeatures)
	frac := uniform(r, s.cfg.MinTrainFraction, s.cfg.MaxTrainFraction)
	nTrain := min(max(int(math.Round(frac*float64(rows))), 2), rows-1)
	return Shape{Rows: rows, Features: features, NTrain: nTrain}
}

// ShapeOf returns the shape Sample(index) draws.
func (s *Sampler) ShapeOf(index uint64) Shape { return s.shapeFrom(s.cfg.Seed, index, domainShape) }

// Sample returns dataset index with a shape drawn for it (ShapeOf(index)).
func (s *Sampler) Sample(index uint64) Dataset {
	d, _ := s.Generate(index, s.ShapeOf(index)) // a drawn shape is always valid
	return d
}

// Generate returns dataset index drawn with the given shape. The same (seed, index, shape)
// always gives the same dataset. A degenerate draw (a target without two distinct training
// values, or a non-finite value) is redrawn from a fresh stream; after 16 such draws a linear
// model of Gaussian features is used, so Generate always succeeds on a valid shape.
func (s *Sampler) Generate(index uint64, sh Shape) (Dataset, error) {
	if sh.Features < 1 || sh.NTrain < 2 || sh.NTrain >= sh.Rows {
		return Dataset{}, fmt.Errorf("prior: invalid shape %+v: need Features ≥ 1 and 2 ≤ NTrain < Rows", sh)
	}
	for attempt := uint32(0); attempt < maxAttempts; attempt++ {
		if d, ok := s.generate(newRand(s.cfg.Seed, index, domainDataset, attempt), sh, false); ok {
			return d, nil
		}
	}
	d, _ := s.generate(newRand(s.cfg.Seed, index, domainDataset, maxAttempts), sh, true)
	return d, nil
}

// Batch is a group of datasets with one shape, ready to be stacked into a padded-free tensor.
type Batch struct {
	Index    uint64
	Shape    Shape
	Datasets []Dataset
}

// Stack returns the batch's features as one BatchSize×Rows×Features float32 array and its
// labels as BatchSize×Rows (empty for regression datasets: see Targets), the layout a trainer
// copies to the device in one transfer.
func (b Batch) Stack() (x []float32, y []int32) {
	n := b.Shape.Rows * b.Shape.Features
	x = make([]float32, 0, len(b.Datasets)*n)
	y = make([]int32, 0, len(b.Datasets)*b.Shape.Rows)
	for _, d := range b.Datasets {
		x = append(x, d.X...)
		y = append(y, d.Y...)
	}
	return x, y
}

// Targets returns the continuous targets of a regression batch as one BatchSize×Rows
// array (standardised per dataset on its training rows); empty for a classification batch.
func (b Batch) Targets() []float32 {
	t := make([]float32, 0, len(b.Datasets)*b.Shape.Rows)
	for _, d := range b.Datasets {
		t = append(t, d.Target...)
	}
	return t
}

// MaxClasses returns the largest class count in the batch.
func (b Batch) MaxClasses() int {
	k := 0
	for _, d := range b.Datasets {
		k = max(k, d.Classes)
	}
	return k
}

// Batch returns batch b: a shape drawn for the batch, then BatchSize datasets with indices
// b·BatchSize … b·BatchSize+BatchSize−1 drawn with that shape. (Sample(i) draws its own shape,
// so it differs from the dataset with index i inside a batch; both are deterministic.)
func (s *Sampler) Batch(b uint64) Batch {
	return s.BatchShard(b, 0, 1)
}

// BatchShard returns the share of batch b that rank r of size draws in data-parallel
// training: the datasets at positions r, r+size, r+2·size, … of Batch(b), with its shape.
// Each is the very dataset Batch(b) holds at that position (a dataset is a function of the
// seed, its index and the batch's shape), so the shards of ranks 0 … size−1 together are
// Batch(b), each dataset drawn by one rank only. BatchShard(b, 0, 1) is Batch(b).
func (s *Sampler) BatchShard(b uint64, rank, size int) Batch {
	sh := s.shapeFrom(s.cfg.Seed, b, domainBatch)
	out := Batch{Index: b, Shape: sh}
	for i := rank; i < s.cfg.BatchSize; i += size {
		d, _ := s.Generate(b*uint64(s.cfg.BatchSize)+uint64(i), sh)
		out.Datasets = append(out.Datasets, d)
	}
	return out
}

// ShardSize is the number of datasets BatchShard(b, rank, size) holds.
func (s *Sampler) ShardSize(rank, size int) int {
	if rank >= s.cfg.BatchSize {
		return 0
	}
	return (s.cfg.BatchSize - rank + size - 1) / size
}

// BatchShape returns the shape Batch(b) draws its datasets with.
func (s *Sampler) BatchShape(b uint64) Shape { return s.shapeFrom(s.cfg.Seed, b, domainBatch) }

// Stream generates batches first, first+1, … with workers goroutines and delivers them in
// index order on the returned channel, each worker keeping at most one finished batch ahead,
// so generation overlaps training without unbounded memory. The batches are exactly those of
// Batch(first), Batch(first+1), …, whatever the number of workers. The channel is closed when
// ctx is done; cancel ctx to stop the goroutines.
func (s *Sampler) Stream(ctx context.Context, first uint64, workers int) <-chan Batch {
	return StreamFunc(ctx, first, workers, s.Batch)
}

// StreamShard is Stream of BatchShard(b, rank, size) for b = first, first+1, …: the batches
// one rank of a data-parallel run trains on.
func (s *Sampler) StreamShard(ctx context.Context, first uint64, workers, rank, size int) <-chan Batch {
	return StreamFunc(ctx, first, workers, func(b uint64) Batch { return s.BatchShard(b, rank, size) })
}

// StreamFunc is Stream for any pure function gen of the batch index (such as a mix of the
// prior and other task sources): batches gen(first), gen(first+1), … in index order,
// generated by workers goroutines. gen must be safe for concurrent use.
func StreamFunc(ctx context.Context, first uint64, workers int, gen func(uint64) Batch) <-chan Batch {
	workers = max(workers, 1)
	out := make(chan Batch)
	lanes := make([]chan Batch, workers)
	for w := range lanes {
		lanes[w] = make(chan Batch, 1)
		go func(w int) {
			defer close(lanes[w])
			for b := first + uint64(w); ; b += uint64(workers) {
				if ctx.Err() != nil {
					return
				}
				batch := gen(b)
				select {
				case lanes[w] <- batch:
				case <-ctx.Done():
					return
				}
			}
		}(w)
	}
	go func() {
		defer close(out)
		for k := 0; ; k = (k + 1) % workers {
			var batch Batch
			var ok bool
			select {
			case batch, ok = <-lanes[k]:
				if !ok {
					return
				}
			case <-ctx.Done():
				return
			}
			select {
			case out <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
