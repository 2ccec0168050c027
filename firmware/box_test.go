package firmware

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/hw"
	"github.com/jonboulle/clockwork"
)

// fakePipeline records calls; GoLive and End block until the test answers.
type fakePipeline struct {
	calls    chan string
	liveResp chan error
	endResp  chan error
	liveCtx  chan context.Context
}

func newFakePipeline() *fakePipeline {
	return &fakePipeline{calls: make(chan string, 32), liveResp: make(chan error, 1),
		endResp: make(chan error, 1), liveCtx: make(chan context.Context, 1)}
}

func (p *fakePipeline) GoLive(ctx context.Context) error {
	p.calls <- "go-live"
	select {
	case p.liveCtx <- ctx:
	default:
	}
	select {
	case err := <-p.liveResp:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (p *fakePipeline) End() error      { p.calls <- "end"; return <-p.endResp }
func (p *fakePipeline) NextCard() error { p.calls <- "next"; return nil }
func (p *fakePipeline) PrevCard() error { p.calls <- "prev"; return nil }
func (p *fakePipeline) HideCard() error { p.calls <- "hide"; return nil }
func (p *fakePipeline) Mark() error     { p.calls <- "mark"; return nil }

type rig struct {
	t       *testing.T
	ctx     context.Context
	clk     *clockwork.FakeClock
	pl      *fakePipeline
	panel   *hw.Virtual
	buttons chan hw.ButtonEvent
	box     *Box
	status  <-chan Status
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	r := &rig{t: t, ctx: ctx, clk: clockwork.NewFakeClockAt(time.Date(2025, 5, 1, 19, 0, 0, 0, time.UTC)),
		pl: newFakePipeline(), buttons: make(chan hw.ButtonEvent)}
	r.panel = hw.NewVirtual(r.clk)
	box, err := NewBox(Options{Pipeline: r.pl, LED: r.panel.LED, Ring: r.panel.Ring, Buttons: r.buttons,
		Clock: r.clk, EndTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.box = box
	var unsubscribe func()
	r.status, unsubscribe = box.Subscribe()
	<-r.status // the initial status
	done := make(chan error)
	go func() { done <- box.Run(ctx) }()
	t.Cleanup(func() {
		unsubscribe()
		cancel()
		// Unblock a pending End so Run's goroutines finish.
		select {
		case r.pl.endResp <- nil:
		default:
		}
		<-done
	})
	return r
}

func (r *rig) press(button string, p hw.Press) {
	r.t.Helper()
	select {
	case r.buttons <- hw.ButtonEvent{Button: button, Press: p, At: r.clk.Now()}:
	case <-r.ctx.Done():
		r.t.Fatal("box not reading buttons")
	}
}

// expect waits for the next published status and checks the state, the LED
// pattern shown at that moment and the ring level.
func (r *rig) expect(st state.State, pattern string, ring hw.Level) Status {
	r.t.Helper()
	select {
	case s := <-r.status:
		v := r.panel.State()
		if s.State != st || v.Pattern != pattern || v.Ring != ring {
			r.t.Fatalf("status %s, LED %s, ring %s; want %s, %s, %s", s.State, v.Pattern, v.Ring, st, pattern, ring)
		}
		return s
	case <-r.ctx.Done():
		r.t.Fatalf("no status; want %s", st)
	}
	return Status{}
}

func (r *rig) call(want string) {
	r.t.Helper()
	select {
	case got := <-r.pl.calls:
		if got != want {
			r.t.Fatalf("pipeline call %s, want %s", got, want)
		}
	case <-r.ctx.Done():
		r.t.Fatalf("no pipeline call; want %s", want)
	}
}

// quiet checks that an input changed nothing: a probe through the event
// loop proves the input was processed.
func (r *rig) quiet() {
	r.t.Helper()
	if err := r.box.Healthy(); err != nil {
		r.t.Fatal(err)
	}
	select {
	case s := <-r.status:
		r.t.Fatalf("unexpected status %+v", s)
	case c := <-r.pl.calls:
		r.t.Fatalf("unexpected pipeline call %s", c)
	default:
	}
}

func TestBoxShowTheWholeEvening(t *testing.T) {
	r := newRig(t)
	// Rehearse a card before going live.
	r.press(ButtonNext, hw.ShortPress)
	r.expect(state.Idle, hw.PatternIdle, hw.LevelOff)
	r.call("next")

	// One tap: the light says "starting" and the ring light comes on
	// before the stream is up, with the clock never advanced.
	r.press(ButtonBig, hw.ShortPress)
	r.expect(state.Starting, hw.PatternStarting, hw.LevelMid)
	if c := r.panel.State().Color; c != hw.Blue {
		t.Fatalf("LED colour %s, want blue", c)
	}
	r.call("go-live")
	r.pl.liveResp <- nil
	r.expect(state.Live, hw.PatternLive, hw.LevelMid)

	// A brushed big button does nothing.
	r.press(ButtonBig, hw.ShortPress)
	r.quiet()

	r.press(ButtonLight, hw.ShortPress)
	r.expect(state.Live, hw.PatternLive, hw.LevelHigh)
	r.press(ButtonPrev, hw.LongPress)
	r.expect(state.Live, hw.PatternLive, hw.LevelHigh)
	r.call("hide")

	r.press(ButtonMark, hw.ShortPress)
	r.expect(state.Live, hw.PatternMark, hw.LevelHigh)
	r.call("mark")

	r.box.Post(state.ComplianceWarning, "“最好”属于绝对化用语")
	s := r.expect(state.Live, hw.PatternWarning, hw.LevelHigh)
	if v := r.panel.State(); v.Base != hw.PatternLive {
		t.Fatalf("warning hid the live state: base %s", v.Base)
	}
	if w := s.Warnings[len(s.Warnings)-1].Text; w != "口播提醒：“最好”属于绝对化用语" {
		t.Fatalf("warning %q", w)
	}

	// Subscribers get the latest status (a slow phone skips states), so
	// each event is posted only after the previous one is seen.
	r.box.Post(state.StreamDegraded, "")
	r.expect(state.Degraded, hw.PatternWarning, hw.LevelHigh) // the overlay still plays
	r.box.Post(state.LinkLost, "")
	s = r.expect(state.Reconnecting, hw.PatternWarning, hw.LevelHigh)
	if !strings.Contains(s.Warnings[len(s.Warnings)-1].Text, "正在重连") {
		t.Fatalf("warnings %+v", s.Warnings)
	}
	r.box.Post(state.LinkBack, "")
	r.expect(state.Live, hw.PatternWarning, hw.LevelHigh)

	// Hold 3 s: ending, then idle with the ring light off.
	r.press(ButtonBig, hw.LongPress)
	r.expect(state.Ending, hw.PatternWarning, hw.LevelHigh)
	r.call("end")
	r.pl.endResp <- nil
	s = r.expect(state.Idle, hw.PatternWarning, hw.LevelOff)
	if !s.Since.Equal(r.clk.Now()) {
		t.Fatalf("since %s", s.Since)
	}
	if v := r.panel.State(); v.Base != hw.PatternIdle {
		t.Fatalf("LED base %s, want idle", v.Base)
	}
}

func TestBoxStartFailure(t *testing.T) {
	r := newRig(t)
	r.press(ButtonBig, hw.ShortPress)
	r.expect(state.Starting, hw.PatternStarting, hw.LevelMid)
	r.call("go-live")
	r.pl.liveResp <- errors.New("rtmp: connection refused")
	s := r.expect(state.Idle, hw.PatternIdle, hw.LevelOff)
	if w := s.Warnings[0].Text; w != "开播失败：rtmp: connection refused" {
		t.Fatalf("warning %q", w)
	}
}

func TestBoxAbortWhileStarting(t *testing.T) {
	r := newRig(t)
	r.press(ButtonBig, hw.ShortPress)
	r.expect(state.Starting, hw.PatternStarting, hw.LevelMid)
	r.call("go-live")
	liveCtx := <-r.pl.liveCtx
	r.press(ButtonBig, hw.LongPress)
	r.expect(state.Ending, hw.PatternEnding, hw.LevelMid)
	<-liveCtx.Done() // the start was cancelled
	r.call("end")
	r.pl.endResp <- nil
	r.expect(state.Idle, hw.PatternIdle, hw.LevelOff)
	r.quiet() // the cancelled GoLive reports nothing
}

func TestBoxEndTimeout(t *testing.T) {
	r := newRig(t)
	r.press(ButtonBig, hw.ShortPress)
	r.expect(state.Starting, hw.PatternStarting, hw.LevelMid)
	r.call("go-live")
	r.pl.liveResp <- nil
	r.expect(state.Live, hw.PatternLive, hw.LevelMid)
	r.press(ButtonBig, hw.LongPress)
	r.expect(state.Ending, hw.PatternEnding, hw.LevelMid)
	r.call("end") // and End hangs
	// Only the end timer waits on the clock (LED and ring Run are not running).
	if err := r.clk.BlockUntilContext(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(10 * time.Second)
	s := r.expect(state.Idle, hw.PatternIdle, hw.LevelOff)
	if w := s.Warnings[len(s.Warnings)-1].Text; w != "结束超时，已强制停止" {
		t.Fatalf("warning %q", w)
	}
	// She can go live again at once.
	r.press(ButtonBig, hw.ShortPress)
	r.expect(state.Starting, hw.PatternStarting, hw.LevelMid)
}

func TestBoxFaultAndSetup(t *testing.T) {
	r := newRig(t)
	r.box.Post(state.FaultRaised, "找不到摄像头")
	s := r.expect(state.Fault, hw.PatternFault, hw.LevelOff)
	if s.Warnings[0].Text != "设备故障：找不到摄像头" {
		t.Fatalf("%+v", s.Warnings)
	}
	r.press(ButtonBig, hw.ShortPress) // cannot go live in a fault
	r.quiet()
	r.press(ButtonBig, hw.LongPress)
	r.expect(state.Setup, hw.PatternSetup, hw.LevelOff)
	r.box.Post(state.SetupExit, "")
	r.expect(state.Idle, hw.PatternIdle, hw.LevelOff)
}

func TestNewBoxNeedsItsParts(t *testing.T) {
	if _, err := NewBox(Options{}); err == nil {
		t.Fatal("accepted")
	}
}

// BenchmarkButtonToLED measures a press travelling through the event loop
// to the LED pins and the published status.
func BenchmarkButtonToLED(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	panel := hw.NewVirtual(clockwork.NewFakeClock())
	buttons := make(chan hw.ButtonEvent)
	box, _ := NewBox(Options{Pipeline: newFakePipeline(), LED: panel.LED, Ring: panel.Ring, Buttons: buttons})
	status, _ := box.Subscribe()
	<-status
	go box.Run(ctx)
	// Light cycling changes the published status on every press.
	for b.Loop() {
		buttons <- hw.ButtonEvent{Button: ButtonLight, Press: hw.ShortPress}
		<-status
	}
}
