// Package interrupt turns SIGINT and SIGTERM into a cancelled context and the exit status a
// shell reports for a process stopped by the signal: 128 plus its number, 130 for SIGINT and
// 143 for SIGTERM, so scripts and schedulers can tell an interrupted run from a finished one.
//
// A command that can stop cleanly at a cancelled context (a training run that saves its
// checkpoint first) calls Cooperate and returns Err(ctx) once it has stopped. Any other
// command is ended by the handler itself: it waits for an output being written under Hold
// to be complete, then exits with the signal's status, so an interrupted command never
// leaves a partial output. A second signal always exits at once.
package interrupt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// Signals are the signals handled.
var Signals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// ExitError is an error that asks main for a particular exit status.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the exit status for a command's error: 0 for nil, an ExitError's Code, and 1
// for any other error.
func ExitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	}
	return 1
}

// Code is the exit status for a process stopped by sig: 128 plus the signal number.
func Code(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// Name is the conventional name of sig ("SIGINT").
func Name(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// Cause is the cause of a context cancelled by a signal.
type Cause struct{ Signal os.Signal }

func (c *Cause) Error() string { return "interrupted by " + Name(c.Signal) }

var (
	outputs     sync.Mutex // held while an output is written; the exit path waits for it
	cooperative atomic.Bool
	received    atomic.Pointer[Cause]
)

// Watch cancels the returned context, with a *Cause, at the first SIGINT or SIGTERM and
// reports the signal on msg. Unless Cooperate was called, it then ends the process with
// the signal's status once no output is being written; a second signal ends it at once.
// stop uninstalls the handler.
func Watch(parent context.Context, msg io.Writer) (ctx context.Context, stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, Signals...)
	ctx, stopWatch := watch(parent, ch, msg, os.Exit)
	return ctx, func() { signal.Stop(ch); stopWatch() }
}

func watch(parent context.Context, ch <-chan os.Signal, msg io.Writer, exit func(int)) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			c := &Cause{Signal: sig}
			received.Store(c)
			cancel(c)
			if cooperative.Load() {
				fmt.Fprintf(msg, "kiln: %s received: stopping cleanly (send it again to stop at once)\n", Name(sig))
				select {
				case sig = <-ch:
					fmt.Fprintf(msg, "kiln: %s received again: exiting now\n", Name(sig))
					exit(Code(sig))
				case <-done:
				}
				return
			}
			fmt.Fprintf(msg, "kiln: %s received: stopping; no further output is written\n", Name(sig))
			outputs.Lock() // an output being committed completes first; none starts after
			exit(Code(sig))
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() { once.Do(func() { close(done); cancel(nil) }) }
}

// Cooperate declares that the running command stops by itself when its context is
// cancelled, so the first signal only cancels it.
func Cooperate() { cooperative.Store(true) }

// Err returns an *ExitError with the signal's status when ctx was cancelled by a signal
// (Watch), and nil otherwise.
func Err(ctx context.Context) error {
	var c *Cause
	if ctx == nil || !errors.As(context.Cause(ctx), &c) {
		return nil
	}
	return &ExitError{Code: Code(c.Signal), Err: c}
}

// Hold is taken while an output is written: the handler does not end the process until
// release is called. Once a signal has been received no new output may start, and Hold
// returns the interruption as an *ExitError.
func Hold() (release func(), err error) {
	outputs.Lock()
	if c := received.Load(); c != nil {
		outputs.Unlock()
		return nil, &ExitError{Code: Code(c.Signal), Err: c}
	}
	return outputs.Unlock, nil
}
