package selfsup

import (
	"math"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/data/corpus"
	"github.com/kiln-ml/kiln/internal/shareddata"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
)

// TestSharedCorpusTasks draws batches from the shared pretraining corpus: every one must
// succeed, and the tasks must vary in classes.
func TestSharedCorpusTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the shared corpus")
	}
	dir := shareddata.Require(t, "corpus")
	c, err := corpus.Open(dir, corpus.Options{Warn: func(m string) { t.Log(m) }})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := New(c, Config{Seed: 1, MaxClasses: 10})
	start := time.Now()
	classes := map[int]int{}
	for b := uint64(0); b < 100; b++ {
		batch, err := s.Batch(b, prior.Shape{Rows: 160, Features: 16, NTrain: 100}, 8)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range batch.Datasets {
			classes[d.Classes]++
		}
	}
	t.Logf("100 batches of 8 in %s; classes: %v", time.Since(start).Round(time.Millisecond), classes)
	if len(classes) < 5 {
		t.Errorf("class counts %v: want a spread over 2..10", classes)
	}
	// Regression tasks: every batch succeeds, with finite targets.
	s, _ = New(c, Config{Seed: 1, Regression: true})
	start = time.Now()
	for b := uint64(0); b < 30; b++ {
		batch, err := s.Batch(b, prior.Shape{Rows: 160, Features: 16, NTrain: 100}, 8)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range batch.Targets() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("batch %d: target %v", b, v)
			}
		}
	}
	t.Logf("30 regression batches of 8 in %s", time.Since(start).Round(time.Millisecond))
}
