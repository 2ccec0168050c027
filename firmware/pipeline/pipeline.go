package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/speech/resample"
	"github.com/cunbo/cunbo/stream/adapt"
	"github.com/cunbo/cunbo/stream/encode"
	"github.com/cunbo/cunbo/stream/fanout"
	"github.com/cunbo/cunbo/stream/preview"
	"github.com/cunbo/cunbo/stream/record"
)

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
	gop       *fanout.GOPCache
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
	lastVideo     atomic.Int64 // latest encoded video unit; 0 until the session's first
	runStart      atomic.Int64
	framesIn      atomic.Int64
	captureErrors atomic.Int64
	// upsample converts a low-rate microphone for the encoder; nil when
	// the source rate is broadcast quality already.
	upsample *resample.Resampler
	// capture times of recent frames, for latency measurement.
	captures captureLog
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

// Destinations are where GoLive publishes, in order, keys and tokens
// included.
func (p *Pipeline) Destinations() []Destination { return append([]Destination(nil), p.dests...) }

// Recorder is the recording ring, nil when recording is off.
func (p *Pipeline) Recorder() *record.Recorder { return p.rec }

// Epoch is the pipeline clock's zero.
func (p *Pipeline) Epoch() time.Time { return p.cfg.Epoch }

// Format is the video format of the broadcast.
func (p *Pipeline) Format() hw.VideoFormat { return p.format }

// PreviewAddr is the address the RTSP preview listens on, "" when the
// preview is off or could not start.
func (p *Pipeline) PreviewAddr() string {
	if p.preview == nil {
		return ""
	}
	return p.cfg.PreviewAddr
}
