// Package encode runs the box's H.264 + AAC encoder: an ffmpeg child fed raw
// I420 frames on stdin and S16LE PCM on a second pipe (fd 3), whose MPEG-TS
// output is demuxed (stream/encode/tsdemux) into units for a stream.Sink.
//
// One clock drives everything: the encoder's ticker feeds exactly FPS frames
// a second, repeating the last picture when the camera is late, and the
// matching number of audio samples (silence if the microphone is short), so
// ffmpeg's timestamps are a fixed offset from the pipeline clock. Each
// ffmpeg instance gets its own offset, which lets the encoder replace the
// instance (new bitrate or size, or after a crash) without a jump in time.
//
// Whatever the order in which an old and a new instance's units meet, video
// DTS and audio PTS leave the encoder at least a millisecond apart (minStep:
// RTMP's resolution), and no video frame goes out after one it depends on
// was dropped.
package encode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/stream"
)

// Config configures an Encoder. Zero values pick the defaults noted.
type Config struct {
	// Input is the size and rate of frames given to WriteFrame; the tick
	// rate of the encoder's clock is Input.FPS.
	Input hw.VideoFormat
	// Audio is the PCM given to WriteAudio, default 48 kHz mono.
	Audio hw.AudioFormat
	// Output picks the encoded size, rate and bitrate. Zero width/height
	// and FPS mean the input's; VideoKbps defaults to 1500.
	Output Output
	// AudioKbps defaults to 96.
	AudioKbps int
	// GOP is the keyframe interval, default 2 s.
	GOP time.Duration
	// Codec forces an encoder; empty means detect with Probe.
	Codec Codec
	// Probe detects the hardware encoder; zero value means SystemProbe.
	Probe *Probe
	// FFmpeg is the executable, default "ffmpeg".
	FFmpeg string
	// Epoch is the pipeline clock's zero; zero means when Run starts.
	Epoch time.Time
	// MaxBackoff caps the wait between restarts after ffmpeg dies,
	// default 5 s (the first retry is after 100 ms).
	MaxBackoff time.Duration
	// LiveSwitch keeps the current instance's output flowing during a
	// switch and cuts over at the replacement's first keyframe after it,
	// instead of holding output until the replacement's first keyframe.
	// Holding shows viewers a stall of the replacement's start-up time
	// (about a second) at every change; live switching costs up to one
	// more GOP of running two encoders. Bitrate adaptation wants it.
	LiveSwitch bool
	// SwitchTimeout bounds how long a replacement instance may take to
	// produce its first keyframe before the change is abandoned, default 5 s.
	SwitchTimeout time.Duration
	Logger        *slog.Logger
}

// Output is what the encoder produces.
type Output struct {
	Width, Height int
	FPS           int
	VideoKbps     int
}

// Stats counts what the encoder has done.
type Stats struct {
	FramesIn       int64 // frames given to WriteFrame
	FramesRepeated int64 // ticks that re-sent the previous picture
	VideoUnits     int64 // H.264 access units delivered
	AudioUnits     int64 // AAC units delivered
	SilencePadded  int64 // audio sample frames of silence inserted
	AudioDropped   int64 // audio sample frames dropped (input too far ahead)
	Restarts       int64 // ffmpeg instances restarted after dying
	Switches       int64 // completed parameter changes
	Codec          Codec
	Output         Output // current (last completed) output parameters
}

// Encoder is safe for concurrent use: one goroutine calls Run, capture
// goroutines call WriteFrame and WriteAudio, control code calls the setters.
type Encoder struct {
	cfg  Config
	sink stream.Sink
	log  *slog.Logger

	// input side
	inMu     sync.Mutex
	latest   *rawFrame
	fresh    bool // latest not yet sent by a tick
	pool     *framePool
	pcm      []int16 // queued microphone samples
	framesIn int64

	// output side, guarded by outMu
	outMu sync.Mutex
	out   outputState
	stats Stats
	// startup is how long recent instances took from spawn to their
	// first unit, smoothed; it sets how soon a cut can be planned.
	startup time.Duration
	wantCh  chan Output // parameter change requests to Run
}

// New validates cfg. Run starts encoding.
func New(cfg Config, sink stream.Sink) (*Encoder, error) {
	if sink == nil {
		return nil, errors.New("encode: nil sink")
	}
	if err := cfg.Input.Validate(); err != nil {
		return nil, fmt.Errorf("encode: input: %w", err)
	}
	if cfg.Audio.SampleRate == 0 {
		cfg.Audio = hw.AudioFormat{SampleRate: 48000, Channels: 1}
	}
	if cfg.Audio.SampleRate < 8000 || cfg.Audio.SampleRate > 96000 || cfg.Audio.Channels < 1 || cfg.Audio.Channels > 2 {
		return nil, fmt.Errorf("encode: unsupported audio %d Hz × %d channels", cfg.Audio.SampleRate, cfg.Audio.Channels)
	}
	out, err := cfg.normalise(cfg.Output)
	if err != nil {
		return nil, err
	}
	cfg.Output = out
	if cfg.AudioKbps <= 0 {
		cfg.AudioKbps = 96
	}
	if cfg.GOP <= 0 {
		cfg.GOP = 2 * time.Second
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.SwitchTimeout <= 0 {
		cfg.SwitchTimeout = 5 * time.Second
		if cfg.LiveSwitch {
			cfg.SwitchTimeout += cfg.GOP // the cut waits for a later keyframe
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Encoder{
		cfg:    cfg,
		sink:   sink,
		log:    log,
		pool:   &framePool{size: cfg.Input.FrameSize()},
		wantCh: make(chan Output, 1),
	}
	e.stats.Output = out
	return e, nil
}

func (c *Config) normalise(o Output) (Output, error) {
	if o.Width == 0 && o.Height == 0 {
		o.Width, o.Height = c.Input.Width, c.Input.Height
	}
	if o.FPS == 0 {
		o.FPS = c.Input.FPS
	}
	if o.VideoKbps == 0 {
		o.VideoKbps = 1500
	}
	if err := (hw.VideoFormat{Width: o.Width, Height: o.Height, FPS: o.FPS}).Validate(); err != nil {
		return Output{}, fmt.Errorf("encode: output: %w", err)
	}
	if o.FPS > c.Input.FPS {
		return Output{}, fmt.Errorf("encode: output %d fps above input %d fps", o.FPS, c.Input.FPS)
	}
	if o.VideoKbps < 50 || o.VideoKbps > 20000 {
		return Output{}, fmt.Errorf("encode: video bitrate %d kbps outside 50..20000", o.VideoKbps)
	}
	return o, nil
}

// WriteFrame offers the newest picture; it is copied, so f can be reused.
// Frames of the wrong size are refused.
func (e *Encoder) WriteFrame(f *hw.Frame) error {
	in := e.cfg.Input
	if f == nil || f.Width != in.Width || f.Height != in.Height ||
		len(f.Y) < in.Width*in.Height || len(f.U) < in.Width*in.Height/4 || len(f.V) < in.Width*in.Height/4 {
		return fmt.Errorf("encode: frame does not match input %dx%d", in.Width, in.Height)
	}
	rf := e.pool.get()
	n := in.Width * in.Height
	copy(rf.data, f.Y[:n])
	copy(rf.data[n:], f.U[:n/4])
	copy(rf.data[n+n/4:], f.V[:n/4])
	e.inMu.Lock()
	old := e.latest
	e.latest, e.fresh = rf, true
	e.framesIn++
	e.inMu.Unlock()
	if old != nil {
		old.release()
	}
	return nil
}

// maxAudioQueue bounds microphone latency: anything older is dropped.
const maxAudioQueue = 250 * time.Millisecond

// WriteAudio queues interleaved PCM in the configured format.
func (e *Encoder) WriteAudio(pcm []int16) {
	ch := e.cfg.Audio.Channels
	limit := int(int64(e.cfg.Audio.SampleRate)*int64(maxAudioQueue)/int64(time.Second)) * ch
	e.inMu.Lock()
	e.pcm = append(e.pcm, pcm[:len(pcm)-len(pcm)%ch]...)
	var dropped int
	if len(e.pcm) > limit {
		dropped = len(e.pcm) - limit
		e.pcm = append(e.pcm[:0], e.pcm[dropped:]...)
	}
	e.inMu.Unlock()
	if dropped > 0 {
		e.outMu.Lock()
		e.stats.AudioDropped += int64(dropped / ch)
		e.outMu.Unlock()
	}
}

// SetBitrate changes the video bitrate within about one GOP and without a
// gap: a second ffmpeg starts at the new rate, and the output moves over
// at its first keyframe.
func (e *Encoder) SetBitrate(kbps int) error {
	e.outMu.Lock()
	o := e.out.target(e.stats.Output)
	e.outMu.Unlock()
	o.VideoKbps = kbps
	return e.SetOutput(o)
}

// SetOutput changes size, frame rate and bitrate the same way as SetBitrate.
// Outputs get SetTracks before the first unit in the new size.
func (e *Encoder) SetOutput(o Output) error {
	o, err := e.cfg.normalise(o)
	if err != nil {
		return err
	}
	e.outMu.Lock()
	e.out.requested = &o
	e.outMu.Unlock()
	// Latest request wins.
	select {
	case <-e.wantCh:
	default:
	}
	e.wantCh <- o
	return nil
}

// Stats returns a snapshot of the counters.
func (e *Encoder) Stats() Stats {
	e.inMu.Lock()
	in := e.framesIn
	e.inMu.Unlock()
	e.outMu.Lock()
	defer e.outMu.Unlock()
	s := e.stats
	s.FramesIn = in
	return s
}

// rawFrame is one I420 picture shared read-only by every instance it is
// queued to; the last holder returns it to the pool.
type rawFrame struct {
	data []byte
	refs int32
	pool *framePool
}

type framePool struct {
	mu   sync.Mutex
	size int
	free []*rawFrame
}

func (p *framePool) get() *rawFrame {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		f := p.free[n-1]
		p.free = p.free[:n-1]
		f.refs = 1
		return f
	}
	return &rawFrame{data: make([]byte, p.size), refs: 1, pool: p}
}

func (f *rawFrame) retain() {
	f.pool.mu.Lock()
	f.refs++
	f.pool.mu.Unlock()
}

func (f *rawFrame) release() {
	p := f.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	f.refs--
	if f.refs == 0 && len(p.free) < 8 {
		p.free = append(p.free, f)
	}
}

// FeedVideo copies frames from src into the encoder until ctx ends or src
// fails. The encoder's own clock decides when frames are encoded, so a slow
// or stalled source only causes repeats.
func (e *Encoder) FeedVideo(ctx context.Context, src hw.VideoSource) error {
	vf := src.Format()
	f := hw.NewFrame(vf.Width, vf.Height)
	for {
		if err := src.ReadFrame(ctx, f); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("encode: video source: %w", err)
		}
		if err := e.WriteFrame(f); err != nil {
			return err
		}
	}
}

// FeedAudio copies PCM from src into the encoder until ctx ends or src
// fails. src must produce the encoder's audio format.
func (e *Encoder) FeedAudio(ctx context.Context, src hw.AudioSource) error {
	if src.Format() != e.cfg.Audio {
		return fmt.Errorf("encode: audio source %+v, encoder expects %+v", src.Format(), e.cfg.Audio)
	}
	buf := make([]int16, 2048)
	for {
		n, err := src.ReadPCM(ctx, buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("encode: audio source: %w", err)
		}
		e.WriteAudio(buf[:n])
	}
}
