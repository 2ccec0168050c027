package pipeline

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/rtmp/rtmptest"
)

var _ firmware.Pipeline = (*Pipeline)(nil)

// TestPushToNginx pushes 10 s from the whole pipeline (test pattern + speech
// WAV → card overlay → ffmpeg → RTMP) to a real nginx-rtmp and checks what
// nginx recorded: codecs, size, rate, duration, timestamps, and that the
// product card viewers see is the one selected, before and after a switch.
func TestPushToNginx(t *testing.T) {
	for _, tc := range []struct {
		name     string
		portrait bool
	}{
		{"landscape", false},
		{"portrait", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ngx := rtmptest.New(t)
			p := start(t, Config{
				Portrait:    tc.portrait,
				Catalog:     demoCatalog(t),
				InitialCard: 0,
				RTMP:        []string{ngx.URL("box")},
				RTMPConfig:  rtmp.Config{Logger: testLogger(t)},
				// This checks the recording's exact size, rate and
				// duration: a fixed output. TestLiveToRTMPAndWHIPAdapts
				// covers adaptation.
				Adapt: AdaptConfig{Off: true},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			goLivePTS := time.Since(p.Epoch())
			if err := p.GoLive(ctx); err != nil {
				t.Fatalf("GoLive: %v\n%s", err, ngx.ErrorLog())
			}
			liveTook := time.Since(p.Epoch()) - goLivePTS
			time.Sleep(5 * time.Second)
			// NextCard renders the new card before it switches (slow under
			// -race), so the switch happens between these two instants.
			beforeSwitch := time.Since(p.Epoch())
			if err := p.NextCard(); err != nil {
				t.Fatal(err)
			}
			afterSwitch := time.Since(p.Epoch())
			if c := p.Card(); c.Index != 1 || !c.Visible || c.Name == "" {
				t.Errorf("Card after NextCard = %+v, want index 1 visible with a name", c)
			}
			time.Sleep(5 * time.Second)
			endPTS := time.Since(p.Epoch())
			if err := p.End(); err != nil {
				t.Fatal(err)
			}
			pub := p.ended[0]
			if err := ngx.Stop(); err != nil { // closes the recording
				t.Fatal(err)
			}

			rec := ngx.RecordingPath("box")
			res, err := rtmptest.Probe(rec)
			if err != nil {
				t.Fatalf("ffprobe %s: %v\n%s", rec, err, ngx.ErrorLog())
			}
			v, a := res.Video(), res.Audio()
			if v == nil || a == nil {
				t.Fatalf("recording has video %v audio %v, want both", v, a)
			}
			want := Format(tc.portrait)
			if v.CodecName != "h264" || a.CodecName != "aac" {
				t.Errorf("codecs %s + %s, want h264 + aac", v.CodecName, a.CodecName)
			}
			if v.Width != want.Width || v.Height != want.Height {
				t.Errorf("size %dx%d, want %dx%d", v.Width, v.Height, want.Width, want.Height)
			}
			for _, idx := range []int{v.Index, a.Index} {
				if err := res.CheckMonotonic(idx); err != nil {
					t.Errorf("stream %d: %v", idx, err)
				}
			}
			vp := res.PacketsOf(v.Index)
			if len(vp) < 2 {
				t.Fatalf("%d video packets", len(vp))
			}
			if !vp[0].Key {
				t.Errorf("first video packet is not a keyframe")
			}
			span := vp[len(vp)-1].DTS - vp[0].DTS
			fps := float64(len(vp)-1) / span.Seconds()
			if err := within(fps, FPS, 0.5); err != nil {
				t.Errorf("frame rate from packets: %v", err)
			}
			if v.FrameRate != 0 {
				if err := within(v.FrameRate, FPS, 0.5); err != nil {
					t.Errorf("stream frame rate: %v", err)
				}
			}
			sent := pub.lastPTS - pub.firstPTS + time.Second/FPS
			got := span + time.Second/FPS
			if err := within(got.Seconds(), sent.Seconds(), 0.5); err != nil {
				t.Errorf("recorded video duration: %v", err)
			}
			// What was sent: the GOP cached at go-live (at most one 2 s
			// GOP old), then live until End.
			t.Logf("go live took %v; sent video %v..%v, go live at %v, end at %v", liveTook, pub.firstPTS, pub.lastPTS, goLivePTS, endPTS)
			if age := goLivePTS - pub.firstPTS; age < -100*time.Millisecond || age > 3500*time.Millisecond {
				t.Errorf("first video sent is %v older than go live, want within one GOP plus encoding delay", age)
			}
			if lag := endPTS - pub.lastPTS; lag < 0 || lag > 1500*time.Millisecond {
				t.Errorf("last video sent %v before End, want < 1.5 s (encoding delay)", lag)
			}
			if res.Duration > 0 {
				if err := within(res.Duration.Seconds(), sent.Seconds(), 0.5); err != nil {
					t.Errorf("container duration: %v", err)
				}
			}

			// The switch happened on the pipeline clock between
			// beforeSwitch and afterSwitch;
			// the recording's frame 0 is pub.firstPTS.
			// Frames are found by timestamp, so a dropped unit cannot shift
			// the check onto the wrong side of the switch.
			at := func(pts time.Duration) int {
				for i, pk := range vp {
					if pk.DTS-vp[0].DTS >= pts-pub.firstPTS {
						return i
					}
				}
				t.Fatalf("no frame at %v in the recording", pts)
				return 0
			}
			comp := p.Compositor()
			for _, check := range []struct {
				frame int
				card  int
			}{
				{at(beforeSwitch - time.Second), 0},
				{at(afterSwitch + 2*time.Second), 1},
			} {
				f := decodeFrame(t, rec, check.frame, want.Width, want.Height)
				got, mismatch := comp.Identify(f)
				if got != check.card {
					t.Errorf("frame %d shows card %d (mismatch %.1f), want card %d", check.frame, got, mismatch, check.card)
				}
			}
		})
	}
}

// TestPreviewAndClip plays the RTSP preview with ffprobe and cuts a clip
// from the recorder.
func TestPreviewAndClip(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	p := start(t, Config{
		Catalog:     demoCatalog(t),
		InitialCard: 2,
		PreviewAddr: addr,
		RecordDir:   filepath.Join(dir, "ring"),
		RecordQuota: 200 << 20,
	})
	// The preview works before going live: she frames herself first.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := rtmptest.ProbeContext(ctx, "rtsp://"+addr+"/live", false, "-rtsp_transport", "tcp")
	if err != nil {
		t.Fatalf("ffprobe preview: %v", err)
	}
	if v, a := res.Video(), res.Audio(); v == nil || a == nil || v.CodecName != "h264" || a.CodecName != "aac" ||
		v.Width != 1280 || v.Height != 720 {
		t.Fatalf("preview streams %+v, want 1280x720 h264 + aac", res.Streams)
	}

	if err := p.GoLive(ctx); err != nil {
		t.Fatal(err)
	}
	liveAt := time.Now()
	time.Sleep(7 * time.Second)
	if err := p.Mark(); err != nil {
		t.Fatal(err)
	}
	if m := p.Marks(); len(m) != 1 || m[0].Hold == 0 {
		t.Errorf("Marks = %+v, want one with a recorder hold", m)
	}
	from := liveAt.Add(2500 * time.Millisecond)
	to := from.Add(3 * time.Second)
	clip := filepath.Join(dir, "clip.mp4")
	info, err := p.Recorder().ClipFile(ctx, from, to, clip)
	if err != nil {
		t.Fatalf("clip: %v (recorder %+v)", err, p.Recorder().Stats())
	}
	cr, err := rtmptest.Probe(clip)
	if err != nil {
		t.Fatalf("ffprobe clip: %v", err)
	}
	v := cr.Video()
	if v == nil || cr.Audio() == nil || v.CodecName != "h264" {
		t.Fatalf("clip streams %+v", cr.Streams)
	}
	vp := cr.PacketsOf(v.Index)
	if len(vp) == 0 || !vp[0].Key {
		t.Fatalf("clip does not start at a keyframe")
	}
	d := (vp[len(vp)-1].DTS - vp[0].DTS + time.Second/FPS).Seconds()
	// The clip starts at the keyframe at or before from: up to one GOP
	// (2 s) longer than asked.
	if d < 3-0.1 || d > 3+2+0.1 {
		t.Errorf("clip video lasts %.2f s, want 3 s (+ up to one 2 s GOP); info %+v", d, info)
	}
	if err := cr.CheckMonotonic(v.Index); err != nil {
		t.Error(err)
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
}
