package compliance

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/flagged"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/sharedtest"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/segment"
	"github.com/cunbo/cunbo/speech"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

// TestMain removes the speech worker the tests built.
func TestMain(m *testing.M) { os.Exit(sharedtest.Main(m)) }

// testdata returns a path under ../shared/testdata (see internal/sharedtest).
func testdata(t testing.TB, rel string) string { return sharedtest.Path(t, rel) }

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

const pin = "246813"

// box is the whole box as firmware/app would wire it: the real pipeline
// (test pattern + the looping speech WAV as the microphone) pushing to a
// real nginx-rtmp, the real firmware.Box with a virtual LED, the phone
// page's server, the speech worker under its supervisor, and the loop.
type box struct {
	ngx      *rtmptest.Server
	pl       *pipeline.Pipeline
	fw       *firmware.Box
	panel    *hw.Virtual
	page     *web.Server
	hs       *httptest.Server
	caps     *Captions
	loop     *Loop
	store    *flagged.Store
	warnings chan Warning
	segments chan flagged.Segment
	epoch    time.Time // the pipeline clock's zero
}

func newBox(t *testing.T, modelDir string) *box {
	t.Helper()
	b := &box{warnings: make(chan Warning, 64), segments: make(chan flagged.Segment, 16)}
	log := testLogger()
	b.ngx = rtmptest.New(t)
	epoch := time.Now()
	b.epoch = epoch
	video, err := hw.NewTestPattern(hw.TestPatternConfig{Format: pipeline.Format(false), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	audio, err := hw.NewWAVLoop(hw.WAVLoopConfig{Path: testdata(t, "speech/tts-lajiao-zuidi.wav"), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var loop *Loop
	var pl *pipeline.Pipeline
	pl, err = pipeline.New(pipeline.Config{
		Video: video, Audio: audio, Epoch: epoch,
		RTMP:        []string{b.ngx.URL("box")},
		RTMPConfig:  rtmp.Config{Logger: log},
		RecordDir:   filepath.Join(dir, "ring"),
		RecordQuota: 500 << 20,
		OnMark: func(m pipeline.Mark) {
			release := func() {}
			if m.Hold != 0 {
				release = func() { pl.Recorder().Release(m.Hold) }
			}
			loop.MarkAt(m.At, release)
		},
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.pl = pl
	b.panel = hw.NewVirtual(nil)
	b.fw, err = firmware.NewBox(firmware.Options{Pipeline: listenWhileLive{pl, b}, LED: b.panel.LED, Ring: b.panel.Ring, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b.page, err = web.New(web.Options{Box: b.fw, PIN: pin, Logger: log, StatusInterval: 100 * time.Millisecond,
		Details: func() web.Details {
			st := b.caps.Status()
			return web.Details{Captions: web.Captions{On: st.On, Reason: st.Reason}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	b.hs = httptest.NewServer(b.page)
	t.Cleanup(b.hs.Close)

	lt, err := lint.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	b.store, err = flagged.Open(flagged.Config{Dir: filepath.Join(dir, "flagged"), QuotaBytes: 200 << 20, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Linter: lt,
		Sinks:  []WarningSink{phonePage(b.page), BoxSink(b.fw), SinkFunc(func(w Warning) { b.warnings <- w })},
		Store:  b.store,
		Device: "test-box",
		// Generous under a loaded CI machine: the cut still happens as soon
		// as the recorder has the 10 s after.
		Settle: 8 * time.Second,
		OnSegment: func(s flagged.Segment, err error) {
			if err != nil {
				t.Errorf("segment: %v", err)
				return
			}
			b.segments <- s
		},
		Logger: log,
	}
	if r := pl.Recorder(); r != nil {
		cfg.Recorder = r
	} else {
		t.Fatal("pipeline has no recorder")
	}
	loop, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.loop = loop
	b.caps, err = NewCaptions(speech.Config{
		WorkerPath: sharedtest.SpeechWorker(t),
		VADModel:   testdata(t, "models/silero-vad/silero_vad.onnx"),
		ModelDir:   modelDir,
		Input:      hw.AudioFormat{SampleRate: 16000, Channels: 1},
		Logger:     log,
	}, loop)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for name, run := range map[string]func(context.Context) error{
		"pipeline": pl.Run, "box": b.fw.Run, "led": b.panel.LED.Run, "captions": b.caps.Run,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	remove := pl.AudioTap(b.caps.AudioTap)
	t.Cleanup(func() {
		remove()
		cancel()
		wg.Wait()
	})
	return b
}

// listenWhileLive tells the captions when she goes live and ends, as
// firmware/app does.
type listenWhileLive struct {
	*pipeline.Pipeline
	b *box
}

func (p listenWhileLive) GoLive(ctx context.Context) error {
	p.b.loop.NewSession()
	p.b.caps.Listen(ListenLive)
	err := p.Pipeline.GoLive(ctx)
	if err != nil {
		p.b.caps.Listen(ListenOff)
	}
	return err
}

func (p listenWhileLive) End() error {
	p.b.caps.Listen(ListenOff)
	return p.Pipeline.End()
}

func (b *box) goLive(t *testing.T) {
	t.Helper()
	b.fw.Post(state.BigShort, "")
	waitFor(t, 20*time.Second, "live", func() bool { return b.fw.Status().State == state.Live })
}

func (b *box) end(t *testing.T) {
	t.Helper()
	b.fw.Post(state.BigLong, "") // ending needs the 3 s hold
	waitFor(t, 30*time.Second, "idle", func() bool { return b.fw.Status().State == state.Idle })
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// phone logs in to the phone page and follows its event stream.
func (b *box) phone(t *testing.T, ctx context.Context) <-chan [2]string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Post(b.hs.URL+"/api/login", "application/json", strings.NewReader(`{"pin":"`+pin+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", b.hs.URL+"/api/events", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan [2]string, 256)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				select {
				case events <- [2]string{name, strings.TrimPrefix(line, "data: ")}:
				default:
				}
			}
		}
	}()
	return events
}

func nextEvent(t *testing.T, events <-chan [2]string, name string, d time.Duration, ok func(string) bool) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-events:
			if e[0] == name && ok(e[1]) {
				return e[1]
			}
		case <-timeout:
			t.Fatalf("no %s event within %v", name, d)
		}
	}
}

// TestScriptedModelPlumbing_WAVToWarningAndFlaggedSegment checks the
// plumbing, not recognition: the scripted-ctc model says 今天的辣椒酱全网最低价
// for any utterance. Microphone WAV → pipeline audio tap → real worker →
// caption → ABS finding → warning on the phone page's SSE stream and the LED
// → flagged segment on disk whose clip ffprobe accepts and whose JSON names
// the span; then the mark button makes a segment of its own.
func TestScriptedModelPlumbing_WAVToWarningAndFlaggedSegment(t *testing.T) {
	b := newBox(t, testdata(t, "models/scripted-ctc"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := b.phone(t, ctx)
	waitFor(t, 20*time.Second, "worker ready", func() bool { return b.caps.Speech().State == speech.StateOn })
	b.goLive(t)
	waitFor(t, 5*time.Second, "captions on", func() bool { return b.caps.Status().On })

	var w Warning
	select {
	case w = <-b.warnings:
	case <-time.After(30 * time.Second):
		t.Fatalf("no warning; speech status %+v, loop %+v", b.caps.Speech(), b.loop.Stats())
	}
	if w.Category != "ABS" || w.Match != "全网最低价" || string([]rune(w.Said)[w.MatchStart:w.MatchEnd]) != "全网最低价" {
		t.Fatalf("warning %+v", w)
	}
	// Caption times reach wall time through the recorder: it must be on
	// the pipeline's clock, not late by however long the encoder took to
	// deliver its first unit.
	if got, ok := b.pl.Recorder().WallTime(0); !ok || !got.Equal(b.epoch) {
		t.Errorf("recorder puts pipeline time 0 at %v, %v after the pipeline's epoch", got, got.Sub(b.epoch))
	}
	if lat := w.At.Sub(w.CaptionAt); lat < 0 || lat > 300*time.Millisecond {
		t.Errorf("caption → warning took %v, target ≤ 300 ms", lat)
	}
	// The LED flashes the warning pattern (it plays for ~1.2 s).
	waitFor(t, time.Second, "LED warning pattern", func() bool { return b.panel.State().Pattern == hw.PatternWarning })
	data := nextEvent(t, events, "warning", 5*time.Second, func(string) bool { return true })
	var pw web.WarningCard
	if err := json.Unmarshal([]byte(data), &pw); err != nil {
		t.Fatal(err)
	}
	if pw.Match != "全网最低价" || pw.CategoryName != "绝对化用语" || pw.Suggest == "" || !strings.Contains(pw.Said, "全网最低价") {
		t.Fatalf("phone page warning %+v", pw)
	}

	// Transcript and findings are on disk when she is warned, long before
	// the clip can be cut; the moment is when she said it, before the
	// warning, on the same clock.
	var early *flagged.Segment
	waitFor(t, 2*time.Second, "the segment on disk", func() bool {
		files, _ := filepath.Glob(filepath.Join(b.store.Dir("2*"), flagged.JSONFile))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if s, err := segment.Parse(data); err == nil && s.Reason == flagged.ReasonFinding {
				early = s
				return true
			}
		}
		return false
	})
	if early.Said(early.Findings[0]) != "全网最低价" {
		t.Fatalf("early segment %+v", early)
	}
	// Its caption (the partial that warned her) cannot end after it
	// reached the loop: the pipeline clock, the speech worker's and the
	// recorder's wall clock agree.
	pc := early.Transcript.Captions[early.Findings[0].Caption]
	if end := pc.At.Add(time.Duration((pc.End - pc.Start) * float64(time.Second))); end.After(w.CaptionAt.Add(100 * time.Millisecond)) {
		t.Errorf("the partial's words end at %v, %v after it arrived", end.Format("15:04:05.000"), end.Sub(w.CaptionAt))
	}
	if lead := w.At.Sub(early.Findings[0].At); lead <= 0 || lead > 8*time.Second {
		t.Errorf("finding at %v, warning at %v: the phrase must come before its warning, by less than the utterance and the recogniser (%v)",
			early.Findings[0].At.Format("15:04:05.000"), w.At.Format("15:04:05.000"), lead)
	}

	// The looping WAV repeats the phrase, so the findings after it join
	// the segment until its clip reaches MaxClip (30 s); it is cut 5 s
	// after that.
	var seg flagged.Segment
	select {
	case seg = <-b.segments:
	case <-time.After(60 * time.Second):
		t.Fatalf("no flagged segment; loop %+v", b.loop.Stats())
	}
	if seg.Reason != flagged.ReasonFinding || seg.Device != "test-box" || seg.Clip == nil {
		t.Fatalf("segment %+v", seg)
	}
	// Read it back from disk as the uploader would.
	raw, err := os.ReadFile(filepath.Join(b.store.Dir(seg.ID), flagged.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	disk, err := segment.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(disk.Findings) == 0 || disk.Said(disk.Findings[0]) != "全网最低价" || disk.Findings[0].Category != "ABS" || disk.Findings[0].Law == "" {
		t.Fatalf("segment.json findings %+v in %q", disk.Findings, disk.Transcript.Text)
	}
	// The final caption replaced the partial that warned her; the moment
	// is still no later than the warning.
	if disk.Findings[0].At.After(w.At) {
		t.Errorf("finding at %v, after the warning at %v", disk.Findings[0].At.Format("15:04:05.000"), w.At.Format("15:04:05.000"))
	}
	probe, err := rtmptest.Probe(b.store.ClipPath(seg.ID))
	if err != nil {
		t.Fatalf("ffprobe clip: %v", err)
	}
	if v := probe.Video(); v == nil || v.CodecName != "h264" || probe.Audio() == nil {
		t.Fatalf("clip streams %+v", probe.Streams)
	}
	// She went live seconds before the finding, so the clip starts at go-live;
	// it must reach 2 s past the utterance.
	c := disk.Transcript.Captions[disk.Findings[0].Caption]
	// A truncated clip (below) ends where the picture size changed.
	if uEnd := c.At.Add(time.Duration((c.End - c.Start) * float64(time.Second))); !seg.Clip.Truncated && seg.Clip.End.Sub(uEnd) < 1900*time.Millisecond {
		t.Errorf("clip ends %v after the utterance, want ≥ 2 s", seg.Clip.End.Sub(uEnd))
	}
	if probe.Duration < 5*time.Second && !seg.Clip.Truncated {
		t.Errorf("clip lasts %v", probe.Duration)
	}
	// A loaded machine may change the picture size while live: the clip
	// is then the part holding the moment.
	if f := disk.Findings[0].At; seg.Clip.Truncated && (f.Before(seg.Clip.Start) || f.After(seg.Clip.End)) {
		t.Errorf("truncated clip %v..%v leaves out the finding at %v", seg.Clip.Start.Format("15:04:05.000"),
			seg.Clip.End.Format("15:04:05.000"), f.Format("15:04:05.000"))
	}
	t.Logf("segment %s: clip %v..%v (%d bytes, truncated %v), finding at %v, stored %v after it",
		seg.ID, seg.Clip.Start.Format("15:04:05.000"), seg.Clip.End.Format("15:04:05.000"), seg.Clip.Bytes, seg.Clip.Truncated,
		disk.Findings[0].At.Format("15:04:05.000"), seg.Created.Sub(disk.Findings[0].At))

	// The mark button: the box asks the pipeline, the pipeline tells the loop.
	b.fw.Post(state.Mark, "")
	deadline := time.After(30 * time.Second)
	for {
		select {
		case s := <-b.segments:
			if s.Reason != flagged.ReasonMark {
				continue // the WAV loops: more findings arrive meanwhile
			}
			if len(s.Findings) != 0 || s.Clip == nil {
				t.Fatalf("mark segment %+v", s)
			}
			if _, err := rtmptest.Probe(b.store.ClipPath(s.ID)); err != nil {
				t.Fatalf("ffprobe mark clip: %v", err)
			}
			return
		case <-deadline:
			t.Fatal("no mark segment")
		}
	}
}

// TestNothingHeardOffAir checks the plumbing, not recognition (the
// scripted model hears 今天的辣椒酱全网最低价 in any utterance): while she is
// not live the looping speech reaches no recogniser, no warning and no
// segment, and the phone page says captions wait for going live; live,
// she is heard; once she ends, she is not any more.
func TestNothingHeardOffAir(t *testing.T) {
	b := newBox(t, testdata(t, "models/scripted-ctc"))
	waitFor(t, 20*time.Second, "worker ready", func() bool { return b.caps.Speech().State == speech.StateOn })
	// Two loops of the WAV: each would be a finding.
	time.Sleep(10 * time.Second)
	if st := b.loop.Stats(); st.Captions != 0 || st.Warnings != 0 || st.Segments != 0 {
		t.Fatalf("off air: %+v", st)
	}
	if st := b.caps.Status(); st.On || st.Reason != NotListening {
		t.Fatalf("caption status off air %+v", st)
	}
	if ps := b.page.Status(); ps.Captions.On || ps.Captions.Reason != NotListening {
		t.Fatalf("phone page captions %+v", ps.Captions)
	}
	if segs := b.store.List(); len(segs) != 0 {
		t.Fatalf("segments off air: %+v", segs)
	}
	b.goLive(t)
	select {
	case <-b.warnings:
	case <-time.After(30 * time.Second):
		t.Fatalf("no warning live; speech %+v, loop %+v", b.caps.Speech(), b.loop.Stats())
	}
	b.end(t)
	// The utterance cut off by ending may still be judged; after that,
	// nothing.
	time.Sleep(4 * time.Second)
	n := b.loop.Stats().Captions
	time.Sleep(10 * time.Second)
	if st := b.loop.Stats(); st.Captions != n {
		t.Fatalf("%d captions after she ended", st.Captions-n)
	}
	if st := b.caps.Status(); st.On || st.Reason != NotListening {
		t.Fatalf("caption status after ending %+v", st)
	}
}

// TestKillWorkerWhileLive kills the speech worker with SIGKILL mid-stream:
// the supervisor restarts it within 2 s and the RTMP receiver's recording
// has no gap.
func TestKillWorkerWhileLive(t *testing.T) {
	b := newBox(t, testdata(t, "models/scripted-ctc"))
	waitFor(t, 20*time.Second, "worker ready", func() bool { return b.caps.Speech().State == speech.StateOn })
	b.goLive(t)
	time.Sleep(2 * time.Second)
	old := b.caps.Speech().PID
	if old == 0 {
		t.Fatal("no worker pid")
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, 2*time.Second, "a new worker", func() bool { pid := b.caps.Speech().PID; return pid != 0 && pid != old })
	restarted := time.Since(killed)
	waitFor(t, 10*time.Second, "captions on again", func() bool { return b.caps.Status().On })
	if st := b.caps.Status(); st.Restarts < 1 {
		t.Errorf("status %+v, want a restart counted", st)
	}
	time.Sleep(3 * time.Second)
	b.end(t)
	if err := b.ngx.Stop(); err != nil {
		t.Fatal(err)
	}
	checkNoGap(t, b.ngx.RecordingPath("box"), 400*time.Millisecond)
	t.Logf("worker restarted %v after SIGKILL", restarted)
}

// TestNoModelCaptionsOffStreamingWorks starts the box with no recogniser
// installed: the phone page says captions are off and why, and the stream
// goes out regardless.
func TestNoModelCaptionsOffStreamingWorks(t *testing.T) {
	b := newBox(t, t.TempDir())
	waitFor(t, 10*time.Second, "captions off", func() bool { return b.caps.Speech().State == speech.StateOff })
	st := b.caps.Status()
	if st.On || st.Reason != "没有安装语音识别模型" {
		t.Fatalf("caption status %+v", st)
	}
	if ps := b.page.Status(); ps.Captions.On || ps.Captions.Reason != st.Reason {
		t.Fatalf("phone page captions %+v", ps.Captions)
	}
	b.goLive(t)
	time.Sleep(3 * time.Second)
	b.end(t)
	if err := b.ngx.Stop(); err != nil {
		t.Fatal(err)
	}
	checkNoGap(t, b.ngx.RecordingPath("box"), 400*time.Millisecond)
	if n := b.loop.Stats().Captions; n != 0 {
		t.Fatalf("%d captions without a model", n)
	}
}

// checkNoGap probes what the RTMP receiver recorded: video and audio, DTS
// rising, no jump between packets longer than maxGap.
func checkNoGap(t *testing.T, path string, maxGap time.Duration) {
	t.Helper()
	res, err := rtmptest.Probe(path)
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	v, a := res.Video(), res.Audio()
	if v == nil || a == nil {
		t.Fatalf("recording streams %+v", res.Streams)
	}
	for _, s := range []*rtmptest.ProbeStream{v, a} {
		if err := res.CheckMonotonic(s.Index); err != nil {
			t.Errorf("%s: %v", s.CodecType, err)
		}
		ps := res.PacketsOf(s.Index)
		if len(ps) < 30 {
			t.Fatalf("%s: only %d packets", s.CodecType, len(ps))
		}
		for i := 1; i < len(ps); i++ {
			if gap := ps[i].DTS - ps[i-1].DTS; gap > maxGap {
				t.Errorf("%s: %v gap at %v", s.CodecType, gap, ps[i-1].DTS)
			}
		}
		t.Logf("%s: %d packets over %v", s.CodecType, len(ps), ps[len(ps)-1].DTS-ps[0].DTS)
	}
}

// phonePage hands warnings to the page the way app.PhonePage does; app
// imports this package, so its tests cannot use the real one (app's
// phone-page tests do).
func phonePage(s web.WarningSink) WarningSink {
	return SinkFunc(func(w Warning) {
		s.PublishWarning(web.WarningCard{ID: w.ID, Said: w.Said, Match: w.Match, Category: w.Category, Rule: w.Rule,
			CategoryName: w.CategoryName, Explain: w.Explain, Why: PlainWhy(w.Category), Suggest: w.Suggest,
			Law: w.Law, At: w.At})
	})
}
