package firmware

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/hw"
	"github.com/jonboulle/clockwork"
)

// practicePipeline is the fake pipeline that can also practise.
type practicePipeline struct{ *fakePipeline }

func (p practicePipeline) Practice(ctx context.Context) error {
	p.calls <- "practice"
	<-ctx.Done() // cancelled by End; a practice never waits for a platform
	return nil
}

// newRigWith is newRig over pl: fake (the fake's calls are what r.call
// reads) with or without Practice.
func newRigWith(t *testing.T, fake *fakePipeline, pl Pipeline) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	r := &rig{t: t, ctx: ctx, clk: clockwork.NewFakeClockAt(time.Date(2025, 5, 1, 19, 0, 0, 0, time.UTC)),
		pl: fake, buttons: make(chan hw.ButtonEvent)}
	r.panel = hw.NewVirtual(r.clk)
	box, err := NewBox(Options{Pipeline: pl, LED: r.panel.LED, Ring: r.panel.Ring, Buttons: r.buttons,
		Clock: r.clk, EndTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.box = box
	var unsubscribe func()
	r.status, unsubscribe = box.Subscribe()
	<-r.status
	done := make(chan error)
	go func() { done <- box.Run(ctx) }()
	t.Cleanup(func() {
		unsubscribe()
		cancel()
		select {
		case r.pl.endResp <- nil:
		default:
		}
		<-done
	})
	return r
}

func TestPracticeFromTheCardButton(t *testing.T) {
	fake := newFakePipeline()
	r := newRigWith(t, fake, practicePipeline{fake})
	// Held while idle, the card button starts a practice: its own light,
	// the ring on, and Practice — never GoLive.
	r.press(ButtonNext, hw.LongPress)
	r.expect(state.Practice, hw.PatternPractice, hw.LevelMid)
	r.call("practice")
	// Everything works as when live.
	r.press(ButtonNext, hw.ShortPress)
	r.expect(state.Practice, hw.PatternPractice, hw.LevelMid)
	r.call("next")
	r.press(ButtonPrev, hw.LongPress) // held now, it hides the card
	r.expect(state.Practice, hw.PatternPractice, hw.LevelMid)
	r.call("hide")
	r.press(ButtonMark, hw.ShortPress)
	r.expect(state.Practice, hw.PatternMark, hw.LevelMid)
	r.call("mark")
	r.box.Post(state.ComplianceWarning, "“第一”属于绝对化用语")
	r.expect(state.Practice, hw.PatternWarning, hw.LevelMid)
	// A brushed big button does nothing; she ends by holding it.
	r.press(ButtonBig, hw.ShortPress)
	r.quiet()
	r.press(ButtonBig, hw.LongPress)
	r.expect(state.Ending, hw.PatternWarning, hw.LevelMid)
	r.call("end")
	r.pl.endResp <- nil
	r.expect(state.Idle, hw.PatternWarning, hw.LevelOff)
}

func TestPracticeButtonMaps(t *testing.T) {
	phone, box := PhoneButtonMap(), DefaultButtonMap()
	for _, tc := range []struct {
		m    map[ButtonPress]state.Event
		bp   ButtonPress
		want state.Event
	}{
		{box, ButtonPress{ButtonNext, hw.LongPress}, state.CardHold},
		{box, ButtonPress{ButtonPrev, hw.LongPress}, state.CardHold},
		{phone, ButtonPress{ButtonNext, hw.LongPress}, state.CardHide}, // 收起卡片 never starts a practice
		{phone, ButtonPress{ButtonPrev, hw.LongPress}, state.CardHide},
		{phone, ButtonPress{ButtonPractice, hw.ShortPress}, state.PracticeStart},
		{phone, ButtonPress{ButtonBig, hw.ShortPress}, state.BigShort},
		{box, ButtonPress{ButtonPractice, hw.ShortPress}, ""},
	} {
		if got := tc.m[tc.bp]; got != tc.want {
			t.Errorf("%v -> %q, want %q", tc.bp, got, tc.want)
		}
	}
}

// A pipeline that cannot practise refuses: the box never goes on air for
// a rehearsal.
func TestPracticeRefusedWithoutPracticer(t *testing.T) {
	fake := newFakePipeline()
	r := newRigWith(t, fake, fake)
	r.box.Post(state.PracticeStart, "")
	// The refusal may come before the phone sees the practice: wait for
	// idle.
	var s Status
	for s.State != state.Idle {
		select {
		case s = <-r.status:
		case <-r.ctx.Done():
			t.Fatalf("still %s, want idle after the refusal", s.State)
		}
	}
	if v := r.panel.State(); v.Base != hw.PatternIdle || v.Ring != hw.LevelOff {
		t.Errorf("LED %s ring %s after the refusal", v.Base, v.Ring)
	}
	if w := s.Warnings[len(s.Warnings)-1].Text; !strings.Contains(w, "不能练习") {
		t.Errorf("warning %q", w)
	}
	r.quiet() // no GoLive
}
