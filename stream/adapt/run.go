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
	// OnDecision, if set, sees every decision (the bench plots them).
	OnDecision func(time.Time, Decision, []Signal)
	Logger     *slog.Logger
}

// Run steps until ctx ends.
func (l *Loop) Run(ctx context.Context) error {
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	iv := l.Interval
	if iv <= 0 {
		iv = 250 * time.Millisecond
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
			if !d.Changed {
				continue
			}
			out := l.Base
			out.VideoKbps = d.VideoKbps
			if d.Rung.Width > 0 {
				out.Width, out.Height, out.FPS = d.Rung.Width, d.Rung.Height, d.Rung.FPS
			}
			if err := l.Encoder.SetOutput(out); err != nil {
				log.Warn("adapt: encoder refused", "err", err, "output", out)
				continue
			}
			log.Info("adapt: "+d.Reason, "kbps", d.VideoKbps, "size", [2]int{out.Width, out.Height}, "fps", out.FPS, "by", d.Limiter)
		}
	}
}
