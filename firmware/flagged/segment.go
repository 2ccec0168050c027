// Package flagged keeps the box's flagged moments on disk: a clip of the
// recording around the moment, the transcript around it, and why it was
// flagged (linter findings, or the streamer's own mark button), stored as one
// directory per segment, ready for upload and for review with her social
// worker.
//
// A segment is written as a unit: everything goes into a hidden temp
// directory, every file is fsynced, the directory is renamed into place and the
// parent fsynced. A power cut therefore leaves either no segment or a whole
// one; the half-written temp directories it may leave are removed by Open.
// The store is bounded by a byte quota: reviewed or uploaded segments go
// first, oldest first, then the oldest pending ones.
package flagged

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
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

func (s Status) valid() bool {
	return s == StatusPending || s == StatusUploaded || s == StatusReviewed
}

// SchemaVersion is the segment.json format written by this package.
const SchemaVersion = 1

// File names inside a segment directory.
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
	// Created is when the segment was completed on disk.
	Created  time.Time `json:"created"`
	Status   Status    `json:"status"`
	StatusAt time.Time `json:"status_at"`
	// Clip is nil when no recording covered the moment (recorder off or
	// failing); ClipError then says why.
	Clip       *Clip      `json:"clip,omitempty"`
	ClipError  string     `json:"clip_error,omitempty"`
	Transcript Transcript `json:"transcript"`
	Findings   []Finding  `json:"findings"`
	// RulePack is the version of the linter's rules that judged it.
	RulePack string `json:"rule_pack,omitempty"`
}

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

// Transcript is what the recogniser heard around the moment. Text is every
// caption's text concatenated; findings point into it by rune offset.
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
// Transcript.Text.
type Finding struct {
	Category     string    `json:"category"`
	CategoryName string    `json:"category_name"`
	Rule         string    `json:"rule"`
	Start        int       `json:"start"`
	End          int       `json:"end"`
	Match        string    `json:"match"`
	Law          string    `json:"law"`
	Explain      string    `json:"explain"`
	Suggest      string    `json:"suggest"`
	At           time.Time `json:"at"`
}

var idRe = regexp.MustCompile(`^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8}$`)

// ValidID reports whether id has the shape NewID makes; it keeps ids from
// naming anything outside the store.
func ValidID(id string) bool { return idRe.MatchString(id) }

// maxJSON bounds segment.json; a real one is a few KB.
const maxJSON = 4 << 20

// ParseSegment reads and validates a segment.json.
func ParseSegment(data []byte) (*Segment, error) {
	if len(data) > maxJSON {
		return nil, fmt.Errorf("flagged: segment.json is %d bytes, over %d", len(data), maxJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Segment
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("flagged: segment.json: %w", err)
	}
	if dec.More() {
		return nil, errors.New("flagged: segment.json: trailing data")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks that the segment is one this package could have written.
func (s *Segment) Validate() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("flagged: segment.json: "+f, a...) }
	switch {
	case s.Version != SchemaVersion:
		return bad("version %d, want %d", s.Version, SchemaVersion)
	case !ValidID(s.ID):
		return bad("bad id %q", s.ID)
	case s.Reason != ReasonFinding && s.Reason != ReasonMark:
		return bad("unknown reason %q", s.Reason)
	case !s.Status.valid():
		return bad("unknown status %q", s.Status)
	case s.Reason == ReasonFinding && len(s.Findings) == 0:
		return bad("reason finding without findings")
	case s.Reason == ReasonMark && len(s.Findings) != 0:
		return bad("reason mark with findings")
	case !utf8.ValidString(s.Transcript.Text):
		return bad("transcript is not UTF-8")
	}
	if s.Clip != nil && s.Clip.File != ClipFile {
		return bad("clip file %q, want %q", s.Clip.File, ClipFile)
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
		if f.Category == "" || f.Rule == "" {
			return bad("finding %d without category or rule", i)
		}
	}
	return nil
}

// Said returns the transcript text a finding points at.
func (s *Segment) Said(f Finding) string {
	r := []rune(s.Transcript.Text)
	if f.Start < 0 || f.End > len(r) || f.Start > f.End {
		return ""
	}
	return string(r[f.Start:f.End])
}
