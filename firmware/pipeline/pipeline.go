// Package pipeline assembles the box's media pipeline out of the stream,
// overlay and hw libraries and implements firmware.Pipeline:
//
//	video source ─▶ overlay compositor ─▶ encoder ─▶ GOP cache ─▶ fan-out ─┬─ RTMP/WHIP publishers (while live)
//	audio source ─┬────────────────────▶ encoder                          ├─ recorder            (while live)
//	              └─▶ audio taps (speech worker)                          ├─ RTSP preview        (always)
//	                                                                      └─ AddOutput (WebRTC preview, …)
//
// Run keeps the capture, the compositor, the encoder and the local preview
// going while anyone needs them, so the streamer can frame herself and
// rehearse the cards on her phone before she goes live. When the box is not
// live and nobody watches a preview (no RTSP reader, no WebRTC viewer) for
// Config.IdleAfter, the video capture and the ffmpeg encoder stop, so an
// idle box costs next to nothing; GoLive, an RTSP DESCRIBE or a WebRTC offer
// (Wake) start them again at once, and outputs keep the last tracks
// meanwhile so a viewer's session set-up does not wait for the encoder.
// Recording is tied to being live: the recorder keeps what went on air, not
// the minutes of setting up before it.
//
// While live, one bitrate controller (stream/adapt) watches every
// publisher's link and moves the one encoder's bitrate, and below set
// rates its picture size and frame rate, to what the weakest link carries;
// the encoder switches at a keyframe without a gap. A link watcher
// (stream/linkwatch) makes waiting publishers retry the moment the network
// comes back. Off air the encoder returns to the configured output, so the
// preview is full quality again.
//
// Each part degrades on its own: a catalogue that cannot be rendered means no
// card, a preview port in use means no preview, a recorder that cannot open
// its directory means no recording, and a dead RTMP server means that output
// reconnects while the others carry on. All of it is logged; only a missing
// or broken encoder stops Run.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/speech/resample"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/adapt"
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

// Mark is one "I misspoke" press.
type Mark struct {
	At time.Time
	// PTS is At on the pipeline clock.
	PTS time.Duration
	// Hold protects the recording around At; zero when not recording.
	Hold record.HoldID
}

// Card says which product card the viewers see.
type Card struct {
	Index   int // -1 with an empty catalogue
	Visible bool
	Name    string
}

// Pipeline is the assembled media pipeline. Controls are safe for
// concurrent use; Run must be running for GoLive.
type Pipeline struct {
	cfg    Config
	log    *slog.Logger
	format hw.VideoFormat

	comp  *overlay.Compositor // nil: no card
	enc   *encode.Encoder
	dests []Destination
	// base is the configured encoder output, used off air; maxKbps
	// caps adaptation; audioKbps is the AAC rate.
	base      encode.Output
	maxKbps   int
	audioKbps int
	fan       *fanout.Fanout
	gop       *gopCache
	preview   *preview.Server // nil: no preview
	rec       *record.Recorder

	runCtx  atomic.Pointer[context.Context]
	running atomic.Bool

	// The media session: video capture and encoder, stopped while idle.
	sessMu     sync.Mutex
	sessCancel context.CancelFunc // nil while paused
	sessDone   chan struct{}      // closed when the session's goroutines end
	encErr     chan error         // the first session's encoder start result
	paused     atomic.Bool
	audioWake  chan struct{} // resumes the paused microphone loop
	pauses     atomic.Int64
	resumes    atomic.Int64
	lastBusy   atomic.Int64 // unix nanos of the latest moment frames were wanted
	viewersMu  sync.Mutex
	viewers    map[string]ViewerCounter

	opMu    sync.Mutex // serialises GoLive's set-up and End
	liveMu  sync.Mutex // guards the fields below; held only briefly
	live    bool
	pubs    []*publisher
	ended   []*publisher // the last live session's, for tests
	liveEnd context.CancelFunc
	// liveWG waits for the live session's adaptation loop and link
	// watcher.
	liveWG sync.WaitGroup

	adapt           adaptState
	adaptEnc        trackedEncoder
	openLinkWatch   func() (linkWatcher, error)
	linkWatchFailed atomic.Bool
	linkEvents      atomic.Int64
	// testSources adds signals to the adaptation (tests inject a
	// congested link with it).
	testSources func() []adapt.Source

	tapMu  sync.Mutex
	taps   map[int]*audioTap
	nextID int

	marksMu sync.Mutex
	marks   []Mark

	// Health, updated by the capture loop (unix nanos).
	lastFrame     atomic.Int64
	runStart      atomic.Int64
	framesIn      atomic.Int64
	captureErrors atomic.Int64
	// upsample converts a low-rate microphone for the encoder; nil when
	// the source rate is broadcast quality already.
	upsample *resample.Resampler
	// capture times of recent frames, for latency measurement.
	captures captureLog
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
	p.gop = &gopCache{next: p.fan, onVideo: p.noteVideo}

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

// Run captures, composites and encodes until ctx ends, serving the preview
// all along; it stops publishing and recording on the way out and closes
// the sources. It returns an error only when the encoder cannot start.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("pipeline: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.runCtx.Store(&ctx)
	p.lastFrame.Store(time.Now().UnixNano())
	p.runStart.Store(time.Now().UnixNano())

	var wg sync.WaitGroup
	var recWG sync.WaitGroup
	if p.rec != nil {
		// The recorder outlives the other goroutines so it can flush
		// what End handed it.
		recCtx, recCancel := context.WithCancel(context.Background())
		defer func() { recCancel(); recWG.Wait() }()
		recWG.Add(1)
		go func() {
			defer recWG.Done()
			if err := p.rec.Run(recCtx); err != nil {
				p.log.Error("pipeline: recorder stopped", "err", err)
			}
		}()
	}
	p.encErr = make(chan error, 1)
	p.lastBusy.Store(time.Now().UnixNano())
	p.sessMu.Lock()
	p.startSessionLocked(ctx, cancel)
	p.sessMu.Unlock()
	// The microphone is read while the encoder runs or a tap (the speech
	// worker) wants it.
	wg.Add(1)
	go func() { defer wg.Done(); p.captureAudio(ctx) }()
	if p.cfg.IdleAfter > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); p.watchIdle(ctx) }()
	}
	<-ctx.Done()
	p.runCtx.Store(nil)
	if err := p.End(); err != nil {
		p.log.Warn("pipeline: end", "err", err)
	}
	wg.Wait()
	p.sessMu.Lock()
	p.stopSessionLocked()
	p.sessMu.Unlock()
	p.fan.Close()
	if p.preview != nil {
		p.preview.Close()
	}
	p.tapMu.Lock()
	for id, t := range p.taps {
		t.close()
		delete(p.taps, id)
	}
	p.tapMu.Unlock()
	if err := p.cfg.Video.Close(); err != nil {
		p.log.Warn("pipeline: close video source", "err", err)
	}
	if err := p.cfg.Audio.Close(); err != nil {
		p.log.Warn("pipeline: close audio source", "err", err)
	}
	select {
	case err := <-p.encErr:
		return err
	default:
		return nil
	}
}

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
	p.gop.lastVideo.Store(0)
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
	p.gop.reset()
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
		if p.busy() || (!p.paused.Load() && p.gop.lastVideo.Load() == 0) {
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

// captureVideo is the frame loop: read into one reused frame, draw the
// card on it, hand it to the encoder (which copies). Nothing here
// allocates per frame.
func (p *Pipeline) captureVideo(ctx context.Context) {
	f := hw.NewFrame(p.format.Width, p.format.Height)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := p.cfg.Video.ReadFrame(ctx, f); err != nil {
			if ctx.Err() != nil {
				return
			}
			// The encoder repeats the last picture meanwhile; Healthy
			// reports the stall to the watchdog.
			if p.captureErrors.Add(1) == 1 || backoff >= 5*time.Second {
				p.log.Error("pipeline: camera read failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		p.deliverFrame(f)
	}
}

// deliverFrame draws the card on a captured frame and hands it to the
// encoder. It allocates nothing.
func (p *Pipeline) deliverFrame(f *hw.Frame) {
	now := time.Now()
	if p.comp != nil {
		p.comp.Apply(f)
	}
	if err := p.enc.WriteFrame(f); err != nil {
		p.log.Error("pipeline: encoder refused frame", "err", err)
		return
	}
	p.captures.add(now)
	p.framesIn.Add(1)
	p.lastFrame.Store(now.UnixNano())
}

// captureAudio feeds the microphone to the encoder and to the taps.
func (p *Pipeline) captureAudio(ctx context.Context) {
	af := p.cfg.Audio.Format()
	buf := make([]int16, af.SampleRate/50*af.Channels) // 20 ms reads
	var up []int16                                     // upsampled for the encoder
	clock := audioClock{rate: af.SampleRate}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if p.paused.Load() && !p.hasTaps() {
			select {
			case <-ctx.Done():
				return
			case <-p.audioWake:
			}
			if p.paused.Load() && !p.hasTaps() {
				continue
			}
			// What the source buffered meanwhile is stale: drop what
			// comes without waiting, and start the clock over.
			p.drainAudio(ctx, buf)
			clock.reset()
			if p.upsample != nil {
				p.upsample.Reset()
			}
			continue
		}
		n, err := p.cfg.Audio.ReadPCM(ctx, buf)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Error("pipeline: microphone read failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			clock.reset()
			if p.upsample != nil {
				p.upsample.Reset()
			}
			continue
		}
		backoff = 100 * time.Millisecond
		pts := clock.stamp(time.Since(p.cfg.Epoch), n/af.Channels)
		if p.paused.Load() {
			// Nothing to encode for.
		} else if p.upsample != nil {
			up = p.upsample.Process(up[:0], buf[:n])
			p.enc.WriteAudio(up)
		} else {
			p.enc.WriteAudio(buf[:n])
		}
		p.tapMu.Lock()
		for _, t := range p.taps {
			t.offer(pts, buf[:n])
		}
		p.tapMu.Unlock()
	}
}

func (p *Pipeline) hasTaps() bool {
	p.tapMu.Lock()
	defer p.tapMu.Unlock()
	return len(p.taps) > 0
}

// drainAudio discards reads that return at once (a source catching up or
// an overrun microphone's old buffer), up to a few seconds' worth.
func (p *Pipeline) drainAudio(ctx context.Context, buf []int16) {
	for range 250 {
		t0 := time.Now()
		if _, err := p.cfg.Audio.ReadPCM(ctx, buf); err != nil || time.Since(t0) > 2*time.Millisecond {
			return
		}
	}
}

// GoLive starts the publishers (RTMP and WHIP), the recorder, the bitrate
// adaptation and the link watcher, and returns once the stream is up: every
// publisher connected, or at least one when the start timeout passes (the
// others keep retrying and Stats shows why). With no destination it only
// starts recording. Cancelling ctx aborts the start.
func (p *Pipeline) GoLive(ctx context.Context) error {
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
	for i, d := range p.dests {
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
		first, err := p.gop.addPrimed(p.fan, pp.name, pp.sink)
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
	p.log.Info("pipeline: live", "outputs", len(pubs))
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
		pp.lastPTS = time.Duration(p.gop.lastPTS.Load())
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

// NextCard shows the next product's card.
func (p *Pipeline) NextCard() error {
	if p.comp == nil {
		return errNoCards
	}
	p.comp.Next()
	return nil
}

// PrevCard shows the previous product's card.
func (p *Pipeline) PrevCard() error {
	if p.comp == nil {
		return errNoCards
	}
	p.comp.Prev()
	return nil
}

// HideCard takes the card off the broadcast; NextCard or PrevCard bring
// it back.
func (p *Pipeline) HideCard() error {
	if p.comp == nil {
		return errNoCards
	}
	p.comp.Hide()
	return nil
}

// SelectCard shows product i's card.
func (p *Pipeline) SelectCard(i int) error {
	if p.comp == nil {
		return errNoCards
	}
	return p.comp.Select(i)
}

var errNoCards = errors.New("pipeline: no product cards (no catalogue or no font)")

// Card reports the card on the broadcast.
func (p *Pipeline) Card() Card {
	if p.comp == nil {
		return Card{Index: -1}
	}
	i, visible := p.comp.Current()
	c := Card{Index: i, Visible: visible}
	if i >= 0 && i < p.cfg.Catalog.Len() {
		c.Name = p.cfg.Catalog.Products[i].Name
	}
	return c
}

// Compositor is the overlay in use, nil without cards (tests identify
// cards in decoded frames with it).
func (p *Pipeline) Compositor() *overlay.Compositor { return p.comp }

// Mark remembers "I misspoke" now and protects the last MarkWindow of the
// recording from the ring's quota until the Hold is released (by whoever
// cuts the clip).
func (p *Pipeline) Mark() error {
	now := time.Now()
	m := Mark{At: now, PTS: now.Sub(p.cfg.Epoch)}
	if p.rec != nil && p.Live() {
		m.Hold = p.rec.Hold(now.Add(-p.cfg.MarkWindow), now.Add(5*time.Second))
	}
	p.marksMu.Lock()
	p.marks = append(p.marks, m)
	p.marksMu.Unlock()
	if p.cfg.OnMark != nil {
		go p.cfg.OnMark(m)
	}
	return nil
}

// Marks returns every mark so far, oldest first.
func (p *Pipeline) Marks() []Mark {
	p.marksMu.Lock()
	defer p.marksMu.Unlock()
	return append([]Mark(nil), p.marks...)
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

// Destinations are where GoLive publishes, in order, keys and tokens
// included.
func (p *Pipeline) Destinations() []Destination { return append([]Destination(nil), p.dests...) }

// Recorder is the recording ring, nil when recording is off.
func (p *Pipeline) Recorder() *record.Recorder { return p.rec }

// Epoch is the pipeline clock's zero.
func (p *Pipeline) Epoch() time.Time { return p.cfg.Epoch }

// Format is the video format of the broadcast.
func (p *Pipeline) Format() hw.VideoFormat { return p.format }

// OutputStats is one output's state.
type OutputStats struct {
	Name  string
	Queue fanout.QueueStats
	// RTMP or WHIP is set for publishers.
	RTMP *rtmp.Stats
	WHIP *whip.Stats
	// Destination is the publisher's destination name, URL its address
	// with the stream key or path removed.
	Destination string
	URL         string
}

// Stats is a snapshot of the whole pipeline.
type Stats struct {
	Live bool
	// Paused: capture and encoder stopped because nobody needed them;
	// Pauses and Resumes count those transitions.
	Paused          bool
	Pauses, Resumes int64
	FramesCaptured  int64
	CaptureErrors   int64
	Encoder         encode.Stats
	Outputs         []OutputStats
	PreviewReaders  int
	Recorder        *record.Stats // nil when recording is off
	AudioTapDrops   int64
	Card            Card
	// Video is the encoder's output now and whether adaptation moves it.
	Video VideoStatus
	// Destinations is every publisher's state while live, in
	// configuration order.
	Destinations []DestinationStats
	// LinkEvents counts network changes that kicked the publishers.
	LinkEvents int64
}

// Stats returns a snapshot.
func (p *Pipeline) Stats() Stats {
	s := Stats{
		Paused:         p.paused.Load(),
		Pauses:         p.pauses.Load(),
		Resumes:        p.resumes.Load(),
		FramesCaptured: p.framesIn.Load(),
		CaptureErrors:  p.captureErrors.Load(),
		Encoder:        p.enc.Stats(),
		Card:           p.Card(),
		LinkEvents:     p.linkEvents.Load(),
	}
	s.Video = p.videoStatus(s.Encoder)
	p.liveMu.Lock()
	s.Live = p.live
	live := append([]*publisher(nil), p.pubs...)
	p.liveMu.Unlock()
	pubs := map[string]*publisher{}
	for _, pp := range live {
		pubs[pp.name] = pp
		s.Destinations = append(s.Destinations, pp.stats())
	}
	for _, o := range p.fan.Outputs() {
		os := OutputStats{Name: o.Name(), Queue: o.Stats()}
		if pp := pubs[o.Name()]; pp != nil {
			os.Destination, os.URL = pp.dest.Name, pp.dest.shownURL()
			if pp.rtmp != nil {
				st := pp.rtmp.Stats()
				os.RTMP = &st
			} else {
				st := pp.whip.Stats()
				os.WHIP = &st
			}
		}
		s.Outputs = append(s.Outputs, os)
	}
	if p.preview != nil {
		s.PreviewReaders = p.preview.Readers()
	}
	if p.rec != nil {
		rs := p.rec.Stats()
		s.Recorder = &rs
	}
	p.tapMu.Lock()
	for _, t := range p.taps {
		s.AudioTapDrops += t.dropped.Load()
	}
	p.tapMu.Unlock()
	return s
}

// stallLimit is how long without frames counts as frozen.
const stallLimit = 2 * time.Second

// Healthy reports nil while frames are flowing: the camera delivered one
// and the encoder produced video within the last 2 s, or capture and the
// encoder are paused by design because nobody needs them. The systemd
// watchdog uses it.
func (p *Pipeline) Healthy() error {
	if !p.running.Load() {
		return errors.New("pipeline: not running")
	}
	if p.paused.Load() {
		return nil
	}
	now := time.Now()
	if d := now.Sub(time.Unix(0, p.lastFrame.Load())); d > stallLimit {
		return fmt.Errorf("pipeline: no camera frame for %v", d.Round(time.Millisecond))
	}
	if d := now.Sub(time.Unix(0, p.gop.lastVideo.Load())); p.gop.lastVideo.Load() != 0 && d > stallLimit {
		return fmt.Errorf("pipeline: no encoded video for %v", d.Round(time.Millisecond))
	} else if p.gop.lastVideo.Load() == 0 && now.Sub(time.Unix(0, p.runStart.Load())) > 3*stallLimit {
		return errors.New("pipeline: encoder has produced no video")
	}
	return nil
}

func (p *Pipeline) noteVideo() { p.gop.lastVideo.Store(time.Now().UnixNano()) }

// PreviewAddr is the address the RTSP preview listens on, "" when the
// preview is off or could not start.
func (p *Pipeline) PreviewAddr() string {
	if p.preview == nil {
		return ""
	}
	return p.cfg.PreviewAddr
}
