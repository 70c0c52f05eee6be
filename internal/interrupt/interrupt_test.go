package interrupt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

func reset() {
	cooperative.Store(false)
	received.Store(nil)
}

func TestCodes(t *testing.T) {
	if Code(os.Interrupt) != 130 || Code(syscall.SIGTERM) != 143 {
		t.Fatalf("codes %d %d", Code(os.Interrupt), Code(syscall.SIGTERM))
	}
	if ExitCode(nil) != 0 || ExitCode(errors.New("x")) != 1 {
		t.Fatal("plain exit codes")
	}
	if ExitCode(fmt.Errorf("wrapped: %w", &ExitError{Code: 143, Err: errors.New("x")})) != 143 {
		t.Fatal("a wrapped ExitError lost its code")
	}
}

// Without Cooperate the handler waits for an output being written, then exits with the
// signal's status, and no output starts after the signal.
func TestWatchExitsAfterOutput(t *testing.T) {
	reset()
	defer reset()
	ch := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	var msg bytes.Buffer
	ctx, stop := watch(context.Background(), ch, &msg, func(c int) { exited <- c })
	defer stop()
	release, err := Hold()
	if err != nil {
		t.Fatal(err)
	}
	ch <- syscall.SIGTERM
	<-ctx.Done()
	select {
	case <-exited:
		t.Fatal("exited while an output was being written")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if c := <-exited; c != 143 {
		t.Fatalf("exit status %d, want 143", c)
	}
	defer outputs.Unlock() // the exit path keeps the lock; a real exit never returns
	if ExitCode(Err(ctx)) != 143 {
		t.Fatalf("Err(ctx) = %v", Err(ctx))
	}
}

// With Cooperate the first signal only cancels; the command returns Err(ctx). A second one
// exits at once.
func TestWatchCooperative(t *testing.T) {
	reset()
	defer reset()
	Cooperate()
	ch := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	var msg bytes.Buffer
	ctx, stop := watch(context.Background(), ch, &msg, func(c int) { exited <- c })
	defer stop()
	if Err(ctx) != nil {
		t.Fatal("Err before a signal")
	}
	ch <- os.Interrupt
	<-ctx.Done()
	err := Err(ctx)
	if ExitCode(err) != 130 || err.Error() != "interrupted by SIGINT" {
		t.Fatalf("Err = %v", err)
	}
	if _, err := Hold(); ExitCode(err) != 130 {
		t.Fatalf("Hold after the signal: %v", err)
	}
	select {
	case c := <-exited:
		t.Fatalf("exited (%d) at the first signal", c)
	case <-time.After(20 * time.Millisecond):
	}
	ch <- os.Interrupt
	if c := <-exited; c != 130 {
		t.Fatalf("second signal: exit %d", c)
	}
}

func TestErrWithoutSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Err(ctx) != nil || Err(nil) != nil {
		t.Fatal("a plain cancellation reported as an interrupt")
	}
}
