package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// writeMargin is added to the read timeout and the request deadline to make the write
// timeout, so that a 504 can still be written when a request uses its whole deadline.
const writeMargin = 10 * time.Second

// Server is the Handler behind an http.Server with timeouts and graceful shutdown.
type Server struct {
	h     *Handler
	srv   *http.Server
	grace time.Duration
	log   *slog.Logger
}

// NewServer checks cfg and returns a server ready for Serve.
func NewServer(cfg Config) (*Server, error) {
	h, err := NewHandler(cfg)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		// The write timeout runs from the end of the request's header: it must cover reading
		// the body, the deadline of the request and writing the answer.
		WriteTimeout:   cfg.ReadTimeout + cfg.Timeout + writeMargin,
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	return &Server{h: h, srv: srv, grace: cfg.ShutdownGrace, log: h.log}, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() *Handler { return s.h }

// Serve answers requests on ln until ctx ends, then shuts down gracefully: /readyz fails,
// the listener closes (new connections are refused), idle connections close, and requests in
// flight get up to the grace period to finish, as do computations still running for requests
// that timed out. It returns nil after a clean shutdown, an error when serving failed or the
// grace period ran out (connections still open are then closed). The model may be released
// once Serve has returned nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	s.log.Info("serving", slog.String("addr", ln.Addr().String()), slog.String("model", s.h.cfg.ModelName),
		slog.String("device", s.h.cfg.Model.Dev.Name()), slog.Int("max_concurrent", s.h.cfg.MaxConcurrent),
		slog.Int("queue", s.h.cfg.Queue))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	start := time.Now()
	running, waiting := s.h.limit.load()
	s.log.Info("shutting down", slog.Int("running", running), slog.Int("waiting", waiting),
		slog.Float64("grace_s", s.grace.Seconds()))
	s.h.drain()
	sctx, cancel := context.WithTimeout(context.Background(), s.grace)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		s.srv.Close()
		return fmt.Errorf("serve: %w", serr)
	}
	if err != nil {
		s.srv.Close()
		return fmt.Errorf("serve: shutdown: requests still in flight after the %v grace period: %w", s.grace, err)
	}
	if err := s.h.wait(sctx); err != nil {
		return fmt.Errorf("serve: shutdown: predictions still computing after the %v grace period", s.grace)
	}
	s.log.Info("stopped", slog.Float64("shutdown_s", time.Since(start).Seconds()))
	return nil
}
