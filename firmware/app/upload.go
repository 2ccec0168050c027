package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/segment"
)

// NewUploader sets up uploads to the review service at url: the box's key
// in stateDir (made on first start), the queue in stateDir/upload, the
// flagged segments of caps (session records only when it keeps none).
func NewUploader(url, stateDir string, caps *compliance.Captions, log *slog.Logger) (*upload.Uploader, error) {
	key, err := upload.LoadOrCreateKey(stateDir)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	cfg := upload.Config{URL: url, Key: key, Dir: filepath.Join(stateDir, "upload"), Logger: log}
	// A nil *flagged.Store in the interface would not be a nil Source.
	if caps != nil && caps.Loop().Store() != nil {
		cfg.Source = caps.Loop().Store()
	}
	u, err := upload.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return u, nil
}

// uploadsWait reports whether uploads must wait: from the press of the big
// button until the stream has ended, reconnects included. The stream
// comes first.
func uploadsWait(s state.State) bool {
	switch s {
	case state.Idle, state.Setup, state.Fault:
		return false
	}
	return true
}

// session is what the box knows about the live session under way.
type session struct {
	start    time.Time
	warnings uint64 // the compliance loop's count at the start
	stalls   int
	practice bool // a rehearsal: recorded with its checks
}

// driveUploads pauses the uploader while the box is on air and, when a
// session ends, queues its record.
func (a *App) driveUploads(ctx context.Context) error {
	u := a.opts.Uploader
	ch, stop := a.Box.Subscribe()
	defer stop()
	var cur *session
	last := state.Idle
	for {
		var st state.State
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s, ok := <-ch:
			if !ok {
				return nil
			}
			st = s.State
		}
		u.SetLive(uploadsWait(st))
		switch {
		case uploadsWait(st) && cur == nil:
			cur = &session{start: time.Now(), warnings: a.warnings(), practice: st == state.Practice}
		case st == state.Reconnecting && last != state.Reconnecting && cur != nil:
			cur.stalls++
		case !uploadsWait(st) && cur != nil:
			rec := segment.Session{Device: a.opts.DeviceID, Start: cur.start, End: time.Now(),
				Findings: int(a.warnings() - cur.warnings), Stalls: cur.stalls}
			if cur.practice {
				rec.Kind, rec.Checks = segment.KindPractice, a.practice.finish(rec.End, cur.start)
			}
			if err := u.AddSession(rec); err != nil {
				a.log.Error("session record not queued", "err", err)
			}
			cur = nil
		}
		last = st
	}
}

func (a *App) warnings() uint64 {
	if c := a.opts.Compliance; c != nil {
		return c.Loop().Stats().Warnings
	}
	return 0
}
