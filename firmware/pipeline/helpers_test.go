package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/sharedtest"
	"github.com/cunbo/cunbo/overlay"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// sources opens the simulator's sources: the test pattern and a looping
// speech WAV, on one epoch.
func sources(t testing.TB, portrait bool, epoch time.Time) (hw.VideoSource, hw.AudioSource) {
	t.Helper()
	v, err := hw.NewTestPattern(hw.TestPatternConfig{Format: Format(portrait), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	a, err := hw.NewWAVLoop(hw.WAVLoopConfig{Path: sharedtest.Path(t, "speech", "tts-lajiao-zuidi.wav"), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	return v, a
}

func demoCatalog(t testing.TB) *overlay.Catalog {
	t.Helper()
	cat, err := overlay.DemoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// start builds the pipeline from cfg (sources filled in when nil) and runs
// it until the test ends.
func start(t testing.TB, cfg Config) *Pipeline {
	t.Helper()
	if cfg.Epoch.IsZero() {
		cfg.Epoch = time.Now()
	}
	if cfg.Video == nil {
		cfg.Video, cfg.Audio = sources(t, cfg.Portrait, cfg.Epoch)
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "Run", 30*time.Second, p.Run)
	waitFor(t, 10*time.Second, "encoded video", func() bool { return p.Stats().Encoder.VideoUnits > 0 })
	return p
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decodeFrame decodes video frame number n of a media file into I420.
func decodeFrame(t testing.TB, path string, n, w, h int) *hw.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path,
		"-vf", "select=eq(n\\,"+strconv.Itoa(n)+")", "-fps_mode", "passthrough", "-frames:v", "1",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("decode frame %d of %s: %v: %s", n, path, err, stderr.String())
	}
	f := hw.NewFrame(w, h)
	if out.Len() != w*h*3/2 {
		t.Fatalf("decoded frame %d: %d bytes, want %d", n, out.Len(), w*h*3/2)
	}
	r := bytes.NewReader(out.Bytes())
	for _, plane := range [][]byte{f.Y, f.U, f.V} {
		if _, err := io.ReadFull(r, plane); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func within(got, want, tol float64) error {
	if got < want-tol || got > want+tol {
		return fmt.Errorf("%.3f, want %.3f ± %.3f", got, want, tol)
	}
	return nil
}
