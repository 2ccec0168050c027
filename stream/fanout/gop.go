package fanout

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/stream"
)

// GOPCache sits between the encoder and a Fanout and remembers the units
// since the last keyframe, so an output added with AddPrimed (a publisher at
// "go live") can start with that keyframe at once instead of waiting up to a
// whole GOP for the next one (the trick media servers call a GOP cache). Its
// lock also orders the replay against live units: nothing reaches the
// fan-out between the replay and the output's attachment.
type GOPCache struct {
	next    stream.Sink
	onVideo func()

	mu    sync.Mutex
	items []Item // since the last keyframe, in arrival order

	lastPTS atomic.Int64 // PTS of the latest video unit
}

// MaxCachedUnits bounds the cache should keyframes stop coming (5 s of 30
// fps video plus 48 kHz AAC); past it the cache starts over empty.
const MaxCachedUnits = 400

// NewGOPCache returns a cache that passes every unit on to next. onVideo,
// if not nil, is called after each video unit is passed on (the box's
// health check notes when video last came out of the encoder); it runs under
// the cache's lock and must not call back into the cache.
func NewGOPCache(next stream.Sink, onVideo func()) *GOPCache {
	return &GOPCache{next: next, onVideo: onVideo}
}

// SetTracks forgets the cache (new tracks make old units unplayable) and
// passes the tracks on.
func (g *GOPCache) SetTracks(t stream.Tracks) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clearLocked()
	g.next.SetTracks(t)
}

// Reset forgets the cached GOP (the encoder stopped: its timestamps must
// not open a new output's stream).
func (g *GOPCache) Reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clearLocked()
}

// WriteVideo caches u (starting over at a keyframe) and passes it on.
func (g *GOPCache) WriteVideo(u *stream.VideoUnit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u.Key {
		g.clearLocked()
	}
	if len(g.items) > 0 || u.Key {
		g.push(Item{Kind: KindVideo, Video: u})
	}
	g.next.WriteVideo(u)
	g.lastPTS.Store(int64(u.PTS))
	if g.onVideo != nil {
		g.onVideo()
	}
}

// WriteAudio caches u when a keyframe is cached before it, and passes it on.
func (g *GOPCache) WriteAudio(u *stream.AudioUnit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.items) > 0 {
		g.push(Item{Kind: KindAudio, Audio: u})
	}
	g.next.WriteAudio(u)
}

// LastPTS is the PTS of the latest video unit passed on (zero before any).
func (g *GOPCache) LastPTS() time.Duration { return time.Duration(g.lastPTS.Load()) }

func (g *GOPCache) push(it Item) {
	if len(g.items) >= MaxCachedUnits {
		g.clearLocked()
		return
	}
	g.items = append(g.items, it)
}

func (g *GOPCache) clearLocked() {
	clear(g.items)
	g.items = g.items[:0]
}

// AddPrimed attaches a self-queued sink (a publisher) to f and feeds it the
// cached GOP first. f.Add hands it the tracks; the replay then begins at a
// keyframe, which its queue is waiting for. It returns the PTS of the first
// unit the sink gets (the cached keyframe, or the next unit when nothing is
// cached). f must be the Fanout the cache feeds.
func (g *GOPCache) AddPrimed(f *Fanout, name string, s SelfQueued) (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := f.Add(name, s, QueueLimits{}); err != nil {
		return 0, err
	}
	first := g.LastPTS()
	if len(g.items) > 0 {
		first = g.items[0].Video.PTS
	}
	for _, it := range g.items {
		switch it.Kind {
		case KindVideo:
			s.WriteVideo(it.Video)
		case KindAudio:
			s.WriteAudio(it.Audio)
		}
	}
	return first, nil
}
