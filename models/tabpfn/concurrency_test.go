package tabpfn

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/examples/wine"
	"github.com/kiln-ml/kiln/tensor"
)

// wineSplit is the embedded wine table split in half, stratified, with at most rows rows in
// each half (the race detector makes the model's arithmetic many times slower).
func wineSplit(t testing.TB, rows int) (train, test *data.Table) {
	t.Helper()
	tab, err := data.ReadCSV(bytes.NewReader(wine.CSV), data.Options{})
	require.NoError(t, err)
	trainIdx, testIdx, err := data.StratifiedSplit(tab.Y, tab.NumClasses(), 0.5, 0)
	require.NoError(t, err)
	return tab.Subset(trainIdx[:min(rows, len(trainIdx))]), tab.Subset(testIdx[:min(rows, len(testIdx))])
}

// fitPredict runs the public API once: a new classifier (on model m, or on its own copy of
// the embedded model when m is nil), Fit and PredictProba.
func fitPredict(m *Model, train, test *data.Table, opts ...Option) (data.Matrix, error) {
	if m != nil {
		opts = append(opts, WithModel(m))
	}
	clf, err := NewClassifier(opts...)
	if err != nil {
		return data.Matrix{}, err
	}
	defer clf.Close()
	clf.SetColumns(train.Columns)
	if err := clf.Fit(train.X, train.Y, train.NumClasses()); err != nil {
		return data.Matrix{}, err
	}
	return clf.PredictProba(test.X)
}

// TestConcurrentClassifiers runs 16 goroutines of fit+predict through the public API at
// once, half with a classifier of their own, half sharing one model read-only, then 8
// goroutines predicting with one shared fitted classifier, and requires every result to
// equal a lone run's bit for bit. Under -race it also
// shows that the engine keeps no shared mutable state on this path.
func TestConcurrentClassifiers(t *testing.T) {
	const goroutines, rounds = 16, 1
	train, test := wineSplit(t, 40)
	opts := []Option{WithEnsemble(2), WithSeed(7)}
	shared, err := DefaultModel(device.MustGet("cpu"))
	require.NoError(t, err)
	defer shared.Release()
	free := tensor.FreeTensorsMade()
	want, err := fitPredict(shared, train, test, opts...)
	require.NoError(t, err)
	require.Zero(t, tensor.FreeTensorsMade()-free, "fit+predict on a loaded model makes free tensors (left to the caller to release)")

	errs := make(chan error, goroutines*(rounds+1))
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				m := shared
				if g%2 == 1 {
					m = nil // its own copy of the embedded model
				}
				got, err := fitPredict(m, train, test, opts...)
				switch {
				case err != nil:
					errs <- fmt.Errorf("goroutine %d round %d: %w", g, r, err)
				case !equalMatrix(got, want):
					errs <- fmt.Errorf("goroutine %d round %d: probabilities differ from a lone run", g, r)
				}
			}
		}()
	}
	wg.Wait()

	// One fitted classifier shared by many goroutines' predictions.
	clf, err := NewClassifier(append(opts, WithModel(shared))...)
	require.NoError(t, err)
	defer clf.Close()
	clf.SetColumns(train.Columns)
	require.NoError(t, clf.Fit(train.X, train.Y, train.NumClasses()))
	for g := 0; g < goroutines/2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := clf.PredictProba(test.X)
			switch {
			case err != nil:
				errs <- fmt.Errorf("shared classifier, goroutine %d: %w", g, err)
			case !equalMatrix(got, want):
				errs <- fmt.Errorf("shared classifier, goroutine %d: probabilities differ from a lone run", g)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func equalMatrix(a, b data.Matrix) bool {
	if a.Rows != b.Rows || a.Cols != b.Cols || len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			return false
		}
	}
	return true
}
