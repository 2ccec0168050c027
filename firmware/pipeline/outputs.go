package pipeline

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/cunbo/cunbo/internal/secret"
	"github.com/cunbo/cunbo/stream/adapt"
	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/whip"
)

// Destination kinds.
const (
	// KindRTMP is an RTMP(S) ingest: Douyin, Kuaishou, a media server.
	KindRTMP = "rtmp"
	// KindWHIP is a WebRTC ingest (WHIP, RFC 9725).
	KindWHIP = "whip"
)

// Destination is one place the box publishes to while live.
type Destination struct {
	// Name labels the destination in status and logs; default the kind
	// and its position ("rtmp0", "whip1").
	Name string
	// Kind is KindRTMP or KindWHIP.
	Kind string
	// URL is the whole RTMP ingest URL including the stream key, or the
	// WHIP endpoint.
	URL string
	// Token is the WHIP bearer token; RTMP destinations carry their key
	// in the URL.
	Token string
}

// destinations is every destination of cfg, the RTMP list first, with
// names filled in.
func (cfg *Config) destinations() []Destination {
	var ds []Destination
	for _, u := range cfg.RTMP {
		ds = append(ds, Destination{Kind: KindRTMP, URL: u})
	}
	ds = append(ds, cfg.Destinations...)
	for i := range ds {
		if ds[i].Kind == "" {
			ds[i].Kind = KindRTMP
		}
		if ds[i].Name == "" {
			ds[i].Name = fmt.Sprintf("%s%d", ds[i].Kind, i)
		}
	}
	return ds
}

// publisher is one destination's publisher while live: an RTMP or a WHIP
// one behind the same few operations.
type publisher struct {
	dest Destination
	// name is the publisher's fan-out output name, unique per session.
	name string
	sink fanout.SelfQueued
	run  func(context.Context) error
	kick func()
	// state reads the publisher's own counters.
	state  func() publisherState
	source adapt.Source
	rtmp   *rtmp.Publisher // exactly one of rtmp, whip is set
	whip   *whip.Publisher

	done   chan struct{}
	cancel context.CancelFunc
	// firstPTS and lastPTS bound the video handed to the publisher, so
	// tests know how much media the ingest server should have.
	firstPTS, lastPTS time.Duration
}

// publisherState is what RTMP and WHIP publishers both report.
type publisherState struct {
	connected bool
	connects  uint64
	bitrate   int64 // bits per second sent recently
	lastErr   error
	lastErrAt time.Time
}

// newPublisher builds the publisher for d; name is its fan-out output.
// Nothing runs until run is called.
func (p *Pipeline) newPublisher(d Destination, name string) (*publisher, error) {
	pp := &publisher{dest: d, name: name}
	switch d.Kind {
	case KindRTMP:
		c := p.cfg.RTMPConfig
		c.URL = d.URL
		if c.Logger == nil {
			c.Logger = p.log.With("part", "rtmp", "output", d.Name)
		}
		pub, err := rtmp.New(c)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", d.Name, err)
		}
		pp.rtmp, pp.sink, pp.run, pp.kick = pub, pub, pub.Run, pub.Kick
		pp.source = RTMPSource(name, pub)
		pp.state = func() publisherState {
			s := pub.Stats()
			return publisherState{connected: s.Connected, connects: s.Connects, bitrate: s.Bitrate,
				lastErr: s.LastError, lastErrAt: s.LastErrorAt}
		}
	case KindWHIP:
		c := p.cfg.WHIPConfig
		c.URL, c.Token = d.URL, d.Token
		if c.Logger == nil {
			c.Logger = p.log.With("part", "whip", "output", d.Name)
		}
		if c.FFmpeg == "" {
			c.FFmpeg = p.cfg.FFmpeg
		}
		if c.InitialBitrate <= 0 {
			// GCC's first estimate is a brake on the controller: start
			// it at what is about to be sent, not below, so a healthy
			// link does not cut the picture in its first seconds.
			c.InitialBitrate = max(1_000_000, (p.startKbps()+p.audioKbps)*1000*5/4)
		}
		if c.MaxBitrate <= 0 {
			c.MaxBitrate = max(c.InitialBitrate, (p.maxKbps+p.audioKbps)*1000*3/2)
		}
		pub, err := whip.New(c)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", d.Name, err)
		}
		pp.whip, pp.sink, pp.run, pp.kick = pub, pub, pub.Run, pub.Kick
		pp.source = WHIPSource(name, pub)
		pp.state = func() publisherState {
			s := pub.Stats()
			return publisherState{connected: s.Connected, connects: s.Connects, bitrate: s.Bitrate,
				lastErr: s.LastError, lastErrAt: s.LastErrorAt}
		}
	default:
		return nil, fmt.Errorf("destination %s: unknown kind %q (want %q or %q)", d.Name, d.Kind, KindRTMP, KindWHIP)
	}
	return pp, nil
}

// shownURL is d's URL without its secrets (secret.URL).
func (d Destination) shownURL() string { return secret.URL(d.URL) }

// scrub removes d's secrets from text (a library's error may quote the
// URL, the RTMP stream key alone, or the token). A WHIP path is left to
// the whole URL: its words ("whip") are everyone's.
func (d Destination) scrub(text string) string {
	secrets := []string{d.URL, d.Token}
	if u, err := url.Parse(d.URL); err == nil {
		if d.Kind != KindWHIP {
			_, key, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/") // after the app
			secrets = append(secrets, key)
		}
		secrets = append(secrets, u.RawQuery)
		if u.User != nil {
			secrets = append(secrets, u.User.String())
		}
	}
	return secret.Scrub(text, secrets...)
}

// DestinationStats is one destination's state for the status page.
type DestinationStats struct {
	Name string
	Kind string
	URL  string // secrets removed
	// Connected: publishing now.
	Connected bool
	// Connects counts successful publishes in this live session.
	Connects uint64
	// SentKbps is what left for this destination over the last 2 s.
	SentKbps int
	// LastError is the latest failure ("" when none); LastErrorAt when.
	LastError   string
	LastErrorAt time.Time
}

func (pp *publisher) stats() DestinationStats {
	s := pp.state()
	ds := DestinationStats{Name: pp.dest.Name, Kind: pp.dest.Kind, URL: pp.dest.shownURL(),
		Connected: s.connected, Connects: s.connects, SentKbps: int(s.bitrate / 1000), LastErrorAt: s.lastErrAt}
	if s.lastErr != nil {
		// HTTP and dial errors quote the whole URL, key and all.
		ds.LastError = pp.dest.scrub(s.lastErr.Error())
	}
	return ds
}
