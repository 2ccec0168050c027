// Package linkwatch notices the network coming back — an interface going
// up, an address or a route appearing — from the kernel's rtnetlink
// notifications, so publishers can retry at once instead of waiting out a
// backoff. It costs one socket and no polling.
package linkwatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Event says what changed.
type Event struct {
	Kind string // "link-up", "addr", "route"
	// Index of the interface (0 for routes).
	Index int
}

// Watcher reads rtnetlink notifications.
type Watcher struct {
	f *os.File
}

// ErrUnsupported is returned where rtnetlink does not exist.
var ErrUnsupported = errors.New("linkwatch: not supported on this platform")

// Open subscribes to link, IPv4/IPv6 address and route changes in the
// calling thread's network namespace.
func Open() (*Watcher, error) {
	f, err := open()
	if err != nil {
		return nil, fmt.Errorf("linkwatch: %w", err)
	}
	return &Watcher{f: f}, nil
}

// Close stops a Run in progress.
func (w *Watcher) Close() error { return w.f.Close() }

// Run calls fn for every "link came back" event until ctx ends or the
// watcher is closed; bursts within debounce are reported once, with the
// first event. It closes the watcher when it returns.
func (w *Watcher) Run(ctx context.Context, debounce time.Duration, fn func(Event)) error {
	events := make(chan Event, 16)
	errc := make(chan error, 1)
	go func() {
		errc <- w.read(events)
		close(events)
	}()
	defer func() {
		_ = w.f.Close()
		for range events { // let the reader finish
		}
	}()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				err := <-errc
				if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
					return nil
				}
				return fmt.Errorf("linkwatch: %w", err)
			}
			if now := time.Now(); now.Sub(last) >= debounce {
				last = now
				fn(ev)
			}
		}
	}
}
