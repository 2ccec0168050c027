package pipeline

import (
	"sync"
	"sync/atomic"
	"time"
)

// audioTap hands microphone audio to a consumer (the speech worker) on the
// consumer's own goroutine through a small buffer, so a slow consumer loses
// audio (counted) instead of delaying the broadcast.
type audioTap struct {
	fn       func(pts time.Duration, pcm []int16, rate, ch int)
	rate, ch int
	queue    chan tapChunk
	free     chan []int16
	dropped  atomic.Int64
	once     sync.Once
	done     chan struct{}
}

type tapChunk struct {
	pts time.Duration
	pcm []int16
}

// tapDepth is about a second of 20 ms reads.
const tapDepth = 50

func newAudioTap(fn func(time.Duration, []int16, int, int), rate, ch int) *audioTap {
	t := &audioTap{fn: fn, rate: rate, ch: ch, queue: make(chan tapChunk, tapDepth),
		free: make(chan []int16, tapDepth+1), done: make(chan struct{})}
	go t.run()
	return t
}

func (t *audioTap) run() {
	for {
		select {
		case <-t.done:
			return
		case c := <-t.queue:
			t.fn(c.pts, c.pcm, t.rate, t.ch)
			select {
			case t.free <- c.pcm[:0]:
			default:
			}
		}
	}
}

// offer copies pcm for the consumer; it never blocks.
func (t *audioTap) offer(pts time.Duration, pcm []int16) {
	var buf []int16
	select {
	case buf = <-t.free:
	default:
	}
	buf = append(buf[:0], pcm...)
	select {
	case t.queue <- tapChunk{pts: pts, pcm: buf}:
	default:
		t.dropped.Add(int64(len(pcm) / t.ch))
	}
}

func (t *audioTap) close() { t.once.Do(func() { close(t.done) }) }

// AudioTap calls fn with every chunk of microphone audio (interleaved S16 at
// rate Hz × ch channels, pts on the pipeline clock) on a goroutine of its
// own; fn may take its time, but audio it falls more than a second behind
// on is dropped and counted in Stats.AudioTapDrops. The pcm slice is only
// valid during the call. The returned func detaches the tap.
func (p *Pipeline) AudioTap(fn func(pts time.Duration, pcm []int16, rate, ch int)) (remove func()) {
	af := p.cfg.Audio.Format()
	t := newAudioTap(fn, af.SampleRate, af.Channels)
	p.tapMu.Lock()
	id := p.nextID
	p.nextID++
	p.taps[id] = t
	p.tapMu.Unlock()
	p.wakeAudio()
	return func() {
		p.tapMu.Lock()
		delete(p.taps, id)
		p.tapMu.Unlock()
		t.close()
	}
}
