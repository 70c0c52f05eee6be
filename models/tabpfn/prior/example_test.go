package prior_test

import (
	"context"
	"fmt"

	"github.com/kiln-ml/kiln/models/tabpfn/prior"
)

// A trainer pulls same-shape batches from a stream that generates them on background
// goroutines; cancelling the context stops the workers.
func ExampleSampler_Stream() {
	cfg := prior.DefaultConfig()
	cfg.Seed = 1
	cfg.MaxRows = 256
	s, err := prior.NewSampler(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for batch := range s.Stream(ctx, 0, 2) {
		x, y := batch.Stack() // BatchSize×Rows×Features and BatchSize×Rows
		ok := len(x) == cfg.BatchSize*batch.Shape.Rows*batch.Shape.Features && len(y) == cfg.BatchSize*batch.Shape.Rows
		fmt.Println(batch.Index, len(batch.Datasets), ok)
		if batch.Index == 1 {
			break
		}
	}
	// Output:
	// 0 8 true
	// 1 8 true
}
