package hw

import (
	"context"
	"testing"
	"time"
)

func TestVirtualPanel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v := NewVirtual(nil, "big", "light")
	events, err := WatchButtons(ctx, ButtonOptions{LongPress: 400 * time.Millisecond}, v.Buttons()...)
	if err != nil {
		t.Fatal(err)
	}
	go v.LED.Run(ctx)
	go v.Ring.Run(ctx)

	cases := []struct {
		button string
		hold   time.Duration
		want   Press
	}{
		{"big", 100 * time.Millisecond, ShortPress},
		{"light", 700 * time.Millisecond, LongPress},
	}
	for _, tc := range cases {
		if err := v.Press(ctx, tc.button, tc.hold); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			if ev.Button != tc.button || ev.Press != tc.want {
				t.Fatalf("pressed %s for %s: got %+v, want %s", tc.button, tc.hold, ev, tc.want)
			}
		case <-ctx.Done():
			t.Fatal("no event")
		}
	}
	if err := v.Press(ctx, "nope", time.Millisecond); err == nil {
		t.Fatal("unknown button accepted")
	}

	v.LED.Show(PatternLive)
	v.Ring.Set(LevelMid)
	for v.State().RingDuty != v.Ring.opts.Duties[LevelMid] {
		if ctx.Err() != nil {
			t.Fatal("ring never reached mid")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := v.State()
	if s.Pattern != PatternLive || s.Color != Red || s.Ring != LevelMid {
		t.Fatalf("state %+v, want live, red, ring mid", s)
	}
}
