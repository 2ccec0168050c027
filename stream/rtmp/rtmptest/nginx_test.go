package rtmptest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestPublishRecordProbe pushes a short clip with ffmpeg (an independent
// RTMP client) and checks nginx recorded it and Probe reads it back.
func TestPublishRecordProbe(t *testing.T) {
	s := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-f", "flv", s.URL("probe"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg push: %v: %s\n%s", err, out, s.ErrorLog())
	}
	// nginx closes the recording when the publisher goes away.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	r, err := Probe(s.RecordingPath("probe"))
	if err != nil {
		t.Fatal(err)
	}
	v, a := r.Video(), r.Audio()
	if v == nil || a == nil {
		t.Fatalf("streams = %+v, want video and audio", r.Streams)
	}
	if v.CodecName != "h264" || v.Width != 320 || v.Height != 240 {
		t.Errorf("video = %+v", *v)
	}
	if a.CodecName != "aac" || a.SampleRate != 44100 {
		t.Errorf("audio = %+v", *a)
	}
	if d := r.Duration; d < 1500*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("duration = %v, want ~2s", d)
	}
	if len(r.PacketsOf(v.Index)) < 40 {
		t.Errorf("only %d video packets", len(r.PacketsOf(v.Index)))
	}
	if err := r.CheckMonotonic(v.Index); err != nil {
		t.Error(err)
	}
}

func TestRestartSamePort(t *testing.T) {
	s := New(t)
	addr := s.Addr()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Fatalf("addr %s after restart, want %s", s.Addr(), addr)
	}
}

func TestStartErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Start(ctx, Config{}); err == nil {
		t.Error("Start without Dir succeeded")
	}
	dir := t.TempDir()
	if _, err := Start(ctx, Config{Dir: dir, ModulePath: filepath.Join(dir, "missing.so")}); err == nil {
		t.Error("Start with a missing module succeeded")
	}
}

func TestParseProbe(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
		check   func(*ProbeResult) bool
	}{
		{"garbage", "not json", true, nil},
		{"rates", `{"format":{"duration":"1.5"},"streams":[{"index":0,"codec_type":"video","avg_frame_rate":"0/0","r_frame_rate":"30000/1001"}]}`,
			false, func(r *ProbeResult) bool {
				return r.Duration == 1500*time.Millisecond && r.Video().FrameRate > 29.9 && r.Video().FrameRate < 30
			}},
		{"na", `{"format":{"duration":"N/A"},"packets":[{"stream_index":0,"pts_time":"N/A","flags":"K__"}]}`,
			false, func(r *ProbeResult) bool { return r.Duration == 0 && r.Packets[0].Key && r.Audio() == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseProbe([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.check != nil && !tt.check(r) {
				t.Errorf("unexpected result %+v", r)
			}
		})
	}
}

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		// make deps installs it; failing loudly beats skipping in CI.
		os.Stderr.WriteString("ffprobe not installed: run make deps\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}
