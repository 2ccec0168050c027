package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/cunbo/cunbo/hw"
)

// captureVideo is the frame loop: read into one reused frame, draw the
// card on it, hand it to the encoder (which copies). Nothing here
// allocates per frame.
func (p *Pipeline) captureVideo(ctx context.Context) {
	f := hw.NewFrame(p.format.Width, p.format.Height)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := p.cfg.Video.ReadFrame(ctx, f); err != nil {
			if ctx.Err() != nil {
				return
			}
			// The encoder repeats the last picture meanwhile; Healthy
			// reports the stall to the watchdog.
			if p.captureErrors.Add(1) == 1 || backoff >= 5*time.Second {
				p.log.Error("pipeline: camera read failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		p.deliverFrame(f)
	}
}

// deliverFrame draws the card on a captured frame and hands it to the
// encoder. It allocates nothing.
func (p *Pipeline) deliverFrame(f *hw.Frame) {
	now := time.Now()
	if p.comp != nil {
		p.comp.Apply(f)
	}
	if err := p.enc.WriteFrame(f); err != nil {
		p.log.Error("pipeline: encoder refused frame", "err", err)
		return
	}
	p.captures.add(now)
	p.framesIn.Add(1)
	p.lastFrame.Store(now.UnixNano())
}

// captureAudio feeds the microphone to the encoder and to the taps.
func (p *Pipeline) captureAudio(ctx context.Context) {
	af := p.cfg.Audio.Format()
	buf := make([]int16, af.SampleRate/50*af.Channels) // 20 ms reads
	var up []int16                                     // upsampled for the encoder
	clock := audioClock{rate: af.SampleRate}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if p.paused.Load() && !p.hasTaps() {
			select {
			case <-ctx.Done():
				return
			case <-p.audioWake:
			}
			if p.paused.Load() && !p.hasTaps() {
				continue
			}
			// What the source buffered meanwhile is stale: drop what
			// comes without waiting, and start the clock over.
			p.drainAudio(ctx, buf)
			clock.reset()
			if p.upsample != nil {
				p.upsample.Reset()
			}
			continue
		}
		n, err := p.cfg.Audio.ReadPCM(ctx, buf)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Error("pipeline: microphone read failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			clock.reset()
			if p.upsample != nil {
				p.upsample.Reset()
			}
			continue
		}
		backoff = 100 * time.Millisecond
		pts := clock.stamp(time.Since(p.cfg.Epoch), n/af.Channels)
		if p.paused.Load() {
			// Nothing to encode for.
		} else if p.upsample != nil {
			up = p.upsample.Process(up[:0], buf[:n])
			p.enc.WriteAudio(up)
		} else {
			p.enc.WriteAudio(buf[:n])
		}
		p.tapMu.Lock()
		for _, t := range p.taps {
			t.offer(pts, buf[:n])
		}
		p.tapMu.Unlock()
	}
}

func (p *Pipeline) hasTaps() bool {
	p.tapMu.Lock()
	defer p.tapMu.Unlock()
	return len(p.taps) > 0
}

// drainAudio discards reads that return at once (a source catching up or
// an overrun microphone's old buffer), up to a few seconds' worth.
func (p *Pipeline) drainAudio(ctx context.Context, buf []int16) {
	for range 250 {
		t0 := time.Now()
		if _, err := p.cfg.Audio.ReadPCM(ctx, buf); err != nil || time.Since(t0) > 2*time.Millisecond {
			return
		}
	}
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
