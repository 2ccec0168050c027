package hw

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// FakePin is a gpio.PinIO for tests and the simulator, in the style of
// periph's gpiotest.Pin (which it embeds for level, pull and PWM state) with
// two things gpiotest lacks: Halt interrupts a pending WaitForEdge, as it does
// on the real character device, and the WaitForEdge timer is stopped as soon
// as an edge arrives, so a fake clock's waiter count tells a test exactly
// when the driver is blocked again.
type FakePin struct {
	gpiotest.Pin

	edges chan gpio.Level
	acks  chan struct{}
	halt  chan struct{}
}

// NewFakePin returns a pin idling at level idle whose WaitForEdge runs on
// clock (nil means the real clock).
func NewFakePin(name string, num int, idle gpio.Level, clock clockwork.Clock) *FakePin {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	p := &FakePin{
		edges: make(chan gpio.Level),
		acks:  make(chan struct{}),
		halt:  make(chan struct{}, 1),
	}
	p.N, p.Num, p.Clock, p.L = name, num, clock, idle
	return p
}

// In implements gpio.PinIn. Unlike gpiotest it keeps the current level: a
// button already held when the box boots stays held.
func (p *FakePin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.Lock()
	defer p.Unlock()
	p.P = pull
	return nil
}

// WaitForEdge implements gpio.PinIn.
func (p *FakePin) WaitForEdge(timeout time.Duration) bool {
	t := p.Clock.NewTimer(timeout)
	select {
	case l := <-p.edges:
		t.Stop()
		p.Lock()
		p.L = l
		p.Unlock()
		p.acks <- struct{}{}
		return true
	case <-t.Chan():
		return false
	case <-p.halt:
		t.Stop()
		return false
	}
}

// Halt implements conn.Resource: it wakes a pending WaitForEdge.
func (p *FakePin) Halt() error {
	select {
	case p.halt <- struct{}{}:
	default:
	}
	return nil
}

// Edge drives the pin to l as an edge seen by WaitForEdge. It returns once
// the waiter has taken the edge and stopped its timer, or when ctx ends.
func (p *FakePin) Edge(ctx context.Context, l gpio.Level) error {
	select {
	case p.edges <- l:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-p.acks:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ gpio.PinIO = (*FakePin)(nil)
