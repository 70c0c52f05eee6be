package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/metrics"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// Handler is the HTTP API of the package documentation. It is safe for concurrent use.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	limit    *limiter
	params   int         // the model's parameter count
	draining atomic.Bool // set when shutdown begins: /readyz fails

	// running counts computations, including those still finishing for requests that
	// timed out, so that shutdown can wait for them before the model is released.
	running sync.WaitGroup

	// compute runs one prediction; tests replace it to control timing.
	compute func(*job) (result, error)
}

// result is what a prediction computes.
type result struct {
	proba    data.Matrix
	warnings []string
	members  int // ensemble members fitted
	pairs    int // class pairs fitted
}

// NewHandler checks cfg and returns the API's handler.
func NewHandler(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Model == nil {
		return nil, errors.New("serve: no model")
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, limit: newLimiter(cfg.MaxConcurrent, cfg.Queue)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range cfg.Model.Parameters() {
		h.params += p.Len()
	}
	h.compute = h.predict
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("/v1/predict", h.handlePredict)
	h.mux.HandleFunc("/v1/model", h.handleModel)
	h.mux.HandleFunc("/healthz", h.handleHealth)
	h.mux.HandleFunc("/readyz", h.handleReady)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, r, errorf(http.StatusNotFound, "no endpoint %s; see /v1/predict, /v1/model, /healthz, /readyz", r.URL.Path))
	})
	return h, nil
}

// ServeHTTP gives the request an id (the client's X-Request-Id when it is a plain token),
// serves it and logs one record: method, path, status, bytes, duration, queue wait, rows.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{id: requestID(r.Header.Get("X-Request-Id"))}
	rec := &recorder{ResponseWriter: w}
	rec.Header().Set("X-Request-Id", info.id)
	h.mux.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	attrs := []slog.Attr{
		slog.String("id", info.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rec.status),
		slog.Int64("bytes", rec.bytes),
		slog.Float64("duration_ms", ms(time.Since(start))),
	}
	if info.queued {
		attrs = append(attrs, slog.Float64("queue_ms", ms(info.queueWait)))
	}
	if info.trainRows > 0 {
		attrs = append(attrs, slog.Int("train_rows", info.trainRows), slog.Int("test_rows", info.testRows),
			slog.Int("features", info.features))
	}
	if info.err != "" {
		attrs = append(attrs, slog.String("error", info.err))
	}
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	h.log.LogAttrs(r.Context(), level, "request", attrs...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// drain marks the handler as shutting down: /readyz answers 503 from now on.
func (h *Handler) drain() { h.draining.Store(true) }

// wait blocks until every computation has finished or ctx ends.
func (h *Handler) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		h.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// allow answers 405 unless the request's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allowed := ""
	for i, m := range methods {
		if i > 0 {
			allowed += ", "
		}
		allowed += m
	}
	w.Header().Set("Allow", allowed)
	fail(w, r, errorf(http.StatusMethodNotAllowed, "%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, allowed))
	return false
}

func (h *Handler) handleHealth(w http.ResponseWriter, r *http.Request) {
	if allow(w, r, http.MethodGet, http.MethodHead) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

func (h *Handler) handleReady(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	if h.draining.Load() {
		fail(w, r, errorf(http.StatusServiceUnavailable, "shutting down"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// modelInfo is the answer of GET /v1/model.
type modelInfo struct {
	Model      string        `json:"model"`
	Device     string        `json:"device"`
	Parameters int           `json:"parameters"`
	Config     tabpfn.Config `json:"config"`
	Tasks      []string      `json:"tasks"`
	Limits     limitsInfo    `json:"limits"`
	Running    int           `json:"running"`
	Waiting    int           `json:"waiting"`
}

type limitsInfo struct {
	MaxConcurrent  int     `json:"max_concurrent"`
	Queue          int     `json:"queue"`
	MaxBodyBytes   int64   `json:"max_body_bytes"`
	MaxRows        int     `json:"max_rows"`
	MaxColumns     int     `json:"max_columns"`
	MaxCells       int     `json:"max_cells"`
	MaxEnsemble    int     `json:"max_ensemble"`
	TimeoutSeconds float64 `json:"timeout_seconds"`
}

func (h *Handler) handleModel(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	running, waiting := h.limit.load()
	c := h.cfg
	writeJSON(w, http.StatusOK, modelInfo{
		Model: c.ModelName, Device: c.Model.Dev.Name(), Parameters: h.params, Config: c.Model.Cfg,
		Tasks: []string{TaskClassification},
		Limits: limitsInfo{MaxConcurrent: c.MaxConcurrent, Queue: c.Queue, MaxBodyBytes: c.MaxBody, MaxRows: c.MaxRows,
			MaxColumns: c.MaxColumns, MaxCells: c.MaxCells, MaxEnsemble: c.MaxEnsemble, TimeoutSeconds: c.Timeout.Seconds()},
		Running: running, Waiting: waiting,
	})
}

// predictResponse is the answer of POST /v1/predict.
type predictResponse struct {
	Task          string      `json:"task"`
	Target        string      `json:"target"`
	Classes       []string    `json:"classes"`
	Predictions   []string    `json:"predictions"`
	Probabilities [][]float64 `json:"probabilities"`
	Warnings      []string    `json:"warnings"`
	Ensemble      int         `json:"ensemble"`
	Pairs         int         `json:"pairs"`
	Seed          uint64      `json:"seed"`
}

// retryAfter is the Retry-After of a 503: a prediction of a small table takes about this
// long, so a slot may be free by then.
const retryAfter = "1"

// statusClientClosed is logged when the client went away before its answer (nginx's code
// for it); the client never sees it.
const statusClientClosed = 499

func (h *Handler) handlePredict(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	info := infoOf(r)
	j, err := h.readJob(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	info.trainRows, info.testRows, info.features = j.train.Rows(), j.test.Rows(), j.train.NumFeatures()

	queued := time.Now()
	release, err := h.limit.acquire(ctx)
	info.queued, info.queueWait = true, time.Since(queued)
	if err != nil {
		switch {
		case errors.Is(err, errQueueFull):
			w.Header().Set("Retry-After", retryAfter)
			fail(w, r, errorf(http.StatusServiceUnavailable, "server busy: %d predictions running and %d waiting; retry later",
				h.cfg.MaxConcurrent, h.cfg.Queue))
		case errors.Is(err, context.DeadlineExceeded):
			w.Header().Set("Retry-After", retryAfter)
			fail(w, r, errorf(http.StatusServiceUnavailable, "server busy: no prediction slot became free within the %v timeout; retry later",
				h.cfg.Timeout))
		default:
			fail(w, r, errorf(statusClientClosed, "request canceled while waiting"))
		}
		return
	}

	// The computation cannot be interrupted, so it runs apart from the handler: on timeout
	// the handler answers at once, and the computation keeps its slot until it ends.
	done := make(chan outcome, 1)
	h.running.Add(1)
	go func() {
		defer h.running.Done()
		defer release()
		var out outcome
		defer func() {
			if p := recover(); p != nil {
				out = outcome{err: fmt.Errorf("panic: %v", p)}
			}
			done <- out
		}()
		out.res, out.err = h.compute(j)
	}()
	var out outcome
	select {
	case out = <-done:
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			fail(w, r, errorf(http.StatusGatewayTimeout, "the prediction did not finish within the %v timeout", h.cfg.Timeout))
		} else {
			fail(w, r, errorf(statusClientClosed, "request canceled during the prediction"))
		}
		return
	}
	if out.err != nil {
		fail(w, r, errorf(http.StatusInternalServerError, "prediction failed: %v", out.err))
		return
	}
	writeJSON(w, http.StatusOK, j.response(out.res))
}

type outcome struct {
	res result
	err error
}

// predict fits a fresh classifier on the shared model and predicts the test rows.
func (h *Handler) predict(j *job) (result, error) {
	// Contexts stay within the sizes the model was trained on (its MaxRows and MaxFeatures;
	// the classifier alone takes up to MaxContextRows and MaxContextFeatures): above them
	// time grows with the square of the rows, and a 10,000-row table takes minutes on a CPU,
	// past Config.Timeout. Larger tables are subsampled per member, with a warning, rather than
	// seen through local contexts, whose ensemble per test row takes longer still.
	cfg := h.cfg.Model.Cfg
	opts := []tabpfn.Option{tabpfn.WithModel(h.cfg.Model), tabpfn.WithEnsemble(j.ensemble), tabpfn.WithSeed(j.seed),
		tabpfn.WithMaxRows(min(cfg.MaxRows, tabpfn.MaxContextRows)), tabpfn.WithMaxFeatures(min(cfg.MaxFeatures, tabpfn.MaxContextFeatures)),
		tabpfn.WithLocalContexts(0)}
	if j.pairwise >= 0 {
		opts = append(opts, tabpfn.WithPairwise(j.pairwise))
	}
	clf, err := tabpfn.NewClassifier(opts...)
	if err != nil {
		return result{}, err
	}
	p, err := clf.FitPredictTables(j.train, j.test)
	if err != nil {
		return result{}, err
	}
	return result{proba: p, warnings: clf.Warnings(), members: clf.Ensemble(), pairs: clf.Pairs()}, nil
}

func (j *job) response(res result) predictResponse {
	resp := predictResponse{
		Task: j.task, Target: j.train.Target, Classes: j.train.Classes, Seed: j.seed,
		Probabilities: make([][]float64, res.proba.Rows), Predictions: make([]string, res.proba.Rows),
		Warnings: res.warnings, Ensemble: res.members, Pairs: res.pairs,
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	for i, c := range metrics.Argmax(res.proba) {
		resp.Probabilities[i] = res.proba.Row(i)
		resp.Predictions[i] = j.train.Classes[c]
	}
	return resp
}

// writeJSON writes v as the response body with its status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(errorBody{Error: fmt.Sprintf("encoding the answer: %v", err)})
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

type errorBody struct {
	Error string `json:"error"`
}

// fail answers with err's status (500 for an error without one) and records the message
// for the request's log record.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var se *statusError
	if errors.As(err, &se) {
		status = se.status
	}
	if info := infoOf(r); info != nil {
		info.err = err.Error()
	}
	writeJSON(w, status, errorBody{Error: err.Error()})
}
