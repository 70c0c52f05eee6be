package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/internal/interrupt"
)

// evalSteps are the parts of `kiln tabpfn eval` that depend on the task, for evalDatasets:
// R is the report row, M the model the protocol scores and Res the protocol's result.
type evalSteps[R, M, Res any] struct {
	// row returns a dataset's row with its reference scores, and the error reading them.
	row func(name, path string) (R, error)
	// load reads a dataset's table, with options.
	load    func(path string, opts data.Options) (*data.Table, error)
	options data.Options
	// describe returns the progress line for a loaded table and whether to score it; a
	// table it passes over is marked skipped in row.
	describe func(row *R, t *data.Table) (string, bool)
	// evaluate runs the protocol on t with a new model from newModel for every split.
	evaluate func(ctx context.Context, t *data.Table, newModel func() M) (Res, error)
	// model returns a new model that prints its warnings to w.out and reports them to w.add.
	model func(w *evalWarnings) (M, error)
	// record sets the result in row and returns the scores for the progress line.
	record func(row *R, res Res) string
}

// evalRowPtr is a pointer to a report row of `kiln tabpfn eval`.
type evalRowPtr[R any] interface {
	*R
	setError(err error)      // records why the dataset failed
	setWarnings(ws []string) // records the warnings of the dataset's splits
}

// evalDatasets scores each dataset of paths in turn with steps and returns a row for each
// and how many failed, printing progress to the command's standard error. A dataset whose
// reference scores cannot be read is scored without them; one that cannot be loaded or
// scored is a row with its error. Model options are checked before the first dataset.
func evalDatasets[R, M, Res any, P evalRowPtr[R]](cmd *cobra.Command, paths []string, steps evalSteps[R, M, Res]) ([]R, int, error) {
	if _, err := steps.model(&evalWarnings{}); err != nil {
		return nil, 0, err
	}
	// The protocol stops between splits when the context is cancelled; an interrupted
	// evaluation prints no report and exits with the signal's status.
	ctx := cmdContext(cmd)
	interrupt.Cooperate()
	progress := cmd.ErrOrStderr()
	var rows []R
	failed := 0
	for i, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		row, err := steps.row(name, path)
		if err != nil {
			fmt.Fprintf(progress, "note: %v\n", err)
		}
		head := fmt.Sprintf("[%d/%d] %s:", i+1, len(paths), name)
		t, err := steps.load(path, steps.options)
		if err != nil {
			P(&row).setError(err)
			failed++
			fmt.Fprintf(progress, "%s %v\n", head, err)
			rows = append(rows, row)
			continue
		}
		line, ok := steps.describe(&row, t)
		fmt.Fprintf(progress, "%s %s\n", head, line)
		if !ok {
			rows = append(rows, row)
			continue
		}
		start := time.Now()
		warn := &evalWarnings{out: &onceWriter{w: progress}}
		res, err := steps.evaluate(ctx, t, func() M {
			m, err := steps.model(warn)
			if err != nil {
				panic(err) // the options were checked before the first dataset
			}
			return m
		})
		if err := interrupted(ctx); err != nil {
			return nil, failed, err
		}
		P(&row).setWarnings(warn.collected())
		if err != nil {
			P(&row).setError(err)
			failed++
			fmt.Fprintf(progress, "    failed: %v\n", err)
		} else {
			fmt.Fprintf(progress, "    %s in %.1f s\n", steps.record(&row, res), time.Since(start).Seconds())
		}
		rows = append(rows, row)
	}
	return rows, failed, nil
}

// interrupted returns nil while ctx is live and otherwise the error that ends the command:
// the signal's exit status, or the context's error when no signal cancelled it.
func interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if err := interrupt.Err(ctx); err != nil {
		return err
	}
	return ctx.Err()
}

// evalWarnings gathers the warnings of one dataset's splits, whose models may run at once:
// out prints each line a model writes once, and add keeps each warning a model reports once,
// in the order first reported.
type evalWarnings struct {
	out  io.Writer
	mu   sync.Mutex
	list []string
}

// add keeps those of ws not kept yet.
func (w *evalWarnings) add(ws []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range ws {
		if !slices.Contains(w.list, s) {
			w.list = append(w.list, s)
		}
	}
}

// collected returns the warnings kept by add.
func (w *evalWarnings) collected() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.list
}

// baselineSet is the reference scores of a baselines file: D for each dataset.
type baselineSet[D any] interface {
	~map[string]D
	Lookup(name string) (D, bool)
}

// baselineFiles finds the reference scores of datasets: those in the --baselines file when
// one was given, otherwise those in the file called name in the folder above the dataset's,
// each file read once. A missing default file is not an error, only no references.
type baselineFiles[B baselineSet[D], D any] struct {
	fixed B
	name  string
	load  func(path string) (B, error)
	cache map[string]B
}

// newBaselineFiles reads the --baselines file flagged, unless it is "", and returns the
// finder of reference scores read by load from it or else from default files called name.
func newBaselineFiles[B baselineSet[D], D any](flagged, name string, load func(string) (B, error)) (*baselineFiles[B, D], error) {
	f := &baselineFiles[B, D]{name: name, load: load, cache: map[string]B{}}
	if flagged != "" {
		var err error
		if f.fixed, err = load(flagged); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// of returns the reference scores of the dataset name at path (the zero D when there are
// none), and the error reading its default file the first time it is read.
func (f *baselineFiles[B, D]) of(path, name string) (D, error) {
	b, err := f.forPath(path)
	d, _ := b.Lookup(name)
	return d, err
}

// forPath returns the reference scores that serve the dataset at path.
func (f *baselineFiles[B, D]) forPath(path string) (B, error) {
	if f.fixed != nil {
		return f.fixed, nil
	}
	file := filepath.Join(filepath.Dir(path), "..", f.name)
	if b, ok := f.cache[file]; ok {
		return b, nil
	}
	f.cache[file] = nil
	if _, err := os.Stat(file); err != nil {
		return nil, nil
	}
	b, err := f.load(file)
	if err != nil {
		return nil, err
	}
	f.cache[file] = b
	return b, nil
}

// writeEvalReport writes rep to w, as indented JSON when asJSON is set and otherwise as
// printText lays it out, and then returns an error when any of the total datasets failed.
func writeEvalReport[T any](w io.Writer, rep T, asJSON bool, printText func(io.Writer, T) error, failed, total int) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := printText(w, rep); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d datasets failed", failed, total)
	}
	return nil
}
