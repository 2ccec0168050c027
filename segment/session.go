package segment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync"
	"time"
)

// Session is a session record: one livestream, from start to end, so a
// session with no findings still reaches her social worker.
type Session struct {
	Version  int       `json:"version"`
	ID       string    `json:"id"`
	Device   string    `json:"device"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Segments []string  `json:"segments,omitempty"`
	// Findings counts the warnings she was shown, Stalls the times the
	// stream was lost and reconnected.
	Findings int `json:"findings"`
	Stalls   int `json:"stalls"`
	// Kind is KindLive or KindPractice; "" (boxes before practices) is a
	// live. Checks are a practice's results, nil for a live.
	Kind   string  `json:"kind,omitempty"`
	Checks *Checks `json:"checks,omitempty"`
}

// SessionVersion is the session record format.
const SessionVersion = 1

// MaxSession bounds a session record.
const MaxSession = 1 << 20

// sessionIDRe is compiled on first use, as idRe is.
var sessionIDRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$`) })

// ValidSessionID reports whether id is a safe session id.
func ValidSessionID(id string) bool { return sessionIDRe().MatchString(id) }

// NewSessionID names a session by its start (UTC) and 4 random bytes.
func NewSessionID(start time.Time) string {
	return start.UTC().Format("20060102T150405Z") + fmt.Sprintf("-%08x", rand.Uint32())
}

// ParseSession reads and validates a session record. Fields it does not
// know are accepted, so a newer box is not refused.
func ParseSession(data []byte) (*Session, error) {
	badS := func(f string, a ...any) error {
		return fmt.Errorf("%w: session record: %s", ErrInvalid, fmt.Sprintf(f, a...))
	}
	if len(data) > MaxSession {
		return nil, badS("%d bytes, over %d", len(data), MaxSession)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var s Session
	if err := dec.Decode(&s); err != nil {
		return nil, badS("%v", err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return nil, badS("trailing data")
	}
	switch {
	case s.Version != SessionVersion:
		return nil, badS("version %d, want %d", s.Version, SessionVersion)
	case !ValidSessionID(s.ID):
		return nil, badS("bad id %q", s.ID)
	case s.Start.IsZero() || s.End.Before(s.Start):
		return nil, badS("times %v..%v", s.Start, s.End)
	case s.Findings < 0 || s.Stalls < 0:
		return nil, badS("negative counts")
	}
	switch {
	case s.Kind != "" && s.Kind != KindLive && s.Kind != KindPractice:
		return nil, badS("unknown kind %q", s.Kind)
	case s.Checks != nil && s.Kind != KindPractice:
		return nil, badS("checks on a %s", s.Kind)
	case s.Checks != nil:
		if err := s.Checks.validate(s.End.Sub(s.Start).Seconds()); err != nil {
			return nil, badS("checks: %v", err)
		}
	}
	for _, id := range s.Segments {
		if !ValidID(id) {
			return nil, badS("bad segment id %q", id)
		}
	}
	return &s, nil
}
