package hw

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// Virtual is the box's panel without a board, for the simulator and for
// end-to-end tests: the real button, LED and ring light drivers run on fake
// pins, presses are injected as edges, and what the LED and ring light show
// is read back from the pins they drive.
type Virtual struct {
	clock   clockwork.Clock
	buttons map[string]*FakePin
	ledPins [3]*gpiotest.Pin
	ringPin *gpiotest.Pin

	LED  *StatusLED
	Ring *RingLight
}

// NewVirtual builds a panel with the named buttons (wired active-low like
// the real box) on clock (nil means the real clock).
func NewVirtual(clock clockwork.Clock, buttons ...string) *Virtual {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	v := &Virtual{clock: clock, buttons: map[string]*FakePin{}}
	for i, name := range buttons {
		v.buttons[name] = NewFakePin("virtual-"+name, 100+i, gpio.High, clock)
	}
	for i, c := range []string{"red", "green", "blue"} {
		v.ledPins[i] = &gpiotest.Pin{N: "virtual-led-" + c, Num: 200 + i}
	}
	v.ringPin = &gpiotest.Pin{N: "virtual-ring", Num: 210}
	// Patterns are the defaults, so construction cannot fail.
	v.LED, _ = NewStatusLED(v.ledPins[0], v.ledPins[1], v.ledPins[2], LEDOptions{Clock: clock})
	v.Ring = NewRingLight(v.ringPin, RingOptions{Clock: clock})
	return v
}

// Buttons lists the panel's buttons, sorted by name, for WatchButtons.
func (v *Virtual) Buttons() []Button {
	names := make([]string, 0, len(v.buttons))
	for n := range v.buttons {
		names = append(names, n)
	}
	sort.Strings(names)
	bs := make([]Button, len(names))
	for i, n := range names {
		bs[i] = Button{Name: n, Pin: v.buttons[n]}
	}
	return bs
}

// Pin is the fake pin behind a button, for tests that need exact edges.
func (v *Virtual) Pin(button string) *FakePin { return v.buttons[button] }

// Press holds the button for hold on the panel's clock, then releases it.
// Someone must be watching the buttons.
func (v *Virtual) Press(ctx context.Context, button string, hold time.Duration) error {
	p, ok := v.buttons[button]
	if !ok {
		return fmt.Errorf("hw: virtual panel has no button %q", button)
	}
	if err := p.Edge(ctx, gpio.Low); err != nil {
		return err
	}
	t := v.clock.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.Chan():
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.Edge(ctx, gpio.High)
}

// VirtualState is what a person looking at the box would see.
type VirtualState struct {
	// LED pattern visible now (an overlay while it plays) and the one
	// underneath.
	Pattern, Base string
	// Color is read back from the LED pins' duty.
	Color Color
	Ring  Level
	// RingDuty is read back from the ring light pin.
	RingDuty gpio.Duty
}

// State reports the panel's outputs.
func (v *Virtual) State() VirtualState {
	led := v.LED.State()
	var c Color
	for _, p := range v.ledPins {
		p.Lock()
		ch := Color((int64(p.D)*255 + int64(gpio.DutyMax)/2) / int64(gpio.DutyMax))
		p.Unlock()
		c = c<<8 | ch
	}
	v.ringPin.Lock()
	duty := v.ringPin.D
	v.ringPin.Unlock()
	return VirtualState{Pattern: led.Pattern, Base: led.Base, Color: c, Ring: v.Ring.Level(), RingDuty: duty}
}
