package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
	"github.com/cunbo/cunbo/stream/streamtest"
)

// countedSink is an output that says how many viewers it has, like the
// WebRTC preview.
type countedSink struct {
	streamtest.Recorder
	n atomic.Int64
}

func (c *countedSink) Viewers() int { return int(c.n.Load()) }

// countedAudio counts the microphone reads.
type countedAudio struct {
	hw.AudioSource
	reads atomic.Int64
}

func (c *countedAudio) ReadPCM(ctx context.Context, buf []int16) (int, error) {
	c.reads.Add(1)
	return c.AudioSource.ReadPCM(ctx, buf)
}

// assertStill checks that no frame is captured or encoded for a while.
func assertStill(t *testing.T, p *Pipeline, mic *countedAudio, what string) {
	t.Helper()
	s0, r0 := p.Stats(), mic.reads.Load()
	time.Sleep(400 * time.Millisecond)
	s1, r1 := p.Stats(), mic.reads.Load()
	if r1 != r0 {
		t.Errorf("%s: paused pipeline still reads the microphone: %d→%d reads", what, r0, r1)
	}
	if s1.FramesCaptured != s0.FramesCaptured || s1.Encoder.VideoUnits != s0.Encoder.VideoUnits {
		t.Errorf("%s: paused pipeline still works: frames %d→%d, encoded %d→%d", what,
			s0.FramesCaptured, s1.FramesCaptured, s0.Encoder.VideoUnits, s1.Encoder.VideoUnits)
	}
	if err := p.Healthy(); err != nil {
		t.Errorf("%s: paused by design but Healthy says %v", what, err)
	}
}

// TestPausesWhenIdleAndWakes: with nobody watching and not live, capture
// and the encoder stop after IdleAfter (and the watchdog still hears
// "healthy"); an RTSP reader, a counted viewer and GoLive each bring the
// pictures back, and when they leave the pipeline pauses again.
func TestPausesWhenIdleAndWakes(t *testing.T) {
	const idle = 600 * time.Millisecond
	ngx := rtmptest.New(t)
	addr := freeAddr(t)
	epoch := time.Now()
	video, audio := sources(t, false, epoch)
	mic := &countedAudio{AudioSource: audio}
	p := start(t, Config{Video: video, Audio: mic, Epoch: epoch, Catalog: demoCatalog(t), InitialCard: 0,
		PreviewAddr: addr, RTMP: []string{ngx.URL("idle")}, IdleAfter: idle})

	waitFor(t, 10*time.Second, "the idle pause", p.Paused)
	if s := p.Stats(); !s.Paused || s.Pauses != 1 {
		t.Errorf("Stats paused=%v pauses=%d, want true and 1", s.Paused, s.Pauses)
	}
	assertStill(t, p, mic, "idle")

	// The speech worker's tap keeps the microphone going, not the video.
	var heard atomic.Int64
	removeTap := p.AudioTap(func(_ time.Duration, pcm []int16, _, _ int) { heard.Add(int64(len(pcm))) })
	waitFor(t, 5*time.Second, "audio at a tap while paused", func() bool { return heard.Load() >= 16000 })
	if !p.Paused() {
		t.Error("an audio tap woke the encoder")
	}
	removeTap()
	time.Sleep(100 * time.Millisecond)
	assertStill(t, p, mic, "idle after the tap left")

	// An RTSP reader: its DESCRIBE wakes the pipeline and it gets a picture.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := rtmptest.ProbeContext(ctx, "rtsp://"+addr+"/live", true, "-read_intervals", "%+#10", "-rtsp_transport", "tcp")
	if err != nil {
		t.Fatalf("ffprobe the preview of a paused pipeline: %v", err)
	}
	if v := res.Video(); v == nil || v.CodecName != "h264" || v.Width != 1280 || len(res.PacketsOf(v.Index)) == 0 {
		t.Fatalf("preview after waking: %+v", res.Streams)
	}
	if s := p.Stats(); s.Resumes < 1 {
		t.Errorf("Resumes = %d after an RTSP reader", s.Resumes)
	}
	waitFor(t, 10*time.Second, "the pause after the RTSP reader left", p.Paused)

	// A viewer output (the WebRTC preview): none watching keeps it paused,
	// one watching (it calls Wake on the offer) brings tracks then a keyframe.
	var view countedSink
	if err := p.AddOutput("webrtc", &view); err != nil {
		t.Fatal(err)
	}
	// The tracks are known while paused, so a viewer's session set-up
	// does not wait for the encoder.
	waitFor(t, 5*time.Second, "tracks at an output added while paused", func() bool { return len(view.Tracks()) > 0 })
	assertStill(t, p, mic, "viewer output without viewers")
	view.n.Store(1)
	p.Wake()
	waitFor(t, 10*time.Second, "video at the viewer", func() bool { return len(view.Video()) >= 5 })
	if v := view.Video(); !v[0].Key {
		t.Error("the viewer's first unit after waking is not a keyframe")
	}
	time.Sleep(2 * idle)
	if p.Paused() {
		t.Error("paused while a viewer watches")
	}
	view.n.Store(0)
	waitFor(t, 10*time.Second, "the pause after the viewer left", p.Paused)

	// GoLive from paused: nginx gets video, and no pause while live.
	path := ngx.RecordingPath("idle")
	t0 := time.Now()
	if err := p.GoLive(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "video at nginx", func() bool { return firstVideoTag(path) })
	t.Logf("go live from paused → first video at nginx in %v", time.Since(t0).Round(time.Millisecond))
	time.Sleep(2 * idle)
	if p.Paused() {
		t.Error("paused while live")
	}
	if err := p.Healthy(); err != nil {
		t.Errorf("live: %v", err)
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the pause after going off air", p.Paused)
	if s := p.Stats(); s.Pauses < 4 || s.Resumes < 3 {
		t.Errorf("pauses %d resumes %d, want ≥ 4 and ≥ 3", s.Pauses, s.Resumes)
	}
}

// TestNoIdlePauseWhenDisabled: a negative IdleAfter keeps the old
// always-on behaviour.
func TestNoIdlePauseWhenDisabled(t *testing.T) {
	p := start(t, Config{IdleAfter: -1})
	time.Sleep(1500 * time.Millisecond)
	if p.Paused() || p.Stats().Pauses != 0 {
		t.Error("paused with IdleAfter < 0")
	}
}
