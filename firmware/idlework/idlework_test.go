package idlework

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// long bounds every wait for the loop: generous under load, never reached
// when the loop works.
const long = 10 * time.Second

// rig drives a Loop through channels: each step announces itself and
// waits for the test's verdict (or its ctx), each wait is reported and
// only fires when the test says so.
type rig struct {
	l       *Loop
	started chan context.Context
	verdict chan error
	waits   chan time.Duration
	fire    chan time.Time
	done    chan error
	cancel  context.CancelFunc

	mu  sync.Mutex
	log bytes.Buffer
}

func (r *rig) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Write(p)
}

func (r *rig) logged() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

func newRig(t *testing.T, live bool) *rig {
	t.Helper()
	r := &rig{
		started: make(chan context.Context),
		verdict: make(chan error),
		waits:   make(chan time.Duration, 1),
		fire:    make(chan time.Time),
		done:    make(chan error, 1),
	}
	r.l = New(Config{
		Name: "test", Interval: time.Hour, MinBackoff: 100 * time.Second, MaxBackoff: 800 * time.Second,
		Logger: slog.New(slog.NewTextHandler(r, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Step: func(ctx context.Context) error {
			select {
			case r.started <- ctx:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case err := <-r.verdict:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		After: func(d time.Duration) <-chan time.Time {
			select {
			case r.waits <- d:
			case <-time.After(long):
				t.Errorf("the loop asked for a wait of %v nobody looked at", d)
			}
			return r.fire
		},
	})
	r.l.SetLive(live)
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go func() { r.done <- r.l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(long):
			t.Error("Run did not end with its ctx")
		}
	})
	return r
}

func (r *rig) step(t *testing.T) context.Context {
	t.Helper()
	select {
	case ctx := <-r.started:
		return ctx
	case <-time.After(long):
		t.Fatal("no step started")
		return nil
	}
}

func (r *rig) wait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-r.waits:
		return d
	case <-time.After(long):
		t.Fatal("the loop asked for no wait")
		return 0
	}
}

// noStep checks that no step starts for a while: it can only miss a
// defect under heavy load, never fail a working loop.
func (r *rig) noStep(t *testing.T) {
	t.Helper()
	select {
	case <-r.started:
		t.Fatal("a step started while it should not")
	case d := <-r.waits:
		t.Fatalf("the loop waited %v while it should not", d)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestBackoffAndWarnings(t *testing.T) {
	fail := errors.New("no route to host")
	type want struct{ lo, hi time.Duration }
	tests := []struct {
		name     string
		results  []error
		waits    []want
		warns    int
		recovers int
	}{
		{"healthy", []error{nil, nil}, []want{{time.Hour, time.Hour}, {time.Hour, time.Hour}}, 0, 0},
		{"doubles to the cap with jitter", []error{fail, fail, fail, fail, fail}, []want{
			{50 * time.Second, 100 * time.Second},
			{100 * time.Second, 200 * time.Second},
			{200 * time.Second, 400 * time.Second},
			{400 * time.Second, 800 * time.Second},
			{400 * time.Second, 800 * time.Second},
		}, 1, 0},
		{"one warning per outage, backoff starts over", []error{fail, fail, nil, fail}, []want{
			{50 * time.Second, 100 * time.Second},
			{100 * time.Second, 200 * time.Second},
			{time.Hour, time.Hour},
			{50 * time.Second, 100 * time.Second},
		}, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, false)
			for i, res := range tc.results {
				r.step(t)
				r.verdict <- res
				if d := r.wait(t); d < tc.waits[i].lo || d > tc.waits[i].hi {
					t.Errorf("wait %d = %v, want within [%v, %v]", i, d, tc.waits[i].lo, tc.waits[i].hi)
				}
				r.fire <- time.Now()
			}
			r.step(t) // the last wait is over: the loop is at its next step
			log := r.logged()
			if n := strings.Count(log, "test: review service not reachable; retrying quietly"); n != tc.warns {
				t.Errorf("%d warnings, want %d:\n%s", n, tc.warns, log)
			}
			if n := strings.Count(log, "test: review service reachable again"); n != tc.recovers {
				t.Errorf("%d recoveries, want %d:\n%s", n, tc.recovers, log)
			}
		})
	}
}

// Jitter spreads the waits: many failures at one backoff do not all wait
// the same.
func TestJitterVaries(t *testing.T) {
	r := newRig(t, false)
	seen := map[time.Duration]bool{}
	for range 8 {
		r.step(t)
		r.verdict <- errors.New("down")
		seen[r.wait(t)] = true
		r.fire <- time.Now()
	}
	if len(seen) < 2 {
		t.Errorf("8 waits all the same: %v", seen)
	}
}

func TestLive(t *testing.T) {
	tests := []struct {
		name  string
		start bool // live when Run starts
	}{
		{"going live cuts a step in flight off; retried once idle", false},
		{"no step while live at start", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.start)
			if !tc.start {
				ctx := r.step(t)
				r.l.SetLive(true)
				select {
				case <-ctx.Done():
				case <-time.After(long):
					t.Fatal("going live did not cut the step off")
				}
			}
			r.noStep(t)
			r.l.Wake() // a wake while live runs nothing either
			r.noStep(t)
			r.l.SetLive(false)
			r.step(t)
			r.verdict <- nil
			if d := r.wait(t); d != time.Hour {
				t.Errorf("wait after the retried step = %v, want the interval", d)
			}
			if log := r.logged(); strings.Contains(log, "not reachable") {
				t.Errorf("a step cut off by going live was taken for an outage:\n%s", log)
			}
		})
	}
}

func TestWakeCutsTheWait(t *testing.T) {
	r := newRig(t, false)
	r.step(t)
	r.verdict <- nil
	r.wait(t) // an hour, never fired
	r.l.Wake()
	r.step(t)
}

func TestContextEndsRun(t *testing.T) {
	tests := []struct {
		name string
		at   func(t *testing.T, r *rig)
	}{
		{"while waiting", func(t *testing.T, r *rig) { r.step(t); r.verdict <- nil; r.wait(t) }},
		{"during a step", func(t *testing.T, r *rig) { r.step(t) }},
		{"while live", func(t *testing.T, r *rig) { r.l.SetLive(true); r.noStep(t) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			live := tc.name == "while live"
			r := newRig(t, live)
			tc.at(t, r)
			r.cancel()
			select {
			case err := <-r.done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run = %v, want context.Canceled", err)
				}
				r.done <- err // for the cleanup
			case <-time.After(long):
				t.Fatal("Run did not end with its ctx")
			}
		})
	}
}
