package hw

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/cunbo/cunbo/internal/childproc"
	"github.com/cunbo/cunbo/internal/linelog"
)

// pipeVideo reads raw I420 frames from a child process's stdout. A reader
// goroutine keeps the pipe drained; live sources (cameras) drop the oldest
// unread frame so the device never stalls, file sources block instead so the
// decoder only runs as fast as frames are consumed.
type pipeVideo struct {
	format VideoFormat
	// stride is the luma row length in the pipe (≥ width); chroma rows are
	// stride/2. Cameras may pad rows to an alignment.
	stride int
	epoch  time.Time
	live   bool
	// ticker paces non-live sources at the frame rate; nil for live ones.
	ticker *time.Ticker

	cmd    *exec.Cmd
	cancel context.CancelFunc
	stderr *linelog.Writer

	frames chan []byte
	free   chan []byte
	done   chan struct{} // closed when the reader goroutine ends
	err    error         // why the reader ended; read after done

	closeOnce sync.Once
	// deviceMissing recognises "no such camera" in the child's stderr.
	deviceMissing func(stderr string) bool
}

type pipeVideoConfig struct {
	name          string // for errors: "rpicam", "v4l2", "file loop"
	path          string
	args          []string
	format        VideoFormat
	stride        int
	epoch         time.Time
	live          bool
	logger        *slog.Logger
	deviceMissing func(string) bool
}

func startPipeVideo(c pipeVideoConfig) (*pipeVideo, error) {
	if err := c.format.Validate(); err != nil {
		return nil, err
	}
	if c.stride == 0 {
		c.stride = c.format.Width
	}
	if c.stride < c.format.Width || c.stride%2 != 0 {
		return nil, fmt.Errorf("hw: %s: stride %d must be even and at least the width %d", c.name, c.stride, c.format.Width)
	}
	path, err := exec.LookPath(c.path)
	if err != nil {
		return nil, fmt.Errorf("hw: %s: executable %q not found: %w", c.name, c.path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, c.args...)
	cmd.WaitDelay = 2 * time.Second
	tail := newStderrTail(c.logger, c.name)
	cmd.Stderr = tail
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("hw: %s: %w", c.name, err)
	}
	if err := childproc.Start(cmd); err != nil {
		cancel()
		return nil, fmt.Errorf("hw: %s: start %s: %w", c.name, path, err)
	}
	p := &pipeVideo{
		format:        c.format,
		stride:        c.stride,
		epoch:         epochOr(c.epoch),
		live:          c.live,
		cmd:           cmd,
		cancel:        cancel,
		stderr:        tail,
		frames:        make(chan []byte, 1),
		free:          make(chan []byte, 3),
		done:          make(chan struct{}),
		deviceMissing: c.deviceMissing,
	}
	size := c.stride*c.format.Height + 2*(c.stride/2)*(c.format.Height/2)
	for range 3 {
		p.free <- make([]byte, size)
	}
	if !c.live {
		p.ticker = time.NewTicker(c.format.Interval())
	}
	go p.read(c.name, out)
	return p, nil
}

func (p *pipeVideo) read(name string, out io.Reader) {
	defer close(p.done)
	br := bufio.NewReaderSize(out, 1<<16)
	for {
		buf := <-p.free
		if _, err := io.ReadFull(br, buf); err != nil {
			werr := p.cmd.Wait()
			msg := p.stderr.Tail()
			switch {
			case p.deviceMissing != nil && p.deviceMissing(msg):
				p.err = fmt.Errorf("hw: %s: %w: %s", name, ErrNoDevice, msg)
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				p.err = fmt.Errorf("hw: %s: process ended (%v): %s", name, werr, msg)
			default:
				p.err = fmt.Errorf("hw: %s: read frame: %w", name, err)
			}
			return
		}
		if p.live {
			// Newest wins: swap out an unread frame rather than block.
			select {
			case old := <-p.frames:
				p.free <- old
			default:
			}
			p.frames <- buf
			continue
		}
		p.frames <- buf // blocking: backpressure on the decoder
	}
}

// readFrame waits for the next frame (and for the next tick when paced).
func (p *pipeVideo) readFrame(ctx context.Context, f *Frame) error {
	if err := checkFrame(f, p.format); err != nil {
		return err
	}
	if p.ticker != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ticker.C:
		}
	}
	var buf []byte
	select {
	case <-ctx.Done():
		return ctx.Err()
	case buf = <-p.frames:
	case <-p.done:
		// Frames read before the process ended still count.
		select {
		case buf = <-p.frames:
		default:
			return p.err
		}
	}
	p.copyOut(buf, f)
	f.PTS = pipelineTime(p.epoch)
	p.free <- buf
	return nil
}

func (p *pipeVideo) copyOut(buf []byte, f *Frame) {
	w, h, s := p.format.Width, p.format.Height, p.stride
	if s == w {
		n := w * h
		c := n / 4
		copy(f.Y, buf[:n])
		copy(f.U, buf[n:n+c])
		copy(f.V, buf[n+c:n+2*c])
		return
	}
	for y := 0; y < h; y++ {
		copy(f.Y[y*w:(y+1)*w], buf[y*s:])
	}
	cw, cs, ch := w/2, s/2, h/2
	u := buf[s*h:]
	v := u[cs*ch:]
	for y := 0; y < ch; y++ {
		copy(f.U[y*cw:(y+1)*cw], u[y*cs:])
		copy(f.V[y*cw:(y+1)*cw], v[y*cs:])
	}
}

func (p *pipeVideo) close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		if p.ticker != nil {
			p.ticker.Stop()
		}
		// Unblock a reader waiting to hand over a frame or for a buffer.
		go func() {
			for {
				select {
				case b := <-p.frames:
					p.free <- b
				case <-p.done:
					return
				}
			}
		}()
		<-p.done
	})
	return nil
}

// newStderrTail logs a child's stderr at debug level, a few lines a second,
// and keeps the last lines for the error message when it dies.
func newStderrTail(logger *slog.Logger, name string) *linelog.Writer {
	return linelog.New(linelog.Config{Logger: logger, Level: slog.LevelDebug, Msg: "child stderr",
		Attrs: []any{"source", name}, Keep: 8})
}
