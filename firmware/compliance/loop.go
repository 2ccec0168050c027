// Package compliance closes the box's compliance loop: caption segments from
// the speech worker go through the caption linter (one lint.Stream per live
// session); every finding becomes a quiet warning for the streamer (her phone
// page, the LED) within milliseconds, and a flagged segment — the recorder's
// clip from 15 s before to 10 s after the moment, the transcript around it
// and the findings — stored for review. The mark button makes the same kind
// of segment. Viewers never see any of it: nothing here touches the
// broadcast.
package compliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	// Before and After bound the clip around the moment (defaults 15 s and
	// 10 s). Context is the transcript kept either side (default 30 s).
	Before, After, Context time.Duration
	// Settle is how long past the clip's end the loop waits for the
	// recorder to make that end durable before it cuts what there is
	// (default 3 s; fragments are 1–2 s).
	Settle time.Duration
	// QueueLen bounds captions waiting for the loop (default 64).
	QueueLen int
	// OnSegment, if set, is told about every segment written (or failed).
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
	wg      sync.WaitGroup // segment writers
	seq     atomic.Uint64

	// Owned by Run's goroutine.
	stream   *lint.Stream
	open     *openPartial
	history  []heard
	pending  []*pendingSeg
	warnedAt []warned

	mu    sync.Mutex
	stats Stats
	sinks []WarningSink // copy-on-write
}

// Stats counts what the loop has done.
type Stats struct {
	Captions        uint64
	Warnings        uint64
	Segments        uint64
	SegmentErrors   uint64
	DroppedCaptions uint64
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
}

type openPartial struct {
	c  speech.Caption
	at time.Time
}

// heard is one caption pushed into the lint stream.
type heard struct {
	c      speech.Caption
	wall   time.Time // wall-clock start
	offset int       // rune offset in the stream's transcript
}

type warned struct {
	category   string
	start, end time.Duration
}

type pendingSeg struct {
	seg      flagged.Segment
	from, to time.Time
	hold     record.HoldID
	held     bool
	release  func()
	findings []lint.StreamFinding
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
	def(&cfg.Before, 15*time.Second)
	def(&cfg.After, 10*time.Second)
	def(&cfg.Context, 30*time.Second)
	def(&cfg.Settle, 3*time.Second)
	if cfg.Before < 0 || cfg.After < 0 || cfg.Context < 0 || cfg.Settle < 0 {
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
		return errors.New("compliance: no flagged-segment store")
	}
	if !l.send(input{kind: inMark, at: at, release: release}) {
		if release != nil {
			release()
		}
		return errors.New("compliance: loop busy, mark dropped")
	}
	return nil
}

// NewSession starts a fresh transcript: call it when she goes live (the
// pipeline clock restarts with each session).
func (l *Loop) NewSession() { l.send(input{kind: inSession, at: l.cfg.Now()}) }

func (l *Loop) send(in input) bool {
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
	return s
}

// Run processes captions until ctx ends. Segments still waiting for their
// "after" part are then cut with what was recorded, so a session that ends
// right after a finding still keeps it.
func (l *Loop) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.armTimer(timer)
		select {
		case <-ctx.Done():
			l.closeOpen()
			for _, p := range l.pending {
				l.cut(p, true)
			}
			l.pending = nil
			l.wg.Wait()
			return nil
		case in := <-l.in:
			switch in.kind {
			case inCaption:
				l.caption(in.c, in.at)
			case inMark:
				l.mark(in.at, in.release)
			case inSession:
				l.closeOpen()
				l.stream = l.cfg.Linter.NewStream()
				l.history, l.warnedAt = nil, nil
			}
		case <-timer.C:
		}
		l.cutDue()
	}
}

func (l *Loop) armTimer(t *time.Timer) {
	next := time.Hour
	now := l.cfg.Now()
	for _, p := range l.pending {
		if d := p.to.Sub(now); d < next {
			next = max(d, 0)
		}
	}
	t.Reset(next)
}

func (l *Loop) caption(c speech.Caption, at time.Time) {
	l.mu.Lock()
	l.stats.Captions++
	l.mu.Unlock()
	if !c.Final {
		// A partial of a new utterance means the last one never got its
		// final (the worker died): keep what it heard.
		if l.open != nil && l.open.c.Start != c.Start {
			l.closeOpen()
		}
		l.open = &openPartial{c: c, at: at}
		for _, f := range l.cfg.Linter.Check(c.Text) {
			if l.alreadyWarned(f.Category, c) {
				continue
			}
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
	l.history = append(l.history, heard{c: c, wall: wall, offset: l.stream.Offset()})
	l.trimHistory()
	for _, sf := range l.stream.Push(lint.Segment{Text: c.Text, Start: c.Start, End: c.End}) {
		if !l.alreadyWarned(sf.Category, c) {
			said, f := l.localFinding(sf)
			shown := c
			shown.Text = said
			l.warn(shown, f, at)
		}
		l.flag(sf, c, at)
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
	l.warnedAt = append(l.warnedAt, warned{category: f.Category, start: c.Start, end: c.End})
	if len(l.warnedAt) > 64 {
		l.warnedAt = l.warnedAt[len(l.warnedAt)-64:]
	}
	w := Warning{
		ID:           fmt.Sprintf("w%d-%d", at.UnixNano(), l.seq.Add(1)),
		At:           l.cfg.Now(),
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

// maxStretch is how much later a joined finding may push its segment's cut.
const maxStretch = 3 * time.Second

func (l *Loop) flag(sf lint.StreamFinding, c speech.Caption, at time.Time) {
	if l.cfg.Store == nil {
		return
	}
	start, ok := l.wallTime(sf.StartTime)
	if !ok {
		start = at.Add(-(c.End - sf.StartTime))
	}
	end := start.Add(max(sf.EndTime-sf.StartTime, 0))
	// A finding close behind one whose segment is still waiting joins it
	// (one moment, one clip), the clip stretched to 10 s after the newer
	// one. Later findings get their own segment, so a long run of them
	// never postpones the first one's segment for long.
	newTo := end.Add(l.cfg.After)
	for _, p := range l.pending {
		if p.seg.Reason != flagged.ReasonFinding || start.Before(p.seg.At) || newTo.Sub(p.to) > maxStretch {
			continue
		}
		p.findings = append(p.findings, sf)
		if newTo.After(p.to) {
			old, held := p.hold, p.held
			p.to = newTo
			l.hold(p)
			if held {
				l.cfg.Recorder.Release(old)
			}
		}
		return
	}
	p := &pendingSeg{
		seg:      flagged.Segment{Reason: flagged.ReasonFinding, Device: l.cfg.Device, At: start, RulePack: l.cfg.Linter.Version()},
		from:     start.Add(-l.cfg.Before),
		to:       end.Add(l.cfg.After),
		findings: []lint.StreamFinding{sf},
	}
	l.hold(p)
	l.pending = append(l.pending, p)
}

func (l *Loop) mark(at time.Time, release func()) {
	p := &pendingSeg{
		release: release,
		seg:     flagged.Segment{Reason: flagged.ReasonMark, Device: l.cfg.Device, At: at, RulePack: l.cfg.Linter.Version()},
		from:    at.Add(-l.cfg.Before),
		to:      at.Add(l.cfg.After),
	}
	l.hold(p)
	l.pending = append(l.pending, p)
	l.log.Info("mark: flagged segment scheduled", "at", at)
}

func (l *Loop) hold(p *pendingSeg) {
	if l.cfg.Recorder != nil {
		p.hold, p.held = l.cfg.Recorder.Hold(p.from, p.to), true
	}
}

func (l *Loop) cutDue() {
	now := l.cfg.Now()
	keep := l.pending[:0]
	for _, p := range l.pending {
		if now.Before(p.to) {
			keep = append(keep, p)
			continue
		}
		l.cut(p, false)
	}
	l.pending = keep
}

// cut builds the segment from what is known now and writes it in the
// background (the clip takes a moment to read and write).
func (l *Loop) cut(p *pendingSeg, now bool) {
	p.seg.Transcript, p.seg.Findings = l.transcript(p)
	seg := p.seg
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		var writeClip func(string) (*flagged.Clip, error)
		if l.cfg.Recorder != nil {
			writeClip = func(path string) (*flagged.Clip, error) { return l.writeClip(p, path, now) }
		}
		out, err := l.cfg.Store.Create(seg, writeClip)
		if p.held {
			l.cfg.Recorder.Release(p.hold)
		}
		if p.release != nil {
			p.release()
		}
		l.mu.Lock()
		if err != nil {
			l.stats.SegmentErrors++
		} else {
			l.stats.Segments++
		}
		l.mu.Unlock()
		if err != nil {
			l.log.Error("flagged segment not stored", "reason", seg.Reason, "err", err)
		} else {
			l.log.Info("flagged segment stored", "id", out.ID, "reason", out.Reason, "findings", len(out.Findings))
		}
		if l.cfg.OnSegment != nil {
			l.cfg.OnSegment(out, err)
		}
	}()
}

// writeClip cuts [from, to] once the recorder has made its end durable.
// Whether it has is asked with a cheap probe (the last second, read and
// discarded) every 100 ms, so the SD card writes the clip once; after
// Settle the clip is cut with what there is.
func (l *Loop) writeClip(p *pendingSeg, path string, now bool) (*flagged.Clip, error) {
	deadline := p.to.Add(l.cfg.Settle)
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Settle+30*time.Second)
	defer cancel()
	for !now && l.cfg.Now().Before(deadline) {
		info, err := l.cfg.Recorder.Clip(ctx, p.to.Add(-time.Second), p.to, io.Discard)
		if err == nil && (info.Truncated || !info.End.Before(p.to.Add(-100*time.Millisecond))) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	info, err := l.cfg.Recorder.ClipFile(ctx, p.from, p.to, path)
	l.log.Debug("clip", "from", p.from, "to", p.to, "end", info.End, "err", err)
	if err != nil {
		return nil, err
	}
	return &flagged.Clip{Start: info.Start, End: info.End, Bytes: info.Bytes, Truncated: info.Truncated}, nil
}

// transcript gathers the captions within Context of the moment and points
// the findings into their text.
func (l *Loop) transcript(p *pendingSeg) (flagged.Transcript, []flagged.Finding) {
	tr := flagged.Transcript{Captions: []flagged.Caption{}}
	findings := []flagged.Finding{}
	lo, hi := -1, -1
	for i, h := range l.history {
		end := h.wall.Add(h.c.End - h.c.Start)
		if end.Before(p.seg.At.Add(-l.cfg.Context)) || h.wall.After(p.seg.At.Add(l.cfg.Context)) {
			continue
		}
		if lo < 0 {
			lo = i
		}
		hi = i
	}
	// Findings' captions are always included, even outside Context.
	for _, sf := range p.findings {
		first, last := 0, 0
		for i, h := range l.history {
			if h.offset <= sf.Start {
				first = i
			}
			if h.offset < sf.End {
				last = i
			}
		}
		if lo < 0 || first < lo {
			lo = first
		}
		hi = max(hi, last)
	}
	if lo < 0 {
		return tr, findings
	}
	base := l.history[lo].offset
	var text []byte
	for _, h := range l.history[lo : hi+1] {
		tr.Captions = append(tr.Captions, flagged.Caption{
			At:     h.wall,
			Start:  h.wall.Sub(p.seg.At).Seconds(),
			End:    h.wall.Add(h.c.End - h.c.Start).Sub(p.seg.At).Seconds(),
			Offset: h.offset - base,
			Text:   h.c.Text,
		})
		text = append(text, h.c.Text...)
	}
	tr.Text = string(text)
	n := utf8.RuneCount(text)
	for _, sf := range p.findings {
		at, ok := l.wallTime(sf.StartTime)
		if !ok {
			at = p.seg.At
		}
		s := min(max(sf.Start-base, 0), n)
		findings = append(findings, flagged.Finding{
			Category:     sf.Category,
			CategoryName: lint.CategoryName(sf.Category),
			Rule:         sf.Rule,
			Start:        s,
			End:          min(max(sf.End-base, s), n),
			Match:        sf.Match,
			Law:          sf.Law,
			Explain:      sf.Explain,
			Suggest:      sf.Suggest,
			At:           at,
		})
	}
	return tr, findings
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
