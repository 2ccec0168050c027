package sharedtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Running is a component started by Run.
type Running struct {
	ended chan struct{}
	stop  func()
}

// Ended is closed once the component's run function has returned, for
// tests that expect it to end early (or must not see it end).
func (r *Running) Ended() <-chan struct{} { return r.ended }

// Stop does now what the end of the test would: cancel the context and
// wait for run to return, failing the test on an error or a missed
// cancel. Later calls, and the one at the end of the test, do nothing.
func (r *Running) Stop() { r.stop() }

// Run runs run in its own goroutine for the rest of the test: when the
// test ends its context is cancelled, and the test fails if run then
// returns an error or has not returned within wait — a component that
// ignores cancellation would otherwise leak into the next test unseen.
// name says which component in the failure.
func Run(t testing.TB, name string, wait time.Duration, run func(ctx context.Context) error) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{ended: make(chan struct{})}
	var err error
	go func() {
		defer close(r.ended)
		err = run(ctx)
	}()
	r.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-r.ended:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(wait):
			t.Errorf("%s did not return %v after its context was cancelled", name, wait)
		}
	})
	t.Cleanup(r.stop)
	return r
}

// CanceledIsClean wraps the run function of a component that returns
// ctx.Err() when its context ends, so that Run counts that end as clean
// and still reports any other error.
func CanceledIsClean(run func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if err := run(ctx); !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
}
