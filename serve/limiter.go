package serve

import (
	"context"
	"errors"
)

// errQueueFull is acquire's answer when every slot is taken and the queue is full.
var errQueueFull = errors.New("serve: queue full")

// limiter is a semaphore with a bounded queue: at most cap(slots) holders at once, and at
// most cap(tickets) − cap(slots) waiters. A request first takes a ticket without blocking
// (no ticket: the queue is full), then waits for a slot until its context ends.
type limiter struct {
	slots   chan struct{} // one token per computation running
	tickets chan struct{} // one token per request running or waiting
}

func newLimiter(concurrent, queue int) *limiter {
	return &limiter{slots: make(chan struct{}, concurrent), tickets: make(chan struct{}, concurrent+queue)}
}

// acquire takes a slot, waiting in the queue while none is free. It returns errQueueFull
// when the queue is full and ctx.Err() when ctx ends while waiting; otherwise the caller
// holds a slot until it calls release, exactly once.
func (l *limiter) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case l.tickets <- struct{}{}:
	default:
		return nil, errQueueFull
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		<-l.tickets
		return nil, ctx.Err()
	}
	return func() {
		<-l.slots
		<-l.tickets
	}, nil
}

// load returns the requests computing and those waiting.
func (l *limiter) load() (running, waiting int) {
	running = len(l.slots)
	return running, max(0, len(l.tickets)-running)
}
