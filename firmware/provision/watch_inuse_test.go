package provision

import (
	"context"
	"testing"

	"github.com/cunbo/cunbo/hw"
)

// The stick stays in through the restart its bundle asked for: the box,
// started afresh, finds the same bundle and must not call it refused
// (the phone page would say ❌ right after ✅); an older bundle on the
// stick is still refused.
func TestStickLeftInAfterRestartIsQuiet(t *testing.T) {
	r := newRig(t, true)
	r.putRoot(t)
	r.put(t, "2.cunbo", r.o.bundle(t, 2, 100))
	if err := r.w.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := r.store.Outcome()
	if want == nil || !want.OK {
		t.Fatalf("outcome %+v, want version 2 applied", want)
	}
	// The restart: a new watcher on the same store and stick.
	led := &leds{}
	w, err := NewWatcher(WatcherOptions{Store: r.store, Stick: DirStick{Globs: []string{r.stick}}, Key: r.o.box,
		Idle: newGate(true), LED: led, Now: r.w.o.Now, Logger: r.w.o.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := r.store.Outcome(); out == nil || !out.OK || out.Message != want.Message {
		t.Fatalf("after the restart the outcome is %+v, want %+v kept", out, want)
	}
	if got := led.list(); len(got) != 0 {
		t.Fatalf("LED flashed %v for the bundle in use", got)
	}

	// An older bundle put beside it is a refusal as before.
	r.put(t, "1.cunbo", r.o.bundle(t, 1, 100))
	if err := w.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := r.store.Outcome(); out == nil || out.OK || out.Kind != "replay" {
		t.Fatalf("older bundle: outcome %+v, want a replay refusal", out)
	}
	if got := led.list(); len(got) != 1 || got[0] != hw.PatternBundleRefused {
		t.Fatalf("LED flashed %v for the older bundle", got)
	}
}
