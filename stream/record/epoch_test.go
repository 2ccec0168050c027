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
