// Package firmware is the box: it runs the state machine (firmware/state)
// over button presses and pipeline reports, drives the status LED and ring
// light, and tells the media pipeline what to do.
package firmware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/hw"
	"github.com/jonboulle/clockwork"
)

// Pipeline is what the box needs from the media pipeline. Calls other than
// GoLive must return quickly.
type Pipeline interface {
	// GoLive starts every output and returns once they publish (the box
	// then counts the stream as up) or with the reason they could not.
	// Cancelling ctx aborts the start.
	GoLive(ctx context.Context) error
	// End stops the outputs cleanly and returns when they are stopped.
	End() error
	NextCard() error
	PrevCard() error
	HideCard() error
	// Mark flags the last moments of the recording: "I misspoke".
	Mark() error
}

// Practicer is a Pipeline that can run a practice: Practice is GoLive
// publishing to no destination; End ends it. A pipeline without it refuses
// a practice rather than risk putting a rehearsal on air.
type Practicer interface {
	Practice(ctx context.Context) error
}

// LED is the status light (hw.StatusLED).
type LED interface {
	Show(pattern string) error
	Flash(pattern string) error
}

// Ring is the ring light (hw.RingLight).
type Ring interface {
	Set(hw.Level)
	Cycle() hw.Level
	Level() hw.Level
}

// ButtonPress is a button and how it was pressed.
type ButtonPress struct {
	Button string
	Press  hw.Press
}

// Button names of the reference box.
const (
	ButtonBig   = "big"
	ButtonNext  = "next"
	ButtonPrev  = "prev"
	ButtonLight = "light"
	ButtonMark  = "mark"
	// ButtonPractice is the phone page's 练习 button (the box has none:
	// there a held card button starts a practice).
	ButtonPractice = "practice"
)

// DefaultButtonMap gives each press of the reference box's five buttons its
// meaning. Holding a card button hides the card: one gesture for "not now"
// that works from either side.
func DefaultButtonMap() map[ButtonPress]state.Event {
	return map[ButtonPress]state.Event{
		{ButtonBig, hw.ShortPress}:   state.BigShort,
		{ButtonBig, hw.LongPress}:    state.BigLong,
		{ButtonNext, hw.ShortPress}:  state.CardNext,
		{ButtonNext, hw.LongPress}:   state.CardHold,
		{ButtonPrev, hw.ShortPress}:  state.CardPrev,
		{ButtonPrev, hw.LongPress}:   state.CardHold,
		{ButtonLight, hw.ShortPress}: state.LightCycle,
		{ButtonLight, hw.LongPress}:  state.LightOff,
		{ButtonMark, hw.ShortPress}:  state.Mark,
	}
}

// PhoneButtonMap is DefaultButtonMap for the phone page: its 收起卡片
// (a card button held) only hides the card, and its 练习 button starts a
// practice.
func PhoneButtonMap() map[ButtonPress]state.Event {
	m := DefaultButtonMap()
	m[ButtonPress{ButtonNext, hw.LongPress}] = state.CardHide
	m[ButtonPress{ButtonPrev, hw.LongPress}] = state.CardHide
	m[ButtonPress{ButtonPractice, hw.ShortPress}] = state.PracticeStart
	return m
}

// patternFor is the LED pattern each state shows.
func patternFor(s state.State) string {
	switch s {
	case state.Idle:
		return hw.PatternIdle
	case state.Starting:
		return hw.PatternStarting
	case state.Live:
		return hw.PatternLive
	case state.Degraded:
		return hw.PatternDegraded
	case state.Reconnecting:
		return hw.PatternReconnecting
	case state.Ending:
		return hw.PatternEnding
	case state.Setup:
		return hw.PatternSetup
	case state.Practice:
		return hw.PatternPractice
	}
	return hw.PatternFault
}

// Options configure a Box.
type Options struct {
	Pipeline Pipeline
	LED      LED
	Ring     Ring
	// Buttons is where presses come from (hw.WatchButtons); nil for none.
	Buttons <-chan hw.ButtonEvent
	// ButtonMap defaults to DefaultButtonMap.
	ButtonMap map[ButtonPress]state.Event
	// RingOnLevel is the level the ring light goes to when she goes live
	// with it off. Default mid.
	RingOnLevel hw.Level
	// EndTimeout bounds Pipeline.End: after it the box is idle anyway, so
	// she can start again. Default 20 s.
	EndTimeout time.Duration
	// Setup is called with true on entering setup mode and false on
	// leaving it; nil for none.
	Setup  func(enter bool)
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Notice is a message for the streamer (Simplified Chinese).
type Notice struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
	// Kind is NoticeCompliance for a compliance warning (the phone page
	// shows those in full from the compliance loop, not from here); ""
	// for the box's own messages.
	Kind string `json:"kind,omitempty"`
}

// NoticeCompliance is the Kind of a compliance warning in Status.Warnings.
const NoticeCompliance = "compliance"

// NoticeStorage is the Kind of a notice about the SD card (StorageNotice).
const NoticeStorage = "storage"

// Status is what the phone page and the simulator show.
type Status struct {
	State    state.State `json:"state"`
	Since    time.Time   `json:"since"`
	Ring     string      `json:"ring"`
	Warnings []Notice    `json:"warnings"`
}

const maxWarnings = 10

type posted struct {
	ev     state.Event
	detail string
	gen    uint64 // for internal reports: which start/end they belong to
}

// Box runs the machine. Create it with NewBox, start it with Run.
type Box struct {
	opts   Options
	events chan posted
	probes chan chan struct{}
	calls  chan func() error

	// Owned by the Run goroutine.
	cur        state.State
	gen        uint64 // bumped on every go-live and end
	cancelLive context.CancelFunc

	mu     sync.Mutex
	status Status
	subs   map[int]chan Status
	nextID int
}

// NewBox checks opts and returns an idle box.
func NewBox(opts Options) (*Box, error) {
	if opts.Pipeline == nil || opts.LED == nil || opts.Ring == nil {
		return nil, errors.New("firmware: box needs a pipeline, a LED and a ring light")
	}
	if opts.ButtonMap == nil {
		opts.ButtonMap = DefaultButtonMap()
	}
	if opts.RingOnLevel == hw.LevelOff {
		opts.RingOnLevel = hw.LevelMid
	}
	if opts.EndTimeout <= 0 {
		opts.EndTimeout = 20 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &Box{
		opts:   opts,
		events: make(chan posted, 64),
		probes: make(chan chan struct{}),
		calls:  make(chan func() error, 32),
		cur:    state.Idle,
		subs:   map[int]chan Status{},
	}
	b.status = Status{State: state.Idle, Since: opts.Clock.Now(), Ring: opts.Ring.Level().String()}
	return b, nil
}

// ErrBusy: the box's event queue stayed full; the event was dropped.
var ErrBusy = errors.New("firmware: box busy, event dropped")

// Post reports an event from the pipeline or the system (stream degraded,
// link lost, compliance warning, …) or a press from the phone page.
// detail is shown to the streamer with warnings. It never blocks the
// caller for long: a box that is busy or stopped drops the event and
// says so (ErrBusy), so a press is never answered as done when it was not.
func (b *Box) Post(ev state.Event, detail string) error {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case b.events <- posted{ev: ev, detail: detail}:
		return nil
	case <-t.C:
		b.opts.Logger.Error("box not consuming events; dropped", "event", ev)
		return fmt.Errorf("%w: %s", ErrBusy, ev)
	}
}

// Status is the current status.
func (b *Box) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.status
	s.Warnings = append([]Notice(nil), s.Warnings...)
	return s
}

// Subscribe returns a channel that always holds the newest status (older
// undelivered ones are dropped) and a func to stop.
func (b *Box) Subscribe() (<-chan Status, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.nextID
	b.nextID++
	ch := make(chan Status, 1)
	ch <- b.status
	b.subs[id] = ch
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[id]; ok {
			delete(b.subs, id)
			close(ch)
		}
	}
}

// Healthy reports nil while the event loop answers: the watchdog withholds
// its ping when the loop is wedged.
func (b *Box) Healthy() error {
	done := make(chan struct{})
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case b.probes <- done:
	case <-t.C:
		return errors.New("box event loop not answering")
	}
	select {
	case <-done:
		return nil
	case <-t.C:
		return errors.New("box event loop not answering")
	}
}

// Run consumes button presses and posted events until ctx ends.
func (b *Box) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.callWorker(ctx)
	}()
	if err := b.opts.LED.Show(patternFor(b.cur)); err != nil {
		b.opts.Logger.Warn("status led", "err", err)
	}
	buttons := b.opts.Buttons
	for {
		select {
		case <-ctx.Done():
			if b.cancelLive != nil {
				b.cancelLive()
			}
			return ctx.Err()
		case ev, ok := <-buttons:
			if !ok {
				buttons = nil
				continue
			}
			e, mapped := b.opts.ButtonMap[ButtonPress{ev.Button, ev.Press}]
			if !mapped {
				b.opts.Logger.Debug("unmapped button", "button", ev.Button, "press", ev.Press)
				continue
			}
			b.handle(ctx, &wg, posted{ev: e})
		case p := <-b.events:
			b.handle(ctx, &wg, p)
		case done := <-b.probes:
			close(done)
		}
	}
}

// callWorker runs the quick pipeline calls in order, off the event loop.
func (b *Box) callWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case call := <-b.calls:
			if err := call(); err != nil {
				b.opts.Logger.Warn("pipeline call failed", "err", err)
			}
		}
	}
}

func (b *Box) queue(ctx context.Context, call func() error) {
	select {
	case b.calls <- call:
		return
	default:
	}
	// The loop catching up on a burst of presses waits for the worker a
	// moment rather than drop presses already answered as taken; a wedged
	// pipeline still cannot hold the loop for long.
	t := time.NewTimer(250 * time.Millisecond)
	defer t.Stop()
	select {
	case b.calls <- call:
	case <-ctx.Done():
	case <-t.C:
		b.opts.Logger.Warn("pipeline busy; dropped a card/mark call")
	}
}

// internal events carry the generation they belong to; stale ones (a
// GoLive that returned after she already ended) are ignored.
func (b *Box) postInternal(ctx context.Context, gen uint64, ev state.Event, detail string) {
	select {
	case b.events <- posted{ev: ev, detail: detail, gen: gen}:
	case <-ctx.Done():
	}
}

func (b *Box) handle(ctx context.Context, wg *sync.WaitGroup, p posted) {
	if p.gen != 0 && p.gen != b.gen {
		return
	}
	prev := b.cur
	next, actions, ok := state.Next(prev, p.ev)
	if !ok {
		b.opts.Logger.Debug("event ignored", "state", prev, "event", p.ev)
		return
	}
	b.cur = next
	now := b.opts.Clock.Now()
	if next != prev {
		b.opts.Logger.Info("state", "from", prev, "to", next, "event", p.ev)
		// The light changes first: she sees the box react at once.
		if err := b.opts.LED.Show(patternFor(next)); err != nil {
			b.opts.Logger.Warn("status led", "err", err)
		}
	}
	for _, a := range actions {
		b.do(ctx, wg, a)
	}
	b.mu.Lock()
	b.status.State = next
	if next != prev {
		b.status.Since = now
	}
	b.status.Ring = b.opts.Ring.Level().String()
	if w := warningText(prev, next, p); w != "" {
		nw := Notice{At: now, Text: w}
		if p.ev == state.ComplianceWarning {
			nw.Kind = NoticeCompliance
		}
		b.addWarningLocked(nw)
	}
	b.publishLocked()
	b.mu.Unlock()
}

func (b *Box) addWarningLocked(w Notice) {
	b.status.Warnings = append(b.status.Warnings, w)
	if n := len(b.status.Warnings); n > maxWarnings {
		b.status.Warnings = append([]Notice(nil), b.status.Warnings[n-maxWarnings:]...)
	}
}

// publishLocked hands the status to every subscriber.
func (b *Box) publishLocked() {
	st := b.status
	st.Warnings = append([]Notice(nil), st.Warnings...)
	for _, ch := range b.subs {
		select {
		case <-ch:
		default:
		}
		ch <- st
	}
}

// StorageNotice tells her the SD card is full or failing: the status LED
// flashes over whatever state it shows and the text (plain Chinese) joins
// the notices. It is no state of its own: she may be live, and the
// recorder goes on by deleting old recordings.
func (b *Box) StorageNotice(text string) {
	b.flash(hw.PatternStorage)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addWarningLocked(Notice{At: b.opts.Clock.Now(), Text: text, Kind: NoticeStorage})
	b.publishLocked()
}

// warningText is what she reads on her phone about a transition.
func warningText(prev, next state.State, p posted) string {
	with := func(s string) string {
		if p.detail != "" {
			return s + "：" + p.detail
		}
		return s
	}
	switch {
	case p.ev == state.ComplianceWarning:
		return with("口播提醒")
	case p.ev == state.StartFailed:
		return with("开播失败")
	case p.ev == state.FaultRaised:
		return with("设备故障")
	case next == state.Degraded && prev != state.Degraded:
		return with("网络不稳定，画质已自动降低")
	case next == state.Reconnecting && prev != state.Reconnecting:
		return with("网络断开，正在重连，录像不中断")
	case p.ev == state.StreamEnded && prev != state.Ending && prev != state.Idle:
		return with("直播意外结束")
	case p.ev == state.StreamEnded && p.detail != "":
		return p.detail
	}
	return ""
}

func (b *Box) do(ctx context.Context, wg *sync.WaitGroup, a state.Action) {
	pl := b.opts.Pipeline
	switch a {
	case state.GoLive:
		b.gen++
		gen := b.gen
		liveCtx, cancel := context.WithCancel(ctx)
		b.cancelLive = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pl.GoLive(liveCtx); err != nil {
				if liveCtx.Err() == nil {
					b.postInternal(ctx, gen, state.StartFailed, err.Error())
				}
				return
			}
			b.postInternal(ctx, gen, state.StreamUp, "")
		}()
	case state.GoPractice:
		b.gen++
		gen := b.gen
		liveCtx, cancel := context.WithCancel(ctx)
		b.cancelLive = cancel
		pr, _ := pl.(Practicer)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if pr == nil {
				b.postInternal(ctx, gen, state.StartFailed, "这台设备不能练习")
				return
			}
			if err := pr.Practice(liveCtx); err != nil && liveCtx.Err() == nil {
				b.postInternal(ctx, gen, state.StartFailed, err.Error())
			}
		}()
	case state.End:
		if b.cancelLive != nil {
			b.cancelLive()
			b.cancelLive = nil
		}
		b.gen++
		gen := b.gen
		timer := b.opts.Clock.AfterFunc(b.opts.EndTimeout, func() {
			b.postInternal(ctx, gen, state.StreamEnded, "结束超时，已强制停止")
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := pl.End()
			if timer.Stop() {
				detail := ""
				if err != nil {
					b.opts.Logger.Warn("pipeline end", "err", err)
					detail = fmt.Sprintf("结束时出错：%v", err)
				}
				b.postInternal(ctx, gen, state.StreamEnded, detail)
			}
		}()
	case state.NextCard:
		b.queue(ctx, pl.NextCard)
	case state.PrevCard:
		b.queue(ctx, pl.PrevCard)
	case state.HideCard:
		b.queue(ctx, pl.HideCard)
	case state.MarkClip:
		b.queue(ctx, pl.Mark)
	case state.RingOn:
		if b.opts.Ring.Level() == hw.LevelOff {
			b.opts.Ring.Set(b.opts.RingOnLevel)
		}
	case state.RingCycle:
		b.opts.Ring.Cycle()
	case state.RingOff:
		b.opts.Ring.Set(hw.LevelOff)
	case state.FlashWarning:
		b.flash(hw.PatternWarning)
	case state.FlashMark:
		b.flash(hw.PatternMark)
	case state.EnterSetup, state.ExitSetup:
		if b.opts.Setup != nil {
			b.opts.Setup(a == state.EnterSetup)
		}
	default:
		b.opts.Logger.Error("unknown action", "action", a)
	}
}

func (b *Box) flash(p string) {
	if err := b.opts.LED.Flash(p); err != nil {
		b.opts.Logger.Warn("status led", "err", err)
	}
}
