package adapt

import (
	"context"
	"log/slog"
	"time"

	"github.com/cunbo/cunbo/stream/encode"
)

// Source reports one output's signal; the adapters in sources.go wrap the
// WHIP and RTMP publishers.
type Source interface {
	Signal() Signal
}

// SourceFunc adapts a function to Source.
type SourceFunc func() Signal

// Signal implements Source.
func (f SourceFunc) Signal() Signal { return f() }

// Encoder is the part of *encode.Encoder the loop drives.
type Encoder interface {
	SetOutput(o encode.Output) error
}

// Loop runs a Controller against live outputs and an encoder.
type Loop struct {
	Controller *Controller
	Encoder    Encoder
	// Sources returns the outputs to consider now (outputs come and go).
	Sources func() []Source
	// Base is the output used when the ladder is empty or for fields the
	// ladder leaves zero.
	Base encode.Output
	// Interval between steps, default 250 ms.
	Interval time.Duration
	// MinApply spaces changes sent to the encoder, default 0.75 s: each one
	// starts a new encoder instance that takes over at a keyframe about
	// half a second later, so a change is not sent while the previous one
	// is still switching (if the encoder reports Switches) unless it is a
	// cut below 70 %.
	MinApply time.Duration
	// OnDecision, if set, sees every decision (the bench plots them).
	OnDecision func(time.Time, Decision, []Signal)
	Logger     *slog.Logger
}

// outputFor is the encoder output for a decision.
func (l *Loop) outputFor(d Decision) encode.Output {
	out := l.Base
	out.VideoKbps = d.VideoKbps
	if d.Rung.Width > 0 {
		out.Width, out.Height, out.FPS = d.Rung.Width, d.Rung.Height, d.Rung.FPS
	}
	return out
}

// Run steps until ctx ends. Base is taken to be what the encoder runs
// when Run starts.
func (l *Loop) Run(ctx context.Context) error {
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	iv := l.Interval
	if iv <= 0 {
		iv = 250 * time.Millisecond
	}
	minApply := l.MinApply
	if minApply <= 0 {
		minApply = 750 * time.Millisecond
	}
	stats, _ := l.Encoder.(interface{ Stats() encode.Stats })
	var lastApply time.Time
	var lastSwitches int64
	// The encoder runs Base when the loop starts; a controller that
	// starts lower (a slow start, so a weak link is not flooded before
	// anything is measured) gets its rate at the first step.
	applied := l.Base
	decided := l.outputFor(l.Controller.Current())
	want := (*encode.Output)(nil)
	if decided != applied {
		want = &decided
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			var sigs []Signal
			for _, s := range l.Sources() {
				sigs = append(sigs, s.Signal())
			}
			d := l.Controller.Step(now, sigs)
			if l.OnDecision != nil {
				l.OnDecision(now, d, sigs)
			}
			if stats != nil && !lastApply.IsZero() && now.Sub(lastApply) > 4*minApply {
				// The encoder may have abandoned a change (its new
				// instance never produced a keyframe): believe what it
				// says it runs, and ask again.
				if cur := stats.Stats().Output; cur != applied && cur.VideoKbps > 0 {
					log.Warn("adapt: encoder did not take the change; asking again", "asked", applied, "running", cur)
					applied = cur
					if want == nil {
						want = &decided
					}
				}
			}
			if d.Changed {
				out := l.outputFor(d)
				want, decided = &out, out
				log.Debug("adapt: "+d.Reason, "kbps", d.VideoKbps, "size", [2]int{out.Width, out.Height}, "fps", out.FPS, "by", d.Limiter, "why", d.Why)
			}
			if want == nil || *want == applied {
				want = nil
				continue
			}
			if want.Width == applied.Width && want.Height == applied.Height && want.FPS == applied.FPS &&
				want.VideoKbps > applied.VideoKbps && want.VideoKbps < applied.VideoKbps*21/20 {
				// A climb of under 5 % is not worth a second encoder.
				want = nil
				continue
			}
			deep := applied.VideoKbps > 0 && float64(want.VideoKbps) < 0.7*float64(applied.VideoKbps)
			switching := false
			if stats != nil && !lastApply.IsZero() {
				switching = stats.Stats().Switches == lastSwitches && now.Sub(lastApply) < 3*minApply
			}
			if !lastApply.IsZero() && (now.Sub(lastApply) < minApply || switching) && !(deep && now.Sub(lastApply) >= minApply/2) {
				continue
			}
			target := *want
			if applied.VideoKbps > 0 && want.VideoKbps > applied.VideoKbps*8/5 {
				// Climb at most 50 % per change (60 % if that finishes
				// it, rather than a last step of a few percent): the
				// controller steps faster than the encoder switches, and
				// an untested jump is how a link gets flooded.
				up := *want
				up.VideoKbps = applied.VideoKbps * 3 / 2
				if l.Controller.cfg.Ladder != nil {
					r := l.Controller.rungFor(float64(up.VideoKbps))
					up.Width, up.Height, up.FPS = r.Width, r.Height, r.FPS
				}
				want = &up
			}
			if stats != nil {
				lastSwitches = stats.Stats().Switches
			}
			if err := l.Encoder.SetOutput(*want); err != nil {
				log.Warn("adapt: encoder refused", "err", err, "output", *want)
				want = nil
				continue
			}
			log.Info("adapt: encoder set", "kbps", want.VideoKbps, "size", [2]int{want.Width, want.Height}, "fps", want.FPS)
			applied, lastApply = *want, now
			if target != applied {
				want = &target // the rest of the climb, at the next chance
			} else {
				want = nil
			}
		}
	}
}
