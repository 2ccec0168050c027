package hw

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
)

func TestLevelCycleAndParse(t *testing.T) {
	want := []Level{LevelLow, LevelMid, LevelHigh, LevelOff, LevelLow}
	l := LevelOff
	for i, w := range want {
		l = l.Next()
		if l != w {
			t.Fatalf("step %d: %s, want %s", i, l, w)
		}
		if p, err := ParseLevel(l.String()); err != nil || p != l {
			t.Fatalf("ParseLevel(%s) = %v, %v", l, p, err)
		}
	}
	if _, err := ParseLevel("max"); err == nil {
		t.Fatal("ParseLevel accepted max")
	}
}

func TestRingLightRamps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clk := clockwork.NewFakeClockAt(epoch)
	pin := &gpiotest.Pin{N: "ring"}
	ring := NewRingLight(pin, RingOptions{Clock: clk, Ramp: 600 * time.Millisecond})
	done := make(chan error)
	go func() { done <- ring.Run(ctx) }()

	ramp := func(to Level, wantDuty gpio.Duty, wantTicks int) {
		t.Helper()
		ring.Set(to)
		prev := ring.Duty()
		for tick := 1; ; tick++ {
			if err := clk.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal(err)
			}
			clk.Advance(rampTick)
			// Wait until Run stepped: either re-armed or done.
			for ring.Duty() == prev {
				time.Sleep(time.Millisecond)
			}
			d := ring.Duty()
			if (wantDuty > prev && d < prev) || (wantDuty < prev && d > prev) {
				t.Fatalf("tick %d: duty went %d→%d, not towards %d", tick, prev, d, wantDuty)
			}
			pin.Lock()
			onPin, freq := pin.D, pin.F
			pin.Unlock()
			if onPin != d || freq != 20*physic.KiloHertz {
				t.Fatalf("pin has %d at %s, ring says %d", onPin, freq, d)
			}
			prev = d
			if d == wantDuty {
				if tick != wantTicks {
					t.Fatalf("reached %s after %d ticks, want %d", to, tick, wantTicks)
				}
				return
			}
			if tick > 100 {
				t.Fatal("ramp never ends")
			}
		}
	}
	// The first step happens on Set, without a tick; a full ramp is 30 ticks of 20 ms.
	ring.Set(LevelHigh)
	for ring.Duty() == 0 {
		time.Sleep(time.Millisecond)
	}
	ramp(LevelHigh, gpio.DutyMax, 29)
	if ring.Level() != LevelHigh {
		t.Fatal(ring.Level())
	}
	ring.Cycle() // high → off
	for ring.Duty() == gpio.DutyMax {
		time.Sleep(time.Millisecond)
	}
	ramp(LevelOff, 0, 29)
	cancel()
	<-done
}

func TestRingLightWithoutPWM(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pin := &noPWMPin{}
	ring := NewRingLight(pin, RingOptions{})
	done := make(chan error)
	go func() { done <- ring.Run(ctx) }()
	ring.Set(LevelHigh)
	deadline := time.Now().Add(5 * time.Second)
	for pin.Read() != gpio.High {
		if time.Now().After(deadline) {
			t.Fatal("ring light never switched on")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if pin.Read() != gpio.Low {
		t.Fatal("ring light left on after Run returned")
	}
}

func TestSysfsPWM(t *testing.T) {
	chip := t.TempDir()
	ch := filepath.Join(chip, "pwm1")
	os.Mkdir(ch, 0o755)
	for _, f := range []string{"period", "duty_cycle", "enable"} {
		os.WriteFile(filepath.Join(ch, f), []byte("0"), 0o644)
	}
	p, err := OpenSysfsPWM(chip, 1)
	if err != nil {
		t.Fatal(err)
	}
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(ch, f))
		return strings.TrimSpace(string(b))
	}
	if err := p.PWM(gpio.DutyMax/4, 20*physic.KiloHertz); err != nil {
		t.Fatal(err)
	}
	if read("period") != "50000" || read("duty_cycle") != "12500" || read("enable") != "1" {
		t.Fatalf("period %s duty %s enable %s", read("period"), read("duty_cycle"), read("enable"))
	}
	if err := p.Halt(); err != nil || read("enable") != "0" {
		t.Fatalf("halt: %v, enable %s", err, read("enable"))
	}
	if p.PWM(gpio.DutyMax+1, physic.KiloHertz) == nil || p.PWM(gpio.DutyHalf, 0) == nil {
		t.Fatal("bad duty or frequency accepted")
	}
	// A chip whose export does not create the channel (no such channel).
	if _, err := OpenSysfsPWM(chip, 7); err == nil {
		t.Fatal("missing channel accepted")
	}
}
