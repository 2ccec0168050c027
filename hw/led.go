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

// Color is a 24-bit 0xRRGGBB colour for the status LED.
type Color uint32

// Colours of the status LED's vocabulary.
const (
	Off   Color = 0x000000
	Green Color = 0x00ff00
	Red   Color = 0xff0000
	Amber Color = 0xff6e00
	Blue  Color = 0x003cff
	White Color = 0xffffff
	Dim   Color = 0x002800 // a dim green: powered and idle
)

// RGB splits the colour into its channels.
func (c Color) RGB() (r, g, b uint8) { return uint8(c >> 16), uint8(c >> 8), uint8(c) }

func (c Color) String() string { return fmt.Sprintf("#%06x", uint32(c)&0xffffff) }

// Step is one colour held for a time. A zero Hold in a one-step pattern means
// steady.
type Step struct {
	Color Color
	Hold  time.Duration
}

// Pattern is a named LED animation. A base pattern (Plays 0) loops until
// replaced; an overlay pattern plays Plays times over the base and then the
// base shows again, so a warning never hides whether she is live.
type Pattern struct {
	Name  string
	Steps []Step
	Plays int
}

// Pattern names of the box's states.
const (
	PatternOff          = "off"
	PatternIdle         = "idle"
	PatternStarting     = "starting"
	PatternLive         = "live"
	PatternDegraded     = "degraded"
	PatternReconnecting = "reconnecting"
	PatternEnding       = "ending"
	PatternFault        = "fault"
	PatternSetup        = "setup"
	// PatternPractice: a rehearsal, nothing goes out (never red).
	PatternPractice = "practice"
	// PatternWarning is the compliance warning overlay.
	PatternWarning = "warning"
	// PatternMark acknowledges the mark button.
	PatternMark = "mark"
	// PatternStorage says the SD card is full (old recordings are being
	// deleted to go on) or failing.
	PatternStorage = "storage"
	// PatternBundle says a setup bundle from a USB stick was taken;
	// PatternBundleRefused that it was refused (the phone page says why).
	PatternBundle        = "bundle"
	PatternBundleRefused = "bundle-refused"
)

const ms = time.Millisecond

// DefaultPatterns is the box's LED vocabulary. Steady red is the broadcast
// convention for "on air"; amber means attention; blinking speed says
// urgency.
func DefaultPatterns() map[string]Pattern {
	ps := []Pattern{
		{Name: PatternOff, Steps: []Step{{Off, 0}}},
		{Name: PatternIdle, Steps: []Step{{Dim, 0}}},
		{Name: PatternStarting, Steps: []Step{{Blue, 250 * ms}, {Off, 250 * ms}}},
		{Name: PatternLive, Steps: []Step{{Red, 0}}},
		// Mostly red (still live) with an amber wink: the picture is
		// going out but the network is struggling.
		{Name: PatternDegraded, Steps: []Step{{Red, 1400 * ms}, {Amber, 200 * ms}}},
		{Name: PatternReconnecting, Steps: []Step{{Amber, 150 * ms}, {Off, 150 * ms}}},
		{Name: PatternEnding, Steps: []Step{{Red, 100 * ms}, {Off, 400 * ms}}},
		{Name: PatternFault, Steps: []Step{{Red, 100 * ms}, {Off, 100 * ms}, {Red, 100 * ms}, {Off, 700 * ms}}},
		{Name: PatternSetup, Steps: []Step{{Blue, 1000 * ms}, {White, 1000 * ms}}},
		// A slow green breath: on like live, but no red, so nobody takes
		// a rehearsal for being on air.
		{Name: PatternPractice, Steps: []Step{{Green, 1600 * ms}, {Off, 400 * ms}}},
		{Name: PatternWarning, Plays: 3, Steps: []Step{{Amber, 200 * ms}, {Off, 200 * ms}}},
		{Name: PatternMark, Plays: 1, Steps: []Step{{White, 150 * ms}, {Off, 100 * ms}}},
		{Name: PatternStorage, Plays: 2, Steps: []Step{{White, 300 * ms}, {Amber, 300 * ms}, {Off, 400 * ms}}},
		// Green and blue in turn, slowly: nothing else on the box is
		// green, so a trainer at the stick sees it was taken.
		{Name: PatternBundle, Plays: 4, Steps: []Step{{Green, 400 * ms}, {Blue, 400 * ms}}},
		{Name: PatternBundleRefused, Plays: 4, Steps: []Step{{Red, 400 * ms}, {Blue, 400 * ms}}},
	}
	m := make(map[string]Pattern, len(ps))
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}

// LEDOptions tune the status LED; the zero value uses DefaultPatterns, the
// real clock and slog.Default.
type LEDOptions struct {
	Patterns  map[string]Pattern
	Frequency physic.Frequency
	// ActiveLow is for common-anode LEDs, lit when the pin is low.
	ActiveLow bool
	Clock     clockwork.Clock
	Logger    *slog.Logger
}

// StatusLED plays patterns on an RGB LED. Show and Flash change the colour
// on the pins before returning, so a press is acknowledged at once; Run
// advances timed steps.
type StatusLED struct {
	pins [3]gpio.PinOut
	opts LEDOptions
	wake chan struct{}

	mu  sync.Mutex
	gen uint64 // bumped on every change so a stale timer is ignored
	// armed is the generation Run last armed a timer for; tests wait on it
	// to know every change has been seen before they move the clock.
	armed   uint64
	base    Pattern
	baseAt  int
	over    *Pattern
	overAt  int
	overRun int
	color   Color
	onOff   [3]bool
	err     error
}

// NewStatusLED returns a LED showing PatternOff. Every pattern must have at
// least one step, and every step of a multi-step pattern a positive hold.
func NewStatusLED(r, g, b gpio.PinOut, opts LEDOptions) (*StatusLED, error) {
	if opts.Patterns == nil {
		opts.Patterns = DefaultPatterns()
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
	for name, p := range opts.Patterns {
		if name != p.Name || len(p.Steps) == 0 || p.Plays < 0 {
			return nil, fmt.Errorf("hw: led pattern %q: needs a matching name, steps and Plays >= 0", name)
		}
		for i, s := range p.Steps {
			if s.Hold < 0 || (s.Hold == 0 && (len(p.Steps) > 1 || p.Plays > 0)) {
				return nil, fmt.Errorf("hw: led pattern %q step %d: hold %s must be positive", name, i, s.Hold)
			}
		}
	}
	if _, ok := opts.Patterns[PatternOff]; !ok {
		opts.Patterns[PatternOff] = Pattern{Name: PatternOff, Steps: []Step{{Off, 0}}}
	}
	l := &StatusLED{pins: [3]gpio.PinOut{r, g, b}, opts: opts, wake: make(chan struct{}, 1)}
	l.mu.Lock()
	l.base = opts.Patterns[PatternOff]
	l.apply()
	l.mu.Unlock()
	return l, nil
}

// Show makes name the base pattern. Showing the current base again keeps its
// rhythm rather than restarting it.
func (l *StatusLED) Show(name string) error {
	p, ok := l.opts.Patterns[name]
	if !ok || p.Plays != 0 {
		return fmt.Errorf("hw: led: %q is not a base pattern", name)
	}
	l.mu.Lock()
	if l.base.Name != name {
		l.base, l.baseAt = p, 0
		l.gen++
		if l.over == nil {
			l.apply()
		}
	}
	l.mu.Unlock()
	l.poke()
	return nil
}

// Flash plays the overlay pattern name over the base, restarting it if it is
// already playing.
func (l *StatusLED) Flash(name string) error {
	p, ok := l.opts.Patterns[name]
	if !ok || p.Plays == 0 {
		return fmt.Errorf("hw: led: %q is not an overlay pattern", name)
	}
	l.mu.Lock()
	l.over, l.overAt, l.overRun = &p, 0, 0
	l.gen++
	l.apply()
	l.mu.Unlock()
	l.poke()
	return nil
}

func (l *StatusLED) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// LEDState is what the LED shows right now.
type LEDState struct {
	// Pattern is the visible pattern: the overlay while one plays.
	Pattern string
	// Base is the pattern underneath.
	Base  string
	Color Color
	Err   error
}

// State reports the visible pattern and colour.
func (l *StatusLED) State() LEDState {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := LEDState{Pattern: l.base.Name, Base: l.base.Name, Color: l.color, Err: l.err}
	if l.over != nil {
		s.Pattern = l.over.Name
	}
	return s
}

// current returns the visible step. The caller holds l.mu.
func (l *StatusLED) current() Step {
	if l.over != nil {
		return l.over.Steps[l.overAt]
	}
	return l.base.Steps[l.baseAt]
}

// advance moves past the visible step. The caller holds l.mu.
func (l *StatusLED) advance() {
	if l.over != nil {
		l.overAt++
		if l.overAt == len(l.over.Steps) {
			l.overAt = 0
			l.overRun++
			if l.overRun == l.over.Plays {
				l.over = nil
			}
		}
	} else {
		l.baseAt = (l.baseAt + 1) % len(l.base.Steps)
	}
	l.gen++
	l.apply()
}

// apply puts the visible colour on the pins. The caller holds l.mu.
func (l *StatusLED) apply() {
	c := l.current().Color
	l.color = c
	var firstErr error
	r, g, b := c.RGB()
	for i, v := range [3]uint8{r, g, b} {
		if l.opts.ActiveLow {
			v = 255 - v
		}
		if err := l.write(i, v); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	l.err = firstErr
}

func (l *StatusLED) write(i int, v uint8) error {
	pin := l.pins[i]
	if pin == nil {
		return nil // a two-colour LED, or a channel not fitted
	}
	if !l.onOff[i] {
		err := pin.PWM(gpio.Duty(int64(v)*int64(gpio.DutyMax)/255), l.opts.Frequency)
		if err == nil {
			return nil
		}
		l.opts.Logger.Debug("status led has no PWM, using on/off", "pin", pin, "err", err)
		l.onOff[i] = true
	}
	return pin.Out(v >= 128)
}

// Run steps timed patterns until ctx ends, then switches the LED off.
func (l *StatusLED) Run(ctx context.Context) error {
	defer func() {
		l.mu.Lock()
		l.over = nil
		l.base, l.baseAt = l.opts.Patterns[PatternOff], 0
		l.apply()
		l.mu.Unlock()
	}()
	for {
		l.mu.Lock()
		gen, hold := l.gen, l.current().Hold
		l.mu.Unlock()
		if hold == 0 {
			select {
			case <-l.wake:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := l.hold(ctx, gen, hold); err != nil {
			return err
		}
	}
}

// hold waits out one timed step of generation gen, then advances past it,
// or returns early when something changed the LED.
func (l *StatusLED) hold(ctx context.Context, gen uint64, d time.Duration) error {
	t := l.opts.Clock.NewTimer(d)
	defer t.Stop()
	l.mu.Lock()
	l.armed = gen
	l.mu.Unlock()
	for {
		select {
		case <-t.Chan():
			l.mu.Lock()
			if l.gen == gen {
				l.advance()
			}
			l.mu.Unlock()
			return nil
		case <-l.wake:
			// A poke left over from the change this timer was armed
			// for (Show before Run started) keeps the timer: re-arming
			// would drop a clock move made between stop and re-arm,
			// which is how CI once saw fault's first red never end.
			l.mu.Lock()
			changed := l.gen != gen
			l.mu.Unlock()
			if changed {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
