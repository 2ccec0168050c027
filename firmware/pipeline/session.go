package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/fanout"
)

// startSessionLocked starts video capture and the encoder; stop cancels
// the whole Run when the encoder cannot start (ffmpeg missing).
func (p *Pipeline) startSessionLocked(runCtx context.Context, stop context.CancelFunc) {
	if p.sessCancel != nil || runCtx.Err() != nil {
		return
	}
	now := time.Now().UnixNano()
	// The stall checks of Healthy start over with the session.
	p.lastFrame.Store(now)
	p.runStart.Store(now)
	p.lastVideo.Store(0)
	ctx, cancel := context.WithCancel(runCtx)
	done := make(chan struct{})
	p.sessCancel, p.sessDone = cancel, done
	p.paused.Store(false)
	p.wakeAudio()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := p.enc.Run(ctx)
		select {
		case p.encErr <- err:
		default:
		}
		if err != nil {
			p.log.Error("pipeline: encoder stopped", "err", err)
			stop()
		}
	}()
	go func() { defer wg.Done(); p.captureVideo(ctx) }()
	go func() { wg.Wait(); close(done) }()
}

// stopSessionLocked stops capture and the encoder and waits for them.
func (p *Pipeline) stopSessionLocked() {
	if p.sessCancel == nil {
		return
	}
	p.sessCancel()
	<-p.sessDone
	p.sessCancel, p.sessDone = nil, nil
	// A cached GOP from before the pause must not open a new publisher's
	// stream: its timestamps are long gone.
	p.gop.Reset()
}

// Wake restarts capture and the encoder at once if they are paused and
// keeps them running for at least IdleAfter. The RTSP preview calls it on
// DESCRIBE, the WebRTC preview on an offer, GoLive before publishing.
func (p *Pipeline) Wake() {
	p.lastBusy.Store(time.Now().UnixNano())
	rc := p.runCtx.Load()
	if rc == nil {
		return
	}
	p.sessMu.Lock()
	defer p.sessMu.Unlock()
	if p.sessCancel == nil && (*rc).Err() == nil {
		p.log.Info("pipeline: resuming capture and encoder")
		p.resumes.Add(1)
		p.startSessionLocked(*rc, func() {})
	}
}

func (p *Pipeline) wakeAudio() {
	select {
	case p.audioWake <- struct{}{}:
	default:
	}
}

// Paused reports whether capture and the encoder are stopped for idleness.
func (p *Pipeline) Paused() bool { return p.paused.Load() }

// ViewerCounter is an output (the WebRTC preview) that says how many
// people watch it; the pipeline pauses when it says none.
type ViewerCounter interface {
	Viewers() int
}

// busy reports whether anything wants frames now.
func (p *Pipeline) busy() bool {
	if p.Live() {
		return true
	}
	if p.preview != nil && p.preview.Readers() > 0 {
		return true
	}
	p.viewersMu.Lock()
	defer p.viewersMu.Unlock()
	for _, v := range p.viewers {
		if v == nil || v.Viewers() > 0 {
			return true
		}
	}
	return false
}

// watchIdle pauses the session once nothing wanted frames for IdleAfter.
// It wakes a few times a second at most, which costs nothing measurable.
func (p *Pipeline) watchIdle(ctx context.Context) {
	tick := time.NewTicker(min(p.cfg.IdleAfter/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		// A session that has not encoded its first picture yet counts as
		// busy: pausing ffmpeg mid start-up helps nobody (and start-up
		// is slow on a loaded box).
		if p.busy() || (!p.paused.Load() && p.lastVideo.Load() == 0) {
			p.lastBusy.Store(now.UnixNano())
			continue
		}
		p.sessMu.Lock()
		if p.sessCancel != nil && ctx.Err() == nil &&
			now.Sub(time.Unix(0, p.lastBusy.Load())) >= p.cfg.IdleAfter && !p.busy() {
			p.log.Info("pipeline: idle, pausing capture and encoder", "after", p.cfg.IdleAfter)
			p.stopSessionLocked()
			p.pauses.Add(1)
			p.paused.Store(true)
		}
		p.sessMu.Unlock()
	}
}

// AddOutput attaches another output (the WebRTC preview, for one) to the
// encoded stream. It gets the tracks at once and starts at a keyframe.
func (p *Pipeline) AddOutput(name string, s stream.Sink) error {
	if strings.HasPrefix(name, KindRTMP) || strings.HasPrefix(name, KindWHIP) || name == "preview" || name == "recorder" {
		return fmt.Errorf("pipeline: output name %q is reserved", name)
	}
	if _, err := p.fan.Add(name, s, fanout.QueueLimits{}); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	vc, _ := s.(ViewerCounter) // nil: always wants frames
	p.viewersMu.Lock()
	p.viewers[name] = vc
	p.viewersMu.Unlock()
	if vc == nil || vc.Viewers() > 0 {
		p.Wake()
	}
	return nil
}

// RemoveOutput detaches an output added with AddOutput.
func (p *Pipeline) RemoveOutput(name string) bool {
	p.viewersMu.Lock()
	delete(p.viewers, name)
	p.viewersMu.Unlock()
	return p.fan.Remove(name)
}
