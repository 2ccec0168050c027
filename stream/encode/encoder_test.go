package encode

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/streamtest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startEncoder runs an encoder fed by a test pattern (or noisy frames) and
// a tone until the test ends.
func startEncoder(t *testing.T, cfg Config, noisy bool) (*Encoder, *streamtest.Recorder, context.CancelFunc) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	cfg.Codec = CodecX264
	rec := &streamtest.Recorder{}
	e, err := New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := e.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if noisy {
			feedNoise(ctx, e, cfg.Input)
			return
		}
		src, err := hw.NewTestPattern(hw.TestPatternConfig{Format: cfg.Input})
		if err != nil {
			t.Error(err)
			return
		}
		defer src.Close()
		if err := e.FeedVideo(ctx, src); err != nil {
			t.Errorf("feed video: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		tone, err := hw.NewTone(hw.ToneConfig{Format: e.cfg.Audio})
		if err != nil {
			t.Error(err)
			return
		}
		if err := e.FeedAudio(ctx, tone); err != nil {
			t.Errorf("feed audio: %v", err)
		}
	}()
	stop := func() {
		cancel()
		wg.Wait()
	}
	t.Cleanup(stop)
	return e, rec, stop
}

// feedNoise sends frames whose top third is random, so the encoder is
// always at its bitrate cap and a bitrate change is measurable.
func feedNoise(ctx context.Context, e *Encoder, vf hw.VideoFormat) {
	f := hw.NewFrame(vf.Width, vf.Height)
	rng := rand.New(rand.NewPCG(1, 2))
	tk := time.NewTicker(vf.Interval())
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		noise := f.Y[:len(f.Y)/3]
		for i := 0; i < len(noise); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < len(noise); j++ {
				noise[i+j] = byte(v >> (8 * j))
			}
		}
		e.WriteFrame(f)
	}
}

// waitFor polls until cond holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkVideo asserts DTS rising by at least minStep, no gaps beyond
// maxGap, and parameter sets on every keyframe.
func checkVideo(t *testing.T, video []*stream.VideoUnit, maxGap time.Duration) {
	t.Helper()
	if len(video) == 0 || !video[0].Key {
		t.Fatal("stream does not start with a keyframe")
	}
	for i, u := range video {
		if i > 0 {
			d := u.DTS - video[i-1].DTS
			if d < minStep {
				t.Fatalf("DTS not rising by %v at unit %d: %v after %v", minStep, i, u.DTS, video[i-1].DTS)
			}
			if d > maxGap {
				t.Errorf("gap of %v at unit %d (%v)", d, i, u.DTS)
			}
		}
		if u.PTS != u.DTS {
			t.Errorf("unit %d PTS %v != DTS %v without B-frames", i, u.PTS, u.DTS)
		}
		var sps, pps, idr bool
		for _, n := range u.NALUs {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				sps = true
			case h264.NALUTypePPS:
				pps = true
			case h264.NALUTypeIDR:
				idr = true
			}
		}
		if idr != u.Key || u.Key && !(sps && pps) {
			t.Errorf("unit %d: key=%v idr=%v sps=%v pps=%v", i, u.Key, idr, sps, pps)
		}
	}
}

func TestEncoderOutputIsValidAndInSync(t *testing.T) {
	cfg := Config{
		Input: hw.VideoFormat{Width: 1280, Height: 720, FPS: 30},
		Audio: hw.AudioFormat{SampleRate: 48000, Channels: 1},
	}
	e, rec, stop := startEncoder(t, cfg, false)
	waitFor(t, 30*time.Second, "7 s of video", func() bool {
		v := rec.Video()
		return len(v) > 0 && v[len(v)-1].DTS > 7*time.Second
	})
	stop()

	tracks := rec.Tracks()
	if len(tracks) == 0 || rec.Order()[0] != 't' {
		t.Fatal("SetTracks not called first")
	}
	tr := tracks[0]
	var sps h264.SPS
	if err := sps.Unmarshal(tr.SPS); err != nil {
		t.Fatalf("SPS: %v", err)
	}
	if tr.Width != 1280 || tr.Height != 720 || tr.FPS != 30 || len(tr.PPS) == 0 || tr.SampleRate != 48000 || tr.Channels != 1 || len(tr.AudioConfig) == 0 {
		t.Errorf("tracks %+v", tr)
	}

	video := rec.Video()
	interval := time.Second / 30
	checkVideo(t, video, interval*3/2)
	// One clock: tick k is at k/30 s. The first frame is the tick before
	// ffmpeg began reading (its warm-up frame), a fraction of a second in.
	first := video[0].DTS
	if k := (first + interval/2) / interval; first < 0 || first > 2*time.Second || (first-k*interval).Abs() > time.Millisecond {
		t.Errorf("first unit at %v, want a tick within ffmpeg's start-up", first)
	}
	var keys []time.Duration
	for _, u := range video {
		if u.Key {
			keys = append(keys, u.DTS)
		}
	}
	if len(keys) < 4 {
		t.Fatalf("keyframes at %v", keys)
	}
	for i := 1; i < len(keys); i++ {
		if d := keys[i] - keys[i-1]; d < 2*time.Second-interval-time.Millisecond || d > 2*time.Second+interval+time.Millisecond {
			t.Errorf("keyframe interval %v at %v, want 2s ±1 frame", d, keys[i])
		}
	}

	audio := rec.Audio()
	if len(audio) < 100 {
		t.Fatalf("%d audio units", len(audio))
	}
	step := 1024 * time.Second / 48000
	for i := 1; i < len(audio); i++ {
		d := audio[i].PTS - audio[i-1].PTS
		if d <= 0 {
			t.Fatalf("audio PTS not increasing at %d", i)
		}
		if d > step+time.Millisecond {
			t.Errorf("audio gap %v at %v", d, audio[i].PTS)
		}
	}
	lastV, lastA := video[len(video)-1].DTS, audio[len(audio)-1].PTS
	if d := (audio[0].PTS - video[0].DTS).Abs(); d > 100*time.Millisecond {
		t.Errorf("audio starts %v from video", d)
	}
	// Audio and video cover the same span: no drift between the tracks.
	if d := (lastA - lastV).Abs(); d > 100*time.Millisecond {
		t.Errorf("at the end audio is at %v, video at %v", lastA, lastV)
	}
	st := e.Stats()
	if st.VideoUnits != int64(len(video)) || st.AudioUnits != int64(len(audio)) || st.Restarts != 0 || st.FramesIn == 0 || st.Codec != CodecX264 {
		t.Errorf("stats %+v", st)
	}
}

// bitrate sums video payload between two pipeline times.
func bitrate(video []*stream.VideoUnit, from, to time.Duration) float64 {
	var bytes int
	for _, u := range video {
		if u.DTS >= from && u.DTS < to {
			for _, n := range u.NALUs {
				bytes += len(n)
			}
		}
	}
	return float64(bytes*8) / (to - from).Seconds() / 1000
}

func TestSetBitrateSwitchesWithoutGap(t *testing.T) {
	cfg := Config{
		Input:  hw.VideoFormat{Width: 640, Height: 360, FPS: 30},
		Output: Output{VideoKbps: 1600},
	}
	e, rec, stop := startEncoder(t, cfg, true)
	waitFor(t, 30*time.Second, "3 s of video", func() bool {
		v := rec.Video()
		return len(v) > 0 && v[len(v)-1].DTS > 3*time.Second
	})
	if err := e.SetBitrate(300); err != nil {
		t.Fatal(err)
	}
	asked := rec.Video()[len(rec.Video())-1].DTS
	waitFor(t, 30*time.Second, "switch", func() bool { return e.Stats().Switches == 1 })
	waitFor(t, 30*time.Second, "4 s after the switch", func() bool {
		v := rec.Video()
		return v[len(v)-1].DTS > asked+5*time.Second
	})
	stop()

	video := rec.Video()
	checkVideo(t, video, time.Second/30*3/2)
	var switchAt time.Duration
	for _, u := range video {
		if u.Key && u.DTS > asked {
			switchAt = u.DTS
			break
		}
	}
	if switchAt == 0 || switchAt-asked > 2*time.Second {
		t.Fatalf("switch keyframe at %v, asked at %v: want within one GOP", switchAt, asked)
	}
	before := bitrate(video, switchAt-2*time.Second, switchAt)
	after := bitrate(video, switchAt+time.Second, switchAt+4*time.Second)
	t.Logf("bitrate before %.0f kbps, after %.0f kbps", before, after)
	if before < 1000 || after > 500 {
		t.Errorf("bitrate %.0f → %.0f kbps, want ~1600 → ~300", before, after)
	}
	st := e.Stats()
	if st.Output.VideoKbps != 300 || st.Restarts != 0 {
		t.Errorf("stats %+v", st)
	}
	audio := rec.Audio()
	for i := 1; i < len(audio); i++ {
		if d := audio[i].PTS - audio[i-1].PTS; d <= 0 || d > 60*time.Millisecond {
			t.Errorf("audio step %v at %v (switch at %v)", d, audio[i].PTS, switchAt)
		}
	}
}

func TestSetOutputChangesResolution(t *testing.T) {
	cfg := Config{Input: hw.VideoFormat{Width: 640, Height: 360, FPS: 30}}
	e, rec, stop := startEncoder(t, cfg, false)
	waitFor(t, 30*time.Second, "first video", func() bool { return len(rec.Video()) > 10 })
	if err := e.SetOutput(Output{Width: 320, Height: 180, FPS: 15, VideoKbps: 400}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "switch", func() bool { return e.Stats().Switches == 1 })
	waitFor(t, 30*time.Second, "more video", func() bool { n := len(rec.Video()); time.Sleep(300 * time.Millisecond); return len(rec.Video()) > n })
	stop()
	tracks := rec.Tracks()
	last := tracks[len(tracks)-1]
	if len(tracks) != 2 || last.Width != 320 || last.Height != 180 || last.FPS != 15 {
		t.Fatalf("tracks %+v", tracks)
	}
	checkVideo(t, rec.Video(), time.Second/15*3/2)
	if err := e.SetOutput(Output{Width: 320, Height: 180, FPS: 60}); err == nil {
		t.Error("output rate above input accepted")
	}
}

func TestEncoderRestartsAfterKill(t *testing.T) {
	cfg := Config{Input: hw.VideoFormat{Width: 640, Height: 360, FPS: 30}}
	e, rec, stop := startEncoder(t, cfg, false)
	waitFor(t, 30*time.Second, "2 s of video", func() bool {
		v := rec.Video()
		return len(v) > 0 && v[len(v)-1].DTS > 2*time.Second
	})
	e.outMu.Lock()
	pid := e.out.active.pid()
	e.outMu.Unlock()
	n := len(rec.Video())
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Units already in the pipe may still arrive; resumption means a unit
	// from the new instance, which starts with a keyframe.
	waitFor(t, 10*time.Second, "output after kill", func() bool {
		for _, u := range rec.Video()[n:] {
			if u.Key {
				return true
			}
		}
		return false
	})
	if took := time.Since(killed); took > 2*time.Second {
		t.Errorf("output resumed %v after kill -9, want ≤ 2s", took)
	}
	waitFor(t, 10*time.Second, "1 s more", func() bool { n := len(rec.Video()); time.Sleep(time.Second); return len(rec.Video()) > n+20 })
	stop()
	if st := e.Stats(); st.Restarts != 1 {
		t.Errorf("restarts %d, want 1", st.Restarts)
	}
	// DTS stays monotonic across the restart; the hole is the restart time.
	checkVideo(t, rec.Video(), 2*time.Second)
}

func TestEncoderRepeatsFramesWhenSourceStalls(t *testing.T) {
	rec := &streamtest.Recorder{}
	e, err := New(Config{Input: hw.VideoFormat{Width: 320, Height: 240, FPS: 30}, Codec: CodecX264, Logger: quietLogger()}, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	// One frame, then the camera "hangs": output must continue at 30 fps.
	if err := e.WriteFrame(hw.NewFrame(320, 240)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "1.5 s of video", func() bool {
		v := rec.Video()
		return len(v) > 0 && v[len(v)-1].DTS > 1500*time.Millisecond
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkVideo(t, rec.Video(), time.Second/30*3/2)
	st := e.Stats()
	if st.FramesIn != 1 || st.FramesRepeated < 40 || st.SilencePadded == 0 {
		t.Errorf("stats %+v: want 1 frame in, many repeats, silence padded", st)
	}
	if err := e.WriteFrame(hw.NewFrame(640, 480)); err == nil {
		t.Error("wrong-size frame accepted")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	in := hw.VideoFormat{Width: 640, Height: 360, FPS: 30}
	cases := []Config{
		{Input: hw.VideoFormat{Width: 641, Height: 360, FPS: 30}},
		{Input: in, Audio: hw.AudioFormat{SampleRate: 1000, Channels: 1}},
		{Input: in, Output: Output{VideoKbps: 10}},
		{Input: in, Output: Output{Width: 320, Height: 180, FPS: 60}},
	}
	for _, c := range cases {
		if _, err := New(c, &streamtest.Recorder{}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := New(Config{Input: in}, nil); err == nil {
		t.Error("nil sink accepted")
	}
	e, _ := New(Config{Input: in, FFmpeg: "/nonexistent/ffmpeg", Codec: CodecX264}, &streamtest.Recorder{})
	if err := e.Run(context.Background()); err == nil {
		t.Error("missing ffmpeg not reported")
	}
}

// TestEncoderWaitsForASlowStart: an ffmpeg that takes longer to start than
// the feed queue lasts (a loaded machine) is waited for, not killed as
// stalled over and over; its output begins at the tick it started reading,
// and one that never reads is killed after startTimeout.
func TestEncoderWaitsForASlowStart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		delay       string // seconds before ffmpeg runs
		wantVideo   bool
		wantRestart bool
	}{
		{name: "slow", delay: "3", wantVideo: true},
		{name: "hung", delay: "60", wantRestart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ffmpeg, err := exec.LookPath("ffmpeg")
			if err != nil {
				t.Fatal(err)
			}
			script := filepath.Join(t.TempDir(), "slow-ffmpeg")
			body := "#!/bin/sh\nsleep " + tc.delay + "\nexec " + ffmpeg + " \"$@\"\n"
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			cfg := Config{Input: hw.VideoFormat{Width: 640, Height: 360, FPS: 30}, FFmpeg: script}
			e, rec, stop := startEncoder(t, cfg, false)
			defer stop()
			if tc.wantVideo {
				waitFor(t, 30*time.Second, "2 s of video", func() bool {
					v := rec.Video()
					return len(v) > 0 && v[len(v)-1].DTS-v[0].DTS > 2*time.Second
				})
				if st := e.Stats(); st.Restarts != 0 {
					t.Errorf("%d restarts of a slow-starting encoder", st.Restarts)
				}
				if first := rec.Video()[0].DTS; first < 2*time.Second {
					t.Errorf("first unit at %v, before ffmpeg could have started", first)
				}
				checkVideo(t, rec.Video(), time.Second/30*3/2)
			}
			if tc.wantRestart {
				waitFor(t, startTimeout+10*time.Second, "a restart", func() bool { return e.Stats().Restarts > 0 })
				if n := len(rec.Video()); n != 0 {
					t.Errorf("%d units from an encoder that never read", n)
				}
			}
		})
	}
}
