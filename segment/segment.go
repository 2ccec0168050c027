// Package segment is the contract between the box and the review service:
// the flagged-segment format (segment.json, beside clip.mp4) and the
// session record, with their validation. The box writes them
// (firmware/flagged, firmware/upload), the service reads them (review/wire);
// both import this package and nothing else of each other. It has no
// dependencies beyond the standard library.
//
// A segment is one flagged moment: why (the linter's findings, or her own
// "I misspoke" mark), what was said around it (one caption per utterance,
// with times), and the clip of the recording that covers it.
package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Reasons a segment exists.
const (
	ReasonFinding = "finding" // the caption linter found something
	ReasonMark    = "mark"    // the streamer pressed the mark button
)

// Status is where a segment is in its life.
type Status string

const (
	StatusPending  Status = "pending"  // on the box, not yet sent anywhere
	StatusUploaded Status = "uploaded" // the review service has it
	StatusReviewed Status = "reviewed" // reviewed with her social worker
)

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool {
	return s == StatusPending || s == StatusUploaded || s == StatusReviewed
}

// SchemaVersion is the segment.json format boxes write now.
// Version 1 (still read, and kept as it is when its status changes) joined
// the captions' texts with nothing between them and had no Finding.Caption,
// Finding.Repeat or ClipPending.
const SchemaVersion = 2

// CaptionSep separates the captions in a version 2 Transcript.Text.
const CaptionSep = "\n"

// File names inside a segment directory (and a segment upload's tar).
const (
	ClipFile = "clip.mp4"
	JSONFile = "segment.json"
)

// Segment is the content of segment.json.
type Segment struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Reason  string `json:"reason"`
	Device  string `json:"device"`
	// At is the wall-clock time of the moment (the finding or the press).
	At time.Time `json:"at"`
	// Created is when the segment was first written (its transcript and
	// findings); Updated, when segment.json last changed other than by
	// SetStatus (a finding joined, the clip arrived).
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated,omitzero"`
	Status   Status    `json:"status"`
	StatusAt time.Time `json:"status_at"`
	// Clip is nil when no recording covered the moment (recorder off or
	// failing); ClipError then says why. ClipPending is the range the clip
	// will cover, while the recording does not have all of it yet.
	Clip        *Clip      `json:"clip,omitempty"`
	ClipError   string     `json:"clip_error,omitempty"`
	ClipPending *Range     `json:"clip_pending,omitempty"`
	Transcript  Transcript `json:"transcript"`
	Findings    []Finding  `json:"findings"`
	// RulePack is the version of the linter's rules that judged it.
	RulePack string `json:"rule_pack,omitempty"`
	// Kind is KindPractice for a moment of a practice (nothing was
	// published: no viewer heard it), else KindLive; "" (boxes before
	// practices, and every live, so that a live's segment.json is read by
	// services that predate the field) is a live.
	Kind string `json:"kind,omitempty"`
}

// IsPractice reports whether the moment was said during a practice.
func (s *Segment) IsPractice() bool { return s.Kind == KindPractice }

// Clip describes clip.mp4.
type Clip struct {
	File string `json:"file"`
	// Start and End are the wall-clock span the clip covers.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Bytes int64     `json:"bytes"`
	// Truncated: the picture size changed inside the range (the link got
	// worse or better); the clip is the part on one side of the change that
	// covers more of it.
	Truncated bool `json:"truncated,omitempty"`
}

// Range is a wall-clock span.
type Range struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Transcript is what the recogniser heard around the moment, one caption
// per utterance with its times. Text is the captions' texts joined with
// CaptionSep (version 1: with nothing); findings point into it by rune
// offset.
type Transcript struct {
	Text     string    `json:"text"`
	Captions []Caption `json:"captions"`
}

// Caption is one recognised utterance. Offset is the rune offset of its text
// in Transcript.Text; At is its wall-clock start.
type Caption struct {
	At     time.Time `json:"at"`
	Start  float64   `json:"start"` // seconds from the moment (negative: before)
	End    float64   `json:"end"`
	Offset int       `json:"offset"`
	Text   string    `json:"text"`
}

// Finding is one linter finding, its span a rune range [Start, End) of
// Transcript.Text that begins in caption Caption (version 2: never empty; a
// phrase said across two captions includes the CaptionSep between them).
// At is when the phrase began. Repeat marks the same rule said again after
// the segment's clip was closed: kept with its words and time, but not in
// the clip, so a phrase repeated for minutes does not copy minutes of video.
type Finding struct {
	Category     string    `json:"category"`
	CategoryName string    `json:"category_name"`
	Rule         string    `json:"rule"`
	Caption      int       `json:"caption"`
	Start        int       `json:"start"`
	End          int       `json:"end"`
	Repeat       bool      `json:"repeat,omitempty"`
	Match        string    `json:"match"`
	Law          string    `json:"law"`
	Explain      string    `json:"explain"`
	Suggest      string    `json:"suggest"`
	At           time.Time `json:"at"`
}

// idRe is compiled on first use: every command of the box's one binary
// runs this package's init, and under emulation a regexp compiled there
// cost each a few milliseconds of its start.
var idRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8}$`) })

// ValidID reports whether id has the shape boxes give segments
// (20261206T205641646Z-331bd2dd); it keeps ids from naming anything outside
// a store or a blob prefix.
func ValidID(id string) bool { return idRe().MatchString(id) }

// MaxJSON bounds segment.json; a real one is a few KB.
const MaxJSON = 4 << 20

// ErrInvalid wraps every validation failure, so a reader can tell a bad
// segment (refuse it) from an I/O failure (retry).
var ErrInvalid = errors.New("invalid")

func bad(f string, a ...any) error {
	return fmt.Errorf("%w: segment.json: %s", ErrInvalid, fmt.Sprintf(f, a...))
}

// Parse reads and validates a segment.json. Unknown fields are refused:
// the format is versioned, not extended in place.
func Parse(data []byte) (*Segment, error) {
	if len(data) > MaxJSON {
		return nil, bad("%d bytes, over %d", len(data), MaxJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Segment
	if err := dec.Decode(&s); err != nil {
		return nil, bad("%v", err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return nil, bad("trailing data")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks that the segment is one a box could have written.
func (s *Segment) Validate() error {
	switch {
	case s.Version != 1 && s.Version != SchemaVersion:
		return bad("version %d, want 1 or %d", s.Version, SchemaVersion)
	case !ValidID(s.ID):
		return bad("bad id %q", s.ID)
	case s.Reason != ReasonFinding && s.Reason != ReasonMark:
		return bad("unknown reason %q", s.Reason)
	case !s.Status.Valid():
		return bad("unknown status %q", s.Status)
	case s.Reason == ReasonFinding && len(s.Findings) == 0:
		return bad("reason finding without findings")
	case s.Reason == ReasonMark && len(s.Findings) != 0:
		return bad("reason mark with findings")
	case !utf8.ValidString(s.Transcript.Text):
		return bad("transcript is not UTF-8")
	case s.Kind != "" && s.Kind != KindLive && s.Kind != KindPractice:
		return bad("unknown kind %q", s.Kind)
	}
	if s.Clip != nil && s.Clip.File != ClipFile {
		return bad("clip file %q, want %q", s.Clip.File, ClipFile)
	}
	if s.Version == 1 {
		return s.validateV1()
	}
	if p := s.ClipPending; p != nil && (s.Clip != nil || !p.To.After(p.From)) {
		return bad("clip_pending %v..%v with a clip or empty", p.From, p.To)
	}
	// The text is exactly the captions joined, so every offset and span
	// can be checked against the words.
	off := 0
	for i, c := range s.Transcript.Captions {
		if strings.Contains(c.Text, CaptionSep) || c.Offset != off || c.End < c.Start {
			return bad("caption %d does not match the transcript", i)
		}
		off += utf8.RuneCountInString(c.Text) + utf8.RuneCountInString(CaptionSep)
	}
	texts := make([]string, len(s.Transcript.Captions))
	for i, c := range s.Transcript.Captions {
		texts[i] = c.Text
	}
	if s.Transcript.Text != strings.Join(texts, CaptionSep) {
		return bad("transcript text is not its captions joined")
	}
	n := utf8.RuneCountInString(s.Transcript.Text)
	for i, f := range s.Findings {
		if f.Caption < 0 || f.Caption >= len(s.Transcript.Captions) {
			return bad("finding %d in caption %d of %d", i, f.Caption, len(s.Transcript.Captions))
		}
		c := s.Transcript.Captions[f.Caption]
		if f.Start < c.Offset || f.Start >= c.Offset+utf8.RuneCountInString(c.Text) || f.End <= f.Start || f.End > n {
			return bad("finding %d span [%d,%d) not on words of caption %d", i, f.Start, f.End, f.Caption)
		}
		if f.Category == "" || f.Rule == "" {
			return bad("finding %d without category or rule", i)
		}
	}
	return nil
}

// validateV1 checks what version 1 promised.
func (s *Segment) validateV1() error {
	if s.ClipPending != nil {
		return bad("clip_pending in version 1")
	}
	if s.Kind != "" {
		return bad("kind in version 1")
	}
	n := utf8.RuneCountInString(s.Transcript.Text)
	for i, c := range s.Transcript.Captions {
		if c.Offset < 0 || c.Offset+utf8.RuneCountInString(c.Text) > n {
			return bad("caption %d outside the transcript", i)
		}
	}
	for i, f := range s.Findings {
		if f.Start < 0 || f.End < f.Start || f.End > n {
			return bad("finding %d span [%d,%d) outside the transcript of %d characters", i, f.Start, f.End, n)
		}
		if f.Caption != 0 || f.Repeat {
			return bad("finding %d has version 2 fields", i)
		}
		if f.Category == "" || f.Rule == "" {
			return bad("finding %d without category or rule", i)
		}
	}
	return nil
}

// Said returns the words a finding points at (without the CaptionSep of a
// phrase said across two captions).
func (s *Segment) Said(f Finding) string {
	r := []rune(s.Transcript.Text)
	if f.Start < 0 || f.End > len(r) || f.Start > f.End {
		return ""
	}
	return strings.ReplaceAll(string(r[f.Start:f.End]), CaptionSep, "")
}
