package hw

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

var epoch = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// step is one thing the finger or the clock does, followed by the presses
// that must have been reported by then (and no others).
type step struct {
	edge    *gpio.Level
	advance time.Duration
	want    []Press
}

func press() step                    { l := gpio.Low; return step{edge: &l} }
func release() step                  { l := gpio.High; return step{edge: &l} }
func wait(d time.Duration) step      { return step{advance: d} }
func expect(s step, p ...Press) step { s.want = p; return s }

func TestButtonRecognition(t *testing.T) {
	const db = DefaultDebounce
	cases := []struct {
		name  string
		idle  gpio.Level // level at boot
		steps []step
	}{
		{"clean short", gpio.High, []step{
			press(), wait(db), wait(time.Second), release(), expect(wait(db), ShortPress),
		}},
		{"bouncy contact gives one short", gpio.High, []step{
			press(), wait(2 * time.Millisecond), release(), wait(3 * time.Millisecond), press(),
			wait(db), wait(500 * time.Millisecond),
			release(), wait(time.Millisecond), press(), wait(2 * time.Millisecond), release(),
			expect(wait(db), ShortPress),
		}},
		{"glitch shorter than debounce is ignored", gpio.High, []step{
			press(), wait(5 * time.Millisecond), release(), wait(db), wait(5 * time.Second),
		}},
		{"held 2.9 s is short", gpio.High, []step{
			press(), wait(db), wait(2900*time.Millisecond - db), release(), expect(wait(db), ShortPress),
		}},
		{"held 3.1 s is long, reported at 3 s", gpio.High, []step{
			press(), wait(db), wait(2999*time.Millisecond - db), expect(wait(time.Millisecond), LongPress),
			wait(100 * time.Millisecond), release(), wait(db), wait(10 * time.Second),
		}},
		{"bounce while held does not restart the long timer", gpio.High, []step{
			press(), wait(db), wait(time.Second), release(), wait(time.Millisecond), press(),
			wait(db), expect(wait(2*time.Second-db-time.Millisecond), LongPress), release(), wait(db),
		}},
		{"two presses", gpio.High, []step{
			press(), wait(db), release(), expect(wait(db), ShortPress),
			press(), wait(db), expect(wait(4*time.Second), LongPress), release(), wait(db),
		}},
		{"held at boot fires nothing until pressed again", gpio.Low, []step{
			wait(5 * time.Second), release(), wait(db), press(), wait(db), release(), expect(wait(db), ShortPress),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			clk := clockwork.NewFakeClockAt(epoch)
			pin := NewFakePin("GPIO17", 17, tc.idle, clk)
			events, err := WatchButtons(ctx, ButtonOptions{Clock: clk}, Button{Name: "big", Pin: pin})
			if err != nil {
				t.Fatal(err)
			}
			if err := clk.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				if s.edge != nil {
					if err := pin.Edge(ctx, *s.edge); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				} else {
					clk.Advance(s.advance)
				}
				// Blocked again means every press this step caused is queued.
				if err := clk.BlockUntilContext(ctx, 1); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				var got []Press
				for len(events) > 0 {
					got = append(got, (<-events).Press)
				}
				if !slices.Equal(got, s.want) {
					t.Fatalf("step %d (%+v): presses %v, want %v", i, s, got, s.want)
				}
			}
			cancel()
			for range events {
			}
		})
	}
}

func TestLongPressTimestamp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clk := clockwork.NewFakeClockAt(epoch)
	pin := NewFakePin("GPIO5", 5, gpio.Low, clk)
	events, err := WatchButtons(ctx, ButtonOptions{Clock: clk, LongPress: 2 * time.Second},
		Button{Name: "mark", Pin: pin, ActiveHigh: true})
	if err != nil {
		t.Fatal(err)
	}
	clk.BlockUntilContext(ctx, 1)
	pin.Edge(ctx, gpio.High)
	clk.BlockUntilContext(ctx, 1)
	clk.Advance(DefaultDebounce)
	clk.BlockUntilContext(ctx, 1)
	clk.Advance(2*time.Second - DefaultDebounce)
	select {
	case ev := <-events:
		if ev.Button != "mark" || ev.Press != LongPress || !ev.At.Equal(epoch.Add(2*time.Second)) {
			t.Fatalf("got %+v, want long press of mark at +2s", ev)
		}
	case <-ctx.Done():
		t.Fatal("no long press")
	}
}

func TestWatchButtonsClosesOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pins := []*FakePin{NewFakePin("a", 1, gpio.High, nil), NewFakePin("b", 2, gpio.High, nil)}
	events, err := WatchButtons(ctx, ButtonOptions{}, Button{Name: "a", Pin: pins[0]}, Button{Name: "b", Pin: pins[1]})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed: Halt did not wake WaitForEdge")
	}
}

func TestWatchButtonsRejectsBadConfig(t *testing.T) {
	p := NewFakePin("a", 1, gpio.High, nil)
	cases := []struct {
		name    string
		opts    ButtonOptions
		buttons []Button
	}{
		{"none", ButtonOptions{}, nil},
		{"no name", ButtonOptions{}, []Button{{Pin: p}}},
		{"no pin", ButtonOptions{}, []Button{{Name: "a"}}},
		{"duplicate", ButtonOptions{}, []Button{{Name: "a", Pin: p}, {Name: "a", Pin: p}}},
		{"long below debounce", ButtonOptions{Debounce: time.Second, LongPress: time.Millisecond}, []Button{{Name: "a", Pin: p}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := WatchButtons(context.Background(), tc.opts, tc.buttons...); err == nil {
				t.Fatal("want error")
			}
		})
	}
}
