// Package compliance closes the box's compliance loop: caption segments from
// the speech worker go through the caption linter (one lint.Stream per live
// session); every finding becomes a quiet warning for the streamer (her phone
// page, the LED) within milliseconds, and a flagged segment — the transcript
// around the moment and the findings, written the moment she is warned, then
// the recorder's clip from 5 s before the flagged utterance to 2 s after it —
// stored for review. The mark button makes the same kind of segment. The
// microphone is listened to only while she is live. Viewers never see any of
// it: nothing here touches the broadcast.
package compliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/speech"
	"github.com/cunbo/cunbo/stream/record"
)

// Warning is what the streamer is told about one finding.
type Warning struct {
	// ID is unique per warning, for the phone page to de-duplicate.
	ID string    `json:"id"`
	At time.Time `json:"at"`
	// Said is the caption text she said; MatchStart/MatchEnd are the rune
	// span of the problem phrase in it.
	Said         string `json:"said"`
	MatchStart   int    `json:"match_start"`
	MatchEnd     int    `json:"match_end"`
	Match        string `json:"match"`
	Category     string `json:"category"`
	CategoryName string `json:"category_name"`
	Rule         string `json:"rule"`
	Explain      string `json:"explain"`
	Suggest      string `json:"suggest"`
	Law          string `json:"law"`
	// CaptionAt is when the caption carrying it reached the loop.
	CaptionAt time.Time `json:"-"`
}

// Text is the warning as one plain-Chinese line (for the LED-side status
// list and logs).
func (w Warning) Text() string {
	s := fmt.Sprintf("“%s”属于%s", w.Match, w.CategoryName)
	if w.Suggest != "" {
		s += "，建议：" + w.Suggest
	}
	return s
}

// WarningSink receives warnings: the phone page's event stream, the box's
// LED. Warn is called from the loop's goroutine and must not block.
type WarningSink interface {
	Warn(Warning)
}

// SinkFunc adapts a function to WarningSink.
type SinkFunc func(Warning)

// Warn implements WarningSink.
func (f SinkFunc) Warn(w Warning) { f(w) }

// Recorder is what the loop needs from the recording ring
// (*record.Recorder).
type Recorder interface {
	WallTime(pts time.Duration) (time.Time, bool)
	Hold(from, to time.Time) record.HoldID
	Release(record.HoldID)
	Clip(ctx context.Context, from, to time.Time, out io.Writer) (record.ClipInfo, error)
	ClipFile(ctx context.Context, from, to time.Time, path string) (record.ClipInfo, error)
}

// Config sets up a Loop.
type Config struct {
	// Linter judges captions (lint.NewDefault or a trainer's pack). Required.
	Linter *lint.Linter
	// Sinks receive every warning.
	Sinks []WarningSink
	// Store keeps flagged segments; nil means warnings only.
	Store *flagged.Store
	// Recorder provides clips and maps caption times to wall time; nil
	// means segments without clips.
	Recorder Recorder
	// Device is the box's id, written into every segment.
	Device string
	// Before and After are how much of the recording a clip keeps before
	// the flagged utterance begins and after it ends (defaults 5 s and
	// 2 s). Context is the transcript kept before the moment (default 30 s).
	Before, After, Context time.Duration
	// MaxClip bounds how long findings that join one segment stretch its
	// clip (default 30 s); RepeatWindow is how long after the clip's end
	// the same rule said again joins the segment as a repeat, with its
	// words and time but no clip of its own (default 2 min). A phrase
	// repeated for minutes thus costs one short clip every few minutes,
	// not a copy of the whole recording.
	MaxClip, RepeatWindow time.Duration
	// MarkBefore and MarkAfter bound the mark button's clip around the
	// press (defaults 15 s and 5 s, what the pipeline holds): she presses it after the words.
	MarkBefore, MarkAfter time.Duration
	// Settle is how long past the clip's end the loop waits for the
	// recorder to make that end durable before it cuts what there is
	// (default 3 s; fragments are 1–2 s).
	Settle time.Duration
	// QueueLen bounds captions waiting for the loop (default 64).
	QueueLen int
	// OnSegment, if set, is told about every segment once it is complete
	// (its clip attached or failed), or failed.
	OnSegment func(flagged.Segment, error)
	Now       func() time.Time
	Logger    *slog.Logger
}

// Loop is the compliance loop. Create with New, start Run, feed Caption and
// Mark; call NewSession when she goes live.
type Loop struct {
	cfg Config
	log *slog.Logger

	in      chan input
	dropped atomic.Uint64
	// practice: what is heard now is a practice's (Practising).
	practice atomic.Bool
	wg       sync.WaitGroup // segment writers
	seq      atomic.Uint64

	// Owned by Run's goroutine.
	stream   *lint.Stream
	open     *openPartial
	history  []heard
	heardSeq uint64
	segs     []*openSeg
	warnedAt []warned
	// practising is the practice flag of the input being handled.
	practising bool

	mu    sync.Mutex
	stats Stats
	sinks []WarningSink // copy-on-write
	heard []func(Heard) // copy-on-write
}

// Heard is one final caption placed in wall-clock time.
type Heard struct {
	At, End time.Time
	Text    string
}

// AddHeardSink adds f, called on the loop's goroutine with every final
// caption (a practice's checks judge her answers by them). f must not
// block.
func (l *Loop) AddHeardSink(f func(Heard)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heard = append(slices.Clone(l.heard), f)
}

// Stats counts what the loop has done.
type Stats struct {
	Captions        uint64
	Warnings        uint64
	Segments        uint64
	SegmentErrors   uint64
	DroppedCaptions uint64
	// FlaggedLost counts flagged segments never uploaded that the store's
	// quota deleted.
	FlaggedLost uint64
	// LastWarningLatency is caption arrival → warning handed to the sinks.
	LastWarningLatency time.Duration
}

type inputKind int

const (
	inCaption inputKind = iota
	inMark
	inSession
)

type input struct {
	kind    inputKind
	c       speech.Caption
	at      time.Time
	release func()
	// practice is stamped when the input arrives, so a caption still
	// queued when a practice ends keeps the kind it was said in.
	practice bool
}

type openPartial struct {
	c  speech.Caption
	at time.Time
}

// heard is one caption pushed into the lint stream.
type heard struct {
	seq    uint64 // order heard, across sessions
	c      speech.Caption
	wall   time.Time // wall-clock start
	offset int       // rune offset in the stream's transcript
}

func (h heard) wallEnd() time.Time { return h.wall.Add(max(h.c.End-h.c.Start, 0)) }

// has reports whether stream offset i falls on this caption's words.
func (h heard) has(i int) bool { return i >= h.offset && i < h.offset+utf8.RuneCountInString(h.c.Text) }

type warned struct {
	category   string
	start, end time.Duration
	at         time.Time // when she was warned
	// bounded: a final finding's moment was already held to at.
	bounded bool
}

// New checks cfg and returns a Loop.
func New(cfg Config) (*Loop, error) {
	if cfg.Linter == nil {
		return nil, errors.New("compliance: Config.Linter is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Before, 5*time.Second)
	def(&cfg.After, 2*time.Second)
	def(&cfg.Context, 30*time.Second)
	def(&cfg.Settle, 3*time.Second)
	def(&cfg.MaxClip, 30*time.Second)
	def(&cfg.RepeatWindow, 2*time.Minute)
	def(&cfg.MarkBefore, 15*time.Second)
	def(&cfg.MarkAfter, 5*time.Second)
	if cfg.Before < 0 || cfg.After < 0 || cfg.Context < 0 || cfg.Settle < 0 || cfg.MaxClip < 0 ||
		cfg.RepeatWindow < 0 || cfg.MarkBefore < 0 || cfg.MarkAfter < 0 {
		return nil, errors.New("compliance: negative duration in Config")
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	l := &Loop{cfg: cfg, log: log, in: make(chan input, cfg.QueueLen)}
	l.sinks = append([]WarningSink(nil), cfg.Sinks...)
	l.stream = cfg.Linter.NewStream()
	return l, nil
}

// Linter is the rules the loop judges captions with (the practice lab
// checks its scripted answers with the same).
func (l *Loop) Linter() *lint.Linter { return l.cfg.Linter }

// AddSink adds a warning sink, for parts built after the loop (the box, the
// phone page).
func (l *Loop) AddSink(s WarningSink) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sinks = append(append([]WarningSink(nil), l.sinks...), s)
}

// Caption hands the loop one caption (speech.Config.OnCaption). It never
// blocks; when the loop is behind, the caption is dropped and counted.
func (l *Loop) Caption(c speech.Caption) {
	l.send(input{kind: inCaption, c: c, at: l.cfg.Now()})
}

// Mark makes a segment around now: the streamer's "I misspoke" button.
func (l *Loop) Mark() error { return l.MarkAt(l.cfg.Now(), nil) }

// MarkAt makes a mark segment around at. release, if not nil, is called
// once the clip is cut (or the mark is refused): the pipeline protects the
// recording with its own Hold when the button is pressed.
func (l *Loop) MarkAt(at time.Time, release func()) error {
	if l.cfg.Store == nil {
		if release != nil {
			release()
		}
		return errNoStore
	}
	if !l.send(input{kind: inMark, at: at, release: release}) {
		if release != nil {
			release()
		}
		return errors.New("compliance: loop busy, mark dropped")
	}
	return nil
}

// Practising says whether what the loop hears from now on is a practice
// (nothing published): the segments it flags and the marks pressed are
// then marked as a practice's (segment.KindPractice), so her social
// worker tells them from what viewers heard. Captions.Listen calls it.
func (l *Loop) Practising(p bool) { l.practice.Store(p) }

// Store is where the loop keeps flagged segments; nil when it keeps none.
func (l *Loop) Store() *flagged.Store { return l.cfg.Store }

// NewSession starts a fresh transcript: call it when she goes live (the
// pipeline clock restarts with each session).
func (l *Loop) NewSession() { l.send(input{kind: inSession, at: l.cfg.Now()}) }

func (l *Loop) send(in input) bool {
	in.practice = l.practice.Load()
	select {
	case l.in <- in:
		return true
	default:
		l.dropped.Add(1)
		return false
	}
}

// Stats returns a snapshot of the counters.
func (l *Loop) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.DroppedCaptions = l.dropped.Load()
	if l.cfg.Store != nil {
		s.FlaggedLost = l.cfg.Store.Stats().PendingEvicted
	}
	return s
}

// Run processes captions until ctx ends. Segments still waiting for their
// "after" part are then cut with what was recorded, so a session that ends
// right after a finding still keeps it.
func (l *Loop) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	l.resumeClips()
	for {
		l.armTimer(timer)
		select {
		case <-ctx.Done():
			l.closeOpen()
			for _, o := range l.segs {
				if !o.cutting {
					l.cut(o, true)
				}
			}
			l.segs = nil
			l.wg.Wait()
			return nil
		case in := <-l.in:
			l.practising = in.practice
			switch in.kind {
			case inCaption:
				l.caption(in.c, in.at)
			case inMark:
				l.mark(in.at, in.release)
			case inSession:
				l.closeOpen()
				l.stream = l.cfg.Linter.NewStream()
				l.history, l.warnedAt = nil, nil
				// Stream offsets start over: nothing joins an older segment.
				for _, o := range l.segs {
					o.closed = true
				}
			}
		case <-timer.C:
		}
		l.cutDue()
	}
}

func (l *Loop) armTimer(t *time.Timer) {
	next := time.Hour
	now := l.cfg.Now()
	for _, o := range l.segs {
		due := l.due(o)
		if o.cutting {
			due = o.to.Add(l.cfg.RepeatWindow)
		}
		if d := due.Sub(now); d < next {
			next = max(d, 0)
		}
	}
	t.Reset(next)
}

func (l *Loop) caption(c speech.Caption, at time.Time) {
	// Counted once handled: tests step their clock between captions.
	defer func() {
		l.mu.Lock()
		l.stats.Captions++
		l.mu.Unlock()
	}()
	if !c.Final {
		// A partial of a new utterance means the last one never got its
		// final (the worker died): keep what it heard.
		if l.open != nil && l.open.c.Start != c.Start {
			l.closeOpen()
		}
		l.open = &openPartial{c: c, at: at}
		var fresh []lint.Finding
		for _, f := range l.cfg.Linter.Check(c.Text) {
			if l.alreadyWarned(f.Category, c) || slices.ContainsFunc(fresh, func(g lint.Finding) bool { return g.Category == f.Category }) {
				continue
			}
			fresh = append(fresh, f)
		}
		// On disk before she sees it: every warning shown has its segment,
		// whatever happens to the box a moment later.
		l.flagPartial(c, at, fresh)
		for _, f := range fresh {
			l.warn(c, f, at)
		}
		return
	}
	if l.open != nil && !(l.open.c.Start < c.End && c.Start < l.open.c.End) {
		l.closeOpen()
	}
	l.open = nil
	l.push(c, at)
}

// closeOpen pushes an orphaned partial as if it were final.
func (l *Loop) closeOpen() {
	if l.open == nil {
		return
	}
	o := l.open
	l.open = nil
	o.c.Final = true
	l.push(o.c, o.at)
}

func (l *Loop) push(c speech.Caption, at time.Time) {
	wall, ok := l.wallTime(c.Start)
	if !ok {
		wall = at.Add(-(c.End - c.Start))
	}
	// The transcript keeps utterances apart with a newline: one inside a
	// caption would break that.
	c.Text = strings.ReplaceAll(c.Text, flagged.CaptionSep, " ")
	l.heardSeq++
	h := heard{seq: l.heardSeq, c: c, wall: wall, offset: l.stream.Offset()}
	l.mu.Lock()
	heardSinks := l.heard
	l.mu.Unlock()
	for _, f := range heardSinks {
		f(Heard{At: wall, End: wall.Add(c.End - c.Start), Text: c.Text})
	}
	l.history = append(l.history, h)
	l.trimHistory()
	dirty := l.heardDuring(h)
	var hit []*openSeg
	found := l.stream.Push(lint.Segment{Text: c.Text, Start: c.Start, End: c.End, Final: c.Final})
	for _, sf := range found {
		if o := l.flag(sf); o != nil && !slices.Contains(hit, o) {
			hit = append(hit, o)
		}
	}
	for _, o := range hit {
		if !slices.Contains(dirty, o) {
			dirty = append(dirty, o)
		}
	}
	for _, o := range l.settlePartials(c, hit) {
		if !slices.Contains(dirty, o) {
			dirty = append(dirty, o)
		}
	}
	// Written before she is warned (a few milliseconds): every warning
	// shown has its segment on disk, whatever happens to the box a moment
	// later.
	for _, o := range dirty {
		l.write(o)
	}
	for _, sf := range found {
		if !l.alreadyWarned(sf.Category, c) {
			said, f := l.localFinding(sf)
			shown := c
			shown.Text = said
			l.warn(shown, f, at)
		}
	}
}

func (l *Loop) wallTime(pts time.Duration) (time.Time, bool) {
	if l.cfg.Recorder == nil {
		return time.Time{}, false
	}
	return l.cfg.Recorder.WallTime(pts)
}

// localFinding re-expresses a transcript finding relative to what she
// said: the newest caption, preceded by the one before it when the phrase
// began there (全网最 | 低价).
func (l *Loop) localFinding(sf lint.StreamFinding) (string, lint.Finding) {
	f := sf.Finding
	i := len(l.history) - 1
	if i > 0 && sf.Start < l.history[i].offset {
		i--
	}
	var said []byte
	for _, h := range l.history[i:] {
		said = append(said, h.c.Text...)
	}
	base, n := l.history[i].offset, utf8.RuneCount(said)
	f.Start = min(max(f.Start-base, 0), n)
	f.End = min(max(f.End-base, f.Start), n)
	return string(said), f
}

// alreadyWarned: the same category in the same utterance was already shown
// (from a partial, then again from its final).
func (l *Loop) alreadyWarned(category string, c speech.Caption) bool {
	for _, w := range l.warnedAt {
		if w.category == category && w.start < c.End && c.Start < w.end {
			return true
		}
	}
	return false
}

func (l *Loop) warn(c speech.Caption, f lint.Finding, at time.Time) {
	now := l.cfg.Now()
	l.warnedAt = append(l.warnedAt, warned{category: f.Category, start: c.Start, end: c.End, at: now})
	if len(l.warnedAt) > 64 {
		l.warnedAt = l.warnedAt[len(l.warnedAt)-64:]
	}
	w := Warning{
		ID:           fmt.Sprintf("w%d-%d", at.UnixNano(), l.seq.Add(1)),
		At:           now,
		Said:         c.Text,
		MatchStart:   f.Start,
		MatchEnd:     f.End,
		Match:        f.Match,
		Category:     f.Category,
		CategoryName: lint.CategoryName(f.Category),
		Rule:         f.Rule,
		Explain:      f.Explain,
		Suggest:      f.Suggest,
		Law:          f.Law,
		CaptionAt:    at,
	}
	l.mu.Lock()
	sinks := l.sinks
	l.mu.Unlock()
	for _, s := range sinks {
		s.Warn(w)
	}
	l.mu.Lock()
	l.stats.Warnings++
	l.stats.LastWarningLatency = l.cfg.Now().Sub(at)
	l.mu.Unlock()
	l.log.Info("compliance warning", "category", f.Category, "rule", f.Rule, "match", f.Match)
}

func (l *Loop) trimHistory() {
	if len(l.history) == 0 {
		return
	}
	// Keep twice the context: a pending segment may still need it.
	horizon := l.history[len(l.history)-1].c.End - 2*l.cfg.Context - l.cfg.After
	i := 0
	for i < len(l.history)-1 && l.history[i].c.End < horizon {
		i++
	}
	l.history = append(l.history[:0], l.history[i:]...)
}

// Poster is the box's event input (*firmware.Box).
type Poster interface {
	Post(ev state.Event, detail string) error
}

// BoxSink turns each warning into the box's compliance-warning event: the
// box flashes the LED's warning pattern and lists the warning in its status.
func BoxSink(b Poster) WarningSink {
	return SinkFunc(func(w Warning) { _ = b.Post(state.ComplianceWarning, w.Text()) }) // Post logs a drop
}
