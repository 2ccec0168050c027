// Package wire reads what boxes upload to the review service: a flagged
// segment (an uncompressed POSIX tar of segment.json, then clip.mp4 when
// there is one) and a session record (JSON). The formats are the box's and
// the service's shared contract, package segment; wire adds what an upload
// must satisfy beyond a well-formed segment, and checks every field a box
// could get wrong before anything is stored.
package wire

import (
	"fmt"
	"time"

	"github.com/cunbo/cunbo/segment"
)

// The segment format (package segment), under the names the service uses.
type (
	Segment    = segment.Segment
	Clip       = segment.Clip
	Range      = segment.Range
	Transcript = segment.Transcript
	Caption    = segment.Caption
	Finding    = segment.Finding
)

const (
	ReasonFinding = segment.ReasonFinding
	ReasonMark    = segment.ReasonMark
	SchemaVersion = segment.SchemaVersion
	CaptionSep    = segment.CaptionSep
	JSONFile      = segment.JSONFile
	ClipFile      = segment.ClipFile
	MaxJSON       = segment.MaxJSON
)

// ErrInvalid wraps every validation failure, so callers can tell a bad
// upload (the box's fault: refuse) from an I/O failure (retry).
var ErrInvalid = segment.ErrInvalid

// ValidSegmentID reports whether id has the shape boxes give segments; it
// also keeps ids from naming anything outside a blob prefix.
func ValidSegmentID(id string) bool { return segment.ValidID(id) }

// ParseSegment reads a segment.json as uploaded: a valid segment
// (segment.Parse) that is also complete, since a box only sends a segment
// once it is settled.
func ParseSegment(data []byte) (*Segment, error) {
	s, err := segment.Parse(data)
	if err != nil {
		return nil, err
	}
	if err := checkUploaded(s); err != nil {
		return nil, err
	}
	return s, nil
}

// checkUploaded is what an uploaded segment promises beyond its format:
// its times are set, and a clip it names has content.
func checkUploaded(s *Segment) error {
	switch {
	case s.At.IsZero() || s.Created.IsZero():
		return invalid("at or created missing")
	case s.Created.Before(s.At.Add(-time.Hour)):
		return invalid("created %v long before the moment %v", s.Created, s.At)
	}
	if c := s.Clip; c != nil && (!c.End.After(c.Start) || c.Bytes <= 0) {
		return invalid("clip %v..%v of %d bytes", c.Start, c.End, c.Bytes)
	}
	return nil
}

func invalid(f string, a ...any) error {
	return fmt.Errorf("%w: segment.json: %s", ErrInvalid, fmt.Sprintf(f, a...))
}
