package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/speech/resample"
	"github.com/cunbo/cunbo/stream/encode"
	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/preview"
	"github.com/cunbo/cunbo/stream/record"
	"github.com/cunbo/cunbo/stream/rtmp"
	"github.com/cunbo/cunbo/stream/whip"
)

// minBroadcastRate is the lowest audio rate sent as is.
const minBroadcastRate = 32000

// FPS is the box's frame rate in both orientations.
const FPS = 30

// Format is the box's video format: portrait 720×1280 for phone viewers
// (9:16) or landscape 1280×720, at 30 fps.
func Format(portrait bool) hw.VideoFormat {
	if portrait {
		return hw.VideoFormat{Width: 720, Height: 1280, FPS: FPS}
	}
	return hw.VideoFormat{Width: 1280, Height: 720, FPS: FPS}
}

// Config assembles a pipeline. Video and Audio are required.
type Config struct {
	// Video must produce Format(Portrait); Audio any format the encoder
	// takes (48 kHz mono from the microphone, 16 kHz from a speech WAV).
	// The pipeline owns both and closes them when Run returns.
	Video hw.VideoSource
	Audio hw.AudioSource
	// Portrait selects 720×1280 instead of 1280×720.
	Portrait bool

	// Catalog is the product list; nil means no card.
	Catalog *overlay.Catalog
	// InitialCard is shown from the start; negative keeps the card hidden
	// (on the first product) until a button asks for it.
	InitialCard int
	// FontPath for the cards; empty means overlay.DefaultFontPath.
	FontPath string

	// RTMP lists RTMP ingest URLs (key included) published to while
	// live, before Destinations: the short form of RTMP destinations.
	RTMP []string
	// Destinations are the places published to while live, RTMP and WHIP
	// alike, all from the one encoder.
	Destinations []Destination
	// RTMPConfig is the template for every RTMP publisher (URL is
	// replaced); tests shorten its timeouts.
	RTMPConfig rtmp.Config
	// WHIPConfig is the template for every WHIP publisher (URL and Token
	// are replaced); tests allow loopback ICE candidates with it.
	WHIPConfig whip.Config
	// Adapt tunes the bitrate adaptation while live.
	Adapt AdaptConfig
	// StartTimeout bounds how long GoLive waits for the publishers to
	// connect, default 10 s. When at least one connected the stream is up
	// and the rest keep retrying in the background.
	StartTimeout time.Duration

	// PreviewAddr is the RTSP listen address ("127.0.0.1:8554"); empty means none.
	PreviewAddr string

	// IdleAfter is how long the box may be not live and without preview
	// viewers before video capture and the encoder pause (default 10 s);
	// negative never pauses. Outputs added with AddOutput count as viewers
	// unless they implement ViewerCounter.
	IdleAfter time.Duration

	// RecordDir holds the recording ring; empty means no recording.
	RecordDir   string
	RecordQuota int64 // bytes, default 2 GiB

	// MarkWindow is how much recording before a Mark is protected from the
	// ring's quota until the clip is cut (default 60 s).
	MarkWindow time.Duration
	// OnMark is called (on its own goroutine) for each Mark.
	OnMark func(Mark)

	// Encoder settings; zero values take the encoder's defaults (1500 kbps,
	// 2 s GOP, hardware codec when present). VideoKbps is also where
	// adaptation starts each live session.
	VideoKbps int
	Codec     encode.Codec
	FFmpeg    string
	// Epoch is the pipeline clock's zero; it should be the sources' epoch.
	// Zero means when New runs.
	Epoch time.Time

	Logger *slog.Logger
}

// New builds the pipeline. It fails only on what makes streaming
// impossible (no sources, wrong video format, unusable encoder settings);
// overlay, preview and recorder trouble is logged and that feature is off.
// The preview listens from here on; Run owns and closes everything New
// opened, so a pipeline that is built must be run.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Video == nil || cfg.Audio == nil {
		return nil, errors.New("pipeline: video and audio sources are required")
	}
	format := Format(cfg.Portrait)
	if got := cfg.Video.Format(); got != format {
		return nil, fmt.Errorf("pipeline: video source gives %dx%d@%d, want %dx%d@%d",
			got.Width, got.Height, got.FPS, format.Width, format.Height, format.FPS)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	if cfg.RecordQuota <= 0 {
		cfg.RecordQuota = 2 << 30
	}
	if cfg.IdleAfter == 0 {
		cfg.IdleAfter = 10 * time.Second
	}
	if cfg.MarkWindow <= 0 {
		cfg.MarkWindow = 60 * time.Second
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = time.Now()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Pipeline{cfg: cfg, log: log, format: format, taps: map[int]*audioTap{},
		viewers: map[string]ViewerCounter{}, audioWake: make(chan struct{}, 1),
		dests: cfg.destinations(), openLinkWatch: openLinkWatch, audioKbps: 96}
	p.base = encode.Output{Width: format.Width, Height: format.Height, FPS: format.FPS, VideoKbps: cfg.VideoKbps}
	if p.base.VideoKbps <= 0 {
		p.base.VideoKbps = 1500
	}
	p.maxKbps = max(cfg.Adapt.MaxKbps, p.base.VideoKbps)
	names := map[string]bool{}
	for i, d := range p.dests {
		if names[d.Name] {
			return nil, fmt.Errorf("pipeline: two destinations named %q", d.Name)
		}
		names[d.Name] = true
		if _, err := p.newPublisher(d, fmt.Sprintf("%s%d", d.Kind, i)); err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
	}
	p.fan = fanout.New(log.With("part", "fanout"))
	p.gop = fanout.NewGOPCache(p.fan, p.noteVideo)

	encAudio := cfg.Audio.Format()
	if encAudio.SampleRate < minBroadcastRate {
		// A speech-rate source (the simulator's 16 kHz WAV): broadcast at
		// 48 kHz, which every ingest accepts and whose 21 ms AAC frames
		// keep ffmpeg's audio/video interleaving delay short (16 kHz
		// frames are 64 ms and add ~150 ms of latency).
		rs, err := resample.New(encAudio.SampleRate, encAudio.Channels, 48000)
		if err != nil {
			return nil, fmt.Errorf("pipeline: audio: %w", err)
		}
		p.upsample, encAudio = rs, hw.AudioFormat{SampleRate: 48000, Channels: 1}
	}
	enc, err := encode.New(encode.Config{
		Input:     format,
		Audio:     encAudio,
		Output:    p.base,
		Codec:     cfg.Codec,
		FFmpeg:    cfg.FFmpeg,
		Epoch:     cfg.Epoch,
		Logger:    log.With("part", "encoder"),
		GOP:       2 * time.Second,
		AudioKbps: p.audioKbps,
		// Adaptation changes the output while live; viewers must not
		// see a stall at each change.
		LiveSwitch: true,
	}, p.gop)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p.enc = enc
	p.adaptEnc.Encoder = enc

	if cfg.Catalog != nil && cfg.Catalog.Len() > 0 {
		p.comp = p.newCompositor()
	}
	if cfg.PreviewAddr != "" {
		s := preview.New(preview.Config{Addr: cfg.PreviewAddr, Logger: log.With("part", "preview"),
			OnReader: p.Wake})
		if err := s.Start(); err != nil {
			log.Error("pipeline: no local preview", "err", err)
		} else if _, err := p.fan.Add("preview", s, fanout.QueueLimits{}); err != nil {
			s.Close()
			log.Error("pipeline: no local preview", "err", err)
		} else {
			p.preview = s
		}
	}
	if cfg.RecordDir != "" {
		r, err := record.New(record.Config{Dir: cfg.RecordDir, QuotaBytes: cfg.RecordQuota, Epoch: cfg.Epoch,
			Logger: log.With("part", "recorder")})
		if err != nil {
			log.Error("pipeline: recording off", "err", err)
		} else {
			p.rec = r
		}
	}
	return p, nil
}

// newCompositor renders the cards for the catalogue. A renderer that
// cannot load its font leaves the broadcast without cards rather than
// without a picture.
func (p *Pipeline) newCompositor() *overlay.Compositor {
	r, err := overlay.NewRenderer(overlay.RenderConfig{FontPath: p.cfg.FontPath,
		FrameWidth: p.format.Width, FrameHeight: p.format.Height})
	if err != nil {
		p.log.Error("pipeline: product cards off", "err", err)
		return nil
	}
	c := overlay.NewCompositor(r, p.cfg.Catalog, p.log.With("part", "overlay"))
	if i := p.cfg.InitialCard; i >= 0 {
		if err := c.Select(i); err != nil {
			p.log.Warn("pipeline: initial card", "card", i, "err", err)
		}
	}
	return c
}
