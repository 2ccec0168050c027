package wire

import "github.com/cunbo/cunbo/segment"

// Session is a session record (package segment): one livestream, from
// start to end. Fields it does not know are accepted and kept as
// uploaded, so a newer box is not refused.
type Session = segment.Session

// SessionVersion is the session record version accepted; MaxSession bounds
// a record.
const (
	SessionVersion = segment.SessionVersion
	MaxSession     = segment.MaxSession
)

// ValidSessionID reports whether id is a safe session id.
func ValidSessionID(id string) bool { return segment.ValidSessionID(id) }

// ParseSession reads and validates a session record.
func ParseSession(data []byte) (*Session, error) { return segment.ParseSession(data) }
