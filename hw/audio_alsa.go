package hw

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cunbo/cunbo/internal/childproc"
	"github.com/cunbo/cunbo/internal/linelog"
)

// ALSAConfig configures an ALSA microphone.
type ALSAConfig struct {
	// Device is the ALSA PCM name, default "default" (e.g. "hw:1,0",
	// "plughw:CARD=Device").
	Device string
	Format AudioFormat
	// FFmpeg is the executable, default "ffmpeg".
	FFmpeg string
	Logger *slog.Logger
}

// ALSA captures a microphone through ffmpeg's alsa input as S16LE at the
// requested rate and channel count (ffmpeg resamples if the card cannot).
type ALSA struct {
	format AudioFormat
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stderr *linelog.Writer

	chunks  chan []int16
	done    chan struct{}
	err     error
	pending []int16
	once    sync.Once
}

// alsaChunkFrames is 20 ms at 48 kHz; reads return at most this much.
const alsaChunkFrames = 960

// NewALSA starts capture. A missing card shows up as an error wrapping
// ErrNoDevice from the first ReadPCM.
func NewALSA(cfg ALSAConfig) (*ALSA, error) {
	f := cfg.Format
	if f.SampleRate < 8000 || f.SampleRate > 192000 || f.Channels < 1 || f.Channels > 8 {
		return nil, fmt.Errorf("hw: alsa: unsupported format %d Hz × %d channels", f.SampleRate, f.Channels)
	}
	dev := orDefault(cfg.Device, "default")
	path, err := exec.LookPath(orDefault(cfg.FFmpeg, "ffmpeg"))
	if err != nil {
		return nil, fmt.Errorf("hw: alsa: ffmpeg not found: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "alsa", "-thread_queue_size", "64", "-i", dev,
		"-vn", "-ar", strconv.Itoa(f.SampleRate), "-ac", strconv.Itoa(f.Channels),
		"-f", "s16le", "pipe:1")
	cmd.WaitDelay = 2 * time.Second
	tail := newStderrTail(cfg.Logger, "alsa "+dev)
	cmd.Stderr = tail
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("hw: alsa: %w", err)
	}
	if err := childproc.Start(cmd); err != nil {
		cancel()
		return nil, fmt.Errorf("hw: alsa: start ffmpeg: %w", err)
	}
	a := &ALSA{format: f, cmd: cmd, cancel: cancel, stderr: tail,
		chunks: make(chan []int16, 50), done: make(chan struct{})}
	go a.read(dev, out)
	return a, nil
}

func (a *ALSA) read(dev string, out io.Reader) {
	defer close(a.done)
	br := bufio.NewReaderSize(out, 1<<14)
	raw := make([]byte, 2*alsaChunkFrames*a.format.Channels)
	for {
		n, err := io.ReadFull(br, raw)
		n -= n % (2 * a.format.Channels)
		if n > 0 {
			s := make([]int16, n/2)
			for i := range s {
				s[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
			}
			a.chunks <- s
		}
		if err != nil {
			werr := a.cmd.Wait()
			msg := a.stderr.Tail()
			if strings.Contains(msg, "No such file or directory") || strings.Contains(msg, "No such device") ||
				strings.Contains(msg, "cannot find card") || strings.Contains(msg, "Unknown PCM") {
				a.err = fmt.Errorf("hw: alsa %s: %w: %s", dev, ErrNoDevice, msg)
			} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				a.err = fmt.Errorf("hw: alsa %s: capture ended (%v): %s", dev, werr, msg)
			} else {
				a.err = fmt.Errorf("hw: alsa %s: read: %w", dev, err)
			}
			return
		}
	}
}

// Format implements AudioSource.
func (a *ALSA) Format() AudioFormat { return a.format }

// ReadPCM implements AudioSource.
func (a *ALSA) ReadPCM(ctx context.Context, buf []int16) (int, error) {
	ch := a.format.Channels
	want := len(buf) - len(buf)%ch
	if want == 0 {
		return 0, fmt.Errorf("hw: buffer of %d samples holds no %d-channel frame", len(buf), ch)
	}
	if len(a.pending) == 0 {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case a.pending = <-a.chunks:
		case <-a.done:
			select {
			case a.pending = <-a.chunks:
			default:
				return 0, a.err
			}
		}
	}
	n := copy(buf[:want], a.pending)
	a.pending = a.pending[n:]
	return n, nil
}

// Close stops capture.
func (a *ALSA) Close() error {
	a.once.Do(func() {
		a.cancel()
		go func() {
			for {
				select {
				case <-a.chunks:
				case <-a.done:
					return
				}
			}
		}()
		<-a.done
	})
	return nil
}
