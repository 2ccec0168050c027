package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/fanout"
)

// gopCache sits between the encoder and the fan-out and remembers the
// units since the last keyframe, so a publisher added at "go live" can start
// with that keyframe at once instead of waiting up to a whole GOP for the
// next one (the trick media servers call a GOP cache). The lock also orders
// the replay against live units: nothing reaches the fan-out between the
// replay and the output's attachment.
type gopCache struct {
	next    stream.Sink
	onVideo func()

	mu     sync.Mutex
	tracks *stream.Tracks
	items  []fanout.Item // since the last keyframe, in arrival order

	lastVideo atomic.Int64 // unix nanos of the latest encoded video unit
	lastPTS   atomic.Int64 // PTS of the latest encoded video unit
}

// maxCached bounds the cache should keyframes stop coming (5 s of 30 fps
// video plus 48 kHz AAC).
const maxCached = 400

func (g *gopCache) SetTracks(t stream.Tracks) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tracks = &t
	clear(g.items)
	g.items = g.items[:0]
	g.next.SetTracks(t)
}

// reset forgets the cached GOP (the encoder stopped).
func (g *gopCache) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.items)
	g.items = g.items[:0]
}

func (g *gopCache) WriteVideo(u *stream.VideoUnit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u.Key {
		clear(g.items)
		g.items = g.items[:0]
	}
	if len(g.items) > 0 || u.Key {
		g.push(fanout.Item{Kind: fanout.KindVideo, Video: u})
	}
	g.next.WriteVideo(u)
	g.lastPTS.Store(int64(u.PTS))
	if g.onVideo != nil {
		g.onVideo()
	}
}

func (g *gopCache) WriteAudio(u *stream.AudioUnit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.items) > 0 {
		g.push(fanout.Item{Kind: fanout.KindAudio, Audio: u})
	}
	g.next.WriteAudio(u)
}

func (g *gopCache) push(it fanout.Item) {
	if len(g.items) >= maxCached {
		clear(g.items)
		g.items = g.items[:0]
		return
	}
	g.items = append(g.items, it)
}

// addPrimed attaches a self-queued sink (an RTMP publisher) to f and feeds
// it the cached GOP first. fanout.Add hands it the tracks; the replay then
// begins at a keyframe, which its queue is waiting for. It returns the PTS
// of the first unit the sink gets (the cached keyframe, or the next unit
// when nothing is cached).
func (g *gopCache) addPrimed(f *fanout.Fanout, name string, s fanout.SelfQueued) (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := f.Add(name, s, fanout.QueueLimits{}); err != nil {
		return 0, err
	}
	first := time.Duration(g.lastPTS.Load())
	if len(g.items) > 0 {
		first = g.items[0].Video.PTS
	}
	for _, it := range g.items {
		switch it.Kind {
		case fanout.KindVideo:
			s.WriteVideo(it.Video)
		case fanout.KindAudio:
			s.WriteAudio(it.Audio)
		}
	}
	return first, nil
}

// captureLog remembers when recent frames were captured so a unit's
// latency can be measured from the capture of the picture it encodes.
type captureLog struct {
	mu   sync.Mutex
	at   [256]int64 // unix nanos, ring
	next int
}

func (c *captureLog) add(t time.Time) {
	c.mu.Lock()
	c.at[c.next%len(c.at)] = t.UnixNano()
	c.next++
	c.mu.Unlock()
}

// before returns the latest capture at or before t: the encoder's tick at t
// sends the newest frame it has.
func (c *captureLog) before(t time.Time) (time.Time, bool) {
	tn := t.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(c.next, len(c.at))
	for i := 1; i <= n; i++ {
		v := c.at[(c.next-i)%len(c.at)]
		if v <= tn {
			return time.Unix(0, v), true
		}
	}
	return time.Time{}, false
}

// CaptureTime is when the camera delivered the picture that the video unit
// with this PTS encodes: the encoder stamps each unit with its tick on the
// pipeline clock, and a tick sends the newest frame captured before it.
// ok is false when that capture is too old to be remembered (~8 s).
func (p *Pipeline) CaptureTime(pts time.Duration) (t time.Time, ok bool) {
	return p.captures.before(p.cfg.Epoch.Add(pts))
}
