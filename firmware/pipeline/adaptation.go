package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/stream/adapt"
	"github.com/cunbo/cunbo/stream/encode"
	"github.com/cunbo/cunbo/stream/linkwatch"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/whip"
)

// RTMPSource reads an RTMP publisher's signal for the controller: its
// queue plus the socket's unacknowledged bytes as backlog, the
// acknowledged rate as throughput. It lives where the outputs are built so
// that stream/adapt knows signals, not the publishers that give them.
func RTMPSource(name string, p *rtmp.Publisher) adapt.Source {
	return adapt.SourceFunc(func() adapt.Signal {
		s := p.Stats()
		return adapt.Signal{
			Name:          name,
			Connected:     s.Connected,
			ThroughputBps: int(s.AckedBitrate),
			SentBps:       int(s.Bitrate),
			BacklogBytes:  s.BacklogBytes + s.SocketPending,
			RTT:           s.RTT,
			Since:         s.ConnectedSince,
		}
	})
}

// WHIPSource reads a WHIP publisher's signal for the controller: GCC's
// estimate and its queue.
func WHIPSource(name string, p *whip.Publisher) adapt.Source {
	return adapt.SourceFunc(func() adapt.Signal {
		s := p.Stats()
		return adapt.Signal{
			Name:         name,
			Connected:    s.Connected,
			EstimateBps:  s.TargetBitrate,
			SentBps:      int(s.Bitrate),
			BacklogBytes: s.BacklogBytes,
			Since:        s.ConnectedSince,
		}
	})
}

// AdaptConfig tunes bitrate adaptation while live.
type AdaptConfig struct {
	// Off keeps the configured bitrate and picture size whatever the
	// links say.
	Off bool
	// MaxKbps caps the video bitrate on a good link; default the
	// configured VideoKbps: the trainer sized it for the ingest and the
	// box's encoder, and adaptation only goes down from it and back.
	// Higher caps make every climb run a second encoder for a moment.
	MaxKbps int
	// MinKbps is the floor on a bad link; default the controller's
	// (150 kbit/s, at a third of the size and 15 fps).
	MinKbps int
	// Interval between the controller's looks at the links; default
	// the loop's (250 ms).
	Interval time.Duration
	// FullRateStart begins each live session at the configured rate.
	// By default a session starts at adapt.SlowStartKbps of it (half,
	// at most 750 kbit/s), at full picture size,
	// and climbs once the links carry it (about 5 s), so a weak link is
	// not flooded before anything is measured. The size stays unless the
	// links show congestion, so on a good link the encoder's codec
	// parameters, and the recording's, never change (a flagged clip stops
	// at a change of picture size).
	FullRateStart bool
}

// linkDebounce folds the burst of link, address and route messages a
// reconnecting interface sends into one kick.
const linkDebounce = 200 * time.Millisecond

// linkWatcher is the part of *linkwatch.Watcher the pipeline uses; tests
// replace it, since real link events need root.
type linkWatcher interface {
	Run(ctx context.Context, debounce time.Duration, fn func(linkwatch.Event)) error
}

func openLinkWatch() (linkWatcher, error) {
	w, err := linkwatch.Open()
	if err != nil {
		return nil, err
	}
	return w, nil
}

// adaptState is the live session's adaptation, readable by Stats.
type adaptState struct {
	mu       sync.Mutex
	active   bool
	decision adapt.Decision
	decided  time.Time
}

func (a *adaptState) set(active bool, d adapt.Decision, at time.Time) {
	a.mu.Lock()
	a.active, a.decision, a.decided = active, d, at
	a.mu.Unlock()
}

func (a *adaptState) get() (bool, adapt.Decision) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active, a.decision
}

// startLiveHelpers runs, for one live session, the bitrate adaptation
// loop over the live publishers and the link watcher that kicks them when
// the network comes back. Both stop when ctx ends; wg waits for them.
func (p *Pipeline) startLiveHelpers(ctx context.Context, wg *sync.WaitGroup) {
	if !p.cfg.Adapt.Off {
		ctl := adapt.New(adapt.Config{
			StartKbps: p.startKbps(),
			MaxKbps:   p.maxKbps,
			MinKbps:   p.cfg.Adapt.MinKbps,
			AudioKbps: p.audioKbps + 14, // AAC plus FLV/RTP framing
			Ladder:    adapt.DefaultLadder(p.format.Width, p.format.Height, p.format.FPS),
			// A slow start changes only the bitrate.
			StartAtTopRung: true,
		})
		p.adapt.set(true, ctl.Current(), time.Now())
		loop := &adapt.Loop{
			Controller: ctl,
			Encoder:    &p.adaptEnc,
			Sources:    p.adaptSources,
			Base:       p.base,
			Interval:   p.cfg.Adapt.Interval,
			Logger:     p.log.With("part", "adapt"),
			OnDecision: func(now time.Time, d adapt.Decision, _ []adapt.Signal) {
				if d.Changed {
					p.log.Info("pipeline: bitrate decision", "kbps", d.VideoKbps, "width", d.Rung.Width,
						"height", d.Rung.Height, "fps", d.Rung.FPS, "reason", d.Reason, "by", d.Limiter, "why", d.Why)
					p.adapt.set(true, d, now)
				}
			},
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := loop.Run(ctx); err != nil {
				p.log.Error("pipeline: bitrate adaptation stopped", "err", err)
			}
		}()
	}
	w, err := p.openLinkWatch()
	if err != nil {
		if p.linkWatchFailed.CompareAndSwap(false, true) {
			p.log.Warn("pipeline: not watching the network; publishers retry on their own schedule", "err", err)
		}
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := w.Run(ctx, linkDebounce, func(e linkwatch.Event) {
			p.linkEvents.Add(1)
			p.log.Info("pipeline: network changed, publishers retry now", "event", e.Kind, "if", e.Index)
			p.kickPublishers()
		})
		if err != nil {
			p.log.Warn("pipeline: link watcher stopped", "err", err)
		}
	}()
}

// adaptSources is every live publisher's signal, read under the lock so
// publishers that come and go are seen as they are.
func (p *Pipeline) adaptSources() []adapt.Source {
	p.liveMu.Lock()
	srcs := make([]adapt.Source, 0, len(p.pubs)+1)
	for _, pp := range p.pubs {
		srcs = append(srcs, pp.source)
	}
	p.liveMu.Unlock()
	if p.testSources != nil {
		srcs = append(srcs, p.testSources()...)
	}
	return srcs
}

func (p *Pipeline) kickPublishers() {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	for _, pp := range p.pubs {
		pp.kick()
	}
}

// resetOutput puts the encoder back at the configured output: off air,
// the recording and the preview are full quality again.
func (p *Pipeline) resetOutput() {
	p.adapt.set(false, adapt.Decision{}, time.Now())
	last := p.adaptEnc.last.Swap(nil)
	if last == nil || *last == p.base {
		// Every change starts another ffmpeg: none when nothing moved.
		return
	}
	if err := p.enc.SetOutput(p.base); err != nil {
		p.log.Error("pipeline: encoder back to the configured output", "err", err)
		return
	}
	p.log.Info("pipeline: encoder back to the configured output", "kbps", p.base.VideoKbps,
		"width", p.base.Width, "height", p.base.Height)
}

// trackedEncoder remembers the last output the adaptation asked for, so
// End knows whether the encoder must be put back.
type trackedEncoder struct {
	*encode.Encoder
	last atomic.Pointer[encode.Output]
}

func (t *trackedEncoder) SetOutput(o encode.Output) error {
	if err := t.Encoder.SetOutput(o); err != nil {
		return err
	}
	t.last.Store(&o)
	return nil
}

// VideoStatus is what the encoder produces and why.
type VideoStatus struct {
	// Kbps, Width, Height and FPS are the encoder's current output.
	Kbps          int
	Width, Height int
	FPS           int
	// Reduced: the picture is below the configured size because a link
	// is weak.
	Reduced bool
	// Adapting: the bitrate follows the links (live, adaptation on).
	Adapting bool
	// Limiter names the destination that set the latest bitrate change
	// ("" when none did).
	Limiter string
	// TargetKbps is the controller's latest decision (0 when not
	// adapting); the encoder follows within a GOP or two.
	TargetKbps int
}

func (p *Pipeline) videoStatus(enc encode.Stats) VideoStatus {
	out := enc.Output
	if out.VideoKbps == 0 { // encoder not started yet
		out = p.base
	}
	v := VideoStatus{Kbps: out.VideoKbps, Width: out.Width, Height: out.Height, FPS: out.FPS,
		Reduced: out.Width*out.Height < p.base.Width*p.base.Height}
	if active, d := p.adapt.get(); active {
		v.Adapting, v.TargetKbps = true, d.VideoKbps
		v.Limiter = p.destName(d.Limiter)
	}
	return v
}

// destName maps a fan-out name to its destination's name.
func (p *Pipeline) destName(output string) string {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	for _, pp := range p.pubs {
		if pp.name == output {
			return pp.dest.Name
		}
	}
	return output
}

// startKbps is where a live session's adaptation starts: the configured
// rate with FullRateStart, otherwise a slow start below it.
func (p *Pipeline) startKbps() int {
	if p.cfg.Adapt.FullRateStart {
		return p.base.VideoKbps
	}
	return adapt.SlowStartKbps(p.base.VideoKbps)
}
