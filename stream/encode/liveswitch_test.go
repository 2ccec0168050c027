package encode

import (
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/streamtest"
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
		if d := audio[i].PTS - audio[i-1].PTS; d < minStep || d > 60*time.Millisecond {
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
		if d := video[i].DTS - video[i-1].DTS; d < minStep || d > 100*time.Millisecond {
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

// TestLiveSwitchWaitsForTheRunningEncoder drives the cut-over with units in
// the orders two ffmpeg processes can produce them on a loaded machine. The
// replacement's keyframe may arrive before the running encoder has
// delivered everything up to the cut; cutting over then lost the running
// encoder's late units (a second-long hole in the recording under the
// race detector). Each unit is tagged with its instance to check who
// delivered what.
func TestLiveSwitchWaitsForTheRunningEncoder(t *testing.T) {
	const frame = time.Second / 30
	at := func(n int) time.Duration { return time.Duration(n) * time.Second / 30 }
	const cut = 30 // frames: 1 s
	type step struct {
		from       int // 1 = running encoder, 2 = replacement
		first, end int // frames
		diesThen   bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
		// wantLast is the running encoder's last delivered frame; any
		// hole is from there to the cut.
		wantLast int
	}{
		{
			name:     "running encoder ahead of the cut",
			steps:    []step{{from: 1, first: 0, end: 36}, {from: 2, first: cut, end: 60}},
			wantLast: cut - 1,
		},
		{
			name: "running encoder behind the cut",
			steps: []step{
				{from: 1, first: 0, end: 9},
				{from: 2, first: cut, end: 39},
				{from: 1, first: 10, end: 42},
				{from: 2, first: 40, end: 60},
			},
			wantLast: cut - 1,
		},
		{
			name: "running encoder stuck",
			steps: []step{
				{from: 1, first: 0, end: 9},
				{from: 2, first: cut, end: 90},
				{from: 1, first: 10, end: 42},
			},
			wantLast: 9,
		},
		{
			name:     "running encoder dies",
			steps:    []step{{from: 1, first: 0, end: 15, diesThen: true}, {from: 2, first: cut, end: 60}},
			wantLast: 15,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &streamtest.Recorder{}
			e, err := New(Config{Input: hw.VideoFormat{Width: 640, Height: 360, FPS: 30}, LiveSwitch: true, Logger: quietLogger()}, rec)
			if err != nil {
				t.Fatal(err)
			}
			tracks := stream.Tracks{Width: 640, Height: 360, FPS: 30, SPS: []byte{0x67}, PPS: []byte{0x68}}
			running := &instance{id: 1, anchored: true, offsetSet: true, tracks: tracks, haveTrack: true}
			next := &instance{id: 2, anchored: true, offsetSet: true, tracks: tracks, haveTrack: true, cutAt: at(cut)}
			e.out.active, e.out.pending = running, next
			inst := map[int]*instance{1: running, 2: next}
			for _, s := range tc.steps {
				for n := s.first; n <= s.end; n++ {
					key := n == 0 || s.from == 2 && n == cut
					e.onVideo(inst[s.from], &stream.VideoUnit{PTS: at(n), DTS: at(n), Key: key, NALUs: [][]byte{{byte(s.from)}}})
				}
				if s.diesThen {
					e.outMu.Lock()
					e.out.activeGone = true
					e.outMu.Unlock()
				}
			}
			if s := e.Stats(); s.Switches != 1 {
				t.Fatalf("%d switches", s.Switches)
			}
			video := rec.Video()
			var hole, last1 time.Duration
			for i, u := range video {
				if i > 0 {
					if d := u.DTS - video[i-1].DTS; d > frame+time.Millisecond {
						hole += d - frame
					}
				}
				switch tag := u.NALUs[0][0]; {
				case tag == 1:
					last1 = u.DTS
				case u.DTS < at(cut):
					t.Errorf("replacement's unit at %v before the cut", u.DTS)
				}
			}
			if want := at(tc.wantLast); last1 != want {
				t.Errorf("running encoder's last unit at %v, want %v", last1, want)
			}
			if want := at(cut) - at(tc.wantLast) - frame; hole < want-time.Millisecond || hole > want+time.Millisecond {
				t.Errorf("hole %v, want %v", hole, want)
			}
			if end := video[len(video)-1].DTS; end < at(60) {
				t.Errorf("delivered up to %v", end)
			}
		})
	}
}

// TestEarlyUnitsWaitForTheAnchor: ffmpeg may encode its warm-up frame
// before Run has anchored the instance's timeline at the tick it began
// feeding. Those units wait and are then placed on the timeline, a tick
// before the first fed one; mapping them at once used a zero start (the
// timeline jumped back and a replacement's units were all refused).
func TestEarlyUnitsWaitForTheAnchor(t *testing.T) {
	rec := &streamtest.Recorder{}
	e, err := New(Config{Input: hw.VideoFormat{Width: 640, Height: 360, FPS: 30}, Logger: quietLogger()}, rec)
	if err != nil {
		t.Fatal(err)
	}
	frame := e.cfg.Input.Interval()
	tracks := stream.Tracks{Width: 640, Height: 360, FPS: 30, SPS: []byte{0x67}, PPS: []byte{0x68}}
	in := &instance{id: 1, tracks: tracks, haveTrack: true, ready: make(chan struct{}), started: time.Now()}
	e.out.active = in
	const ffmpegStart = 1400 * time.Millisecond // ffmpeg's own timestamps
	e.onVideo(in, &stream.VideoUnit{PTS: ffmpegStart, DTS: ffmpegStart, Key: true, NALUs: [][]byte{{1}}})
	if n := len(rec.Video()); n != 0 {
		t.Fatalf("%d units delivered before the anchor", n)
	}
	firstTick := 90 * frame
	if e.beginFeeding(in, firstTick) {
		t.Fatal("feeding an instance that has not read its warm-up frame")
	}
	close(in.ready)
	if !e.beginFeeding(in, firstTick) {
		t.Fatal("not feeding a ready instance")
	}
	e.onVideo(in, &stream.VideoUnit{PTS: ffmpegStart + frame, DTS: ffmpegStart + frame, NALUs: [][]byte{{1}}})
	v := rec.Video()
	if len(v) != 2 || v[0].DTS != firstTick-frame || v[1].DTS != firstTick {
		var got []time.Duration
		for _, u := range v {
			got = append(got, u.DTS)
		}
		t.Fatalf("delivered at %v, want [%v %v]", got, firstTick-frame, firstTick)
	}
}
