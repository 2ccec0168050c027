package record

import (
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
)

// TestSessionsKeepOneClock: a new picture size (SetTracks) keeps the wall
// clock of the session before when its first unit arrives late, and takes
// a new one when the pipeline clock has restarted.
func TestSessionsKeepOneClock(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		pts     time.Duration // the new session's first unit
		arrives time.Duration // after t0
		want    time.Time     // WallTime(pts) afterwards
	}{
		{"first unit 700 ms late", 5 * time.Second, 5700 * time.Millisecond, t0.Add(5 * time.Second)},
		{"first unit early", 5 * time.Second, 4800 * time.Millisecond, t0.Add(5 * time.Second)},
		{"clock restarted", 0, 60 * time.Second, t0.Add(60 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			r, err := New(Config{Dir: t.TempDir(), QuotaBytes: 1 << 30, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			r.SetTracks(stream.Tracks{Width: 640, Height: 360, FPS: 30})
			r.WriteVideo(&stream.VideoUnit{Key: true})
			now = t0.Add(tc.arrives)
			r.SetTracks(stream.Tracks{Width: 320, Height: 180, FPS: 25})
			r.WriteVideo(&stream.VideoUnit{PTS: tc.pts, DTS: tc.pts, Key: true})
			if got, ok := r.WallTime(tc.pts); !ok || !got.Equal(tc.want) {
				t.Errorf("WallTime(%v) = %v, want %v", tc.pts, got, tc.want)
			}
		})
	}
}

// TestKnownEpochIgnoresArrival: with the pipeline's epoch given, a session
// whose first unit reaches the recorder seconds after it was captured (an
// encoder far behind on a loaded box) still maps pipeline time exactly;
// estimating from arrival put every flagged moment that many seconds late.
func TestKnownEpochIgnoresArrival(t *testing.T) {
	epoch := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		pts     time.Duration // the session's first unit
		arrives time.Duration // after epoch
	}{
		{"first unit on time", 5 * time.Second, 5 * time.Second},
		{"first unit 700 ms late", 5 * time.Second, 5700 * time.Millisecond},
		{"first unit 6 s late", 5 * time.Second, 11 * time.Second},
		{"second session 4 s late", 65 * time.Second, 69 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := epoch
			r, err := New(Config{Dir: t.TempDir(), QuotaBytes: 1 << 30, Epoch: epoch, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			if tc.pts > time.Minute {
				// An earlier live session, on time.
				now = epoch.Add(time.Second)
				r.SetTracks(stream.Tracks{Width: 640, Height: 360, FPS: 30})
				r.WriteVideo(&stream.VideoUnit{PTS: time.Second, DTS: time.Second, Key: true})
			}
			now = epoch.Add(tc.arrives)
			r.SetTracks(stream.Tracks{Width: 320, Height: 180, FPS: 25})
			r.WriteVideo(&stream.VideoUnit{PTS: tc.pts, DTS: tc.pts, Key: true})
			if got, ok := r.WallTime(tc.pts); !ok || !got.Equal(epoch.Add(tc.pts)) {
				t.Errorf("WallTime(%v) = %v, want %v (%v late)", tc.pts, got, epoch.Add(tc.pts), got.Sub(epoch.Add(tc.pts)))
			}
		})
	}
}
