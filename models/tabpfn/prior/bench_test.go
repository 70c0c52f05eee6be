package prior

import (
	"context"
	"testing"
)

// BenchmarkSample measures datasets per second from one goroutine with DefaultConfig (up to
// 1024 rows and 100 features).
func BenchmarkSample(b *testing.B) {
	s, err := NewSampler(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		s.Sample(i)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "datasets/s")
}

// BenchmarkStream measures datasets per second delivered by Stream with two workers and
// DefaultConfig batches of 8.
func BenchmarkStream(b *testing.B) {
	s, err := NewSampler(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Stream(ctx, 0, 2)
	n := 0
	for b.Loop() {
		n += len((<-ch).Datasets)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "datasets/s")
}
