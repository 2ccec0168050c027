// Package idlework runs the box's background talkers to the review
// service (heartbeats, coaching notes): one step at a time, only while the
// box is idle, never while live — the stream comes first.
//
// Going live cuts a step in flight off; it is tried again as soon as the
// box is idle. A failing step is retried with doubling waits (with jitter,
// so a fleet that lost the same uplink does not come back in step) and
// one warning in the journal per outage, not one per try: a box offline
// for a day must not fill the journal.
package idlework

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Config sets up a Loop.
type Config struct {
	// Name starts every log message ("heartbeat", "notes").
	Name string
	// Interval between steps while idle and all is well.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed step.
	MinBackoff, MaxBackoff time.Duration
	// Step is one round of work; its ctx ends when the box goes live.
	Step   func(ctx context.Context) error
	Logger *slog.Logger // nil: slog.Default()
	// After is the clock the waits run on (nil: time.After); tests
	// drive the loop through it.
	After func(time.Duration) <-chan time.Time
}

// Loop runs Step. SetLive and Wake may be called from any goroutine.
type Loop struct {
	cfg  Config
	wake chan struct{}

	mu     sync.Mutex
	live   bool
	cancel context.CancelCauseFunc // cuts the step in flight off
}

// errLive is the cause of a step's ctx ending because the box went live.
var errLive = errors.New("idlework: the box went live")

// New fills in cfg's defaults: a zero MinBackoff is the Interval, a
// MaxBackoff below MinBackoff is MinBackoff.
func New(cfg Config) *Loop {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = cfg.Interval
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	return &Loop{cfg: cfg, wake: make(chan struct{}, 1)}
}

// SetLive stops the steps while the box is live (one in flight is cut
// off) and runs one as soon as it is idle again.
func (l *Loop) SetLive(live bool) {
	l.mu.Lock()
	was := l.live
	l.live = live
	if live && l.cancel != nil {
		l.cancel(errLive)
	}
	l.mu.Unlock()
	if was && !live {
		l.Wake()
	}
}

// Wake runs a step now instead of at the end of the wait (once idle).
func (l *Loop) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run runs steps until ctx ends: one at start, then one every Interval
// while idle, one after each live and one after each Wake.
func (l *Loop) Run(ctx context.Context) error {
	name, log := l.cfg.Name, l.cfg.Logger
	backoff := l.cfg.MinBackoff
	failing := false
	for {
		if err := l.waitIdle(ctx); err != nil {
			return err
		}
		cut, err := l.step(ctx)
		wait := l.cfg.Interval
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case cut:
			continue // run again once idle
		case err != nil:
			if !failing {
				log.Warn(name+": review service not reachable; retrying quietly", "err", err)
			} else {
				log.Debug(name+": still failing", "err", err)
			}
			failing = true
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, l.cfg.MaxBackoff)
		default:
			if failing {
				log.Info(name + ": review service reachable again")
			}
			failing, backoff = false, l.cfg.MinBackoff
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.cfg.After(wait):
		case <-l.wake:
		}
	}
}

func (l *Loop) waitIdle(ctx context.Context) error {
	for {
		l.mu.Lock()
		live := l.live
		l.mu.Unlock()
		if !live {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.wake:
		}
	}
}

// step runs Step under a context that going live cancels; cut reports
// that the box went live before or while it ran, so its failure is no
// outage.
func (l *Loop) step(ctx context.Context) (cut bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l.mu.Lock()
	if l.live {
		l.mu.Unlock()
		return true, nil
	}
	l.cancel = cancel
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.cancel = nil
		l.mu.Unlock()
	}()
	err = l.cfg.Step(sctx)
	return err != nil && errors.Is(context.Cause(sctx), errLive), err
}
