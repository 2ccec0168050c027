package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cunbo/cunbo/stream/fanout"
)

// GoLive starts the publishers (RTMP and WHIP), the recorder, the bitrate
// adaptation and the link watcher, and returns once the stream is up: every
// publisher connected, or at least one when the start timeout passes (the
// others keep retrying and Stats shows why). With no destination it only
// starts recording. Cancelling ctx aborts the start.
func (p *Pipeline) GoLive(ctx context.Context) error { return p.goLive(ctx, true) }

// Practice is GoLive for a rehearsal: recording, adaptation and everything
// local run as when live, but no destination is published to — no RTMP or
// WHIP connection is opened. End ends it.
func (p *Pipeline) Practice(ctx context.Context) error { return p.goLive(ctx, false) }

func (p *Pipeline) goLive(ctx context.Context, publish bool) error {
	rc := p.runCtx.Load()
	if rc == nil {
		return errors.New("pipeline: not running")
	}
	runCtx := *rc
	p.Wake()
	p.opMu.Lock()
	if p.Live() {
		p.opMu.Unlock()
		return errors.New("pipeline: already live")
	}
	liveCtx, liveEnd := context.WithCancel(runCtx)
	var pubs []*publisher
	dests := p.dests
	if !publish {
		dests = nil
	}
	for i, d := range dests {
		pp, err := p.newPublisher(d, fmt.Sprintf("%s%d", d.Kind, i))
		if err != nil { // validated in New; only a changed config gets here
			liveEnd()
			for _, pp := range pubs {
				p.fan.Remove(pp.name)
				<-pp.done
			}
			p.opMu.Unlock()
			return fmt.Errorf("pipeline: %w", err)
		}
		ctx, cancel := context.WithCancel(liveCtx)
		pp.done, pp.cancel = make(chan struct{}), cancel
		go func() {
			defer close(pp.done)
			if err := pp.run(ctx); err != nil {
				p.log.Error("pipeline: publisher", "output", pp.dest.Name, "err", err)
			}
		}()
		// Primed with the current GOP so the ingest server gets a
		// keyframe at once instead of up to one GOP later.
		first, err := p.gop.AddPrimed(p.fan, pp.name, pp.sink)
		pp.firstPTS = first
		if err != nil {
			cancel()
			p.log.Error("pipeline: add publisher", "output", pp.dest.Name, "err", err)
			continue
		}
		pubs = append(pubs, pp)
	}
	if p.rec != nil {
		if _, err := p.fan.Add("recorder", p.rec, fanout.QueueLimits{}); err != nil {
			p.log.Error("pipeline: recording off", "err", err)
		}
	}
	p.liveMu.Lock()
	p.pubs, p.liveEnd, p.live = pubs, liveEnd, true
	p.liveMu.Unlock()
	p.startLiveHelpers(liveCtx, &p.liveWG)
	p.opMu.Unlock()

	if err := p.waitConnected(ctx, pubs); err != nil {
		p.End()
		return err
	}
	p.log.Info("pipeline: live", "outputs", len(pubs), "practice", !publish)
	return nil
}

func (p *Pipeline) waitConnected(ctx context.Context, pubs []*publisher) error {
	if len(pubs) == 0 {
		return nil
	}
	deadline := time.NewTimer(p.cfg.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		up := 0
		for _, pp := range pubs {
			if pp.state().connects > 0 {
				up++
			}
		}
		if up == len(pubs) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pipeline: go live aborted: %w", ctx.Err())
		case <-deadline.C:
			var why []string
			for _, pp := range pubs {
				if s := pp.state(); s.connects == 0 {
					why = append(why, pp.dest.scrub(fmt.Sprintf("%s (%s): %v", pp.dest.Name, pp.dest.shownURL(), s.lastErr)))
				}
			}
			if up > 0 {
				p.log.Warn("pipeline: some outputs not connected yet", "failing", why)
				return nil
			}
			return fmt.Errorf("pipeline: no ingest server reachable: %s", strings.Join(why, "; "))
		case <-tick.C:
		}
	}
}

// End stops publishing (each publisher ends its RTMP session or deletes
// its WHIP resource), the adaptation and recording, returns the encoder to
// the configured output, and returns when the publishers are stopped.
// Capture, encoding and the preview keep running until nobody has watched
// for Config.IdleAfter. Ending when not live is a no-op.
func (p *Pipeline) End() error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.liveMu.Lock()
	live, pubs, liveEnd := p.live, p.pubs, p.liveEnd
	p.liveMu.Unlock()
	if !live {
		return nil
	}
	for _, pp := range pubs {
		p.fan.Remove(pp.name)
		pp.lastPTS = p.gop.LastPTS()
	}
	if p.rec != nil {
		p.fan.Remove("recorder")
	}
	liveEnd()
	p.liveWG.Wait()
	p.resetOutput()
	var stuck []string
	timeout := time.After(10 * time.Second)
	for _, pp := range pubs {
		select {
		case <-pp.done:
		case <-timeout:
			stuck = append(stuck, pp.dest.Name)
		}
	}
	p.liveMu.Lock()
	p.ended = pubs
	p.pubs, p.live = nil, false
	p.liveMu.Unlock()
	if len(stuck) > 0 {
		return fmt.Errorf("pipeline: publishers did not stop: %s", strings.Join(stuck, ", "))
	}
	p.log.Info("pipeline: ended")
	return nil
}

// Live reports whether GoLive succeeded and End has not been called.
func (p *Pipeline) Live() bool {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	return p.live
}
