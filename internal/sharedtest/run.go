package sharedtest

import (
	"context"
	"testing"
	"time"
)

// Run runs run in its own goroutine for the rest of the test: when the
// test ends its context is cancelled, and the test fails if run then
// returns an error or has not returned within wait — a component that
// ignores cancellation would otherwise leak into the next test unseen.
// name says which component in the failure. The returned channel is
// closed once run has returned, for tests that expect it to end early.
func Run(t testing.TB, name string, wait time.Duration, run func(ctx context.Context) error) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	var err error
	go func() {
		defer close(ended)
		err = run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ended:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(wait):
			t.Errorf("%s did not return %v after its context was cancelled", name, wait)
		}
	})
	return ended
}
