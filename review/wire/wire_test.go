package wire_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/review/wiretest"
)

// v1 is a version 1 segment.json as firmware/flagged's fuzz corpus has it.
const v1 = `{"version": 1, "id": "20261128T093000000Z-0a1b2c3d", "reason": "finding", "device": "box-1", "at": "2026-11-28T09:30:00Z", "created": "2026-11-28T09:30:12Z", "status": "pending", "status_at": "2026-11-28T09:30:12Z", "clip": {"file": "clip.mp4", "start": "2026-11-28T09:29:45Z", "end": "2026-11-28T09:30:10Z", "bytes": 812345}, "transcript": {"text": "今天的辣椒酱全网最低价", "captions": [{"at": "2026-11-28T09:29:59Z", "start": -1, "end": 1.5, "offset": 0, "text": "今天的辣椒酱全网最低价"}]}, "findings": [{"category": "ABS", "category_name": "绝对化用语", "rule": "abs-lowest", "start": 6, "end": 11, "match": "全网最低价", "law": "广告法第九条", "explain": "x", "suggest": "y", "at": "2026-11-28T09:30:00Z"}], "rule_pack": "1"}`

func TestParseSegment(t *testing.T) {
	id := wiretest.ID(1)
	mut := func(f func(s *wire.Segment)) []byte {
		s := wiretest.Segment(id, 1000)
		f(s)
		b, _ := json.Marshal(s)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want string // "" = valid; else a part of the error
	}{
		{"v2 with clip", mut(func(*wire.Segment) {}), ""},
		{"v2 mark without clip", mut(func(s *wire.Segment) { s.Reason, s.Findings, s.Clip = wire.ReasonMark, nil, nil }), ""},
		{"v1", []byte(v1), ""},
		{"v3", mut(func(s *wire.Segment) { s.Version = 3 }), "version 3"},
		{"bad id", mut(func(s *wire.Segment) { s.ID = "../etc" }), "bad id"},
		{"unknown reason", mut(func(s *wire.Segment) { s.Reason = "x" }), "reason"},
		{"unknown status", mut(func(s *wire.Segment) { s.Status = "x" }), "status"},
		{"finding without findings", mut(func(s *wire.Segment) { s.Findings = nil }), "without findings"},
		{"no time", mut(func(s *wire.Segment) { s.At = time.Time{} }), "at or created"},
		{"clip backwards", mut(func(s *wire.Segment) { s.Clip.End = s.Clip.Start }), "clip"},
		{"clip other file", mut(func(s *wire.Segment) { s.Clip.File = "../x" }), "clip file"},
		{"span past the text", mut(func(s *wire.Segment) { s.Findings[0].End = 99 }), "span"},
		{"span before the caption", mut(func(s *wire.Segment) { s.Findings[0].Start = -1 }), "span"},
		{"empty span", mut(func(s *wire.Segment) { s.Findings[0].End = s.Findings[0].Start }), "span"},
		{"finding in no caption", mut(func(s *wire.Segment) { s.Findings[0].Caption = 1 }), "caption 1"},
		{"text not the captions", mut(func(s *wire.Segment) { s.Transcript.Text += "!" }), "joined"},
		{"caption offset", mut(func(s *wire.Segment) { s.Transcript.Captions[0].Offset = 1 }), "caption 0"},
		{"finding without rule", mut(func(s *wire.Segment) { s.Findings[0].Rule = "" }), "rule"},
		{"unknown field", []byte(strings.Replace(v1, `"version": 1,`, `"version": 1, "x": 1,`, 1)), "unknown field"},
		{"trailing", []byte(v1 + "}"), "trailing"},
		{"torn", []byte(v1[:100]), "segment.json"},
		{"not utf-8", []byte(strings.Replace(v1, `"text": "今天`, "\"text\": \"\xff", 1)), "segment.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := wire.ParseSegment(tc.data)
			if tc.want == "" {
				if err != nil || s == nil {
					t.Fatalf("valid segment refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestReadSegmentTar(t *testing.T) {
	clip := wiretest.Clip(t)
	id := wiretest.ID(2)
	segJSON := wiretest.JSON(t, wiretest.Segment(id, len(clip)))
	noClipJSON := wiretest.JSON(t, wiretest.Segment(id, 0))
	E := func(name string, body []byte) wiretest.Entry { return wiretest.Entry{Name: name, Body: body} }
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	good := wiretest.Tar(t, E("segment.json", segJSON), E("clip.mp4", clip))
	tests := []struct {
		name     string
		body     []byte
		wantClip int
		want     string
	}{
		{"with clip", good, len(clip), ""},
		{"without clip", wiretest.Tar(t, E("segment.json", noClipJSON)), 0, ""},
		{"clip first", wiretest.Tar(t, E("clip.mp4", clip), E("segment.json", segJSON)), 0, "first entry"},
		{"clip missing", wiretest.Tar(t, E("segment.json", segJSON)), 0, "missing"},
		{"clip not described", wiretest.Tar(t, E("segment.json", noClipJSON), E("clip.mp4", clip)), 0, "describes no clip"},
		{"clip size differs", wiretest.Tar(t, E("segment.json", segJSON), E("clip.mp4", clip[:len(clip)-1])), 0, "bytes"},
		{"clip not mp4", wiretest.Tar(t, E("segment.json", wiretest.JSON(t, wiretest.Segment(id, 100))), E("clip.mp4", bytes.Repeat([]byte("x"), 100))), 0, "not an MP4"},
		{"extra entry", wiretest.Tar(t, E("segment.json", segJSON), E("clip.mp4", clip), E("x", nil)), 0, "unexpected entry"},
		{"other name", wiretest.Tar(t, E("segment.json", noClipJSON), E("../clip.mp4", nil)), 0, "unexpected entry"},
		{"directory", wiretest.Tar(t, wiretest.Entry{Name: "segment.json", Type: tar.TypeDir}), 0, "not a regular file"},
		{"symlink", wiretest.Tar(t, wiretest.Entry{Name: "segment.json", Type: tar.TypeSymlink}), 0, "not a regular file"},
		{"gzipped", gz(good), 0, "segment tar"},
		{"truncated", good[:len(good)/2], 0, "segment tar"},
		{"empty", nil, 0, "first entry"},
		{"bad json", wiretest.Tar(t, E("segment.json", []byte("{"))), 0, "segment.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			seg, data, err := wire.ReadSegmentTar(bytes.NewReader(tc.body), func(r io.Reader, size int64) error {
				var err error
				got, err = io.ReadAll(r)
				if err == nil && int64(len(got)) != size {
					t.Errorf("clip %d bytes, header says %d", len(got), size)
				}
				return err
			})
			if tc.want == "" {
				if err != nil || seg == nil || seg.ID != id || len(data) == 0 || len(got) != tc.wantClip {
					t.Fatalf("valid tar: %v (clip %d bytes)", err, len(got))
				}
				if tc.wantClip > 0 && !bytes.Equal(got, clip) {
					t.Fatal("clip bytes differ")
				}
				return
			}
			if !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
	t.Run("clip sink fails", func(t *testing.T) {
		boom := errors.New("disk full")
		_, _, err := wire.ReadSegmentTar(bytes.NewReader(good), func(io.Reader, int64) error { return boom })
		if !errors.Is(err, boom) || errors.Is(err, wire.ErrInvalid) {
			t.Fatalf("err = %v; a storage failure must not read as the box's fault", err)
		}
	})
}

func TestParseSession(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"good", `{"version":1,"id":"s-20261128-1","device":"box-1","start":"2026-11-28T09:00:00Z","end":"2026-11-28T10:00:00Z","segments":["20261128T093000000Z-0a1b2c3d"],"viewers":12}`, ""},
		{"as the box writes it", `{"version":1,"id":"20261128T090000Z-0a1b2c3d","device":"box-1","start":"2026-11-28T09:00:00.123456789+08:00","end":"2026-11-28T10:00:00+08:00","segments":["20261128T093000000Z-0a1b2c3d"],"findings":3,"stalls":1}`, ""},
		{"negative count", `{"version":1,"id":"s1","start":"2026-11-28T09:00:00Z","end":"2026-11-28T10:00:00Z","stalls":-1}`, "negative"},
		{"live (no end yet)", `{"version":1,"id":"s1","start":"2026-11-28T09:00:00Z","end":"2026-11-28T09:00:00Z"}`, ""},
		{"version", `{"version":2,"id":"s1","start":"2026-11-28T09:00:00Z","end":"2026-11-28T10:00:00Z"}`, "version"},
		{"bad id", `{"version":1,"id":"../s1","start":"2026-11-28T09:00:00Z","end":"2026-11-28T10:00:00Z"}`, "bad id"},
		{"backwards", `{"version":1,"id":"s1","start":"2026-11-28T10:00:00Z","end":"2026-11-28T09:00:00Z"}`, "times"},
		{"bad segment id", `{"version":1,"id":"s1","start":"2026-11-28T09:00:00Z","end":"2026-11-28T10:00:00Z","segments":["x"]}`, "segment id"},
		{"trailing", `{"version":1,"id":"s1","start":"2026-11-28T09:00:00Z","end":"2026-11-28T10:00:00Z"}{}`, "trailing"},
		{"not json", `version=1`, "session record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wire.ParseSession([]byte(tc.data))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}
