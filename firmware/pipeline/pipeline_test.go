package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/streamtest"
)

func TestNewRefusesWhatCannotStream(t *testing.T) {
	epoch := time.Now()
	land, audio := sources(t, false, epoch)
	defer land.Close()
	defer audio.Close()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no sources", Config{}, "sources are required"},
		{"no audio", Config{Video: land}, "sources are required"},
		{"landscape source for portrait", Config{Video: land, Audio: audio, Portrait: true}, "want 720x1280@30"},
		{"bad rtmp url", Config{Video: land, Audio: audio, RTMP: []string{"http://example.com/live/key"}}, "pipeline: destination rtmp0: rtmp:"},
		{"bad whip url", Config{Video: land, Audio: audio, Destinations: []Destination{{Kind: KindWHIP, URL: "rtmp://example.com/whip"}}},
			"pipeline: destination whip0: whip: bad config"},
		{"unknown kind", Config{Video: land, Audio: audio, Destinations: []Destination{{Name: "x", Kind: "srt", URL: "srt://example.com"}}},
			`destination x: unknown kind "srt"`},
		{"same name twice", Config{Video: land, Audio: audio, RTMP: []string{"rtmp://a/live/k"},
			Destinations: []Destination{{Name: "rtmp0", Kind: KindRTMP, URL: "rtmp://b/live/k"}}}, `two destinations named "rtmp0"`},
		{"bad bitrate", Config{Video: land, Audio: audio, VideoKbps: 5}, "bitrate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestEachPartDegradesAlone breaks the font, the preview port and the
// recording directory at once: the stream still runs, and each of those
// features reports itself off.
func TestEachPartDegradesAlone(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, Config{
		Catalog:     demoCatalog(t),
		FontPath:    "/nonexistent/font.ttc",
		PreviewAddr: busy.Addr().String(),
		RecordDir:   filepath.Join(notADir, "ring"),
	})
	if p.Compositor() != nil || p.PreviewAddr() != "" || p.Recorder() != nil {
		t.Fatalf("compositor %v, preview %q, recorder %v: want all off", p.Compositor(), p.PreviewAddr(), p.Recorder())
	}
	if err := p.NextCard(); !errors.Is(err, errNoCards) {
		t.Errorf("NextCard without cards: %v", err)
	}
	if c := p.Card(); c.Index != -1 {
		t.Errorf("Card without cards = %+v", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.GoLive(ctx); err != nil {
		t.Fatalf("GoLive with no outputs: %v", err)
	}
	before := p.Stats().Encoder.VideoUnits
	time.Sleep(time.Second)
	if after := p.Stats().Encoder.VideoUnits; after < before+20 {
		t.Errorf("encoded %d units in 1 s, want about 30", after-before)
	}
	if err := p.Healthy(); err != nil {
		t.Errorf("Healthy: %v", err)
	}
	if err := p.Mark(); err != nil {
		t.Errorf("Mark without recorder: %v", err)
	}
	if m := p.Marks(); len(m) != 1 || m[0].Hold != 0 {
		t.Errorf("Marks = %+v, want one without a hold", m)
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
}

func TestGoLiveFailsWhenNoServerAnswers(t *testing.T) {
	dead := freeAddr(t) // nothing listens there
	p := start(t, Config{
		RTMP:         []string{"rtmp://" + dead + "/live/secretkey"},
		RTMPConfig:   rtmp.Config{ConnectTimeout: 500 * time.Millisecond},
		StartTimeout: 1500 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.GoLive(ctx)
	if err == nil || !strings.Contains(err.Error(), "no ingest server reachable") {
		t.Fatalf("GoLive: %v, want no ingest server reachable", err)
	}
	if strings.Contains(err.Error(), "secretkey") {
		t.Errorf("error leaks the stream key: %v", err)
	}
	if p.Live() {
		t.Error("live after a failed start")
	}

	// Cancelling the start aborts it.
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel2)
	if err := p.GoLive(ctx2); !errors.Is(err, context.Canceled) {
		t.Errorf("GoLive with cancelled ctx: %v", err)
	}
	if p.Live() {
		t.Error("live after an aborted start")
	}
	if err := p.GoLive(context.Background()); err == nil {
		t.Error("GoLive succeeded with no server")
	}
}

// TestAudioTapNeverHoldsUpTheStream attaches a tap that never returns and
// one that keeps up: the stuck one loses audio (counted), the other gets
// all of it in order, and the encoder keeps receiving sound.
func TestAudioTapNeverHoldsUpTheStream(t *testing.T) {
	p := start(t, Config{})
	release := make(chan struct{})
	defer close(release)
	removeStuck := p.AudioTap(func(time.Duration, []int16, int, int) { <-release })
	defer removeStuck()

	var mu sync.Mutex
	var got int
	var lastPTS time.Duration = -1
	var bad error
	remove := p.AudioTap(func(pts time.Duration, pcm []int16, rate, ch int) {
		mu.Lock()
		defer mu.Unlock()
		if rate != 16000 || ch != 1 {
			bad = errors.New("wrong format")
		}
		if pts <= lastPTS {
			bad = errors.New("pts not increasing")
		}
		lastPTS = pts
		got += len(pcm)
	})
	audioBefore := p.Stats().Encoder.AudioUnits
	time.Sleep(2500 * time.Millisecond)
	remove()
	mu.Lock()
	defer mu.Unlock()
	if bad != nil {
		t.Error(bad)
	}
	if got < 16000*2 {
		t.Errorf("tap got %d samples in 2.5 s, want ≥ 32000", got)
	}
	if s := p.Stats(); s.AudioTapDrops == 0 {
		t.Error("the stuck tap dropped nothing")
	} else if s.Encoder.AudioUnits-audioBefore < 20 {
		t.Errorf("encoder produced %d audio units while a tap was stuck", s.Encoder.AudioUnits-audioBefore)
	}
}

// stallingVideo delivers frames for a while, then blocks as a wedged
// camera would.
type stallingVideo struct {
	hw.VideoSource
	frames atomic.Int64
	limit  int64
}

func (s *stallingVideo) ReadFrame(ctx context.Context, f *hw.Frame) error {
	if s.frames.Add(1) > s.limit {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.VideoSource.ReadFrame(ctx, f)
}

func TestHealthyReportsAFrozenCamera(t *testing.T) {
	epoch := time.Now()
	v, a := sources(t, false, epoch)
	sv := &stallingVideo{VideoSource: v, limit: 45}
	p, err := New(Config{Video: sv, Audio: a, Epoch: epoch, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Healthy(); err == nil {
		t.Error("healthy before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "healthy", func() bool { return p.Healthy() == nil })
	waitFor(t, 10*time.Second, "the stall reported", func() bool {
		err := p.Healthy()
		return err != nil && strings.Contains(err.Error(), "no camera frame")
	})
	// The encoder keeps the broadcast going with the last picture.
	s := p.Stats()
	if s.Encoder.FramesRepeated == 0 {
		t.Errorf("encoder repeated no frames during the stall: %+v", s.Encoder)
	}
}

func TestAddOutputGetsTracksThenAKeyframe(t *testing.T) {
	p := start(t, Config{})
	var rec streamtest.Recorder
	for _, name := range []string{"preview", "recorder", "rtmp0"} {
		if err := p.AddOutput(name, &rec); err == nil {
			t.Errorf("AddOutput(%q) accepted a reserved name", name)
		}
	}
	if err := p.AddOutput("webrtc", &rec); err != nil {
		t.Fatal(err)
	}
	if err := p.AddOutput("webrtc", &rec); err == nil {
		t.Error("same name added twice")
	}
	waitFor(t, 10*time.Second, "units at the output", func() bool { return len(rec.Video()) >= 10 })
	if !p.RemoveOutput("webrtc") || p.RemoveOutput("webrtc") {
		t.Error("RemoveOutput should report true once")
	}
	tr := rec.Tracks()
	if len(tr) == 0 || tr[0].Width != 1280 || tr[0].Height != 720 || tr[0].FPS != FPS || len(tr[0].SPS) == 0 {
		t.Fatalf("tracks %+v", tr)
	}
	if !strings.HasPrefix(rec.Order(), "t") {
		t.Errorf("first call %q, want tracks", rec.Order()[:1])
	}
	v := rec.Video()
	if !v[0].Key {
		t.Error("first video unit is not a keyframe")
	}
	// The latency probe: every unit maps back to a captured frame.
	for _, u := range v {
		at, ok := p.CaptureTime(u.PTS)
		if !ok {
			t.Fatalf("no capture time for PTS %v", u.PTS)
		}
		// Normally under one frame interval; a stalled capture goroutine
		// (a loaded CI machine) makes the encoder repeat older frames.
		if d := p.Epoch().Add(u.PTS).Sub(at); d < 0 || d > time.Second {
			t.Errorf("frame captured %v before the tick that sent it", d)
		}
	}
}

func TestCardControls(t *testing.T) {
	cat := demoCatalog(t)
	p := start(t, Config{Catalog: cat, InitialCard: -1})
	if c := p.Card(); c.Index != 0 || c.Visible {
		t.Fatalf("initial card %+v, want 0 hidden", c)
	}
	steps := []struct {
		do    func() error
		index int
		vis   bool
	}{
		{p.NextCard, 1, true},
		{p.NextCard, 2, true},
		{p.HideCard, 2, false},
		{p.HideCard, 2, false},
		{p.PrevCard, 1, true},
		{p.PrevCard, 0, true},
		{p.PrevCard, cat.Len() - 1, true}, // wraps
		{func() error { return p.SelectCard(3) }, 3, true},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		if c := p.Card(); c.Index != s.index || c.Visible != s.vis || c.Name != cat.Products[s.index].Name {
			t.Errorf("step %d: card %+v, want %d visible=%v", i, c, s.index, s.vis)
		}
	}
	if err := p.SelectCard(99); err == nil {
		t.Error("SelectCard(99) accepted")
	}
}

// TestCaptureStepAllocatesNothing checks the per-frame work in the capture
// goroutine (card compositing and the hand-off to the encoder).
func TestCaptureStepAllocatesNothing(t *testing.T) {
	epoch := time.Now()
	v, a := sources(t, false, epoch)
	defer v.Close()
	defer a.Close()
	p, err := New(Config{Video: v, Audio: a, Catalog: demoCatalog(t), InitialCard: 1, Epoch: epoch,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := hw.NewFrame(1280, 720)
	for i := range 20 { // finish the transition, warm the frame pool
		f.PTS = time.Duration(i) * time.Second / FPS
		p.deliverFrame(f)
	}
	n := 20
	if allocs := testing.AllocsPerRun(100, func() {
		n++
		f.PTS = time.Duration(n) * time.Second / FPS
		p.deliverFrame(f)
	}); allocs != 0 {
		t.Errorf("capture step allocates %.1f times per frame", allocs)
	}
}

// TestBoxDrivesTheRealPipeline runs the firmware Box over the real
// pipeline and nginx: the big button goes live, the card buttons switch
// cards, a long press ends the stream.
func TestBoxDrivesTheRealPipeline(t *testing.T) {
	ngx := rtmptest.New(t)
	p := start(t, Config{Catalog: demoCatalog(t), InitialCard: 0, RTMP: []string{ngx.URL("box")}})
	panel := hw.NewVirtual(nil)
	buttons := make(chan hw.ButtonEvent)
	box, err := firmware.NewBox(firmware.Options{Pipeline: p, LED: panel.LED, Ring: panel.Ring, Buttons: buttons,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- box.Run(ctx) }()
	defer func() { cancel(); <-done }()
	press := func(b string, pr hw.Press) {
		select {
		case buttons <- hw.ButtonEvent{Button: b, Press: pr, At: time.Now()}:
		case <-ctx.Done():
			t.Fatal("box not reading buttons")
		}
	}
	press(firmware.ButtonBig, hw.ShortPress)
	waitFor(t, 10*time.Second, "live", func() bool { return box.Status().State == state.Live })
	if !p.Live() {
		t.Fatal("box live but pipeline not")
	}
	press(firmware.ButtonNext, hw.ShortPress)
	waitFor(t, 5*time.Second, "card 1", func() bool { return p.Card().Index == 1 })
	press(firmware.ButtonBig, hw.LongPress)
	waitFor(t, 15*time.Second, "idle", func() bool { return box.Status().State == state.Idle })
	if p.Live() {
		t.Error("pipeline still live after the box ended")
	}
	if s := p.Stats(); len(s.Outputs) != 0 {
		t.Errorf("outputs left after End: %+v", s.Outputs)
	}
}
