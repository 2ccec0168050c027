// Package heartbeat tells the review service how the box is doing, for
// the trainer's fleet page: software and configuration version, uptime,
// free disk, SoC temperature and throttling, the last live's link (stall
// share, mean bitrate), speech worker restarts and the age of the upload
// queue.
//
// A heartbeat goes every Interval (15 minutes) while the box is idle and
// once right after each live ends; never while live — the stream comes
// first, and a heartbeat missed then is no loss (SetLive cuts one in
// flight off). A service that cannot be reached is retried with growing
// waits and one warning in the journal, not one per try.
package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/cunbo/cunbo/firmware/idlework"
)

// Path is the review service's endpoint (review/console.HeartbeatPath).
const Path = "api/box/heartbeat"

// Defaults.
const (
	DefaultInterval   = 15 * time.Minute
	DefaultMinBackoff = 30 * time.Second
	// DefaultMaxBackoff is the interval: a box offline for days asks no
	// more often than a healthy one.
	DefaultMaxBackoff = DefaultInterval
	requestTimeout    = 30 * time.Second
)

// Report is one heartbeat as sent. Unknown readings are null.
type Report struct {
	Version            string    `json:"version"`
	ConfigVersion      uint64    `json:"config_version"`
	UptimeS            int64     `json:"uptime_s"`
	DiskFreeBytes      uint64    `json:"disk_free_bytes"`
	DiskFreePct        float64   `json:"disk_free_pct"`
	TempC              *float64  `json:"temp_c"`
	Throttled          *bool     `json:"throttled"`
	ThrottledSinceBoot *bool     `json:"throttled_since_boot"`
	LastLive           *LiveLink `json:"last_live"`
	SpeechRestarts     int       `json:"speech_restarts"`
	QueueLen           int       `json:"queue_len"`
	QueueAgeS          int64     `json:"queue_age_s"`
}

// LiveLink is the link quality of a live.
type LiveLink struct {
	Ended    time.Time `json:"ended"`
	StallPct float64   `json:"stall_pct"`
	MeanKbps float64   `json:"mean_kbps"`
}

// Client is the box's signed-in client of the review service
// (*upload.BoxClient).
type Client interface {
	Do(ctx context.Context, method, path string, in, out any) error
}

// Sources are what the box knows about itself; a nil func is unknown
// (reported as zero or null as its field says).
type Sources struct {
	// Version is the software's (SoftwareVersion when empty).
	Version string
	// ConfigVersion is the setup bundle in use; 0 when none.
	ConfigVersion func() uint64
	// DataDir is on the data partition whose free space is reported.
	DataDir string
	// Sys reads the machine (Linux{} when nil).
	Sys Sys
	// Link is the last live's link (a LinkMeter's Last).
	Link func() *LiveLink
	// SpeechRestarts counts the speech worker's restarts since boot.
	SpeechRestarts func() int
	// Queue is the upload queue: how many wait and when the oldest was
	// made (zero when none).
	Queue func() (n int, oldest time.Time)
}

// Config sets up a Sender.
type Config struct {
	Client  Client
	Sources Sources
	// Interval between heartbeats while idle (DefaultInterval).
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed send
	// (doubling, with jitter).
	MinBackoff, MaxBackoff time.Duration
	Now                    func() time.Time // nil: time.Now
	Logger                 *slog.Logger
}

// Sender sends the heartbeats. SetLive may be called from any goroutine.
type Sender struct {
	cfg  Config
	log  *slog.Logger
	loop *idlework.Loop

	mu   sync.Mutex
	sent int
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Sender, error) {
	if cfg.Client == nil {
		return nil, errors.New("heartbeat: a client is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(cfg.MinBackoff, min(DefaultMaxBackoff, cfg.Interval))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Sources.Sys == nil {
		cfg.Sources.Sys = Linux{}
	}
	if cfg.Sources.Version == "" {
		cfg.Sources.Version = SoftwareVersion()
	}
	s := &Sender{cfg: cfg, log: cfg.Logger}
	s.loop = idlework.New(idlework.Config{
		Name: "heartbeat", Interval: cfg.Interval, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
		Step: s.send, Logger: cfg.Logger,
	})
	return s, nil
}

// SetLive stops heartbeats while the box is live (one in flight is cut
// off) and sends one as soon as it is idle again.
func (s *Sender) SetLive(live bool) { s.loop.SetLive(live) }

// Sent counts the heartbeats the service took.
func (s *Sender) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Collect reads the sources now.
func (s *Sender) Collect(ctx context.Context) Report {
	src := s.cfg.Sources
	r := Report{Version: src.Version}
	if src.ConfigVersion != nil {
		r.ConfigVersion = src.ConfigVersion()
	}
	if up, ok := src.Sys.Uptime(); ok {
		r.UptimeS = int64(up / time.Second)
	}
	if src.DataDir != "" {
		if free, total, err := src.Sys.Disk(src.DataDir); err == nil && total > 0 {
			r.DiskFreeBytes = free
			r.DiskFreePct = math.Round(1000*float64(free)/float64(total)) / 10
		} else if err != nil {
			s.log.Debug("heartbeat: disk", "err", err)
		}
	}
	if t, ok := src.Sys.TempC(); ok {
		r.TempC = &t
	}
	if now, since, ok := src.Sys.Throttled(ctx); ok {
		r.Throttled, r.ThrottledSinceBoot = &now, &since
	}
	if src.Link != nil {
		r.LastLive = src.Link()
	}
	if src.SpeechRestarts != nil {
		r.SpeechRestarts = src.SpeechRestarts()
	}
	if src.Queue != nil {
		n, oldest := src.Queue()
		r.QueueLen = n
		if n > 0 && !oldest.IsZero() {
			r.QueueAgeS = max(0, int64(s.cfg.Now().Sub(oldest)/time.Second))
		}
	}
	return r
}

// Run sends heartbeats until ctx ends: one at start, then every Interval
// while idle and one after each live.
func (s *Sender) Run(ctx context.Context) error { return s.loop.Run(ctx) }

// send sends one heartbeat; ctx ends when the box goes live.
func (s *Sender) send(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	r := s.Collect(sctx)
	var out struct {
		At time.Time `json:"at"`
	}
	if err := s.cfg.Client.Do(sctx, http.MethodPost, Path, r, &out); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	s.mu.Lock()
	s.sent++
	s.mu.Unlock()
	s.log.Debug("heartbeat sent", "config", r.ConfigVersion, "disk_free_pct", r.DiskFreePct, "queue", r.QueueLen)
	return nil
}
