package hw

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// Level is a ring light brightness step. The button cycles
// off → low → mid → high → off.
type Level int

const (
	LevelOff Level = iota
	LevelLow
	LevelMid
	LevelHigh
	levelCount
)

func (l Level) String() string {
	switch l {
	case LevelOff:
		return "off"
	case LevelLow:
		return "low"
	case LevelMid:
		return "mid"
	case LevelHigh:
		return "high"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Next is the level after l in the button's cycle.
func (l Level) Next() Level { return (l + 1) % levelCount }

// Valid reports whether l is one of the four levels.
func (l Level) Valid() bool { return l >= LevelOff && l < levelCount }

// ParseLevel is the inverse of Level.String.
func ParseLevel(s string) (Level, error) {
	for l := LevelOff; l < levelCount; l++ {
		if l.String() == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("hw: unknown ring light level %q (want off, low, mid or high)", s)
}

// RingOptions tune the ring light; the zero value is usable.
type RingOptions struct {
	// Duties maps each level to a PWM duty. Default 0, 20 %, 55 %, 100 %:
	// perceived brightness is roughly logarithmic, so the steps widen.
	Duties [levelCount]gpio.Duty
	// Ramp is how long a full off→high change takes; smaller changes take
	// proportionally less. A hard jump makes faces on camera flash and the
	// auto-exposure pump. Default 600 ms.
	Ramp time.Duration
	// Frequency of the PWM. Default 20 kHz (no banding on phone cameras).
	Frequency physic.Frequency
	Clock     clockwork.Clock
	Logger    *slog.Logger
}

// rampTick is the ramp's update period: 50 Hz looks continuous.
const rampTick = 20 * time.Millisecond

// RingLight drives the ring light's MOSFET with PWM. Set and Cycle return at
// once; Run performs the soft ramp.
type RingLight struct {
	pin  gpio.PinOut
	opts RingOptions
	wake chan struct{}

	mu     sync.Mutex
	target Level
	duty   gpio.Duty // currently on the pin
	err    error     // last pin error, for Status
	onOff  bool      // the pin refused PWM; drive it on/off
}

// write puts duty on the pin. The caller holds r.mu.
func (r *RingLight) write(d gpio.Duty) error {
	if !r.onOff {
		err := r.pin.PWM(d, r.opts.Frequency)
		if err == nil {
			return nil
		}
		r.opts.Logger.Warn("ring light has no PWM, falling back to on/off", "pin", r.pin, "err", err)
		r.onOff = true
	}
	return r.pin.Out(d >= gpio.DutyHalf)
}

// NewRingLight returns a ring light that is off.
func NewRingLight(pin gpio.PinOut, opts RingOptions) *RingLight {
	if opts.Duties == ([levelCount]gpio.Duty{}) {
		opts.Duties = [levelCount]gpio.Duty{0, gpio.DutyMax / 5, gpio.DutyMax * 55 / 100, gpio.DutyMax}
	}
	if opts.Ramp <= 0 {
		opts.Ramp = 600 * time.Millisecond
	}
	if opts.Frequency <= 0 {
		opts.Frequency = defaultPWMFrequency
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &RingLight{pin: pin, opts: opts, wake: make(chan struct{}, 1)}
}

// Set changes the target level; Run ramps towards it.
func (r *RingLight) Set(l Level) {
	if !l.Valid() {
		l = LevelOff
	}
	r.mu.Lock()
	r.target = l
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Cycle steps to the next level and returns it.
func (r *RingLight) Cycle() Level {
	r.mu.Lock()
	l := r.target.Next()
	r.mu.Unlock()
	r.Set(l)
	return l
}

// Level is the level the light is at or ramping to.
func (r *RingLight) Level() Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.target
}

// Duty is the duty currently on the pin.
func (r *RingLight) Duty() gpio.Duty {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.duty
}

// Err is the last error from the pin, nil when the light works.
func (r *RingLight) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// step moves the duty one tick towards the target and reports whether it
// has arrived.
func (r *RingLight) step() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := r.opts.Duties[r.target]
	if r.duty == want {
		return true
	}
	// Rounded up so a full ramp takes Ramp/rampTick steps, not one more.
	delta := gpio.Duty((int64(gpio.DutyMax)*int64(rampTick) + int64(r.opts.Ramp) - 1) / int64(r.opts.Ramp))
	if delta < 1 {
		delta = 1
	}
	switch {
	case r.duty < want:
		r.duty = min(r.duty+delta, want)
	default:
		r.duty = max(r.duty-delta, want)
	}
	if r.onOff {
		// No PWM on this pin: jump, the ramp would be invisible anyway.
		r.duty = want
	}
	r.err = r.write(r.duty)
	return r.duty == want
}

// Run ramps the light until ctx ends, then switches it off.
func (r *RingLight) Run(ctx context.Context) error {
	defer func() {
		r.mu.Lock()
		r.duty = 0
		_ = r.write(0)
		r.mu.Unlock()
	}()
	for {
		if r.step() {
			select {
			case <-r.wake:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		t := r.opts.Clock.NewTimer(rampTick)
		select {
		case <-t.Chan():
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}
