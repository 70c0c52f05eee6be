package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Load test sizes: clients sending at once, requests per batch, predictions computing at
// once.
const (
	loadClients  = 16
	loadRequests = 24
	loadWorkers  = 4
	// loadHeapSlack bounds the live heap's growth from the first batch to the second: a
	// leak of one prediction's tensors or tables per request would exceed it many times
	// over.
	loadHeapSlack = 8 << 20
)

// Many clients at once on a real listener: every answer equals the lone classifier's, none
// fails, and the live heap after a second batch stays within loadHeapSlack of the first's.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	workers := loadWorkers
	c := newWineCase(t, 45, 10)
	const ensemble, pairwise, seed = 1, 0, 3
	want := c.reference(t, ensemble, pairwise, seed)
	body := c.jsonBody(t, map[string]any{"ensemble": ensemble, "pairwise": pairwise, "seed": seed})

	cfg := DefaultConfig()
	cfg.Model = model(t)
	cfg.MaxConcurrent, cfg.Queue = workers, loadClients
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/v1/predict"
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: loadClients}}

	var maxRunning atomic.Int64
	batch := func() time.Duration {
		start := time.Now()
		next := atomic.Int64{}
		var wg sync.WaitGroup
		errs := make(chan error, loadRequests)
		for range loadClients {
			wg.Go(func() {
				for next.Add(1) <= loadRequests {
					resp, err := client.Post(url, "application/json", bytes.NewReader(body))
					if err != nil {
						errs <- err
						continue
					}
					out, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						errs <- err
						continue
					}
					if r, _ := srv.Handler().limit.load(); int64(r) > maxRunning.Load() {
						maxRunning.Store(int64(r))
					}
					func() {
						// checkAnswer fails the test from this goroutine through a
						// recorder, so that every failure is counted.
						defer func() {
							if p := recover(); p != nil {
								errs <- fmt.Errorf("%v", p)
							}
						}()
						checkAnswer(panicTB{t}, resp.StatusCode, out, c, want)
					}()
				}
			})
		}
		wg.Wait()
		close(errs)
		n := 0
		for err := range errs {
			if n < 3 {
				t.Errorf("request: %v", err)
			}
			n++
		}
		if n > 0 {
			t.Fatalf("%d of %d requests failed", n, loadRequests)
		}
		return time.Since(start)
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}

	d1 := batch()
	h1 := heap()
	d2 := batch()
	h2 := heap()
	t.Logf("%d clients, %d workers: %d requests in %v, then %d in %v; live heap %.1f MiB after the first batch, %.1f MiB after the second",
		loadClients, workers, loadRequests, d1.Round(time.Millisecond), loadRequests, d2.Round(time.Millisecond),
		float64(h1)/(1<<20), float64(h2)/(1<<20))
	if h2 > h1+loadHeapSlack {
		t.Errorf("live heap grew from %d to %d bytes over %d requests", h1, h2, loadRequests)
	}
}

// panicTB turns a helper's fatal failure into a panic, so that a helper meant for the test's
// goroutine can run in a client goroutine and its failure be collected there.
type panicTB struct{ testing.TB }

func (p panicTB) Helper() {}

func (p panicTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (p panicTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
