package streamtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/cunbo/cunbo/stream/streamtest"
)

func TestRunDeliversValidStream(t *testing.T) {
	cases := []struct {
		name          string
		width, height int
		sampleRate    int
		channels      int
	}{
		{"landscape 48k stereo", 1280, 720, 48000, 2},
		{"portrait 44.1k mono", 720, 1280, 44100, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rec := &streamtest.Recorder{}
			res, err := streamtest.Run(ctx, t, rec, streamtest.Options{
				Duration: 4200 * time.Millisecond, Width: tc.width, Height: tc.height,
				SampleRate: tc.sampleRate, Channels: tc.channels, NoPace: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			tracks := rec.Tracks()
			if len(tracks) != 1 {
				t.Fatalf("SetTracks called %d times, want 1", len(tracks))
			}
			tr := tracks[0]
			if tr.Width != tc.width || tr.Height != tc.height || tr.FPS != 30 {
				t.Errorf("tracks %dx%d@%d, want %dx%d@30", tr.Width, tr.Height, tr.FPS, tc.width, tc.height)
			}
			if len(tr.SPS) == 0 || len(tr.PPS) == 0 {
				t.Errorf("missing parameter sets")
			}
			var asc mpeg4audio.AudioSpecificConfig
			if err := asc.Unmarshal(tr.AudioConfig); err != nil {
				t.Fatalf("AudioConfig: %v", err)
			}
			if asc.SampleRate != tc.sampleRate || tr.SampleRate != tc.sampleRate || tr.Channels != tc.channels {
				t.Errorf("audio %d Hz %d ch (asc %d), want %d Hz %d ch", tr.SampleRate, tr.Channels, asc.SampleRate, tc.sampleRate, tc.channels)
			}
			if order := rec.Order(); order[0] != 't' {
				t.Errorf("first call %q, want SetTracks", order[0])
			}

			video := rec.Video()
			if n := len(video); n < 120 || n > 130 || n != res.VideoUnits {
				t.Errorf("%d video units (result says %d), want ~126", n, res.VideoUnits)
			}
			if !video[0].Key || video[0].DTS != 0 {
				t.Errorf("first video unit key=%v dts=%v, want keyframe at 0", video[0].Key, video[0].DTS)
			}
			var keys []int
			for i, v := range video {
				if v.Key {
					keys = append(keys, i)
				}
				if i > 0 && v.DTS <= video[i-1].DTS {
					t.Fatalf("video DTS not increasing at %d: %v after %v", i, v.DTS, video[i-1].DTS)
				}
				if v.PTS != v.DTS {
					t.Fatalf("unit %d PTS %v != DTS %v with no B-frames", i, v.PTS, v.DTS)
				}
			}
			if len(keys) != 3 || keys[1] != 60 || keys[2] != 120 {
				t.Errorf("keyframes at %v, want [0 60 120]", keys)
			}

			audio := rec.Audio()
			wantAudio := int(4.2 * float64(tc.sampleRate) / 1024)
			if n := len(audio); n < wantAudio-10 || n > wantAudio+3 {
				t.Errorf("%d audio units, want ~%d", n, wantAudio)
			}
			step := time.Duration(1024) * time.Second / time.Duration(tc.sampleRate)
			for i := 1; i < len(audio); i++ {
				d := audio[i].PTS - audio[i-1].PTS
				if d < step-time.Millisecond || d > step+time.Millisecond {
					t.Fatalf("audio step %v at %d, want %v", d, i, step)
				}
			}
			if audio[0].PTS < 0 || audio[0].PTS > 50*time.Millisecond {
				t.Errorf("audio starts at %v, want within 50ms of video", audio[0].PTS)
			}
		})
	}
}

func TestRunDeliversInTimestampOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &streamtest.Recorder{}
	if _, err := streamtest.Run(ctx, t, rec, streamtest.Options{Duration: 2 * time.Second, Width: 320, Height: 240, NoPace: true}); err != nil {
		t.Fatal(err)
	}
	video, audio := rec.Video(), rec.Audio()
	vi, ai := 0, 0
	var last time.Duration
	for _, c := range rec.Order()[1:] {
		var ts time.Duration
		switch c {
		case 'v':
			ts = video[vi].DTS
			vi++
		case 'a':
			ts = audio[ai].PTS
			ai++
		default:
			t.Fatalf("unexpected call %q", c)
		}
		if ts < last {
			t.Fatalf("unit at %v delivered after %v", ts, last)
		}
		last = ts
	}
}

func TestRunPacesAtRealTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &streamtest.Recorder{}
	start := time.Now()
	res, err := streamtest.Run(ctx, t, rec, streamtest.Options{Duration: 1500 * time.Millisecond, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	// Pacing can only make delivery late, never early: the last unit
	// cannot arrive before its timestamp on the wall clock.
	if took := time.Since(start); took < res.Last {
		t.Errorf("delivered %v of media in %v, faster than real time", res.Last, took)
	}
	if res.Last < 1400*time.Millisecond {
		t.Errorf("last unit at %v, want ~1.5s", res.Last)
	}
}

func TestStartStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &streamtest.Recorder{}
	s := streamtest.Start(ctx, t, rec, streamtest.Options{Width: 320, Height: 240})
	deadline := time.Now().Add(20 * time.Second)
	for len(rec.Video()) < 10 {
		if time.Now().After(deadline) {
			t.Fatal("no video within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopAt := time.Now()
	if _, err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(stopAt); d > 5*time.Second {
		t.Errorf("stop took %v", d)
	}
	n := len(rec.Video())
	time.Sleep(100 * time.Millisecond)
	if len(rec.Video()) != n {
		t.Error("units delivered after Stop returned")
	}
}

func TestRunReportsMissingFFmpeg(t *testing.T) {
	_, err := streamtest.Run(context.Background(), t, &streamtest.Recorder{}, streamtest.Options{FFmpeg: "/nonexistent/ffmpeg"})
	if err == nil {
		t.Fatal("want error for missing ffmpeg")
	}
}
