package main

import (
	"github.com/kiln-ml/kiln/internal/flagbound"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn"
	"github.com/kiln-ml/kiln/serve"
)

func init() { addCommand(newServeCmd()) }

func newServeCmd() *cobra.Command {
	cfg := serve.DefaultConfig()
	var addr, modelPath, devName string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve TabPFN predictions over HTTP",
		Long: `serve answers TabPFN predictions over HTTP. POST /v1/predict takes a training table and test
rows, as JSON or as multipart/form-data with train and test CSV files, fits a fresh classifier
on the training rows and returns the class probabilities of every test row. GET /healthz,
/readyz and /v1/model report liveness, readiness and the model with the server's limits.

The model is loaded once and shared by every request. At most --max-concurrent predictions
compute at once and at most --queue more wait for a slot; beyond that, or when a request's
--timeout passes while it waits, the answer is 503 with Retry-After, and a prediction that
passes it while computing is answered with 504. Logs go to standard error as JSON, one
record per request. SIGINT or SIGTERM stops accepting connections and lets requests in
flight finish within --grace, then kiln exits with status 0.`,
		Example: `  kiln serve
  kiln serve --addr 0.0.0.0:8080 --model run.safetensors --max-concurrent 2 --queue 32
  curl -s localhost:8080/v1/predict -F train=@train.csv -F test=@test.csv -F target=species`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			cfg.Logger = log
			// The flags are checked before the model loads, so a bad value fails at once.
			if err := cfg.Validate(); err != nil {
				return err
			}
			dev, err := device.Get(devName)
			if err != nil {
				return err
			}
			cfg.ModelName = modelPath
			if modelPath == "embedded" {
				cfg.Model, err = tabpfn.DefaultModel(dev)
			} else {
				cfg.Model, err = tabpfn.Load(dev, modelPath)
			}
			if err != nil {
				return err
			}
			srv, err := serve.NewServer(cfg)
			if err != nil {
				cfg.Model.Release()
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				cfg.Model.Release()
				return err
			}
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := srv.Serve(ctx, ln); err != nil {
				// A computation may still hold the model: leave it to the process's exit.
				return err
			}
			cfg.Model.Release()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	f.StringVar(&modelPath, "model", "embedded", `model checkpoint to serve, or "embedded" for the model inside kiln`)
	f.StringVar(&devName, "device", "cpu", `device to run on ("cpu", "cuda", "cuda:1")`)
	flagbound.Int(f, &cfg.MaxConcurrent, "max-concurrent", cfg.MaxConcurrent, 1, serve.MaxConcurrentLimit, "predictions computing at once (the CPU backend already spreads one over every core)")
	flagbound.Int(f, &cfg.Queue, "queue", cfg.Queue, 0, serve.MaxQueueLimit, "requests that may wait for a slot; beyond them the answer is 503")
	flagbound.Int64(f, &cfg.MaxBody, "max-body", cfg.MaxBody, serve.MinBody, serve.MaxBodyLimit, "largest request body in bytes (413 beyond it)")
	flagbound.Int(f, &cfg.MaxRows, "max-rows", cfg.MaxRows, 1, serve.MaxRowsLimit, "most rows of each table, training and test (413 beyond it)")
	flagbound.Int(f, &cfg.MaxColumns, "max-columns", cfg.MaxColumns, 2, serve.MaxColumnsLimit, "most columns of each table (413 beyond it)")
	flagbound.Int(f, &cfg.MaxCells, "max-cells", cfg.MaxCells, 2, serve.MaxCellsLimit, "most cells of the two tables together (413 beyond it)")
	flagbound.Int(f, &cfg.MaxEnsemble, "max-ensemble", cfg.MaxEnsemble, 1, serve.MaxEnsembleLimit, "most ensemble members, and members per pair of classes, a request may ask for")
	flagbound.Duration(f, &cfg.Timeout, "timeout", cfg.Timeout, serve.MinTimeout, serve.MaxTimeout, "deadline of a prediction request, queue wait included (503 while waiting, 504 while computing)")
	flagbound.Duration(f, &cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, serve.MinTimeout, serve.MaxTimeout, "time to read a whole request, body included")
	flagbound.Duration(f, &cfg.ShutdownGrace, "grace", cfg.ShutdownGrace, 0, serve.MaxTimeout, "on SIGINT or SIGTERM, how long requests in flight may take to finish (keep it above --timeout)")
	cmd.Flags().SortFlags = false
	return cmd
}
