package compliance

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/segment"
	"github.com/cunbo/cunbo/speech"
)

// fakeClock is the loop's Now: it stands still (nothing falls due) until
// the test moves it.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }
func withClock(c *fakeClock) func(*Config) {
	return func(cfg *Config) { cfg.Now = c.now }
}

// realMargins puts back the product's clip margins (the harness shrinks them).
func realMargins(cfg *Config) { cfg.Before, cfg.After = 0, 0 }

// say hands the loop a caption and waits until it has handled it, so the
// test's clock moves only between captions.
func (h *harness) say(t *testing.T, c speech.Caption) {
	t.Helper()
	if h.clock != nil {
		// A caption arrives when its words have been said.
		h.clock.set(h.rec.origin.Add(c.End))
	}
	n := h.loop.Stats().Captions
	h.loop.Caption(c)
	deadline := time.Now().Add(5 * time.Second)
	for h.loop.Stats().Captions == n {
		if time.Now().After(deadline) {
			t.Fatal("loop never took the caption")
		}
		time.Sleep(time.Millisecond)
	}
}

// settle moves the clock past everything and hands the loop one clean
// caption so it looks at what is due.
func (h *harness) settle(t *testing.T, clock *fakeClock, pts time.Duration) {
	t.Helper()
	clock.set(h.rec.origin.Add(time.Hour))
	h.say(t, speech.Caption{Start: pts, End: pts + time.Second, Text: "好的", Final: true})
}

// TestClipCoversFlaggedUtterance: the clip runs from at least 5 s before
// the utterance carrying the finding to at least 2 s after it, wherever in
// the utterance the phrase falls.
func TestClipCoversFlaggedUtterance(t *testing.T) {
	long := strings.Repeat("今天给大家介绍我们村自己做的", 3)
	for _, tc := range []struct {
		name  string
		caps  []speech.Caption
		first int // the utterance is caps[first:]
	}{
		{"short, phrase first", []speech.Caption{{Start: sec(10), End: sec(12), Text: "全网最低价哦"}}, 0},
		{"20 s, phrase at the end", []speech.Caption{{Start: sec(10), End: sec(30), Text: long + "全网最低价"}}, 0},
		{"20 s, phrase at the start", []speech.Caption{{Start: sec(10), End: sec(30), Text: "全网最低价" + long}}, 0},
		{"across two captions", []speech.Caption{
			{Start: sec(10), End: sec(12), Text: "我们家是全网"},
			{Start: sec(12.1), End: sec(13), Text: "最低价"},
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			h := newHarness(t, realMargins, withClock(clock))
			h.clock = clock
			clock.set(h.rec.origin)
			for _, c := range tc.caps {
				c.Final = true
				h.say(t, c)
			}
			h.warning(t)
			h.settle(t, clock, sec(60))
			seg := h.segment(t)
			uStart := h.rec.origin.Add(tc.caps[tc.first].Start)
			uEnd := h.rec.origin.Add(tc.caps[len(tc.caps)-1].End)
			if seg.Clip == nil || len(h.rec.clipsCut()) != 1 {
				t.Fatalf("segment %+v, clips %v", seg, h.rec.clips)
			}
			c := h.rec.clipsCut()[0]
			if before := uStart.Sub(c[0]); before < 5*time.Second {
				t.Errorf("clip starts %v before the utterance, want ≥ 5 s", before)
			}
			if after := c[1].Sub(uEnd); after < 2*time.Second {
				t.Errorf("clip ends %v after the utterance, want ≥ 2 s", after)
			}
			if seg.At.Before(uStart) || seg.At.After(uEnd) {
				t.Errorf("moment %v outside the utterance %v..%v", seg.At, uStart, uEnd)
			}
		})
	}
}

// TestSpansPointAtWords: every finding's span is non-empty, begins in the
// caption it names and covers exactly the matched words.
func TestSpansPointAtWords(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps []speech.Caption
		want []string // matches, in order
	}{
		{"two findings in one caption", []speech.Caption{{Start: sec(1), End: sec(4), Text: "全网最低价，吃了能降血压", Final: true}},
			[]string{"全网最低价", "降血压"}},
		{"phrase across captions", []speech.Caption{
			{Start: sec(1), End: sec(2), Text: "我们家是全网", Final: true},
			{Start: sec(2.05), End: sec(2.6), Text: "最低价", Final: true}}, []string{"全网最低价"}},
		{"third caption after context", []speech.Caption{
			{Start: sec(1), End: sec(2), Text: "大家好", Final: true},
			{Start: sec(3), End: sec(4), Text: "欢迎来到直播间", Final: true},
			{Start: sec(5), End: sec(7), Text: "这个辣椒酱是第一品牌", Final: true}}, []string{"第一"}},
		{"orphaned partial", []speech.Caption{
			{Start: sec(1), End: sec(3), Text: "这是全网最低价"},
			{Start: sec(6), End: sec(7), Text: "欢迎来到直播间", Final: true}}, []string{"全网最低价"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			h := newHarness(t, withClock(clock))
			h.clock = clock
			clock.set(h.rec.origin)
			for _, c := range tc.caps {
				h.say(t, c)
			}
			h.settle(t, clock, sec(30))
			seg := h.segment(t)
			if len(seg.Findings) != len(tc.want) {
				t.Fatalf("findings %+v, want %v", seg.Findings, tc.want)
			}
			for i, f := range seg.Findings {
				said := seg.Said(f)
				if f.End <= f.Start || !strings.Contains(said, tc.want[i]) || !strings.Contains(tc.want[i], said) && said != f.Match {
					t.Errorf("finding %d [%d,%d) names %q, want %q", i, f.Start, f.End, said, tc.want[i])
				}
				c := seg.Transcript.Captions[f.Caption]
				if n := len([]rune(c.Text)); f.Start < c.Offset || f.Start >= c.Offset+n {
					t.Errorf("finding %d starts at %d, outside its caption %d (%d+%d)", i, f.Start, f.Caption, c.Offset, n)
				}
			}
			if err := seg.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTranscriptKeepsUtterancesWithTimes: one caption per utterance, its
// words apart from the next, its times relative to the moment.
func TestTranscriptKeepsUtterancesWithTimes(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, withClock(clock))
	h.clock = clock
	clock.set(h.rec.origin)
	in := []speech.Caption{
		{Start: sec(1), End: sec(2), Text: "大家好", Final: true},
		{Start: sec(3), End: sec(4.5), Text: "欢迎来到直播间", Final: true},
		{Start: sec(6), End: sec(8), Text: "这是全网最低价", Final: true},
	}
	for _, c := range in {
		h.say(t, c)
	}
	h.settle(t, clock, sec(30))
	seg := h.segment(t)
	if want := "大家好\n欢迎来到直播间\n这是全网最低价"; seg.Transcript.Text != want {
		t.Fatalf("transcript %q, want %q", seg.Transcript.Text, want)
	}
	for i, c := range seg.Transcript.Captions[:3] {
		wantAt := h.rec.origin.Add(in[i].Start)
		start := wantAt.Sub(seg.At).Seconds()
		end := h.rec.origin.Add(in[i].End).Sub(seg.At).Seconds()
		if c.Text != in[i].Text || !c.At.Equal(wantAt) || abs(c.Start-start) > 1e-6 || abs(c.End-end) > 1e-6 || c.End <= c.Start {
			t.Errorf("caption %d %+v, want %q at %v, %.3f..%.3f", i, c, in[i].Text, wantAt, start, end)
		}
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// TestOverlappingFindingsMerge: a phrase said every 5 s: the clips around
// each would overlap, so they are one segment with one clip covering all.
func TestOverlappingFindingsMerge(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, realMargins, withClock(clock))
	h.clock = clock
	clock.set(h.rec.origin)
	for i := range 4 {
		at := sec(10 + 5*float64(i))
		h.say(t, speech.Caption{Start: at, End: at + 2*time.Second, Text: "今天的辣椒酱全网最低价", Final: true})
	}
	h.settle(t, clock, sec(60))
	seg := h.segment(t)
	if len(seg.Findings) != 4 || len(h.rec.clipsCut()) != 1 {
		t.Fatalf("%d findings, %d clips; want one segment of 4 with one clip", len(seg.Findings), len(h.rec.clipsCut()))
	}
	for _, f := range seg.Findings {
		if f.Repeat {
			t.Errorf("finding %+v marked as a repeat; its clip covers it", f)
		}
	}
	c := h.rec.clipsCut()[0]
	if !c[0].Equal(h.rec.origin.Add(sec(5))) || !c[1].Equal(h.rec.origin.Add(sec(29))) {
		t.Fatalf("clip %v..%v, want 5 s..29 s after the origin", c[0].Sub(h.rec.origin), c[1].Sub(h.rec.origin))
	}
	select {
	case s := <-h.segments:
		t.Fatalf("second segment %+v", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestRepeatedPhraseClipsLittle: a phrase repeated every 5 s for 4 minutes
// costs clips covering under half of that time; every finding is either in
// a clip or kept as a repeat with its words.
func TestRepeatedPhraseClipsLittle(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, realMargins, withClock(clock))
	h.clock = clock
	clock.set(h.rec.origin)
	const n = 48
	for i := range n {
		at := sec(10 + 5*float64(i))
		// The loop cuts each clip once its range is recorded.
		clock.set(h.rec.origin.Add(at))
		h.say(t, speech.Caption{Start: at, End: at + 2*time.Second, Text: "今天的辣椒酱全网最低价", Final: true})
	}
	h.settle(t, clock, sec(10+5*n))
	var segs []flagged.Segment
	for len(h.rec.clipsCut()) > len(segs) {
		segs = append(segs, h.segment(t))
	}
	var clipped time.Duration
	for _, c := range h.rec.clipsCut() {
		clipped += c[1].Sub(c[0])
	}
	span := sec(5 * n)
	if ratio := clipped.Seconds() / span.Seconds(); ratio > 0.5 {
		t.Errorf("clips cover %v of %v (%.2f), want ≤ 0.5", clipped, span, ratio)
	} else {
		t.Logf("%d segments, clips cover %v of %v (%.2f)", len(segs), clipped, span, ratio)
	}
	findings := 0
	for _, s := range h.store.List() {
		for _, f := range s.Findings {
			findings++
			if s.Said(f) != "全网最低价" {
				t.Errorf("finding %+v names %q", f, s.Said(f))
			}
			in := s.Clip != nil && !f.At.Before(s.Clip.Start.Add(5*time.Second)) && !f.At.After(s.Clip.End)
			if !in && !f.Repeat {
				t.Errorf("finding at %v outside its clip %v..%v and not a repeat", f.At, s.Clip.Start, s.Clip.End)
			}
		}
	}
	if findings != n {
		t.Errorf("%d findings kept, want %d", findings, n)
	}
}

// TestWrittenWhenWarned: the segment, transcript and findings, is on disk
// when the warning is shown, long before its clip can be cut.
func TestWrittenWhenWarned(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, realMargins, withClock(clock))
	h.clock = clock
	clock.set(h.rec.origin)
	h.say(t, speech.Caption{Start: sec(10), End: sec(12), Text: "今天的辣椒酱全网最低价", Final: true})
	h.warning(t)
	// Written before the warning was handed out: there at once.
	deadline := time.Now()
	for {
		// What a box restarted now would find (read, not Open: Open
		// removes writes in progress).
		files, _ := filepath.Glob(filepath.Join(h.store.Dir("*"), flagged.JSONFile))
		if len(files) == 1 {
			data, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			g, err := segment.Parse(data)
			if err != nil || len(g.Findings) != 1 || g.Said(g.Findings[0]) != "全网最低价" || g.ClipPending == nil || g.Clip != nil {
				t.Fatalf("segment on disk %+v %v", g, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no segment on disk when the warning came")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(h.rec.clipsCut()) != 0 {
		t.Fatal("clip cut before its range was recorded")
	}
}

// TestResumesClipAfterRestart: a segment left waiting for its clip by a
// restart gets it from the recording when the loop starts again.
func TestResumesClipAfterRestart(t *testing.T) {
	dir := t.TempDir()
	store, err := flagged.Open(flagged.Config{Dir: dir, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	rec := newFakeRecorder()
	at := rec.origin.Add(10 * time.Second)
	seg, err := store.Create(flagged.Segment{Reason: flagged.ReasonMark, At: at,
		ClipPending: &flagged.Range{From: at.Add(-15 * time.Second), To: at.Add(3 * time.Second)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.Store, c.Recorder = store, rec })
	got := h.segment(t)
	if got.ID != seg.ID || got.Clip == nil || got.ClipPending != nil {
		t.Fatalf("resumed %+v", got)
	}
	if c := rec.clipsCut(); len(c) != 1 || !c[0][0].Equal(at.Add(-15*time.Second)) {
		t.Fatalf("clips %v", c)
	}
}

// TestPartialWrittenWhenWarned: warned from a partial caption, the segment
// is on disk before the final comes; the final then replaces the partial.
func TestPartialWrittenWhenWarned(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, realMargins, withClock(clock))
	h.clock = clock
	clock.set(h.rec.origin)
	h.say(t, speech.Caption{Start: sec(10), End: sec(11.5), Text: "今天的辣椒酱全网最低价"})
	h.warning(t)
	segs := h.store.List()
	if len(segs) != 1 || len(segs[0].Findings) != 1 || segs[0].Said(segs[0].Findings[0]) != "全网最低价" || segs[0].ClipPending == nil {
		t.Fatalf("after the partial's warning: %+v", segs)
	}
	h.say(t, speech.Caption{Start: sec(10), End: sec(13), Text: "今天的辣椒酱全网最低价了", Final: true})
	g, err := h.store.Get(segs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Transcript.Text != "今天的辣椒酱全网最低价了" || len(g.Findings) != 1 || g.Said(g.Findings[0]) != "全网最低价" {
		t.Fatalf("after the final: %q %+v", g.Transcript.Text, g.Findings)
	}
	if want := h.rec.origin.Add(sec(11.5)); !g.Findings[0].At.Equal(want) || !g.At.Equal(want) {
		t.Fatalf("finding at %v, segment at %v; want the final's moment %v", g.Findings[0].At, g.At, want)
	}
	if want := h.rec.origin.Add(sec(15)); !g.ClipPending.To.Equal(want) {
		t.Fatalf("clip to %v, want the final's end + 2 s %v", g.ClipPending.To, want)
	}
}

// TestMomentNotAfterWarning: a final caption of a long utterance places
// the phrase in proportion to the text, seconds after the partial that
// warned her; the moment stays where she was warned at the latest.
func TestMomentNotAfterWarning(t *testing.T) {
	clock := &fakeClock{}
	h := newHarness(t, realMargins, withClock(clock))
	h.clock = clock
	clock.set(h.rec.origin)
	h.say(t, speech.Caption{Start: sec(10), End: sec(11.2), Text: "今天的辣椒酱全网最低价"})
	w := h.warning(t)
	h.say(t, speech.Caption{Start: sec(10), End: sec(19.5), Text: "今天的辣椒酱全网最低价今天的辣椒酱全网最低价", Final: true})
	h.settle(t, clock, sec(40))
	seg := h.segment(t)
	if len(seg.Findings) != 2 {
		t.Fatalf("findings %+v", seg.Findings)
	}
	if first := seg.Findings[0].At; first.After(w.At) || !seg.At.Equal(first) {
		t.Errorf("first finding at %v, segment at %v, warned at %v", first, seg.At, w.At)
	}
	// The second was never warned about on its own: its place in the text.
	if want := h.rec.origin.Add(sec(10) + sec(9.5)*17/22); !seg.Findings[1].At.Equal(want) {
		t.Errorf("second finding at %v, want %v", seg.Findings[1].At, want)
	}
}

// TestKilledRightAfterWarning kills the box's process (SIGKILL) the moment
// a warning reaches the phone page: what she was warned about is on disk,
// waiting for its clip, every time.
func TestKilledRightAfterWarning(t *testing.T) {
	// The same test, re-run in a child process, is the box that is killed.
	if dir := os.Getenv("COMPLIANCE_KILL_DIR"); dir != "" {
		killChild(t, dir)
		return
	}
	for _, partial := range []bool{true, false} {
		for run := range 3 {
			dir := t.TempDir()
			args := []string{"-test.run=^TestKilledRightAfterWarning$", "-test.v"}
			cmd := exec.Command(os.Args[0], args...)
			// Under qemu-user (make test-arm64) the child runs through the
			// same emulator.
			if emu := os.Getenv("CUNBO_TEST_EMULATOR"); emu != "" {
				cmd = exec.Command(emu, append([]string{os.Args[0]}, args...)...)
			}
			cmd.Env = append(os.Environ(), "COMPLIANCE_KILL_DIR="+dir, fmt.Sprintf("COMPLIANCE_KILL_PARTIAL=%v", partial))
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			warned := false
			for sc.Scan() {
				if sc.Text() == "WARNED" {
					warned = true
					break
				}
			}
			cmd.Process.Kill()
			cmd.Wait()
			if !warned {
				t.Fatalf("partial %v, run %d: the child never warned", partial, run)
			}
			store, err := flagged.Open(flagged.Config{Dir: dir, Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			segs := store.List()
			if len(segs) != 1 || len(segs[0].Findings) != 1 || segs[0].Said(segs[0].Findings[0]) != "全网最低价" || segs[0].ClipPending == nil {
				t.Fatalf("partial %v, run %d: after the kill %+v", partial, run, segs)
			}
		}
	}
}

// killChild is the child half of TestKilledRightAfterWarning: it warns,
// says WARNED and waits to be killed.
func killChild(t *testing.T, dir string) {
	lt, err := lint.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	store, err := flagged.Open(flagged.Config{Dir: dir, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	rec := newFakeRecorder()
	rec.origin = time.Now() // the clip is not due for seconds
	l, err := New(Config{Linter: lt, Store: store, Recorder: rec, Logger: testLogger(),
		Sinks: []WarningSink{SinkFunc(func(Warning) {
			fmt.Println("WARNED")
			os.Stdout.Sync()
			time.Sleep(time.Hour) // wait for the kill
		})}})
	if err != nil {
		t.Fatal(err)
	}
	go l.Run(context.Background())
	l.Caption(speech.Caption{Start: sec(1), End: sec(3), Text: "今天的辣椒酱全网最低价", Final: os.Getenv("COMPLIANCE_KILL_PARTIAL") != "true"})
	time.Sleep(time.Hour)
}
