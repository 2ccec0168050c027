// Package linelog turns a child process's stderr (ffmpeg, rpicam-vid,
// arecord) into log lines. A misbehaving child can print thousands of
// lines a second; on the box they would fill the journal on the SD card
// and bury everything else, so only a few lines a second are logged and the
// rest are counted. The last lines are kept for the error message when the
// child dies, which is where they are most useful.
package linelog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultPerSecond = 5
	// maxPartial bounds a line without a newline (a progress line that
	// rewrites itself with \r, a binary dump): it is logged as it is.
	maxPartial = 4096
)

// Config says where the lines go.
type Config struct {
	// Logger receives the lines; nil logs nothing (the tail is still
	// kept).
	Logger *slog.Logger
	// Level of every line and of the count of lines left out.
	Level slog.Level
	// Msg is each line's message; the line itself is the "line"
	// attribute.
	Msg string
	// Attrs are added to every record (which child this is).
	Attrs []any
	// PerSecond is how many lines are logged in a second at most;
	// default DefaultPerSecond.
	PerSecond int
	// Keep is how many of the last lines Tail returns; 0 keeps none.
	Keep int
}

// Writer is an io.Writer for exec.Cmd's Stderr. It is safe for
// concurrent use.
type Writer struct {
	cfg Config
	now func() time.Time // a test's clock

	mu      sync.Mutex
	partial []byte
	lines   []string
	window  time.Time
	logged  int
	dropped int
}

// New returns a Writer for c.
func New(c Config) *Writer {
	if c.PerSecond <= 0 {
		c.PerSecond = DefaultPerSecond
	}
	return &Writer{cfg: c, now: time.Now}
}

// Write never fails, so a noisy child is never blocked or killed by its
// own stderr.
func (w *Writer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(bytes.TrimSpace(w.partial[:i])), w.now())
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > maxPartial {
		w.line(string(w.partial), w.now())
		w.partial = w.partial[:0]
	}
	return len(b), nil
}

func (w *Writer) line(s string, now time.Time) {
	if s == "" {
		return
	}
	if w.cfg.Keep > 0 {
		w.lines = append(w.lines, s)
		if len(w.lines) > w.cfg.Keep {
			w.lines = w.lines[len(w.lines)-w.cfg.Keep:]
		}
	}
	if w.cfg.Logger == nil {
		return
	}
	if now.Sub(w.window) >= time.Second {
		if w.dropped > 0 {
			w.log("stderr lines suppressed", "count", w.dropped)
		}
		w.window, w.logged, w.dropped = now, 0, 0
	}
	if w.logged >= w.cfg.PerSecond {
		w.dropped++
		return
	}
	w.logged++
	w.log(w.cfg.Msg, "line", s)
}

func (w *Writer) log(msg string, args ...any) {
	all := make([]any, 0, len(w.cfg.Attrs)+len(args))
	all = append(append(all, w.cfg.Attrs...), args...)
	w.cfg.Logger.Log(context.Background(), w.cfg.Level, msg, all...)
}

// Tail is the last Keep lines, and any unfinished one, joined with " | "
// for an error message.
func (w *Writer) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := w.lines
	if len(w.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(bytes.TrimSpace(w.partial)))
	}
	return strings.Join(lines, " | ")
}
