package tsdemux_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream"
	"github.com/cunbo/cunbo/stream/encode/tsdemux"
)

func TestDemuxRejectsBadInput(t *testing.T) {
	cases := []struct {
		name  string
		input []byte
	}{
		{"empty", nil},
		{"text", []byte(strings.Repeat("not a transport stream\n", 100))},
		{"sync bytes only", bytes.Repeat(append([]byte{0x47}, make([]byte, 187)...), 20)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tsdemux.Demux(bytes.NewReader(tc.input), tsdemux.Handler{
				Video: func(*stream.VideoUnit) { t.Error("video from garbage") },
			})
			if err == nil {
				t.Fatal("want error")
			}
		})
	}
}

// An audio-only stream has no video track to join at and is refused.
func TestDemuxNeedsVideo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "0.5", "-c:a", "aac", "-f", "mpegts", "pipe:1").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	if err := tsdemux.Demux(bytes.NewReader(out), tsdemux.Handler{}); err != tsdemux.ErrNoVideo {
		t.Fatalf("got %v, want ErrNoVideo", err)
	}
}

// A stream cut in the middle of a packet ends cleanly with what was whole.
func TestDemuxTruncatedStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-c:a", "aac", "-f", "mpegts", "pipe:1").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	var full, cut int
	if err := tsdemux.Demux(bytes.NewReader(out), tsdemux.Handler{Video: func(*stream.VideoUnit) { full++ }}); err != nil {
		t.Fatal(err)
	}
	if err := tsdemux.Demux(bytes.NewReader(out[:len(out)/2+77]), tsdemux.Handler{Video: func(*stream.VideoUnit) { cut++ }}); err != nil {
		t.Fatal(err)
	}
	if full < 29 || cut == 0 || cut >= full {
		t.Errorf("full %d units, cut %d", full, cut)
	}
}
