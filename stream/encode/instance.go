package encode

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/cunbo/cunbo/internal/childproc"
	"github.com/cunbo/cunbo/internal/linelog"
	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/encode/tsdemux"
)

// instanceQueue is how many ticks an instance may fall behind (two seconds
// at 30 fps) before it counts as stalled; queued frames are shared, not
// copied.
const instanceQueue = 60

// startTimeout is how long ffmpeg may take to begin reading its input
// before the instance counts as hung.
const startTimeout = 10 * time.Second

// instance is one ffmpeg process and its feeders and demuxer.
//
// Ticks are not queued for a process that has not started reading: on a
// loaded machine ffmpeg's start-up alone (exec, libraries, opening the
// inputs) can take longer than the queue lasts, and it was then killed as
// stalled, over and over. It is given one warm-up frame (and a tick of
// silence) at once; when that has been read, it is fed from the current
// tick on and the warm-up frame is mapped to the tick before.
type instance struct {
	id    int
	out   Output
	codec Codec
	lead  time.Duration
	// start is the pipeline time its first frame (the warm-up) maps to,
	// set when ready fires; its first video unit maps there.
	start   time.Duration
	started time.Time // spawned
	readyAt time.Time // began reading; zero before
	// ready is closed when ffmpeg has read the warm-up frame; fed is set
	// (by Run) once ticks are being fed.
	ready chan struct{}
	fed   bool
	// cutAt is the pipeline time of the keyframe a live switch cuts over
	// at (start plus lead); zero for instances that are not a live
	// replacement, or not reading yet.
	cutAt time.Duration

	cmd    *exec.Cmd
	cancel context.CancelFunc
	video  chan *rawFrame
	audio  chan []byte
	done   chan struct{} // process gone and demuxer finished
	err    error         // why, read after done

	// Guarded by the encoder's outMu. anchored: start (and cutAt) are
	// set; early holds video that came out before.
	anchored  bool
	early     []*stream.VideoUnit
	offset    time.Duration // pipeline time minus ffmpeg time
	offsetSet bool
	tracks    stream.Tracks
	haveTrack bool
	stopping  bool
}

// ffmpegArgs builds the command line. "-probesize 32" stops ffmpeg from
// analysing raw inputs whose format the command line already states: by
// default it reads about a second of frames first, which made every
// instance's start-up, and so every bitrate change, a second slower
// (measured here: first output 1.02 s after the first frame, 0.1 s
// without). lead > 0 forces the first keyframe
// after the initial one at lead into the stream (later ones every GOP
// from there), so a live replacement has a keyframe at a time known in
// advance.
func (e *Encoder) ffmpegArgs(o Output, codec Codec, lead time.Duration) []string {
	in, au := e.cfg.Input, e.cfg.Audio
	gop := max(1, int(e.cfg.GOP.Seconds()*float64(o.FPS)+0.5))
	secs := strconv.FormatFloat(e.cfg.GOP.Seconds(), 'f', -1, 64)
	kbps := strconv.Itoa(o.VideoKbps) + "k"
	a := []string{"-hide_banner", "-nostdin", "-loglevel", "warning",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", fmt.Sprintf("%dx%d", in.Width, in.Height),
		"-framerate", strconv.Itoa(in.FPS), "-thread_queue_size", "64", "-probesize", "32", "-i", "pipe:0",
		"-f", "s16le", "-ar", strconv.Itoa(au.SampleRate), "-ac", strconv.Itoa(au.Channels),
		"-thread_queue_size", "64", "-probesize", "32", "-i", "pipe:3",
		"-map", "0:v", "-map", "1:a",
	}
	var filters []string
	if o.Width != in.Width || o.Height != in.Height {
		filters = append(filters, fmt.Sprintf("scale=%d:%d", o.Width, o.Height))
	}
	if o.FPS != in.FPS {
		filters = append(filters, fmt.Sprintf("fps=%d", o.FPS))
	}
	if len(filters) > 0 {
		f := filters[0]
		for _, x := range filters[1:] {
			f += "," + x
		}
		a = append(a, "-vf", f)
	}
	a = append(a, "-c:v", string(codec), "-pix_fmt", "yuv420p",
		"-b:v", kbps, "-maxrate", kbps, "-bufsize", kbps,
		"-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-bf", "0",
		"-force_key_frames", "expr:gte(t,"+strconv.FormatFloat(lead.Seconds(), 'f', -1, 64)+"+n_forced*"+secs+")")
	switch codec {
	case CodecX264:
		a = append(a, "-preset", "ultrafast", "-tune", "zerolatency", "-sc_threshold", "0",
			"-x264-params", "repeat-headers=1")
	default:
		// Hardware encoders put SPS/PPS in extradata only; copy them in
		// front of every keyframe so outputs can join anywhere.
		a = append(a, "-bsf:v", "dump_extra=freq=keyframe")
	}
	a = append(a, "-c:a", "aac", "-b:a", strconv.Itoa(e.cfg.AudioKbps)+"k",
		"-muxdelay", "0", "-muxpreload", "0", "-pes_payload_size", "0", "-flush_packets", "1",
		"-f", "mpegts", "pipe:1")
	return a
}

// startInstance launches ffmpeg and gives it a warm-up frame; units it produces go
// through e.onVideo and friends, tagged with the instance. The caller
// feeds it ticks once ready fires (beginFeeding).
func (e *Encoder) startInstance(id int, o Output, codec Codec, lead time.Duration) (*instance, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, e.cfg.FFmpeg, e.ffmpegArgs(o, codec, lead)...)
	cmd.WaitDelay = 2 * time.Second
	// A few lines a second, so a misbehaving encoder cannot flood the
	// journal.
	cmd.Stderr = linelog.New(linelog.Config{Logger: e.log, Level: slog.LevelWarn, Msg: "ffmpeg", Attrs: []any{"instance", id}})
	videoIn, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("encode: stdin pipe: %w", err)
	}
	audioR, audioW, err := os.Pipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("encode: audio pipe: %w", err)
	}
	cmd.ExtraFiles = []*os.File{audioR}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		audioR.Close()
		audioW.Close()
		return nil, fmt.Errorf("encode: stdout pipe: %w", err)
	}
	if err := childproc.Start(cmd); err != nil {
		cancel()
		audioR.Close()
		audioW.Close()
		return nil, fmt.Errorf("encode: start %s: %w", e.cfg.FFmpeg, err)
	}
	audioR.Close() // the child has its copy
	in := &instance{
		id: id, out: o, codec: codec, lead: lead, started: time.Now(),
		ready: make(chan struct{}),
		cmd:   cmd, cancel: cancel,
		video: make(chan *rawFrame, instanceQueue),
		audio: make(chan []byte, instanceQueue),
		done:  make(chan struct{}),
	}
	warmUp, warmUpAudio := e.warmUp()
	in.video <- warmUp
	in.audio <- warmUpAudio
	go func() {
		failed, first := false, true
		for f := range in.video {
			if !failed {
				if _, err := videoIn.Write(f.data); err != nil {
					failed = true
					cancel() // a broken pipe means ffmpeg is gone or stuck
				} else if first {
					first = false
					close(in.ready)
				}
			}
			f.release()
		}
		videoIn.Close()
	}()
	go func() {
		failed := false
		for b := range in.audio {
			if !failed {
				if _, err := audioW.Write(b); err != nil {
					failed = true
					cancel()
				}
			}
		}
		audioW.Close()
	}()
	go func() {
		defer close(in.done)
		demuxErr := tsdemux.Demux(out, tsdemux.Handler{
			Tracks: func(t stream.Tracks) { e.onTracks(in, t) },
			Video:  func(u *stream.VideoUnit) { e.onVideo(in, u) },
			Audio:  func(u *stream.AudioUnit) { e.onAudio(in, u) },
			DecodeError: func(err error) {
				e.log.Debug("encoder output damaged", "instance", id, "err", err)
			},
		})
		_, _ = io.Copy(io.Discard, out)
		cancel()
		waitErr := cmd.Wait()
		switch {
		case demuxErr != nil:
			in.err = demuxErr
		case waitErr != nil:
			in.err = fmt.Errorf("ffmpeg exited: %w", waitErr)
		default:
			in.err = fmt.Errorf("ffmpeg exited")
		}
		// The feeders end when Run closes the queues (stop); done must not
		// wait for them, because Run stops an instance after seeing done.
	}()
	return in, nil
}

// feed queues one tick's picture and audio; false if the instance is so far
// behind that its queue is full (it is then treated as dead).
func (in *instance) feed(f *rawFrame, pcm []byte) bool {
	f.retain()
	select {
	case in.video <- f:
	default:
		f.release()
		return false
	}
	select {
	case in.audio <- pcm:
	default:
		return false
	}
	return true
}

// stop kills ffmpeg and closes the feed queues; only the Run goroutine,
// which is the only sender, calls it.
func (in *instance) stop() {
	in.cancel()
	close(in.video)
	close(in.audio)
}

// pid is for tests that kill ffmpeg.
func (in *instance) pid() int {
	if in.cmd.Process == nil {
		return 0
	}
	return in.cmd.Process.Pid
}
