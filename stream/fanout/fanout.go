package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cunbo/cunbo/stream"
)

// SelfQueued is implemented by outputs that keep their own bounded Queue
// and never block in their Sink methods (rtmp.Publisher, for one). The
// fan-out calls them inline instead of adding a second queue and goroutine.
type SelfQueued interface {
	stream.Sink
	SelfQueued()
}

// Fanout is a stream.Sink that copies the stream to any number of outputs.
// Its write path takes no lock and allocates nothing. Outputs can be added
// and removed while the stream runs; a late joiner gets the current tracks
// and starts at the next keyframe.
type Fanout struct {
	log *slog.Logger

	mu      sync.Mutex // serialises SetTracks, Add and Remove
	tracks  *stream.Tracks
	outputs atomic.Pointer[[]*Output] // copy-on-write
}

// Output is one attached output.
type Output struct {
	name  string
	sink  stream.Sink
	queue *Queue // nil for SelfQueued outputs
	stop  context.CancelFunc
	done  chan struct{}
}

// Name is the name given to Add.
func (o *Output) Name() string { return o.name }

// Stats returns the output's queue counters (zero for SelfQueued outputs,
// which report their own).
func (o *Output) Stats() QueueStats {
	if o.queue == nil {
		return QueueStats{}
	}
	return o.queue.Stats()
}

// Done is closed when the output's goroutine has returned after Remove. An
// output blocked forever in a Sink call keeps it open.
func (o *Output) Done() <-chan struct{} { return o.done }

// New returns an empty fan-out. A nil logger discards.
func New(log *slog.Logger) *Fanout {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Fanout{log: log}
	f.outputs.Store(&[]*Output{})
	return f
}

var _ stream.Sink = (*Fanout)(nil)

// SetTracks implements stream.Sink.
func (f *Fanout) SetTracks(t stream.Tracks) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tracks = &t
	for _, o := range *f.outputs.Load() {
		o.sinkOrQueue().SetTracks(t)
	}
}

// WriteVideo implements stream.Sink.
func (f *Fanout) WriteVideo(u *stream.VideoUnit) {
	for _, o := range *f.outputs.Load() {
		o.sinkOrQueue().WriteVideo(u)
	}
}

// WriteAudio implements stream.Sink.
func (f *Fanout) WriteAudio(u *stream.AudioUnit) {
	for _, o := range *f.outputs.Load() {
		o.sinkOrQueue().WriteAudio(u)
	}
}

func (o *Output) sinkOrQueue() stream.Sink {
	if o.queue != nil {
		return o.queue
	}
	return o.sink
}

// Add attaches sink under a unique name. Unless sink is SelfQueued, it gets
// a Queue with the given limits and a goroutine that feeds it; its Sink
// methods run on that goroutine only and may block.
func (f *Fanout) Add(name string, sink stream.Sink, limits QueueLimits) (*Output, error) {
	if sink == nil {
		return nil, errors.New("fanout: nil sink")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := *f.outputs.Load()
	for _, o := range cur {
		if o.name == name {
			return nil, fmt.Errorf("fanout: output %q already added", name)
		}
	}
	o := &Output{name: name, sink: sink, done: make(chan struct{})}
	if _, ok := sink.(SelfQueued); ok {
		close(o.done)
		if f.tracks != nil {
			sink.SetTracks(*f.tracks)
		}
	} else {
		o.queue = NewQueue(limits)
		if f.tracks != nil {
			o.queue.SetTracks(*f.tracks)
		}
		ctx, cancel := context.WithCancel(context.Background())
		o.stop = cancel
		go o.pump(ctx, f.log)
	}
	next := make([]*Output, 0, len(cur)+1)
	next = append(append(next, cur...), o)
	f.outputs.Store(&next)
	f.log.Info("fanout: output added", "output", name)
	return o, nil
}

// Remove detaches the named output and reports whether it was attached.
// Its queue is discarded; it does not wait for a blocked output (see
// Output.Done).
func (f *Fanout) Remove(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := *f.outputs.Load()
	for i, o := range cur {
		if o.name != name {
			continue
		}
		next := make([]*Output, 0, len(cur)-1)
		next = append(append(next, cur[:i]...), cur[i+1:]...)
		f.outputs.Store(&next)
		o.close()
		f.log.Info("fanout: output removed", "output", name, "stats", o.Stats())
		return true
	}
	return false
}

// Outputs returns the attached outputs.
func (f *Fanout) Outputs() []*Output {
	return append([]*Output(nil), *f.outputs.Load()...)
}

// Close removes every output.
func (f *Fanout) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range *f.outputs.Load() {
		o.close()
	}
	f.outputs.Store(&[]*Output{})
}

func (o *Output) close() {
	if o.queue != nil {
		o.stop()
		o.queue.Close()
	}
}

func (o *Output) pump(ctx context.Context, log *slog.Logger) {
	defer close(o.done)
	for {
		it, err := o.queue.Next(ctx)
		if err != nil {
			return
		}
		switch it.Kind {
		case KindTracks:
			o.sink.SetTracks(*it.Tracks)
		case KindVideo:
			o.sink.WriteVideo(it.Video)
		case KindAudio:
			o.sink.WriteAudio(it.Audio)
		default:
			log.Error("fanout: unknown item kind", "kind", it.Kind)
		}
	}
}
