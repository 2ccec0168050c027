package record

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/streamtest"
)

// topLevelBoxes lists a file's top-level box types in order.
func topLevelBoxes(t *testing.T, data []byte) []string {
	t.Helper()
	var types []string
	for off := 0; off+8 <= len(data); {
		size := int(binary.BigEndian.Uint32(data[off:]))
		types = append(types, string(data[off+4:off+8]))
		if size < 8 {
			t.Fatalf("bad box size %d at %d", size, off)
		}
		off += size
	}
	return types
}

func TestClip(t *testing.T) {
	const gop = 2 * time.Second
	dir := t.TempDir()
	rec, _ := recordStream(t, Config{Dir: dir, SegmentDuration: 4 * time.Second},
		streamtest.Options{Duration: 10 * time.Second, NoPace: true, GOP: gop, Width: 320, Height: 240, VideoKbps: 400})
	wall := func(d time.Duration) time.Time {
		w, ok := rec.WallTime(d)
		if !ok {
			t.Fatal("WallTime before any unit")
		}
		return w
	}
	s := time.Second
	for _, tc := range []struct {
		name               string
		from, to           time.Duration
		wantStart, wantEnd time.Duration // the clip's actual span on the pipeline clock
		wantSegments       int
	}{
		{"inside one segment", 2500 * time.Millisecond, 3900 * time.Millisecond, 2 * s, 3900 * time.Millisecond, 1},
		{"across segments", 3300 * time.Millisecond, 8700 * time.Millisecond, 2 * s, 8700 * time.Millisecond, 3},
		{"on a keyframe", 4 * s, 6 * s, 4 * s, 6 * s, 1},
		{"starts before the recording", -5 * s, 2500 * time.Millisecond, 0, 2500 * time.Millisecond, 1},
		{"ends after the recording", 7 * s, 20 * s, 6 * s, 10 * s, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "clip.mp4")
			from, to := wall(tc.from), wall(tc.to)
			info, err := rec.ClipFile(context.Background(), from, to, out)
			if err != nil {
				t.Fatalf("ClipFile: %v", err)
			}
			const frame = 34 * time.Millisecond
			if d := info.Start.Sub(wall(tc.wantStart)); absDur(d) > 2*time.Millisecond {
				t.Errorf("clip starts at %v, want %v", info.Start.Sub(wall(0)), tc.wantStart)
			}
			if d := info.End.Sub(wall(tc.wantEnd)); absDur(d) > frame {
				t.Errorf("clip ends at %v, want %v", info.End.Sub(wall(0)), tc.wantEnd)
			}
			if info.Segments != tc.wantSegments {
				t.Errorf("clip cut from %d segments, want %d", info.Segments, tc.wantSegments)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(data)) != info.Bytes {
				t.Errorf("file has %d bytes, info says %d", len(data), info.Bytes)
			}
			if boxes := topLevelBoxes(t, data); len(boxes) != 3 || boxes[0] != "ftyp" || boxes[1] != "moov" || boxes[2] != "mdat" {
				t.Errorf("top-level boxes %v, want ftyp moov mdat (faststart)", boxes)
			}
			p := ffprobe(t, out)
			ffprobeDecode(t, out)
			if c := p.codecs(); c["video"] != "h264" || c["audio"] != "aac" {
				t.Errorf("codecs %v", c)
			}
			if !firstVideoPacketKey(t, out) {
				t.Error("clip does not start with a keyframe")
			}
			want := tc.wantEnd - tc.wantStart
			if d := p.duration(); absDur(d-want) > 100*time.Millisecond {
				t.Errorf("ffprobe duration %v, want %v", d, want)
			}
			// The brief's contract: requested length ± one GOP.
			requested := min(tc.to, 10*s) - max(tc.from, 0)
			if d := p.duration(); absDur(d-requested) > gop {
				t.Errorf("clip lasts %v for a request of %v", d, requested)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		var buf bytes.Buffer
		if _, err := rec.Clip(context.Background(), wall(30*s), wall(40*s), &buf); !errors.Is(err, ErrNoMedia) {
			t.Errorf("clip after the recording: %v, want ErrNoMedia", err)
		}
		if _, err := rec.Clip(context.Background(), wall(3*s), wall(3*s), &buf); err == nil {
			t.Error("empty range accepted")
		}
		if _, err := rec.Clip(context.Background(), wall(0), wall(3*time.Hour), &buf); err == nil {
			t.Error("clip longer than MaxClip accepted")
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := rec.Clip(ctx, wall(0), wall(5*s), &buf); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled clip: %v", err)
		}
		if buf.Len() != 0 {
			t.Errorf("failed clips wrote %d bytes", buf.Len())
		}
	})
}

// TestClipWhileRecording cuts from the segment that is still open, with a
// stream paced in real time.
func TestClipWhileRecording(t *testing.T) {
	rec, _ := startRecorder(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := streamtest.Start(ctx, t, rec, streamtest.Options{GOP: time.Second, Width: 320, Height: 240, VideoKbps: 300})
	for rec.Stats().FragmentsWritten < 3 {
		select {
		case <-st.Done():
			t.Fatal("stream ended early")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if s := rec.Stats(); s.Segments != 1 {
		t.Fatalf("%d segments, want the one open segment", s.Segments)
	}
	from, _ := rec.WallTime(500 * time.Millisecond)
	out := filepath.Join(t.TempDir(), "live.mp4")
	info, err := rec.ClipFile(ctx, from, time.Now(), out)
	if err != nil {
		t.Fatalf("ClipFile: %v", err)
	}
	p := ffprobe(t, out)
	ffprobeDecode(t, out)
	// Three fragments were durable when we looked; a loaded machine may
	// have finished a few more before the clip was cut.
	if d := p.duration(); d < 2500*time.Millisecond || d > 6*time.Second {
		t.Errorf("live clip lasts %v (info %+v)", d, info)
	}
	if !firstVideoPacketKey(t, out) {
		t.Error("live clip does not start with a keyframe")
	}
	if _, err := st.Stop(); err != nil {
		t.Fatal(err)
	}
}

// When the encoder restarts with other parameters (a new picture size), a
// clip spanning the change says so and is the part on one side of it that
// covers more of the range (the earlier on a tie): one MP4 carries one
// SPS/PPS here.
func TestClipAtCodecChange(t *testing.T) {
	cases := []struct {
		name          string
		first, second time.Duration
		wantSecond    bool
	}{
		{"tie keeps the earlier part", 2 * time.Second, 2 * time.Second, false},
		{"the longer later part", 1 * time.Second, 3 * time.Second, true},
		{"the longer earlier part", 3 * time.Second, 1 * time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rec, stop := startRecorder(t, Config{Dir: dir})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sessions := []struct {
				size [2]int
				dur  time.Duration
			}{{[2]int{320, 240}, tc.first}, {[2]int{240, 320}, tc.second}}
			for _, ss := range sessions {
				opts := streamtest.Options{Duration: ss.dur, NoPace: true, GOP: time.Second, Width: ss.size[0], Height: ss.size[1], VideoKbps: 300}
				if _, err := streamtest.Run(ctx, t, rec, opts); err != nil {
					t.Fatal(err)
				}
				if err := rec.barrier(ctx); err != nil {
					t.Fatal(err)
				}
			}
			stop()
			files := segmentFiles(t, dir)
			if len(files) != 2 {
				t.Fatalf("%d segments, want one per session", len(files))
			}
			first, _, _ := parseSegmentName(filepath.Base(files[0]))
			out := filepath.Join(t.TempDir(), "clip.mp4")
			info, err := rec.ClipFile(ctx, first, time.Now().Add(time.Minute), out)
			if err != nil {
				t.Fatal(err)
			}
			if !info.Truncated || info.Segments != 1 {
				t.Errorf("clip info %+v, want truncated to one session", info)
			}
			p := ffprobe(t, out)
			want, wantW := tc.first, 320
			if tc.wantSecond {
				want, wantW = tc.second, 240
			}
			if d := p.duration(); absDur(d-want) > 100*time.Millisecond {
				t.Errorf("clip lasts %v, want %v", d, want)
			}
			if w := p.width(); w != wantW {
				t.Errorf("clip is %d wide, want %d", w, wantW)
			}
			ffprobeDecode(t, out)
		})
	}
}

// TestClipAroundKeepsTheMoment: a flagged moment in the shorter part of a
// range split by a picture-size change: ClipFileAround keeps that part,
// where ClipFile keeps the longer one without it.
func TestClipAroundKeepsTheMoment(t *testing.T) {
	dir := t.TempDir()
	rec, stop := startRecorder(t, Config{Dir: dir})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Paced, so the two sessions follow each other on the wall clock.
	for _, ss := range []struct {
		w, h int
		dur  time.Duration
	}{{320, 240, 3 * time.Second}, {240, 320, 1500 * time.Millisecond}} {
		opts := streamtest.Options{Duration: ss.dur, GOP: 500 * time.Millisecond, Width: ss.w, Height: ss.h, VideoKbps: 300}
		if _, err := streamtest.Run(ctx, t, rec, opts); err != nil {
			t.Fatal(err)
		}
		if err := rec.barrier(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	files := segmentFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("%d segments, want one per session", len(files))
	}
	first, _, _ := parseSegmentName(filepath.Base(files[0]))
	second, _, _ := parseSegmentName(filepath.Base(files[1]))
	from, to := first, second.Add(time.Minute)
	for _, tc := range []struct {
		name  string
		focus time.Time
		wantW int
	}{
		{"no moment: the longer part", time.Time{}, 320},
		{"moment in the shorter part", second.Add(700 * time.Millisecond), 240},
		{"moment in the longer part", first.Add(time.Second), 320},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "clip.mp4")
			info, err := rec.ClipFileAround(ctx, from, to, tc.focus, out)
			if err != nil {
				t.Fatal(err)
			}
			if !info.Truncated {
				t.Errorf("clip info %+v, want truncated", info)
			}
			if !tc.focus.IsZero() && (tc.focus.Before(info.Start) || tc.focus.After(info.End)) {
				t.Errorf("clip %v..%v leaves out the moment %v", info.Start, info.End, tc.focus)
			}
			if w := ffprobe(t, out).width(); w != tc.wantW {
				t.Errorf("clip is %d wide, want %d", w, tc.wantW)
			}
		})
	}
}
