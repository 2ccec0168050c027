// Package streamtest gives tests a real encoded stream without a camera.
//
// Run (or Start, in the background) launches a real ffmpeg: lavfi testsrc2
// video and a sine tone, encoded with libx264 (ultrafast, zerolatency, a
// keyframe every GOP, no B-frames) and AAC, muxed to MPEG-TS on a pipe. The
// pipe is demuxed with the same code the encoder uses
// (stream/encode/tsdemux) and handed to a stream.Sink exactly as the
// encoder would: SetTracks first, then video and audio units in timestamp
// order on a clock that starts at zero with the first keyframe. Delivery is
// paced at real time unless Options.NoPace is set.
//
// ffmpeg must be on PATH (Debian package ffmpeg; `make test` installs it).
// Recorder is a ready-made Sink that keeps everything it receives.
//
//	rec := &streamtest.Recorder{}
//	res, err := streamtest.Run(ctx, t, rec, streamtest.Options{Duration: 3 * time.Second, NoPace: true})
package streamtest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/encode/tsdemux"
)

// Options shape the generated stream. Zero values pick the defaults noted.
type Options struct {
	// Duration of media to produce; 0 means until ctx is cancelled.
	Duration time.Duration
	// Width and Height default to 1280×720 (use 720×1280 for portrait).
	Width, Height int
	// FPS defaults to 30.
	FPS int
	// GOP is the keyframe interval, default 2 s.
	GOP time.Duration
	// VideoKbps is the libx264 target bitrate, default 1500.
	VideoKbps int
	// SampleRate defaults to 48000 (44100 also common); Channels to 2.
	SampleRate int
	Channels   int
	// NoPace delivers units as fast as ffmpeg makes them instead of at
	// real time.
	NoPace bool
	// FFmpeg is the executable, default "ffmpeg" from PATH.
	FFmpeg string
}

func (o *Options) setDefaults() {
	if o.Width <= 0 {
		o.Width = 1280
	}
	if o.Height <= 0 {
		o.Height = 720
	}
	if o.FPS <= 0 {
		o.FPS = 30
	}
	if o.GOP <= 0 {
		o.GOP = 2 * time.Second
	}
	if o.VideoKbps <= 0 {
		o.VideoKbps = 1500
	}
	if o.SampleRate <= 0 {
		o.SampleRate = 48000
	}
	if o.Channels <= 0 {
		o.Channels = 2
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
}

func (o Options) args() []string {
	gopFrames := max(1, int(o.GOP.Seconds()*float64(o.FPS)+0.5))
	a := []string{
		"-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", o.Width, o.Height, o.FPS),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=%d", o.SampleRate),
	}
	if o.Duration > 0 {
		a = append(a, "-t", strconv.FormatFloat(o.Duration.Seconds(), 'f', 3, 64))
	}
	a = append(a,
		"-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-pix_fmt", "yuv420p", "-profile:v", "baseline",
		"-b:v", fmt.Sprintf("%dk", o.VideoKbps), "-maxrate", fmt.Sprintf("%dk", o.VideoKbps),
		"-bufsize", fmt.Sprintf("%dk", 2*o.VideoKbps),
		"-g", strconv.Itoa(gopFrames), "-keyint_min", strconv.Itoa(gopFrames),
		"-sc_threshold", "0", "-bf", "0",
		"-x264-params", "repeat-headers=1",
		"-c:a", "aac", "-b:a", "96k", "-ar", strconv.Itoa(o.SampleRate), "-ac", strconv.Itoa(o.Channels),
		"-muxdelay", "0", "-muxpreload", "0", "-pes_payload_size", "0", "-flush_packets", "1",
		"-f", "mpegts", "pipe:1",
	)
	return a
}

// Result summarises what Run delivered.
type Result struct {
	Tracks     stream.Tracks
	VideoUnits int
	AudioUnits int
	// Last is the timestamp of the last delivered unit.
	Last time.Duration
}

// Run produces a stream into sink and returns when it ends: after
// Options.Duration, when ctx is cancelled (a normal stop: nil error), or
// when ffmpeg fails. It reports failures as errors rather than through t,
// so it is safe to call from any goroutine; t may be nil.
func Run(ctx context.Context, t testing.TB, sink stream.Sink, opts Options) (Result, error) {
	if t != nil {
		t.Helper()
	}
	opts.setDefaults()
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	path, err := exec.LookPath(opts.FFmpeg)
	if err != nil {
		return Result{}, fmt.Errorf("streamtest: ffmpeg not found (install Debian package ffmpeg): %w", err)
	}
	cmd := exec.CommandContext(ctx, path, opts.args()...)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, fmt.Errorf("streamtest: stdout pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("streamtest: start ffmpeg: %w", err)
	}

	p := &pacer{ctx: ctx, sink: sink, pace: !opts.NoPace, fps: opts.FPS}
	demuxErr := tsdemux.Demux(out, tsdemux.Handler{
		Tracks: p.tracks,
		Video:  p.video,
		Audio:  p.audio,
	})
	p.flush()
	if demuxErr != nil {
		cancel() // make ffmpeg exit so Wait cannot hang on a full pipe
	}
	waitErr := cmd.Wait()

	res := p.res
	switch {
	case parent.Err() != nil:
		return res, nil
	case demuxErr != nil:
		return res, fmt.Errorf("streamtest: %w (ffmpeg: %s)", demuxErr, stderr.String())
	case waitErr != nil:
		return res, fmt.Errorf("streamtest: ffmpeg: %w: %s", waitErr, stderr.String())
	}
	return res, nil
}

// Stream is a stream running in the background, see Start.
type Stream struct {
	cancel context.CancelFunc
	done   chan struct{}
	res    Result
	err    error
}

// Start runs Run in a goroutine. The stream stops when ctx is cancelled,
// when Stop is called, or at the end of the test (t.Cleanup), which also
// reports an unexpected error with t.Errorf.
func Start(ctx context.Context, t testing.TB, sink stream.Sink, opts Options) *Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.res, s.err = Run(ctx, nil, sink, opts)
	}()
	t.Cleanup(func() {
		if _, err := s.Stop(); err != nil {
			t.Errorf("streamtest: background stream: %v", err)
		}
	})
	return s
}

// Done is closed when the stream has ended.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Wait blocks until the stream ends on its own (Duration) or is stopped.
func (s *Stream) Wait() (Result, error) {
	<-s.done
	return s.res, s.err
}

// Stop ends the stream and waits for it.
func (s *Stream) Stop() (Result, error) {
	s.cancel()
	return s.Wait()
}

// pacer merges the two tracks into timestamp order, rebases time so the
// first keyframe is zero, and sleeps until each unit is due.
type pacer struct {
	ctx     context.Context
	sink    stream.Sink
	pace    bool
	fps     int
	stopped bool

	started bool
	origin  time.Duration // muxer time of the first keyframe's DTS
	wall    time.Time

	videoQ []*stream.VideoUnit
	audioQ []*stream.AudioUnit
	res    Result
}

func (p *pacer) tracks(t stream.Tracks) {
	if t.FPS == 0 {
		t.FPS = p.fps
	}
	p.res.Tracks = t
	if p.stopped {
		return
	}
	// Units queued under the old parameters go out first.
	p.drain(true)
	p.sink.SetTracks(t)
}

func (p *pacer) video(u *stream.VideoUnit) {
	if !p.started {
		p.started = true
		p.origin = u.DTS
		p.wall = time.Now()
	}
	u.PTS -= p.origin
	u.DTS -= p.origin
	p.videoQ = append(p.videoQ, u)
	p.drain(false)
}

func (p *pacer) audio(u *stream.AudioUnit) {
	u.PTS -= p.origin
	p.audioQ = append(p.audioQ, u)
	p.drain(false)
}

func (p *pacer) flush() { p.drain(true) }

// drain emits the earlier head while both queues have one (or everything
// when all is set).
func (p *pacer) drain(all bool) {
	for !p.stopped {
		var v *stream.VideoUnit
		var a *stream.AudioUnit
		if len(p.videoQ) > 0 {
			v = p.videoQ[0]
		}
		if len(p.audioQ) > 0 {
			a = p.audioQ[0]
		}
		if v == nil && a == nil || !all && (v == nil || a == nil) {
			return
		}
		if v != nil && (a == nil || v.DTS <= a.PTS) {
			p.videoQ = p.videoQ[1:]
			if !p.wait(v.DTS) {
				return
			}
			p.sink.WriteVideo(v)
			p.res.VideoUnits++
			p.res.Last = max(p.res.Last, v.DTS)
		} else {
			p.audioQ = p.audioQ[1:]
			if !p.wait(a.PTS) {
				return
			}
			p.sink.WriteAudio(a)
			p.res.AudioUnits++
			p.res.Last = max(p.res.Last, a.PTS)
		}
	}
}

// wait sleeps until media time ts is due on the wall clock; false once the
// context is done.
func (p *pacer) wait(ts time.Duration) bool {
	if p.ctx.Err() != nil {
		p.stopped = true
		return false
	}
	if !p.pace {
		return true
	}
	d := time.Until(p.wall.Add(ts))
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-p.ctx.Done():
		p.stopped = true
		return false
	}
}

// tailBuffer keeps the last few KiB of ffmpeg's stderr for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4096

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailMax {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.TrimSpace(b.buf))
}
