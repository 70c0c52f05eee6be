package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kiln-ml/kiln/data"
)

// gate replaces a handler's computation with one that announces each start on started and
// then waits for open to close, so a test decides how long predictions take.
type gate struct {
	started chan struct{}
	open    chan struct{}
}

func newGate(h *Handler) *gate {
	g := &gate{started: make(chan struct{}, 16), open: make(chan struct{})}
	h.compute = func(j *job) (result, error) {
		g.started <- struct{}{}
		<-g.open
		p := data.NewMatrix(j.test.Rows(), j.train.NumClasses())
		for i := 0; i < p.Rows; i++ {
			p.Set(i, 0, 1)
		}
		return result{proba: p}, nil
	}
	return g
}

// waitFor polls cond for up to two seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// post sends the body to url's /v1/predict in the background.
func post(client *http.Client, url string, body []byte) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		resp, err := client.Post(url+"/v1/predict", "application/json", bytes.NewReader(body))
		if err != nil {
			out <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- answer{status: resp.StatusCode, header: resp.Header, body: b, err: err}
	}()
	return out
}

func (a answer) check(t *testing.T, status int, errContains string) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("request failed: %v", a.err)
	}
	if status == http.StatusOK {
		if a.status != status {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		return
	}
	checkError(t, a.status, a.header, a.body, status, errContains)
}

var smallBody = []byte(`{"train": {"columns": ["a", "y"], "rows": [[1, "p"], [2, "q"]]}, "test": {"rows": [[1.5]]}}`)

// With every slot taken and the queue full, a request is refused at once with 503 and
// Retry-After; the running and queued ones still complete.
func TestQueueFull(t *testing.T) {
	h := newHandler(t, func(c *Config) { c.MaxConcurrent, c.Queue = 1, 1 })
	g := newGate(h)
	srv := httptest.NewServer(h)
	defer srv.Close()

	running := post(srv.Client(), srv.URL, smallBody)
	<-g.started
	queued := post(srv.Client(), srv.URL, smallBody)
	waitFor(t, "a request in the queue", func() bool { _, w := h.limit.load(); return w == 1 })

	refused := <-post(srv.Client(), srv.URL, smallBody)
	refused.check(t, http.StatusServiceUnavailable, "server busy: 1 predictions running and 1 waiting")
	if ra := refused.header.Get("Retry-After"); ra != retryAfter {
		t.Errorf("Retry-After %q", ra)
	}
	close(g.open)
	(<-running).check(t, http.StatusOK, "")
	(<-queued).check(t, http.StatusOK, "")
	if r, w := h.limit.load(); r != 0 || w != 0 {
		t.Errorf("after the requests: %d running, %d waiting", r, w)
	}
}

// A prediction that outlives the deadline is answered with 504, and keeps its slot until it
// ends; a request that waits for that slot past its own deadline gets 503 with Retry-After.
func TestTimeouts(t *testing.T) {
	const timeout = 150 * time.Millisecond
	h := newHandler(t, func(c *Config) { c.MaxConcurrent, c.Queue, c.Timeout = 1, 4, timeout })
	g := newGate(h)
	srv := httptest.NewServer(h)
	defer srv.Close()

	start := time.Now()
	slow := post(srv.Client(), srv.URL, smallBody)
	<-g.started
	waiting := post(srv.Client(), srv.URL, smallBody)
	a := <-slow
	a.check(t, http.StatusGatewayTimeout, "did not finish within the 150ms timeout")
	if d := time.Since(start); d < timeout || d > timeout+time.Second {
		t.Errorf("504 after %v, the timeout is %v", d, timeout)
	}
	b := <-waiting
	b.check(t, http.StatusServiceUnavailable, "no prediction slot became free within the 150ms timeout")
	if b.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if r, _ := h.limit.load(); r != 1 {
		t.Errorf("%d computations hold a slot, want the timed-out one", r)
	}
	close(g.open)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.wait(ctx); err != nil {
		t.Fatal("the timed-out computation did not finish")
	}
	waitFor(t, "the slot to be free", func() bool { r, _ := h.limit.load(); return r == 0 })
	(<-post(srv.Client(), srv.URL, smallBody)).check(t, http.StatusOK, "")
}

// A computation that panics answers 500 and frees its slot.
func TestPanicIs500(t *testing.T) {
	h := newHandler(t, nil)
	h.compute = func(*job) (result, error) { panic("boom") }
	status, hdr, body := do(t, h, http.MethodPost, "application/json", smallBody)
	checkError(t, status, hdr, body, http.StatusInternalServerError, "prediction failed: panic: boom")
	waitFor(t, "the slot to be free", func() bool { r, _ := h.limit.load(); return r == 0 })
}

// Shutdown lets a request in flight finish while new connections are refused, then Serve
// returns nil.
func TestGracefulShutdown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Model = model(t)
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(srv.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	client := &http.Client{Timeout: 10 * time.Second}
	inFlight := post(client, url, smallBody)
	<-g.started
	stop()
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if !srv.Handler().draining.Load() {
		t.Error("/readyz still reports ready during shutdown")
	}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	if _, err := fresh.Get(url + "/healthz"); err == nil {
		t.Error("a new request was accepted during shutdown")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	default:
	}
	close(g.open)
	(<-inFlight).check(t, http.StatusOK, "")
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last request")
	}
}

// A request still running when the grace period ends makes Serve report it.
func TestShutdownGraceRunsOut(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Model = model(t)
	cfg.ShutdownGrace = 50 * time.Millisecond
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(srv.Handler())
	defer close(g.open)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	inFlight := post(&http.Client{}, "http://"+ln.Addr().String(), smallBody)
	<-g.started
	stop()
	if err := <-served; err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Serve: %v, want the grace period's deadline", err)
	}
	if a := <-inFlight; a.err == nil {
		t.Fatalf("the cut-off request got an answer: %d %s", a.status, a.body)
	}
}
