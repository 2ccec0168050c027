// Package wire reads what boxes upload to the review service: a flagged
// segment (an uncompressed POSIX tar of segment.json, then clip.mp4 when
// there is one) and a session record (JSON). It checks every field a box
// could get wrong before anything is stored.
//
// TODO(segment-move): the Segment types and their validation are a copy of
// the JSON shape written by firmware/flagged (review must not import
// firmware). They move to a neutral top-level segment/ package that both
// sides import; until then a change to firmware/flagged/segment.go must be
// copied here.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Segment reasons and statuses, as the box writes them.
const (
	ReasonFinding = "finding"
	ReasonMark    = "mark"
)

// SchemaVersion is the newest segment.json version; version 1 is still
// accepted (boxes keep old segments as they were written).
const SchemaVersion = 2

// CaptionSep separates the captions in a version 2 Transcript.Text.
const CaptionSep = "\n"

// File names inside a segment tar.
const (
	JSONFile = "segment.json"
	ClipFile = "clip.mp4"
)

// MaxJSON bounds segment.json; a real one is a few KB.
const MaxJSON = 4 << 20

// Segment is the content of segment.json (format of firmware/flagged).
type Segment struct {
	Version     int        `json:"version"`
	ID          string     `json:"id"`
	Reason      string     `json:"reason"`
	Device      string     `json:"device"`
	At          time.Time  `json:"at"`
	Created     time.Time  `json:"created"`
	Updated     time.Time  `json:"updated,omitzero"`
	Status      string     `json:"status"`
	StatusAt    time.Time  `json:"status_at"`
	Clip        *Clip      `json:"clip,omitempty"`
	ClipError   string     `json:"clip_error,omitempty"`
	ClipPending *Range     `json:"clip_pending,omitempty"`
	Transcript  Transcript `json:"transcript"`
	Findings    []Finding  `json:"findings"`
	RulePack    string     `json:"rule_pack,omitempty"`
}

// Clip describes clip.mp4.
type Clip struct {
	File      string    `json:"file"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Bytes     int64     `json:"bytes"`
	Truncated bool      `json:"truncated,omitempty"`
}

// Range is a wall-clock span.
type Range struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Transcript is the captions around the moment; findings point into Text
// by rune offset.
type Transcript struct {
	Text     string    `json:"text"`
	Captions []Caption `json:"captions"`
}

// Caption is one recognised utterance.
type Caption struct {
	At     time.Time `json:"at"`
	Start  float64   `json:"start"`
	End    float64   `json:"end"`
	Offset int       `json:"offset"`
	Text   string    `json:"text"`
}

// Finding is one linter finding, a rune span [Start, End) of the text.
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

var segmentIDRe = regexp.MustCompile(`^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8}$`)

// ValidSegmentID reports whether id has the shape boxes give segments; it
// also keeps ids from naming anything outside a blob prefix.
func ValidSegmentID(id string) bool { return segmentIDRe.MatchString(id) }

// ErrInvalid wraps every validation failure, so callers can tell a bad
// upload (the box's fault: refuse) from an I/O failure (retry).
var ErrInvalid = errors.New("invalid")

func bad(f string, a ...any) error {
	return fmt.Errorf("%w: segment.json: %s", ErrInvalid, fmt.Sprintf(f, a...))
}

// ParseSegment reads and validates a segment.json.
func ParseSegment(data []byte) (*Segment, error) {
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
	case !ValidSegmentID(s.ID):
		return bad("bad id %q", s.ID)
	case s.Reason != ReasonFinding && s.Reason != ReasonMark:
		return bad("unknown reason %q", s.Reason)
	case s.Status != "pending" && s.Status != "uploaded" && s.Status != "reviewed":
		return bad("unknown status %q", s.Status)
	case s.Reason == ReasonFinding && len(s.Findings) == 0:
		return bad("reason finding without findings")
	case s.Reason == ReasonMark && len(s.Findings) != 0:
		return bad("reason mark with findings")
	case !utf8.ValidString(s.Transcript.Text):
		return bad("transcript is not UTF-8")
	case s.At.IsZero() || s.Created.IsZero():
		return bad("at or created missing")
	case s.Created.Before(s.At.Add(-time.Hour)):
		return bad("created %v long before the moment %v", s.Created, s.At)
	}
	if c := s.Clip; c != nil {
		if c.File != ClipFile {
			return bad("clip file %q, want %q", c.File, ClipFile)
		}
		if !c.End.After(c.Start) || c.Bytes <= 0 {
			return bad("clip %v..%v of %d bytes", c.Start, c.End, c.Bytes)
		}
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
	texts := make([]string, len(s.Transcript.Captions))
	for i, c := range s.Transcript.Captions {
		if strings.Contains(c.Text, CaptionSep) || c.Offset != off || c.End < c.Start {
			return bad("caption %d does not match the transcript", i)
		}
		off += utf8.RuneCountInString(c.Text) + utf8.RuneCountInString(CaptionSep)
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
