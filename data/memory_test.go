package data

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writeBigCSV writes a table of about size bytes to dir/big.csv and returns its path, byte
// count and row count: six numeric columns (decimals, integers, scientific notation and a few
// missing values), two categorical ones (5 colours, 300 codes) and a 3-class target, the mix
// of a typical exported table.
func writeBigCSV(t testing.TB, dir string, size int64) (string, int64, int) {
	t.Helper()
	path := filepath.Join(dir, "big.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	rng := rand.New(rand.NewPCG(1, 2))
	colours := []string{"red", "green", "blue", "amber", "violet"}
	classes := []string{"cat", "dog", "bird"}
	fmt.Fprintln(w, "height,weight,count,ratio,score,temp,colour,code,species")
	var n int64
	rows := 0
	for n < size {
		missing := ""
		if rng.IntN(50) == 0 {
			missing = "NA"
		}
		k, err := fmt.Fprintf(w, "%.4f,%.2f,%d,%.6g,%s,%.1f,%s,c%d,%s\n",
			rng.Float64()*200, rng.NormFloat64()*30+70, rng.IntN(10000), rng.ExpFloat64()*1e-3,
			missing, rng.Float64()*40-10, colours[rng.IntN(len(colours))], rng.IntN(300), classes[rng.IntN(3)])
		if err != nil {
			t.Fatal(err)
		}
		n += int64(k)
		rows++
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, st.Size(), rows
}

// heapObjects is the runtime/metrics name of the bytes held by heap objects, live or not yet
// swept: the same quantity as runtime.MemStats.HeapAlloc, readable without stopping the world.
const heapObjects = "/memory/classes/heap/objects:bytes"

// peakHeap runs f and returns the highest heap-object byte count seen while it ran, above the
// count after a collection just before it. A goroutine samples the metric every 20µs; the heap
// grows by at most the bytes allocated between two samples beyond the sampled peak, a few
// kilobytes at the loaders' rate, which is noise next to the megabytes measured.
func peakHeap(f func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()

	var peak atomic.Uint64
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: heapObjects}}
		for !stop.Load() {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}()
	f()
	metrics.Read(sample) // the end state counts too: the result is still live
	if v := sample[0].Value.Uint64(); v > peak.Load() {
		peak.Store(v)
	}
	stop.Store(true)
	wg.Wait()
	if peak.Load() < base {
		return 0
	}
	return peak.Load() - base
}

// Loading a CSV file holds the result and a record at a time, never the text: peak heap stays
// under three times the file size (the result alone, 8 bytes a cell, is about the file size
// for this mix of columns).
func TestLoadCSVPeakHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and loads a 30 MB file")
	}
	path, size, rows := writeBigCSV(t, t.TempDir(), 30<<20)
	var tab *Table
	var err error
	peak := peakHeap(func() { tab, err = LoadCSV(path, Options{}) })
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows() != rows || tab.NumFeatures() != 8 || tab.NumClasses() != 3 {
		t.Fatalf("loaded %d rows, %d features, %d classes; want %d, 8, 3", tab.Rows(), tab.NumFeatures(), tab.NumClasses(), rows)
	}
	if c := tab.Columns[6]; c.Kind != Categorical || len(c.Categories) != 5 {
		t.Errorf("colour column %s with %d categories, want categorical with 5", c.Kind, len(c.Categories))
	}
	if c := tab.Columns[7]; c.Kind != Categorical || len(c.Categories) != 300 {
		t.Errorf("code column %s with %d categories, want categorical with 300", c.Kind, len(c.Categories))
	}
	result := uint64(8*len(tab.X.Data) + 8*len(tab.Y))
	t.Logf("file %d bytes, %d rows; result %d bytes (%.2f× the file); peak heap %d bytes (%.2f× the file)",
		size, rows, result, float64(result)/float64(size), peak, float64(peak)/float64(size))
	if limit := 3 * uint64(size); peak > limit {
		t.Errorf("peak heap %d bytes is over 3× the file size (%d bytes)", peak, limit)
	}
	runtime.KeepAlive(tab)
}

// BenchmarkLoadCSV loads an 8 MB file of the same mix; B/op is the total allocated per load,
// peak-heap/file the highest heap over the file size.
func BenchmarkLoadCSV(b *testing.B) {
	path, size, _ := writeBigCSV(b, b.TempDir(), 8<<20)
	b.SetBytes(size)
	b.ReportAllocs()
	var worst uint64
	for b.Loop() {
		peak := peakHeap(func() {
			if _, err := LoadCSV(path, Options{}); err != nil {
				b.Fatal(err)
			}
		})
		worst = max(worst, peak)
	}
	b.ReportMetric(float64(worst)/float64(size), "peak-heap/file")
}
