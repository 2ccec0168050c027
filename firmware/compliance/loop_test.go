package compliance

import (
	"context"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/internal/sharedtest"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/speech"
	"github.com/cunbo/cunbo/stream/record"
)

// fakeRecorder maps pipeline time to wall time from a fixed origin and
// writes a placeholder clip; it checks holds are released.
type fakeRecorder struct {
	origin time.Time
	mu     sync.Mutex
	holds  map[record.HoldID][2]time.Time
	next   record.HoldID
	clips  [][2]time.Time
}

func newFakeRecorder() *fakeRecorder {
	// The moments are in the past: segments are cut at once.
	return &fakeRecorder{origin: time.Now().Add(-time.Minute), holds: map[record.HoldID][2]time.Time{}}
}

func (r *fakeRecorder) WallTime(pts time.Duration) (time.Time, bool) { return r.origin.Add(pts), true }

func (r *fakeRecorder) Hold(from, to time.Time) record.HoldID {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	r.holds[r.next] = [2]time.Time{from, to}
	return r.next
}

func (r *fakeRecorder) Release(id record.HoldID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.holds, id)
}

func (r *fakeRecorder) Clip(_ context.Context, from, to time.Time, out io.Writer) (record.ClipInfo, error) {
	return record.ClipInfo{Start: from, End: to}, nil
}

func (r *fakeRecorder) ClipFile(_ context.Context, from, to time.Time, path string) (record.ClipInfo, error) {
	r.mu.Lock()
	r.clips = append(r.clips, [2]time.Time{from, to})
	r.mu.Unlock()
	if err := os.WriteFile(path, []byte("not really mp4"), 0o640); err != nil {
		return record.ClipInfo{}, err
	}
	return record.ClipInfo{Start: from, End: to, Bytes: 14}, nil
}

func (r *fakeRecorder) clipsCut() [][2]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][2]time.Time(nil), r.clips...)
}

func (r *fakeRecorder) openHolds() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.holds)
}

type harness struct {
	loop     *Loop
	rec      *fakeRecorder
	store    *flagged.Store
	warnings chan Warning
	segments chan flagged.Segment
	clock    *fakeClock // if set, say moves it to each caption's end
}

func newHarness(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	lt, err := lint.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	store, err := flagged.Open(flagged.Config{Dir: t.TempDir(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{rec: newFakeRecorder(), store: store, warnings: make(chan Warning, 64), segments: make(chan flagged.Segment, 16)}
	cfg := Config{
		Linter:     lt,
		Sinks:      []WarningSink{SinkFunc(func(w Warning) { h.warnings <- w })},
		Store:      store,
		Recorder:   h.rec,
		Device:     "test-box",
		Logger:     testLogger(),
		Before:     300 * time.Millisecond,
		After:      200 * time.Millisecond,
		MarkBefore: 300 * time.Millisecond,
		MarkAfter:  200 * time.Millisecond,
		Settle:     100 * time.Millisecond,
		OnSegment: func(s flagged.Segment, err error) {
			if err != nil {
				t.Errorf("segment: %v", err)
			}
			h.segments <- s
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.loop, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "Loop.Run", 30*time.Second, h.loop.Run)
	return h
}

func (h *harness) warning(t *testing.T) Warning {
	t.Helper()
	select {
	case w := <-h.warnings:
		return w
	case <-time.After(5 * time.Second):
		t.Fatal("no warning")
	}
	return Warning{}
}

func (h *harness) segment(t *testing.T) flagged.Segment {
	t.Helper()
	select {
	case s := <-h.segments:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no segment")
	}
	return flagged.Segment{}
}

func (h *harness) noMore(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case w := <-h.warnings:
		t.Fatalf("unexpected warning %+v", w)
	case s := <-h.segments:
		t.Fatalf("unexpected segment %+v", s)
	case <-time.After(d):
	}
}

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func TestFindingWarnsAndFlags(t *testing.T) {
	h := newHarness(t)
	h.loop.Caption(speech.Caption{Start: sec(1), End: sec(2), Text: "大家好", Final: true})
	h.loop.Caption(speech.Caption{Start: sec(2.5), End: sec(4.5), Text: "今天的辣椒酱全网最低价", Final: true})
	w := h.warning(t)
	if w.Category != "ABS" || w.Match != "全网最低价" || w.Said != "今天的辣椒酱全网最低价" || w.Suggest == "" || w.Law == "" || w.CategoryName == "" {
		t.Fatalf("warning %+v", w)
	}
	if got := string([]rune(w.Said)[w.MatchStart:w.MatchEnd]); got != "全网最低价" {
		t.Fatalf("warning span names %q", got)
	}
	seg := h.segment(t)
	if seg.Reason != flagged.ReasonFinding || seg.Device != "test-box" || len(seg.Findings) != 1 || seg.Clip == nil {
		t.Fatalf("segment %+v", seg)
	}
	f := seg.Findings[0]
	if got := seg.Said(f); got != "全网最低价" || f.Rule == "" || f.Law == "" {
		t.Fatalf("segment finding %+v names %q", f, got)
	}
	if seg.Transcript.Text != "大家好\n今天的辣椒酱全网最低价" || len(seg.Transcript.Captions) != 2 || seg.Transcript.Captions[1].Offset != 4 {
		t.Fatalf("transcript %+v", seg.Transcript)
	}
	// The clip spans Before the utterance to After it, on the recorder's clock.
	wantFrom := h.rec.origin.Add(sec(2.5) - 300*time.Millisecond)
	if len(h.rec.clips) == 0 || h.rec.clips[0][0].Sub(wantFrom).Abs() > 10*time.Millisecond {
		t.Fatalf("clip range %v, want from %v", h.rec.clips, wantFrom)
	}
	if n := h.rec.openHolds(); n != 0 {
		t.Fatalf("%d holds never released", n)
	}
	stored, err := h.store.Get(seg.ID)
	if err != nil || stored.Status != flagged.StatusPending {
		t.Fatalf("stored %+v %v", stored, err)
	}
}

func TestPartialWarnsEarlyFinalDoesNotRepeat(t *testing.T) {
	// The loop's clock stands still between captions: on a loaded machine
	// a real clock let the segment fall due, and be cut from the first
	// partial alone, before the next caption was even handed over.
	clock := &fakeClock{}
	h := newHarness(t, withClock(clock))
	h.clock = clock
	clock.set(h.rec.origin)
	h.say(t, speech.Caption{Start: sec(1), End: sec(2.6), Text: "今天的辣椒酱全网最低"})
	h.say(t, speech.Caption{Start: sec(1), End: sec(3.4), Text: "今天的辣椒酱全网最低价"})
	w := h.warning(t)
	if w.Category != "ABS" {
		t.Fatalf("partial warning %+v", w)
	}
	h.say(t, speech.Caption{Start: sec(1.2), End: sec(3.5), Text: "今天的辣椒酱全网最低价", Final: true})
	h.settle(t, clock, sec(30))
	seg := h.segment(t)
	if len(seg.Findings) != 1 || seg.Transcript.Text != "今天的辣椒酱全网最低价" {
		t.Fatalf("segment %+v", seg)
	}
	h.noMore(t, 500*time.Millisecond)
	if st := h.loop.Stats(); st.Warnings != 1 || st.Segments != 1 || st.Captions != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOrphanedPartialStillFlagged(t *testing.T) {
	h := newHarness(t)
	// The worker died after this partial; the next utterance starts afresh.
	h.loop.Caption(speech.Caption{Start: sec(1), End: sec(3), Text: "这是全网最低价"})
	h.warning(t)
	h.loop.Caption(speech.Caption{Start: sec(6), End: sec(7), Text: "欢迎来到直播间"})
	seg := h.segment(t)
	if len(seg.Findings) != 1 || seg.Said(seg.Findings[0]) != "全网最低价" {
		t.Fatalf("segment %+v", seg)
	}
}

func TestPhraseAcrossTwoCaptions(t *testing.T) {
	h := newHarness(t)
	h.loop.Caption(speech.Caption{Start: sec(1), End: sec(2), Text: "我们家是全网", Final: true})
	h.loop.Caption(speech.Caption{Start: sec(2.05), End: sec(2.6), Text: "最低价", Final: true})
	w := h.warning(t)
	if w.Said != "我们家是全网最低价" || w.Match != "全网最低价" || string([]rune(w.Said)[w.MatchStart:w.MatchEnd]) != "全网最低价" {
		t.Fatalf("warning %+v", w)
	}
	seg := h.segment(t)
	if got := seg.Said(seg.Findings[0]); got != "全网最低价" || len(seg.Transcript.Captions) != 2 {
		t.Fatalf("segment span %q, transcript %+v", got, seg.Transcript)
	}
}

// TestFinalCaptionJudgedWhole: a partial that ends in the start of a rule
// phrase (…扔掉了 may go on as 扔掉了吗) is left to the rules while she
// speaks; the final caption is the whole utterance, so the category model
// judges it.
func TestFinalCaptionJudgedWhole(t *testing.T) {
	const said = "吃了这个酸汤 你家里的胃药就可以扔掉了"
	h := newHarness(t, func(c *Config) { c.After = 2 * time.Second })
	h.loop.Caption(speech.Caption{Start: sec(1), End: sec(3), Text: said})
	h.noMore(t, 500*time.Millisecond)
	h.loop.Caption(speech.Caption{Start: sec(1), End: sec(3.2), Text: said, Final: true})
	w := h.warning(t)
	if w.Category != "MED" || w.Said != said || w.Law == "" || w.Suggest == "" {
		t.Fatalf("warning %+v", w)
	}
	seg := h.segment(t)
	if len(seg.Findings) != 1 || seg.Findings[0].Rule != "model-MED" || seg.Said(seg.Findings[0]) != said {
		t.Fatalf("segment %+v", seg)
	}
}

func TestCleanSpeechIsQuiet(t *testing.T) {
	h := newHarness(t)
	for i, s := range []string{"今天给大家带来自家做的辣椒酱", "这是最后一罐了", "用的是本地的辣椒"} {
		h.loop.Caption(speech.Caption{Start: sec(float64(2 * i)), End: sec(float64(2*i + 1)), Text: s, Final: true})
	}
	h.noMore(t, 600*time.Millisecond)
}

func TestMarkMakesSegment(t *testing.T) {
	h := newHarness(t)
	h.loop.Caption(speech.Caption{Start: sec(1), End: sec(2), Text: "刚才说错了", Final: true})
	time.Sleep(50 * time.Millisecond)
	if err := h.loop.Mark(); err != nil {
		t.Fatal(err)
	}
	seg := h.segment(t)
	if seg.Reason != flagged.ReasonMark || len(seg.Findings) != 0 || seg.Clip == nil {
		t.Fatalf("segment %+v", seg)
	}
	if _, err := os.Stat(h.store.ClipPath(seg.ID)); err != nil {
		t.Fatal(err)
	}
	h.noMore(t, 300*time.Millisecond)
}

func TestShutdownCutsPendingSegments(t *testing.T) {
	lt, _ := lint.NewDefault()
	store, _ := flagged.Open(flagged.Config{Dir: t.TempDir(), Logger: testLogger()})
	rec := newFakeRecorder()
	l, err := New(Config{Linter: lt, Store: store, Recorder: rec, After: time.Hour, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	l.Caption(speech.Caption{Start: sec(1), End: sec(2), Text: "全网最低价", Final: true})
	for l.Stats().Captions == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if segs := store.List(); len(segs) != 1 || len(segs[0].Findings) != 1 {
		t.Fatalf("after shutdown: %+v", segs)
	}
	if rec.openHolds() != 0 {
		t.Fatal("hold not released")
	}
}

func TestNewSessionForgetsTranscript(t *testing.T) {
	h := newHarness(t)
	h.loop.Caption(speech.Caption{Start: sec(1), End: sec(2), Text: "能降", Final: true})
	h.loop.NewSession()
	// A new session's clock restarts: 血压 alone is not a finding.
	h.loop.Caption(speech.Caption{Start: sec(0.1), End: sec(0.5), Text: "血压", Final: true})
	h.noMore(t, 500*time.Millisecond)
}

func TestCloseFindingsShareASegment(t *testing.T) {
	h := newHarness(t)
	// Two findings in one utterance: one moment, one segment.
	h.loop.Caption(speech.Caption{Start: sec(1), End: sec(4), Text: "全网最低价，吃了能降血压", Final: true})
	seg := h.segment(t)
	if n := h.rec.openHolds(); n != 0 {
		t.Fatalf("%d holds left after the stretched segment", n)
	}
	if len(seg.Findings) != 2 || seg.Clip.End.Sub(seg.Findings[1].At) < 200*time.Millisecond {
		t.Fatalf("one utterance: %d findings in the segment, want 2: %+v", len(seg.Findings), seg.Findings)
	}
	// The same rules said again after its clip was cut: repeats, with their
	// words, in the same segment; no second clip.
	h.loop.Caption(speech.Caption{Start: sec(10), End: sec(11), Text: "全网最低价", Final: true})
	h.loop.Caption(speech.Caption{Start: sec(16), End: sec(17), Text: "能降血压", Final: true})
	select {
	case s := <-h.segments:
		t.Fatalf("a repeat made segment %+v", s)
	case <-time.After(300 * time.Millisecond):
	}
	got := waitSegment(t, h.store, seg.ID, func(s flagged.Segment) bool { return len(s.Findings) == 4 })
	for _, f := range got.Findings[2:] {
		if !f.Repeat || got.Said(f) != f.Match {
			t.Fatalf("repeat %+v names %q", f, got.Said(f))
		}
	}
	if len(h.rec.clips) != 1 {
		t.Fatalf("%d clips cut, want 1", len(h.rec.clips))
	}
	// A new rule after the clip was cut: a segment of its own.
	h.loop.Caption(speech.Caption{Start: sec(20), End: sec(21), Text: "我们是第一品牌", Final: true})
	if b := h.segment(t); b.ID == seg.ID || len(b.Findings) != 1 || b.Findings[0].Repeat {
		t.Fatalf("new rule: %+v", b)
	}
}

// waitSegment polls the store until segment id satisfies ok.
func waitSegment(t *testing.T, store *flagged.Store, id string, ok func(flagged.Segment) bool) flagged.Segment {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := store.Get(id)
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s: %+v, %v", id, s, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
