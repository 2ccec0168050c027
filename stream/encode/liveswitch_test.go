package encode

import (
	"testing"
	"time"

	"github.com/cunbo/cunbo/hw"
)

// TestLiveSwitchKeepsDelivering: with LiveSwitch, output never pauses
// while the replacement starts, the timeline stays continuous, and the new
// bitrate takes over at a keyframe within about start-up plus a second.
// The second case changes size and frame rate too: the scale and fps
// filters make the replacement slower than the running encoder, which
// once kept the cut from ever happening.
func TestLiveSwitchKeepsDelivering(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   Output
	}{
		{"bitrate", Output{Width: 640, Height: 360, FPS: 30, VideoKbps: 300}},
		{"size and frame rate", Output{Width: 320, Height: 180, FPS: 25, VideoKbps: 300}},
	} {
		t.Run(tc.name, func(t *testing.T) { testLiveSwitch(t, tc.to) })
	}
}

func testLiveSwitch(t *testing.T, to Output) {
	cfg := Config{
		Input:      hw.VideoFormat{Width: 640, Height: 360, FPS: 30},
		Output:     Output{VideoKbps: 1600},
		LiveSwitch: true,
	}
	e, rec, stop := startEncoder(t, cfg, true)
	waitFor(t, 30*time.Second, "3 s of video", func() bool {
		v := rec.Video()
		return len(v) > 0 && v[len(v)-1].DTS > 3*time.Second
	})
	if err := e.SetOutput(to); err != nil {
		t.Fatal(err)
	}
	asked := rec.Video()[len(rec.Video())-1].DTS
	// Watch deliveries in wall-clock time through the switch.
	var longest time.Duration
	last, lastN := time.Now(), len(rec.Video())
	for e.Stats().Switches == 0 {
		time.Sleep(10 * time.Millisecond)
		if n := len(rec.Video()); n != lastN {
			last, lastN = time.Now(), n
		} else {
			longest = max(longest, time.Since(last))
		}
		if time.Since(last) > 30*time.Second {
			t.Fatal("no video for 30 s")
		}
	}
	waitFor(t, 30*time.Second, "3 s after the switch", func() bool {
		v := rec.Video()
		return v[len(v)-1].DTS > asked+6*time.Second
	})
	stop()
	t.Logf("longest pause in delivery while switching: %v", longest)
	// Holding would pause for the replacement's whole start-up (~1 s);
	// live switching pauses no longer than normal frame pacing and
	// scheduling jitter on a loaded machine.
	if longest > 500*time.Millisecond {
		t.Errorf("delivery paused %v during the switch", longest)
	}
	video := rec.Video()
	checkVideo(t, video, time.Second/30*3/2)
	var switchAt time.Duration
	for _, u := range video {
		if u.Key && u.DTS > asked && bitrate(video, u.DTS+time.Second, u.DTS+3*time.Second) < 600 {
			switchAt = u.DTS
			break
		}
	}
	if switchAt == 0 || switchAt-asked > 2*time.Second {
		t.Fatalf("switch keyframe at %v, asked at %v", switchAt, asked)
	}
	audio := rec.Audio()
	for i := 1; i < len(audio); i++ {
		if d := audio[i].PTS - audio[i-1].PTS; d <= 0 || d > 60*time.Millisecond {
			t.Errorf("audio step %v at %v (switch at %v)", d, audio[i].PTS, switchAt)
		}
	}
}

// TestLiveSwitchBackToBack: changes that overlap (a climb still switching
// when a cut arrives, as the adaptation loop does when a link drops) keep
// the timeline whole: no hole in what the sink gets, whatever the frame
// rates involved.
func TestLiveSwitchBackToBack(t *testing.T) {
	cfg := Config{
		Input:      hw.VideoFormat{Width: 640, Height: 360, FPS: 30},
		Output:     Output{Width: 212, Height: 120, FPS: 15, VideoKbps: 180},
		LiveSwitch: true,
	}
	e, rec, stop := startEncoder(t, cfg, true)
	waitFor(t, 30*time.Second, "2 s of video", func() bool {
		v := rec.Video()
		return len(v) > 0 && v[len(v)-1].DTS > 2*time.Second
	})
	steps := []struct {
		after time.Duration
		out   Output
	}{
		{0, Output{Width: 212, Height: 120, FPS: 15, VideoKbps: 270}},
		{700 * time.Millisecond, Output{Width: 212, Height: 120, FPS: 15, VideoKbps: 150}},
		{1500 * time.Millisecond, Output{Width: 320, Height: 180, FPS: 25, VideoKbps: 400}},
		{400 * time.Millisecond, Output{Width: 212, Height: 120, FPS: 15, VideoKbps: 150}},
		{2500 * time.Millisecond, Output{Width: 426, Height: 240, FPS: 30, VideoKbps: 700}},
	}
	for _, s := range steps {
		time.Sleep(s.after)
		if err := e.SetOutput(s.out); err != nil {
			t.Fatal(err)
		}
	}
	last := rec.Video()[len(rec.Video())-1].DTS
	waitFor(t, 30*time.Second, "4 s after the last change", func() bool {
		v := rec.Video()
		return v[len(v)-1].DTS > last+4*time.Second
	})
	stop()
	video := rec.Video()
	for i := 1; i < len(video); i++ {
		if d := video[i].DTS - video[i-1].DTS; d <= 0 || d > 100*time.Millisecond {
			t.Errorf("video step %v at %v", d, video[i].DTS)
		}
	}
	if s := e.Stats(); s.Switches < 2 {
		t.Errorf("%d switches completed", s.Switches)
	}
}

func TestCutLead(t *testing.T) {
	for _, tc := range []struct {
		startup, want time.Duration
	}{
		{0, time.Second},
		{50 * time.Millisecond, 400 * time.Millisecond},
		{250 * time.Millisecond, 600 * time.Millisecond},
		{560 * time.Millisecond, time.Second},
		{500 * time.Millisecond, 800 * time.Millisecond},
		{2 * time.Second, time.Second},
	} {
		if got := cutLeadFor(tc.startup); got != tc.want {
			t.Errorf("cutLeadFor(%v) = %v, want %v", tc.startup, got, tc.want)
		}
	}
}
