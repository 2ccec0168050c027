package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cunbo/cunbo/firmware/heartbeat"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/upload"
)

// HeartbeatSetup is how the box reports to the review service's fleet
// page; Run reads the rest (uploads, speech, setup bundle, the live's
// link) from the box itself.
type HeartbeatSetup struct {
	Client heartbeat.Client
	// DataDir is on the data partition whose free space is reported.
	DataDir string
	// Sys reads the machine (heartbeat.Linux when nil); Interval is
	// heartbeat.DefaultInterval when zero. Tests set both.
	Sys      heartbeat.Sys
	Interval time.Duration
	Logger   *slog.Logger
}

// NewHeartbeat sets up heartbeats to the review service at url, signed in
// with the box key in stateDir (the uploader's).
func NewHeartbeat(url, stateDir string, log *slog.Logger) (*HeartbeatSetup, error) {
	key, err := upload.LoadOrCreateKey(stateDir)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	c, err := upload.NewBoxClient(url, key, nil)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return &HeartbeatSetup{Client: c, DataDir: stateDir, Logger: log}, nil
}

// linkSampleEvery is how often the sent bitrate is sampled while live:
// the publishers report it over their last 2 s.
const linkSampleEvery = 5 * time.Second

// runHeartbeat sends heartbeats while idle and after each live, measuring
// each live's link from the box's state and the publishers' bitrate.
func (a *App) runHeartbeat(ctx context.Context) error {
	hs := a.opts.Heartbeat
	var meter heartbeat.LinkMeter
	src := heartbeat.Sources{DataDir: hs.DataDir, Sys: hs.Sys, Link: meter.Last}
	if p := a.opts.Provision; p != nil {
		src.ConfigVersion = func() uint64 {
			if v, ok := p.Store.Current(); ok {
				return v.Number
			}
			return 0
		}
	}
	if c := a.opts.Compliance; c != nil {
		src.SpeechRestarts = func() int { return c.Status().Restarts }
	}
	if u := a.opts.Uploader; u != nil {
		src.Queue = func() (int, time.Time) { return u.Status().Pending, u.OldestPending() }
	}
	log := hs.Logger
	if log == nil {
		log = a.log
	}
	hb, err := heartbeat.New(heartbeat.Config{Client: hs.Client, Sources: src, Interval: hs.Interval, Logger: log})
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	ch, stop := a.Box.Subscribe()
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- hb.Run(ctx) }()
	tick := time.NewTicker(linkSampleEvery)
	defer tick.Stop()
	onAir := false // a live (not a practice) under way
	for {
		select {
		case <-ctx.Done():
			return <-done
		case err := <-done:
			return err
		case <-tick.C:
			if onAir {
				kbps := 0
				for _, d := range a.opts.Pipeline.Stats().Destinations {
					kbps += d.SentKbps
				}
				meter.Sample(float64(kbps))
			}
		case s, ok := <-ch:
			if !ok {
				cancel()
				return <-done
			}
			now := time.Now()
			live := uploadsWait(s.State)
			switch {
			case live && !onAir && s.State != state.Practice:
				onAir = true
				meter.Begin(now)
			case !live && onAir:
				onAir = false
				meter.End(now)
			}
			if onAir {
				meter.Stalled(now, s.State == state.Reconnecting)
			}
			// After the meter has the live's end, so the heartbeat sent on
			// going idle carries it.
			hb.SetLive(live)
		}
	}
}
