// Package wiretest builds real uploads for the review service's tests: a
// segment.json in the box's format, a real MP4 made by ffmpeg, and the tar
// that carries them.
package wiretest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/wire"
)

// At is the moment of the segments built here.
var At = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

// ID is a segment id of the box's shape.
func ID(n int) string {
	return At.Format("20060102") + "T093000000Z-" + string("0123456789abcdef"[n%16]) + "a1b2c3d"
}

// Clip makes a short real MP4 (H.264, 1 s) with ffmpeg.
func Clip(t testing.TB) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wiretest: ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Segment returns a valid version 2 segment (reason finding) with a clip of
// clipBytes bytes, or none when clipBytes is 0.
func Segment(id string, clipBytes int) *wire.Segment {
	text := "今天的辣椒酱全网最低价"
	s := &wire.Segment{
		Version: wire.SchemaVersion, ID: id, Reason: wire.ReasonFinding, Device: "box-1",
		At: At, Created: At.Add(12 * time.Second), Status: "pending", StatusAt: At.Add(12 * time.Second),
		Transcript: wire.Transcript{Text: text, Captions: []wire.Caption{{At: At.Add(-time.Second), Start: -1, End: 1.5, Text: text}}},
		Findings: []wire.Finding{{Category: "ABS", CategoryName: "绝对化用语", Rule: "abs-lowest", Start: 6, End: 11,
			Match: "全网最低价", Law: "广告法第九条", Explain: "x", Suggest: "y", At: At}},
		RulePack: "1",
	}
	if clipBytes > 0 {
		s.Clip = &wire.Clip{File: wire.ClipFile, Start: At.Add(-5 * time.Second), End: At.Add(2 * time.Second), Bytes: int64(clipBytes)}
	} else {
		s.ClipError = "record: no recorded video in the requested range"
	}
	return s
}

// JSON marshals v.
func JSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Entry is one file of a tar.
type Entry struct {
	Name string
	Body []byte
	Type byte // tar.TypeReg when zero
}

// Tar writes entries, in order, as an uncompressed POSIX (ustar/PAX) tar.
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.Name, Mode: 0o644, Size: int64(len(e.Body)), Typeflag: typ, ModTime: At, Format: tar.FormatPAX}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(e.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// SegmentTar is a valid segment tar for id, with clip when not nil.
func SegmentTar(t testing.TB, id string, clip []byte) []byte {
	t.Helper()
	seg := Segment(id, len(clip))
	entries := []Entry{{Name: wire.JSONFile, Body: JSON(t, seg)}}
	if clip != nil {
		entries = append(entries, Entry{Name: wire.ClipFile, Body: clip})
	}
	return Tar(t, entries...)
}
