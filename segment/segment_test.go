package segment

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 20, 56, 41, 0, time.UTC)

// twoUtterances is a version 2 finding segment: 全网最低价 said across the
// boundary of two captions, as a recogniser cuts a long breath.
func twoUtterances() Segment {
	return Segment{
		Version: SchemaVersion, ID: "20261206T205641646Z-331bd2dd", Reason: ReasonFinding, Device: "box",
		At: t0, Created: t0.Add(time.Second), Status: StatusPending, StatusAt: t0.Add(time.Second),
		Transcript: Transcript{
			Text: "今天的辣椒酱全网最\n低价",
			Captions: []Caption{
				{At: t0.Add(-2 * time.Second), Start: -2, End: 0.5, Offset: 0, Text: "今天的辣椒酱全网最"},
				{At: t0.Add(time.Second), Start: 1, End: 1.6, Offset: 10, Text: "低价"},
			},
		},
		Findings: []Finding{{Category: "ABS", Rule: "ABS-quanwang", Caption: 0, Start: 6, End: 12, Match: "全网最低价", At: t0}},
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Segment)
		want   string // "" = valid
	}{
		{"as written", func(*Segment) {}, ""},
		{"a mark, no findings", func(s *Segment) { s.Reason, s.Findings = ReasonMark, nil }, ""},
		{"clip pending", func(s *Segment) { s.ClipPending = &Range{From: t0.Add(-7 * time.Second), To: t0.Add(3 * time.Second)} }, ""},
		{"unknown version", func(s *Segment) { s.Version = 3 }, "version 3"},
		{"id naming a path", func(s *Segment) { s.ID = "../../etc" }, "bad id"},
		{"unknown status", func(s *Segment) { s.Status = "gone" }, "unknown status"},
		{"finding without findings", func(s *Segment) { s.Findings = nil }, "without findings"},
		{"mark with findings", func(s *Segment) { s.Reason = ReasonMark }, "mark with findings"},
		{"empty span", func(s *Segment) { s.Findings[0].End = s.Findings[0].Start }, "span"},
		{"span past the text", func(s *Segment) { s.Findings[0].End = 99 }, "span"},
		{"span off its caption", func(s *Segment) { s.Findings[0].Caption = 1 }, "span"},
		{"caption offset wrong", func(s *Segment) { s.Transcript.Captions[1].Offset = 9 }, "caption 1"},
		{"text not the captions joined", func(s *Segment) { s.Transcript.Text = "今天的辣椒酱全网最低价" }, "not its captions joined"},
		{"clip pending with a clip", func(s *Segment) {
			s.Clip = &Clip{File: ClipFile, Start: t0, End: t0.Add(time.Second), Bytes: 1}
			s.ClipPending = &Range{From: t0, To: t0.Add(time.Second)}
		}, "clip_pending"},
		{"clip under another name", func(s *Segment) { s.Clip = &Clip{File: "../x.mp4"} }, "clip file"},
		{"finding without a rule", func(s *Segment) { s.Findings[0].Rule = "" }, "without category or rule"},
		{"said in a practice", func(s *Segment) { s.Kind = KindPractice }, ""},
		{"a mark in a practice", func(s *Segment) { s.Reason, s.Findings, s.Kind = ReasonMark, nil, KindPractice }, ""},
		{"live said so", func(s *Segment) { s.Kind = KindLive }, ""},
		{"unknown kind", func(s *Segment) { s.Kind = "rehearsal" }, "unknown kind"},
		{"kind in version 1", func(s *Segment) {
			s.Version, s.Kind = 1, KindPractice
			s.Findings[0].Caption = 0
		}, "kind in version 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := twoUtterances()
			tc.change(&s)
			want := tc.want
			data, err := json.Marshal(&s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(data)
			switch {
			case want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want)):
				t.Fatalf("err = %v, want ErrInvalid with %q", err, want)
			case want == "" && got.Findings != nil && got.Said(got.Findings[0]) != "全网最低价":
				t.Fatalf("Said = %q, want the words without the caption break", got.Said(got.Findings[0]))
			}
		})
	}
}

// TestKindOnTheWire: a live's segment.json has no kind member (services
// that predate practices read it as before), a practice's says so, and a
// segment without one is a live.
func TestKindOnTheWire(t *testing.T) {
	for _, tc := range []struct {
		kind         string
		wantMember   bool
		wantPractice bool
	}{
		{"", false, false},
		{KindPractice, true, true},
	} {
		s := twoUtterances()
		s.Kind = tc.kind
		data, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(data), `"kind"`); got != tc.wantMember {
			t.Errorf("kind %q: member in JSON = %v, want %v: %s", tc.kind, got, tc.wantMember, data)
		}
		got, err := Parse(data)
		if err != nil {
			t.Fatalf("kind %q: %v", tc.kind, err)
		}
		if got.IsPractice() != tc.wantPractice {
			t.Errorf("kind %q: IsPractice = %v", tc.kind, got.IsPractice())
		}
	}
}

func TestParseRefusesWhatIsNotOneSegment(t *testing.T) {
	good, _ := json.Marshal(twoUtterances())
	for name, data := range map[string][]byte{
		"trailing data": append(append([]byte{}, good...), []byte(`{}`)...),
		"unknown field": []byte(strings.Replace(string(good), `"version"`, `"extra":1,"version"`, 1)),
		"too big":       make([]byte, MaxJSON+1),
		"not JSON":      []byte("segment"),
	} {
		if _, err := Parse(data); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestParseSession(t *testing.T) {
	rec := Session{Version: SessionVersion, ID: NewSessionID(t0), Device: "box", Start: t0, End: t0.Add(time.Hour),
		Segments: []string{"20261206T205641646Z-331bd2dd"}, Findings: 3}
	data, _ := json.Marshal(rec)
	if got, err := ParseSession(data); err != nil || got.Findings != 3 {
		t.Fatalf("ParseSession: %+v, %v", got, err)
	}
	for name, change := range map[string]func(*Session){
		"ends before it starts": func(s *Session) { s.End = t0.Add(-time.Second) },
		"bad segment id":        func(s *Session) { s.Segments = []string{"../x"} },
		"bad id":                func(s *Session) { s.ID = "a/b" },
		"negative count":        func(s *Session) { s.Stalls = -1 },
		"newer version":         func(s *Session) { s.Version = 2 },
	} {
		bad := rec
		change(&bad)
		data, _ := json.Marshal(bad)
		if _, err := ParseSession(data); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzParse feeds arbitrary bytes to the segment.json reader: it must never
// panic, refuse only with ErrInvalid, and whatever it accepts must survive
// a write/read round trip unchanged.
func FuzzParse(f *testing.F) {
	good := twoUtterances()
	data, _ := json.Marshal(&good)
	f.Add(data)
	good.ClipPending = &Range{From: t0.Add(-6 * time.Second), To: t0.Add(3 * time.Second)}
	data, _ = json.Marshal(&good)
	f.Add(data)
	good.Kind = KindPractice
	data, _ = json.Marshal(&good)
	f.Add(data)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"id":"20261128T093000000Z-0a1b2c3d","reason":"mark","status":"reviewed","transcript":{"text":"","captions":[]},"findings":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		seg, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal not ErrInvalid: %v", err)
			}
			return
		}
		for _, fd := range seg.Findings {
			_ = seg.Said(fd)
		}
		again, err := json.Marshal(seg)
		if err != nil {
			t.Fatalf("accepted segment does not marshal: %v", err)
		}
		seg2, err := Parse(again)
		if err != nil {
			t.Fatalf("accepted segment rejected after a round trip: %v\n%s", err, again)
		}
		again2, _ := json.Marshal(seg2)
		if string(again) != string(again2) {
			t.Fatalf("round trip changed the segment:\n%s\n%s", again, again2)
		}
	})
}
