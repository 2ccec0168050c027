package flagged

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// twoCaptions is a version 2 segment: two utterances, a phrase said across
// them (全网 | 最低价).
func twoCaptions(at time.Time) Segment {
	return Segment{
		Reason: ReasonFinding, Device: "box-1", At: at,
		Transcript: Transcript{
			Text: "我们家是全网\n最低价",
			Captions: []Caption{
				{At: at.Add(-time.Second), Start: -1, End: 0.5, Offset: 0, Text: "我们家是全网"},
				{At: at.Add(600 * time.Millisecond), Start: 0.6, End: 1.2, Offset: 7, Text: "最低价"},
			},
		},
		Findings: []Finding{{Category: "ABS", CategoryName: "绝对化用语", Rule: "abs-lowest", Caption: 0, Start: 4, End: 10, Match: "全网最低价", At: at}},
	}
}

func TestVersion2Spans(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Segment)
		ok   bool
	}{
		{"across two captions", func(*Segment) {}, true},
		{"empty span", func(s *Segment) { s.Findings[0].End = s.Findings[0].Start }, false},
		{"span on the separator only", func(s *Segment) { s.Findings[0].Start, s.Findings[0].End = 6, 7 }, false},
		{"span begins outside its caption", func(s *Segment) { s.Findings[0].Caption = 1 }, false},
		{"caption index out of range", func(s *Segment) { s.Findings[0].Caption = 2 }, false},
		{"text not the captions joined", func(s *Segment) { s.Transcript.Text = "我们家是全网最低价" }, false},
		{"caption offset wrong", func(s *Segment) { s.Transcript.Captions[1].Offset = 6 }, false},
		{"caption with a separator", func(s *Segment) {
			s.Transcript.Captions[1].Text = "最低\n价"
			s.Transcript.Text = "我们家是全网\n最低\n价"
		}, false},
		{"pending clip and a clip", func(s *Segment) {
			s.ClipPending = &Range{From: t0, To: t0.Add(time.Second)}
			s.Clip = &Clip{File: ClipFile}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := twoCaptions(t0)
			s.Version, s.ID, s.Status = SchemaVersion, NewID(t0), StatusPending
			tc.edit(&s)
			err := s.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && s.Said(s.Findings[0]) != "全网最低价" {
				t.Fatalf("Said = %q", s.Said(s.Findings[0]))
			}
		})
	}
}

// TestReadsVersion1Segments: a segment written by the version 1 code (texts
// joined with nothing) is still read, and a status change keeps it as it is.
func TestReadsVersion1Segments(t *testing.T) {
	dir := t.TempDir()
	id := "20261128T093000000Z-0a1b2c3d"
	v1 := `{"version":1,"id":"` + id + `","reason":"finding","device":"box-1","at":"2026-11-28T09:30:00Z",
"created":"2026-11-28T09:30:12Z","status":"pending","status_at":"2026-11-28T09:30:12Z",
"clip":{"file":"clip.mp4","start":"2026-11-28T09:29:45Z","end":"2026-11-28T09:30:10Z","bytes":3},
"transcript":{"text":"大家好今天的辣椒酱全网最低价","captions":[
 {"at":"2026-11-28T09:29:57Z","start":-3,"end":-2,"offset":0,"text":"大家好"},
 {"at":"2026-11-28T09:29:59Z","start":-1,"end":1.5,"offset":3,"text":"今天的辣椒酱全网最低价"}]},
"findings":[{"category":"ABS","category_name":"绝对化用语","rule":"abs-lowest","start":9,"end":14,"match":"全网最低价","law":"x","explain":"y","suggest":"z","at":"2026-11-28T09:30:00Z"}],
"rule_pack":"1"}`
	if err := os.Mkdir(filepath.Join(dir, id), 0o750); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, id, JSONFile), []byte(v1), 0o640)
	os.WriteFile(filepath.Join(dir, id, ClipFile), []byte("mp4"), 0o640)
	s := open(t, dir, 0)
	seg, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if seg.Version != 1 || seg.Said(seg.Findings[0]) != "全网最低价" {
		t.Fatalf("version 1 segment read as %+v", seg)
	}
	if err := s.SetStatus(id, StatusUploaded); err != nil {
		t.Fatal(err)
	}
	again, err := open(t, dir, 0).Get(id)
	if err != nil || again.Version != 1 || again.Status != StatusUploaded || again.Transcript.Text != seg.Transcript.Text {
		t.Fatalf("after a status change: %+v %v", again, err)
	}
}

// TestTranscriptFirstClipLater: the segment is on disk, transcript and
// findings, before there is any clip; a finding joins it; then the clip
// arrives. Each step survives a reopen.
func TestTranscriptFirstClipLater(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	in := findingSegment(t0)
	in.ClipPending = &Range{From: t0.Add(-6 * time.Second), To: t0.Add(4 * time.Second)}
	seg, err := s.Create(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := open(t, dir, 0).Get(seg.ID)
	if err != nil || got.ClipPending == nil || got.Clip != nil || len(got.Findings) != 1 {
		t.Fatalf("written at once: %+v %v", got, err)
	}
	if st := s.Stats(); st.ClipsPending != 1 || st.Pending != 1 || st.Segments != 1 {
		t.Fatalf("stats %+v", st)
	}
	_, err = s.Update(seg.ID, func(g *Segment) error {
		g.Transcript.Captions = append(g.Transcript.Captions, Caption{At: t0.Add(3 * time.Second), Start: 3, End: 4, Offset: 12, Text: "第一"})
		g.Transcript.Text += CaptionSep + "第一"
		g.Findings = append(g.Findings, Finding{Category: "ABS", Rule: "abs-first", Caption: 1, Start: 12, End: 14, Match: "第一", At: t0.Add(3 * time.Second)})
		g.ClipPending.To = t0.Add(6 * time.Second)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(seg.ID, func(g *Segment) error { g.Findings[1].End = 12; return nil }); err == nil {
		t.Fatal("an empty span was written")
	}
	if _, err := s.Update(seg.ID, func(g *Segment) error { g.Clip = &Clip{File: ClipFile}; return nil }); err == nil {
		t.Fatal("Update added a clip")
	}
	seg, err = s.AttachClip(seg.ID, writeBytes(5000))
	if err != nil {
		t.Fatal(err)
	}
	got, err = open(t, dir, 0).Get(seg.ID)
	if err != nil || got.Clip == nil || got.Clip.Bytes != 5000 || got.ClipPending != nil || len(got.Findings) != 2 || got.Updated.IsZero() {
		t.Fatalf("after the clip: %+v %v", got, err)
	}
	// A clip that cannot be cut is noted; the segment stays.
	other, _ := s.Create(func() Segment { g := findingSegment(t0); g.ClipPending = in.ClipPending; return g }(), nil)
	other, err = s.AttachClip(other.ID, func(string) (*Clip, error) { return nil, errors.New("record: no recorded video") })
	if err != nil || other.Clip != nil || other.ClipPending != nil || !strings.Contains(other.ClipError, "no recorded video") {
		t.Fatalf("failed clip: %+v %v", other, err)
	}
}

// TestQuotaCountsPendingEvicted: pending segments go only after every
// uploaded one, and each that goes is counted.
func TestQuotaCountsPendingEvicted(t *testing.T) {
	s := open(t, t.TempDir(), 0)
	var ids []string
	for i := range 3 {
		seg, err := s.Create(findingSegment(t0.Add(time.Duration(i)*time.Minute)), writeBytes(10_000))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, seg.ID)
	}
	s.SetStatus(ids[1], StatusUploaded)
	per := s.Bytes() / 3
	s.cfg.QuotaBytes = 3*per + per/2
	s.Create(findingSegment(t0.Add(5*time.Minute)), writeBytes(10_000))
	if st := s.Stats(); st.Evicted != 1 || st.PendingEvicted != 0 {
		t.Fatalf("uploaded one deleted: stats %+v", st)
	}
	s.Create(findingSegment(t0.Add(6*time.Minute)), writeBytes(10_000))
	if st := s.Stats(); st.Evicted != 2 || st.PendingEvicted != 1 || st.Segments != 3 {
		t.Fatalf("pending one deleted: stats %+v", st)
	}
	if _, err := s.Get(ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("oldest pending kept: %v", err)
	}
}

// TestOpenAfterClipCutShort: a power cut while the clip was being written
// (its temp file) or while segment.json was being replaced leaves the
// segment as it was, waiting for its clip, and nothing else.
func TestOpenAfterClipCutShort(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	in := findingSegment(t0)
	in.ClipPending = &Range{From: t0.Add(-6 * time.Second), To: t0.Add(4 * time.Second)}
	seg, err := s.Create(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".clip-123.tmp", "." + JSONFile + ".tmp-456"} {
		if err := os.WriteFile(filepath.Join(s.Dir(seg.ID), name), []byte("half"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	got, err := open(t, dir, 0).Get(seg.ID)
	if err != nil || got.ClipPending == nil || got.Clip != nil || len(got.Findings) != 1 {
		t.Fatalf("after the cut: %+v %v", got, err)
	}
	des, _ := os.ReadDir(s.Dir(seg.ID))
	if len(des) != 1 || des[0].Name() != JSONFile {
		t.Fatalf("left in the segment: %v", des)
	}
}
