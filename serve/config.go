package serve

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/kiln-ml/kiln/models/tabpfn"
)

// Config sets what the server serves and its limits. Start from DefaultConfig: every field
// but Model, ModelName and Logger must lie in the range Validate checks.
type Config struct {
	// Model is loaded once and shared, read-only, by every request's classifier. The
	// caller keeps ownership: release it only after Server.Serve has returned.
	Model *tabpfn.Model
	// ModelName says where the model came from ("embedded" or a checkpoint path), for
	// /v1/model and the logs.
	ModelName string

	// MaxConcurrent is the number of predictions computing at once.
	MaxConcurrent int
	// Queue is the number of requests that may wait for a free slot beyond MaxConcurrent;
	// one more is refused with 503 at once.
	Queue int
	// MaxBody bounds the request body in bytes (413 beyond it).
	MaxBody int64
	// MaxRows bounds the rows of each table, training and test (413 beyond it).
	MaxRows int
	// MaxColumns bounds the columns of each table (413 beyond it).
	MaxColumns int
	// MaxCells bounds the cells of the training and test tables together (413 beyond it).
	MaxCells int
	// MaxEnsemble bounds the ensemble members and the members per pair of classes a request
	// may ask for, which bound its compute.
	MaxEnsemble int

	// Timeout is a request's deadline from the moment its handler starts: waiting for a
	// slot beyond it gives 503, computing beyond it 504.
	Timeout time.Duration
	// ReadHeaderTimeout and ReadTimeout bound reading a request's header and all of it.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its next request.
	IdleTimeout time.Duration
	// ShutdownGrace is how long shutdown waits for requests in flight (and computations
	// still running for requests that timed out) before cutting them off.
	ShutdownGrace time.Duration

	// Logger receives one record per request and the server's own events; nil discards
	// them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of kiln serve. One prediction at a time is the default
// because the CPU backend already spreads each prediction over every core.
func DefaultConfig() Config {
	return Config{
		ModelName:         "embedded",
		MaxConcurrent:     1,
		Queue:             16,
		MaxBody:           8 << 20,
		MaxRows:           10000,
		MaxColumns:        1000,
		MaxCells:          1000000,
		MaxEnsemble:       16,
		Timeout:           60 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownGrace:     70 * time.Second,
	}
}

// Bounds of the configuration, which kiln serve's flags check too. They keep a typo (a missing unit, an extra zero) from
// starting a server that cannot answer or that a single request can exhaust.
const (
	MaxConcurrentLimit    = 1024
	MaxQueueLimit         = 1 << 20
	MinBody, MaxBodyLimit = 1 << 10, 1 << 30
	MaxRowsLimit          = 10000000
	MaxColumnsLimit       = 100000
	MaxCellsLimit         = 100000000
	MaxEnsembleLimit      = 256
	MinTimeout            = 10 * time.Millisecond
	MaxTimeout            = 24 * time.Hour
)

// Validate checks the limits and timeouts against their bounds (not the model, which may
// be loaded after the check). Its messages name the fields as the flags of kiln serve do
// (max-concurrent for MaxConcurrent).
func (c Config) Validate() error {
	ints := []struct {
		name      string
		v, lo, hi int64
	}{
		{"max-concurrent", int64(c.MaxConcurrent), 1, MaxConcurrentLimit},
		{"queue", int64(c.Queue), 0, MaxQueueLimit},
		{"max-body", c.MaxBody, MinBody, MaxBodyLimit},
		{"max-rows", int64(c.MaxRows), 1, MaxRowsLimit},
		{"max-columns", int64(c.MaxColumns), 2, MaxColumnsLimit},
		{"max-cells", int64(c.MaxCells), 2, MaxCellsLimit},
		{"max-ensemble", int64(c.MaxEnsemble), 1, MaxEnsembleLimit},
	}
	for _, f := range ints {
		if f.v < f.lo || f.v > f.hi {
			return fmt.Errorf("serve: %s must be between %d and %d, got %d", f.name, f.lo, f.hi, f.v)
		}
	}
	durs := []struct {
		name      string
		v, lo, hi time.Duration
	}{
		{"timeout", c.Timeout, MinTimeout, MaxTimeout},
		{"read-header-timeout", c.ReadHeaderTimeout, MinTimeout, MaxTimeout},
		{"read-timeout", c.ReadTimeout, MinTimeout, MaxTimeout},
		{"idle-timeout", c.IdleTimeout, MinTimeout, MaxTimeout},
		{"grace", c.ShutdownGrace, 0, MaxTimeout},
	}
	for _, f := range durs {
		if f.v < f.lo || f.v > f.hi {
			return fmt.Errorf("serve: %s must be between %v and %v, got %v", f.name, f.lo, f.hi, f.v)
		}
	}
	return nil
}
