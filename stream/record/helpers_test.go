package record

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cunbo/cunbo/stream/streamtest"
)

// startRecorder runs a Recorder until the returned stop is called (or the
// test ends).
func startRecorder(t testing.TB, cfg Config) (*Recorder, func()) {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.QuotaBytes == 0 {
		cfg.QuotaBytes = 1 << 30
	}
	if cfg.QueueUnits == 0 {
		cfg.QueueUnits = 1 << 16 // unpaced test streams arrive in bursts
	}
	rec, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return rec, stop
}

// recordStream records a generated stream of opts.Duration and stops the
// recorder.
func recordStream(t testing.TB, cfg Config, opts streamtest.Options) (*Recorder, streamtest.Result) {
	t.Helper()
	rec, stop := startRecorder(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := streamtest.Run(ctx, t, rec, opts)
	if err != nil {
		t.Fatalf("streamtest: %v", err)
	}
	stop()
	return rec, res
}

// segmentFiles lists the recorder's files in dir in name order.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, _, ok := parseSegmentName(e.Name()); ok {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

func scanFile(t testing.TB, path string) *segmentIndex {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := scanSegment(f, fi.Size())
	if err != nil {
		t.Fatalf("scan %s: %v", path, err)
	}
	return idx
}

type probeResult struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Duration  string `json:"duration"`
		NbFrames  string `json:"nb_read_packets"`
		Width     int    `json:"width"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func (p probeResult) duration() time.Duration {
	f, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return time.Duration(f * float64(time.Second))
}

// width is the video stream's, 0 without one.
func (p probeResult) width() int {
	for _, s := range p.Streams {
		if s.CodecType == "video" {
			return s.Width
		}
	}
	return 0
}

func (p probeResult) codecs() map[string]string {
	m := map[string]string{}
	for _, s := range p.Streams {
		m[s.CodecType] = s.CodecName
	}
	return m
}

// ffprobe checks that the real ffprobe reads the whole file without an
// error and returns what it found.
func ffprobe(t testing.TB, path string) probeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_packets",
		"-show_entries", "stream=codec_type,codec_name,duration,nb_read_packets,width:format=duration",
		"-of", "json", path)
	var stderr stringsBuilder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", path, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe %s reported: %s", filepath.Base(path), stderr.String())
	}
	var p probeResult
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	return p
}

// ffprobeDecode decodes every frame (not just the container) and fails on
// any decoder complaint.
func ffprobeDecode(t testing.TB, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("ffmpeg decode %s: %v: %s", filepath.Base(path), err, out)
	}
}

// firstVideoPacketKey reports whether ffprobe sees the first video packet
// as a keyframe.
func firstVideoPacketKey(t testing.TB, path string) bool {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=flags", "-read_intervals", "%+#1", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets: %v", err)
	}
	return len(out) > 0 && out[0] == 'K'
}

type stringsBuilder struct{ b []byte }

func (s *stringsBuilder) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *stringsBuilder) String() string              { return string(s.b) }
func (s *stringsBuilder) Len() int                    { return len(s.b) }

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
