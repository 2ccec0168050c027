// Package fanout hands one encoded stream to several outputs (RTMP, WHIP,
// preview, recorder) so that a slow or dead output never stalls the encoder
// or the other outputs.
//
// Every output drains its own bounded Queue on its own goroutine. A queue
// that overflows skips whole GOPs: it drops from the oldest unit up to the
// next keyframe it holds, or, holding none, drops everything and waits for
// the next keyframe. An output therefore always resumes at a keyframe and
// never sees a P-frame whose reference was dropped.
//
// Units are passed by pointer and never copied: producers must not modify
// a unit after handing it over (the stream.Sink contract: units are shared
// and read-only).
//
// A GOPCache in front of the Fanout lets an output join mid-stream at the
// current GOP's keyframe (AddPrimed) instead of waiting for the next one.
package fanout

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cunbo/cunbo/stream"
)

// ErrClosed is returned by Queue.Next once the queue is closed.
var ErrClosed = errors.New("fanout: queue closed")

// Kind says which field of an Item is set.
type Kind uint8

// Item kinds.
const (
	KindTracks Kind = iota + 1
	KindVideo
	KindAudio
)

// Item is one entry taken from a Queue.
type Item struct {
	Kind   Kind
	Tracks *stream.Tracks
	Video  *stream.VideoUnit
	Audio  *stream.AudioUnit
}

// Size is the payload size of the item in bytes.
func (it *Item) Size() int {
	switch it.Kind {
	case KindVideo:
		return videoSize(it.Video)
	case KindAudio:
		return len(it.Audio.Data)
	}
	return 0
}

func videoSize(u *stream.VideoUnit) int {
	n := 0
	for _, nalu := range u.NALUs {
		n += len(nalu)
	}
	return n
}

// QueueStats is a snapshot of a queue's counters.
type QueueStats struct {
	// QueuedUnits and QueuedBytes are waiting for the consumer (the
	// output's backlog).
	QueuedUnits int
	QueuedBytes int
	// DroppedUnits counts units discarded because the consumer lagged,
	// new tracks arrived, or the consumer was waiting for a keyframe.
	DroppedUnits uint64
	// GOPSkips counts overflows: how often the consumer was made to jump
	// ahead to a later keyframe.
	GOPSkips uint64
	// Delivered counts items handed to the consumer.
	Delivered uint64
}

// QueueLimits bound a queue; the zero value picks the defaults.
type QueueLimits struct {
	// MaxUnits defaults to 512 (about 6 s of 30 fps video plus audio).
	MaxUnits int
	// MaxBytes defaults to 8 MiB.
	MaxBytes int
	// MaxDelay bounds the media time between the oldest and newest video
	// queued; zero means no bound. Live outputs set it: video that old is
	// better skipped (viewers jump ahead once) than delivered (viewers stay
	// that far behind live, and the link spends itself on it).
	MaxDelay time.Duration
	// CatchUp, when set, makes a keyframe that arrives behind more than
	// this much queued video replace the queue: the output jumps to it at
	// once rather than waiting for MaxDelay. A keyframe after a backlog is
	// usually the encoder's cut to a lower rate; the video queued before
	// it was made for a link that is gone.
	CatchUp time.Duration
}

// LiveQueueLimits are the limits for a live publisher: at most LiveDelay
// of video waits.
func LiveQueueLimits() QueueLimits { return QueueLimits{MaxDelay: LiveDelay, CatchUp: LiveCatchUp} }

// OrLive is l, or LiveQueueLimits when l is the zero value.
func (l QueueLimits) OrLive() QueueLimits {
	if l == (QueueLimits{}) {
		return LiveQueueLimits()
	}
	return l
}

// LiveDelay is the backlog a live publisher keeps before skipping ahead:
// a little over one GOP, so a skip always finds a keyframe to resume at.
const LiveDelay = 2500 * time.Millisecond

// LiveCatchUp is the backlog behind which a live publisher jumps to a new
// keyframe.
const LiveCatchUp = time.Second

func (l QueueLimits) withDefaults() QueueLimits {
	if l.MaxUnits <= 0 {
		l.MaxUnits = 512
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 8 << 20
	}
	return l
}

// Queue is a bounded, GOP-aware queue between one producer and one
// consumer. Its Sink methods never block. A new queue waits for a keyframe
// before it accepts units. All methods are safe for concurrent use.
type Queue struct {
	limits QueueLimits
	wake   chan struct{}

	mu      sync.Mutex
	ring    []Item // fixed capacity: MaxUnits
	head, n int
	bytes   int
	// trackItems counts the tracks changes in the ring (not units).
	trackItems int
	tracks     *stream.Tracks // dropped from the ring but still owed, delivered before any unit
	waitKey    bool
	closed     bool
	stats      QueueStats
}

// NewQueue returns an empty queue that waits for tracks and a keyframe.
func NewQueue(limits QueueLimits) *Queue {
	limits = limits.withDefaults()
	return &Queue{
		limits:  limits,
		wake:    make(chan struct{}, 1),
		ring:    make([]Item, limits.MaxUnits),
		waitKey: true,
	}
}

var _ stream.Sink = (*Queue)(nil)

// SetTracks implements stream.Sink. Units still queued were made before
// the change and go out before it (a recorder must not lose the end of the
// old picture size, and a publisher sends new headers in line); units
// after it wait for a keyframe.
func (q *Queue) SetTracks(t stream.Tracks) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	for q.n >= len(q.ring) {
		q.skipGOPLocked()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = Item{Kind: KindTracks, Tracks: &t}
	q.n++
	q.trackItems++
	q.waitKey = true
	q.mu.Unlock()
	q.signal()
}

// WriteVideo implements stream.Sink.
func (q *Queue) WriteVideo(u *stream.VideoUnit) {
	q.push(Item{Kind: KindVideo, Video: u}, videoSize(u), u.Key)
}

// WriteAudio implements stream.Sink.
func (q *Queue) WriteAudio(u *stream.AudioUnit) {
	q.push(Item{Kind: KindAudio, Audio: u}, len(u.Data), false)
}

func (q *Queue) push(it Item, size int, key bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if q.waitKey {
		if !key {
			q.stats.DroppedUnits++
			q.mu.Unlock()
			return
		}
		q.waitKey = false
	}
	if key && q.behindLocked(it) {
		q.stats.GOPSkips++
		q.dropBeforeLocked(-1)
	}
	for q.n > 0 && (q.n >= len(q.ring) || q.bytes+size > q.limits.MaxBytes || q.tooOldLocked(it)) {
		q.skipGOPLocked()
	}
	if q.waitKey && !key {
		// The overflow emptied the queue: resume at the next keyframe.
		q.stats.DroppedUnits++
		q.mu.Unlock()
		return
	}
	q.waitKey = false
	q.ring[(q.head+q.n)%len(q.ring)] = it
	q.n++
	q.bytes += size
	q.mu.Unlock()
	q.signal()
}

// behindLocked reports whether video unit it arrives behind more than
// CatchUp of queued video.
func (q *Queue) behindLocked(it Item) bool {
	return q.limits.CatchUp > 0 && q.spanToLocked(it) > q.limits.CatchUp
}

// spanToLocked is the media time from the oldest queued video to video
// unit it; zero when no video is queued.
func (q *Queue) spanToLocked(it Item) time.Duration {
	for i := range q.n {
		if old := &q.ring[(q.head+i)%len(q.ring)]; old.Kind == KindVideo {
			return it.Video.DTS - old.Video.DTS
		}
	}
	return 0
}

// tooOldLocked reports whether queuing video unit it would make the queue
// span more than MaxDelay of media time.
func (q *Queue) tooOldLocked(it Item) bool {
	return q.limits.MaxDelay > 0 && it.Kind == KindVideo && q.spanToLocked(it) > q.limits.MaxDelay
}

// skipGOPLocked drops the oldest unit and everything after it up to the
// next queued keyframe. Without one it empties the queue and makes the
// queue wait for the next keyframe from the producer.
func (q *Queue) skipGOPLocked() {
	q.stats.GOPSkips++
	next := -1
	for i := 1; i < q.n; i++ {
		it := &q.ring[(q.head+i)%len(q.ring)]
		if it.Kind == KindVideo && it.Video.Key {
			next = i
			break
		}
	}
	q.dropBeforeLocked(next)
}

// SkipToLatestKey drops everything queued before the newest queued
// keyframe, or everything (then waiting for the next keyframe) when none is
// queued. An output that reconnects calls it to resume close to live
// instead of replaying a stale backlog. Pending tracks are kept.
func (q *Queue) SkipToLatestKey() {
	q.mu.Lock()
	defer q.mu.Unlock()
	last := -1
	for i := q.n - 1; i >= 0; i-- {
		it := &q.ring[(q.head+i)%len(q.ring)]
		if it.Kind == KindVideo && it.Video.Key {
			last = i
			break
		}
	}
	q.dropBeforeLocked(last)
}

// dropBeforeLocked drops the i oldest units so a keyframe leads the queue;
// i < 0 means no keyframe is queued: drop all and wait for the next one.
func (q *Queue) dropBeforeLocked(i int) {
	if i < 0 {
		for q.n > 0 {
			q.dropLocked()
		}
		q.head, q.bytes = 0, 0
		q.waitKey = true
		return
	}
	for range i {
		q.dropLocked()
	}
}

// dropLocked discards the oldest item. Tracks are not discarded but kept
// pending: the units after them still need them.
func (q *Queue) dropLocked() {
	it := q.popLocked()
	if it.Kind == KindTracks {
		q.tracks = it.Tracks
		return
	}
	q.stats.DroppedUnits++
}

func (q *Queue) popLocked() Item {
	slot := &q.ring[q.head]
	it := *slot
	*slot = Item{} // let the GC have the unit
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	q.bytes -= it.Size()
	if it.Kind == KindTracks {
		q.trackItems--
	}
	return it
}

func (q *Queue) clearLocked() {
	for q.n > 0 {
		q.popLocked()
	}
	q.head, q.bytes = 0, 0
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Next blocks until an item is available and removes it. Tracks always
// come before the units that use them. It returns ErrClosed after Close,
// or ctx's error.
func (q *Queue) Next(ctx context.Context) (Item, error) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return Item{}, ErrClosed
		}
		if q.tracks != nil {
			t := q.tracks
			q.tracks = nil
			q.stats.Delivered++
			q.mu.Unlock()
			return Item{Kind: KindTracks, Tracks: t}, nil
		}
		if q.n > 0 {
			it := q.popLocked()
			q.stats.Delivered++
			q.mu.Unlock()
			return it, nil
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return Item{}, ctx.Err()
		}
	}
}

// Close drops everything and makes Next return ErrClosed. Later writes are
// ignored.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.clearLocked()
	q.tracks = nil
	q.mu.Unlock()
	q.signal()
}

// Stats returns a snapshot of the counters.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.stats
	s.QueuedUnits, s.QueuedBytes = q.n-q.trackItems, q.bytes
	return s
}
