package fanout

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
)

// feedCache writes a script to c: K keyframe, v P-frame, a audio, R Reset,
// T new tracks. Unit i has PTS i ms.
func feedCache(c *GOPCache, script string) {
	for i, ch := range script {
		ts := time.Duration(i) * time.Millisecond
		switch ch {
		case 'K', 'v':
			c.WriteVideo(&stream.VideoUnit{PTS: ts, DTS: ts, Key: ch == 'K'})
		case 'a':
			c.WriteAudio(&stream.AudioUnit{PTS: ts})
		case 'R':
			c.Reset()
		case 'T':
			c.SetTracks(stream.Tracks{Width: 720, Height: 1280})
		}
	}
}

func TestGOPCachePrimesFromLastKeyframe(t *testing.T) {
	tests := []struct {
		name   string
		before string // written before AddPrimed
		want   string // what the primed output got, tracks first
		first  time.Duration
	}{
		{"nothing yet", "T", "T", 0},
		{"one GOP", "TKvava", "TKvava", 1 * time.Millisecond},
		{"audio before the first keyframe is not cached", "TaaKva", "TKva", 3 * time.Millisecond},
		{"a new keyframe starts over", "TKvvKav", "TKav", 4 * time.Millisecond},
		// After a reset the next output waits for a keyframe; its first
		// unit is the next one, stamped after the latest video seen.
		{"reset forgets the GOP", "TKvvR", "T", 3 * time.Millisecond},
		{"new tracks forget the GOP", "TKvvT", "T", 3 * time.Millisecond},
		{"P-frames after a reset are not cached", "TKvRvav", "T", 6 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(nil)
			defer f.Close()
			c := NewGOPCache(f, nil)
			feedCache(c, tt.before)
			in := &inline{recorder: *newRecorder(false)}
			first, err := c.AddPrimed(f, "pub", in)
			if err != nil {
				t.Fatal(err)
			}
			if got := in.String(); got != tt.want {
				t.Errorf("primed output got %q, want %q", got, tt.want)
			}
			if first != tt.first {
				t.Errorf("first PTS %v, want %v", first, tt.first)
			}
			// Live units follow the replay without a gap or a repeat.
			c.WriteVideo(&stream.VideoUnit{PTS: time.Second, Key: true})
			if got := in.String(); got != tt.want+"K" {
				t.Errorf("after a live keyframe the output got %q, want %q", got, tt.want+"K")
			}
			if _, err := c.AddPrimed(f, "pub", in); err == nil {
				t.Error("a second output with the same name was accepted")
			}
		})
	}
}

func TestGOPCacheBounded(t *testing.T) {
	f := New(nil)
	defer f.Close()
	var videos atomic.Int64
	c := NewGOPCache(f, func() { videos.Add(1) })
	// Keyframes stopped coming: the cache must not grow without end.
	script := "TK" + strings.Repeat("v", MaxCachedUnits+10)
	feedCache(c, script)
	if n := len(c.items); n > MaxCachedUnits {
		t.Errorf("cache holds %d units, want at most %d", n, MaxCachedUnits)
	}
	if got, want := videos.Load(), int64(len(script)-1); got != want {
		t.Errorf("onVideo called %d times, want %d", got, want)
	}
	if got, want := c.LastPTS(), time.Duration(len(script)-1)*time.Millisecond; got != want {
		t.Errorf("LastPTS %v, want %v", got, want)
	}
}
