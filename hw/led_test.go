package hw

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
)

// noPWMPin is a line without PWM, like the GPIO character device.
type noPWMPin struct{ gpiotest.Pin }

func (p *noPWMPin) PWM(gpio.Duty, physic.Frequency) error { return errors.New("no pwm") }

func pinColor(t *testing.T, pins [3]*gpiotest.Pin) Color {
	t.Helper()
	var c Color
	for _, p := range pins {
		p.Lock()
		c = c<<8 | Color((int64(p.D)*255+int64(gpio.DutyMax)/2)/int64(gpio.DutyMax))
		p.Unlock()
	}
	return c
}

type ledRig struct {
	clk  *clockwork.FakeClock
	pins [3]*gpiotest.Pin
	led  *StatusLED
	ctx  context.Context
}

func newLEDRig(t *testing.T) *ledRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r := &ledRig{clk: clockwork.NewFakeClockAt(epoch), ctx: ctx}
	for i := range r.pins {
		r.pins[i] = &gpiotest.Pin{N: "led", Num: i}
	}
	led, err := NewStatusLED(r.pins[0], r.pins[1], r.pins[2], LEDOptions{Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	r.led = led
	done := make(chan struct{})
	go func() { led.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if c := pinColor(t, r.pins); c != Off {
			t.Errorf("LED left %s after Run returned", c)
		}
	})
	return r
}

// tick advances the clock by d once Run is waiting on its timer, then waits
// until Run has re-armed, so the colour on the pins is settled.
func (r *ledRig) tick(t *testing.T, d time.Duration) {
	t.Helper()
	// Run must have armed its timer for the latest change: a timer armed
	// for an earlier one may be about to be stopped (slow under qemu).
	for {
		r.led.mu.Lock()
		settled := r.led.armed == r.led.gen
		r.led.mu.Unlock()
		if settled {
			break
		}
		if r.ctx.Err() != nil {
			t.Fatal(r.ctx.Err())
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.clk.BlockUntilContext(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(d)
	if err := r.clk.BlockUntilContext(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
}

func TestEveryBasePatternPlaysItsSteps(t *testing.T) {
	for name, p := range DefaultPatterns() {
		if p.Plays != 0 {
			continue
		}
		t.Run(name, func(t *testing.T) {
			r := newLEDRig(t)
			if err := r.led.Show(name); err != nil {
				t.Fatal(err)
			}
			// Two full cycles, step by step.
			for i := 0; i < 2*len(p.Steps); i++ {
				s := p.Steps[i%len(p.Steps)]
				if got := pinColor(t, r.pins); got != s.Color {
					t.Fatalf("step %d: pins show %s, want %s", i, got, s.Color)
				}
				if s.Hold == 0 {
					return // steady
				}
				r.tick(t, s.Hold)
			}
		})
	}
}

func TestShowIsImmediate(t *testing.T) {
	r := newLEDRig(t)
	for _, name := range []string{PatternIdle, PatternStarting, PatternLive, PatternFault} {
		if err := r.led.Show(name); err != nil {
			t.Fatal(err)
		}
		// No clock advance and no wait for Run: the pins already changed.
		want := DefaultPatterns()[name].Steps[0].Color
		if got := pinColor(t, r.pins); got != want {
			t.Fatalf("after Show(%s) pins show %s, want %s", name, got, want)
		}
	}
}

func TestWarningOverlayReturnsToBase(t *testing.T) {
	r := newLEDRig(t)
	r.led.Show(PatternLive)
	if err := r.led.Flash(PatternWarning); err != nil {
		t.Fatal(err)
	}
	if s := r.led.State(); s.Pattern != PatternWarning || s.Base != PatternLive {
		t.Fatalf("state %+v, want warning over live", s)
	}
	// The network degrades during the warning: the base changes under it.
	r.led.Show(PatternDegraded)
	want := []Color{Amber, Off, Amber, Off, Amber, Off}
	for i, c := range want {
		if got := pinColor(t, r.pins); got != c {
			t.Fatalf("blink step %d: %s, want %s", i, got, c)
		}
		r.tick(t, 200*time.Millisecond)
	}
	if s := r.led.State(); s.Pattern != PatternDegraded || s.Color != Red {
		t.Fatalf("after the warning: %+v, want degraded red", s)
	}
	if got := pinColor(t, r.pins); got != Red {
		t.Fatalf("after the warning pins show %s, want red", got)
	}
}

func TestLEDRejectsBadPatterns(t *testing.T) {
	p := &gpiotest.Pin{}
	bad := []map[string]Pattern{
		{"x": {Name: "y", Steps: []Step{{Red, 0}}}},
		{"x": {Name: "x"}},
		{"x": {Name: "x", Steps: []Step{{Red, 0}, {Off, time.Second}}}},
		{"x": {Name: "x", Plays: 2, Steps: []Step{{Red, 0}}}},
		{"x": {Name: "x", Steps: []Step{{Red, -time.Second}}}},
	}
	for i, ps := range bad {
		if _, err := NewStatusLED(p, p, p, LEDOptions{Patterns: ps}); err == nil {
			t.Errorf("table %d accepted", i)
		}
	}
	led, err := NewStatusLED(p, p, p, LEDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if led.Show(PatternWarning) == nil || led.Show("nope") == nil || led.Flash(PatternLive) == nil {
		t.Fatal("Show/Flash accepted a wrong pattern kind")
	}
}

func TestLEDWithoutPWMFallsBackToOnOff(t *testing.T) {
	var pins [3]*noPWMPin
	for i := range pins {
		pins[i] = &noPWMPin{}
	}
	led, err := NewStatusLED(pins[0], pins[1], pins[2], LEDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	led.Show(PatternLive)
	if pins[0].Read() != gpio.High || pins[1].Read() != gpio.Low || pins[2].Read() != gpio.Low {
		t.Fatal("live should light only red")
	}
	if led.State().Err != nil {
		t.Fatal(led.State().Err)
	}
}

func BenchmarkStatusLEDShow(b *testing.B) {
	p := &gpiotest.Pin{}
	led, _ := NewStatusLED(p, p, p, LEDOptions{})
	names := []string{PatternLive, PatternDegraded}
	for i := 0; b.Loop(); i++ {
		led.Show(names[i%2])
	}
}
