// Package outq is the plumbing every network output (RTMP, WHIP) carries
// between the fan-out and its connection: the bounded queue its Sink
// methods fill without blocking, the kick that cuts a reconnect wait short
// when the link comes back, the byte count and bitrate meter, and the
// connection record (connected since, connects, last error) the status
// page shows. Each publisher keeps only what its protocol adds.
//
// New returns two halves of one output: the Inlet, embedded in the
// publisher so that its exported methods are the publisher's Sink side,
// and the Link, kept in an unexported field for the publisher's own
// goroutine, so that none of the plumbing becomes the publisher's API.
package outq

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/bitrate"
	"github.com/cunbo/cunbo/stream/fanout"
)

// Inlet is the Sink side of an output. Its methods only queue and never
// block, which makes the output a fanout.SelfQueued one.
type Inlet struct{ l *Link }

// SetTracks implements stream.Sink.
func (i Inlet) SetTracks(t stream.Tracks) { i.l.queue.SetTracks(t) }

// WriteVideo implements stream.Sink.
func (i Inlet) WriteVideo(u *stream.VideoUnit) { i.l.queue.WriteVideo(u) }

// WriteAudio implements stream.Sink.
func (i Inlet) WriteAudio(u *stream.AudioUnit) { i.l.queue.WriteAudio(u) }

// SelfQueued marks the output as a non-blocking fan-out output.
func (Inlet) SelfQueued() {}

// Kick makes an output waiting to reconnect try now; call it when the
// network reports the link is back. It never blocks.
func (i Inlet) Kick() {
	select {
	case i.l.kick <- struct{}{}:
	default:
	}
}

// Conn is the connection record of an output.
type Conn struct {
	Connected      bool
	ConnectedSince time.Time
	// Connects counts successful connections; Reconnects those after
	// the first.
	Connects, Reconnects uint64
	LastError            error
	LastErrorAt          time.Time
}

// Snapshot is the output's state at one moment.
type Snapshot struct {
	Conn
	// BytesSent over all connections.
	BytesSent uint64
	// Bitrate in bits per second over the last 2 s.
	Bitrate int64
	// Backlog waiting to be sent, and the units skipped while lagging or
	// disconnected.
	BacklogUnits int
	BacklogBytes int
	DroppedUnits uint64
}

// Link is the publisher's side of an output.
type Link struct {
	name    string
	log     *slog.Logger
	queue   *fanout.Queue
	kick    chan struct{}
	running atomic.Bool
	sent    atomic.Uint64

	mu    sync.Mutex
	meter *bitrate.Meter
	conn  Conn
}

// New returns the two halves of an output whose queue has the given
// limits (zero: fanout.LiveQueueLimits). name ("rtmp", "whip") prefixes
// its log lines and errors; log nil discards.
func New(name string, limits fanout.QueueLimits, log *slog.Logger) (Inlet, *Link) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Link{
		name:  name,
		log:   log,
		queue: fanout.NewQueue(limits.OrLive()),
		kick:  make(chan struct{}, 1),
		meter: bitrate.NewMeter(2*time.Second, 8),
	}
	return Inlet{l}, l
}

// Start marks the start of the publisher's Run: a second Run on the same
// output would split its queue between two connections.
func (l *Link) Start() error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New(l.name + ": Run called twice")
	}
	return nil
}

// Queue is what the Inlet filled.
func (l *Link) Queue() *fanout.Queue { return l.queue }

// Tracks takes items off the queue until accept makes something of a
// Tracks item (an output cannot connect before it knows what it sends, and
// a unit before valid tracks has nothing to go with). ok is false once ctx
// ends or the queue is closed.
func Tracks[T any](ctx context.Context, l *Link, accept func(*stream.Tracks) *T) (t *T, ok bool) {
	for ctx.Err() == nil {
		it, err := l.queue.Next(ctx)
		if err != nil {
			return nil, false
		}
		if it.Kind != fanout.KindTracks {
			continue
		}
		if t := accept(it.Tracks); t != nil {
			return t, true
		}
	}
	return nil, false
}

// Wait sleeps d unless kicked; false if ctx ended.
func (l *Link) Wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.kick:
		l.log.Info(l.name + ": link back, retrying now")
		return true
	case <-ctx.Done():
		return false
	}
}

// Failed records err as the last error.
func (l *Link) Failed(err error) {
	l.mu.Lock()
	l.conn.LastError, l.conn.LastErrorAt = err, time.Now()
	l.mu.Unlock()
}

// Connected records a connection made at t.
func (l *Link) Connected(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn.Connected, l.conn.ConnectedSince = true, t
	l.conn.Connects++
	if l.conn.Connects > 1 {
		l.conn.Reconnects++
	}
}

// Disconnected records the end of the connection.
func (l *Link) Disconnected() {
	l.mu.Lock()
	l.conn.Connected = false
	l.mu.Unlock()
}

// Conn is the connection record.
func (l *Link) Conn() Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn
}

// Count adds n bytes sent to the count and the meter.
func (l *Link) Count(n int) {
	l.sent.Add(uint64(n))
	l.mu.Lock()
	l.meter.Add(time.Now(), uint64(n))
	l.mu.Unlock()
}

// Counter is the byte count, for a connection that counts what it writes
// itself (handshakes and framing included); MeterSince then feeds the
// meter with what was added since a reading of it.
func (l *Link) Counter() *atomic.Uint64 { return &l.sent }

// MeterSince adds to the meter the bytes counted since before.
func (l *Link) MeterSince(before uint64) {
	l.mu.Lock()
	l.meter.Add(time.Now(), l.sent.Load()-before)
	l.mu.Unlock()
}

// Snapshot is the state at now.
func (l *Link) Snapshot(now time.Time) Snapshot {
	q := l.queue.Stats()
	l.mu.Lock()
	defer l.mu.Unlock()
	return Snapshot{
		Conn:         l.conn,
		BytesSent:    l.sent.Load(),
		Bitrate:      l.meter.BitsPerSecond(now),
		BacklogUnits: q.QueuedUnits,
		BacklogBytes: q.QueuedBytes,
		DroppedUnits: q.DroppedUnits,
	}
}
