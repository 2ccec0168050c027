package hw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// Press says how a button was pressed.
type Press int

const (
	// ShortPress is reported on release, when the button was held less
	// than the long-press time.
	ShortPress Press = iota + 1
	// LongPress is reported the moment the hold reaches the long-press
	// time, while the button is still down, so the streamer feels the box
	// react without letting go. The later release reports nothing.
	LongPress
)

func (p Press) String() string {
	switch p {
	case ShortPress:
		return "short"
	case LongPress:
		return "long"
	}
	return fmt.Sprintf("Press(%d)", int(p))
}

// ButtonEvent is one recognised press.
type ButtonEvent struct {
	Button string
	Press  Press
	At     time.Time
}

// Button is one push button wired between a GPIO and ground (ActiveLow, the
// usual wiring with the internal pull-up) or between a GPIO and 3.3 V.
type Button struct {
	Name       string
	Pin        gpio.PinIn
	ActiveHigh bool
}

// ButtonOptions tune recognition; the zero value suits the box's tactile
// buttons.
type ButtonOptions struct {
	// Debounce is how long the contact must stay quiet before its level
	// counts. Default 30 ms.
	Debounce time.Duration
	// LongPress is the hold time of a long press. Default 3 s.
	LongPress time.Duration
	// Clock is the time source; nil means the real clock.
	Clock clockwork.Clock
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Defaults used when ButtonOptions leaves a field zero.
const (
	DefaultDebounce  = 30 * time.Millisecond
	DefaultLongPress = 3 * time.Second
	// idleWait bounds one WaitForEdge while nothing happens so that a
	// cancelled context is noticed even on a pin whose Halt cannot wake it.
	idleWait = time.Second
)

// WatchButtons configures the pins as inputs with edge detection and reports
// presses on the returned channel until ctx ends, then closes it. Waiting is
// edge-triggered (WaitForEdge); nothing polls.
func WatchButtons(ctx context.Context, opts ButtonOptions, buttons ...Button) (<-chan ButtonEvent, error) {
	if opts.Debounce == 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.LongPress == 0 {
		opts.LongPress = DefaultLongPress
	}
	if opts.Debounce < 0 || opts.LongPress <= opts.Debounce {
		return nil, fmt.Errorf("hw: buttons: need 0 < debounce (%s) < long press (%s)", opts.Debounce, opts.LongPress)
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(buttons) == 0 {
		return nil, errors.New("hw: buttons: none configured")
	}
	seen := map[string]bool{}
	for _, b := range buttons {
		if b.Name == "" || b.Pin == nil {
			return nil, fmt.Errorf("hw: button %q: name and pin are required", b.Name)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("hw: button %q configured twice", b.Name)
		}
		seen[b.Name] = true
		pull := gpio.PullUp
		if b.ActiveHigh {
			pull = gpio.PullDown
		}
		if err := b.Pin.In(pull, gpio.BothEdges); err != nil {
			return nil, fmt.Errorf("hw: button %q on %s: %w", b.Name, b.Pin, err)
		}
	}

	out := make(chan ButtonEvent, 8)
	var wg sync.WaitGroup
	for _, b := range buttons {
		w := &buttonWatcher{Button: b, opts: opts, out: out}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	go func() {
		<-ctx.Done()
		// Wake every WaitForEdge blocked on a real line.
		for _, b := range buttons {
			_ = b.Pin.Halt()
		}
	}()
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, nil
}

type buttonWatcher struct {
	Button
	opts ButtonOptions
	out  chan<- ButtonEvent
}

func (w *buttonWatcher) pressed() bool {
	return bool(w.Pin.Read()) == w.ActiveHigh
}

// settle waits until the contact has been quiet for the debounce time and
// returns the level it settled on.
func (w *buttonWatcher) settle(ctx context.Context) bool {
	for ctx.Err() == nil && w.Pin.WaitForEdge(w.opts.Debounce) {
	}
	return w.pressed()
}

func (w *buttonWatcher) emit(ctx context.Context, p Press) {
	ev := ButtonEvent{Button: w.Name, Press: p, At: w.opts.Clock.Now()}
	w.opts.Logger.Debug("button", "name", w.Name, "press", p)
	select {
	case w.out <- ev:
	case <-ctx.Done():
	}
}

func (w *buttonWatcher) run(ctx context.Context) {
	// A button held at boot (stuck, or a finger resting on it) must not
	// fire: wait for it to be released first.
	down := w.pressed()
	for ctx.Err() == nil {
		if !w.Pin.WaitForEdge(idleWait) {
			continue
		}
		start := w.opts.Clock.Now()
		now := w.settle(ctx)
		if now == down {
			continue // a glitch that came back
		}
		down = now
		if !down {
			continue // the release after a long press or a boot-time hold
		}
		// Held: the release decides short; the clock decides long.
		deadline := start.Add(w.opts.LongPress)
		for ctx.Err() == nil {
			left := deadline.Sub(w.opts.Clock.Now())
			if left <= 0 {
				w.emit(ctx, LongPress)
				break
			}
			if !w.Pin.WaitForEdge(left) {
				continue
			}
			if !w.settle(ctx) {
				down = false
				if w.opts.Clock.Now().Before(deadline) {
					w.emit(ctx, ShortPress)
				} else {
					// Released exactly around the deadline while
					// bouncing: the hold did reach it.
					w.emit(ctx, LongPress)
				}
				break
			}
		}
	}
}
