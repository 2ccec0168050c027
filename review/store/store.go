// Package store keeps the review service's records: enrolled boxes, the
// challenges and tokens they sign in with, the segments and session records
// they upload, and an append-only audit log.
//
// Store is one interface with two backends, each with its own SQL and goose
// migrations run on open: SQLite (one file, the embedded default for a county
// office) and PostgreSQL (for stateless processes at province scale). The
// contract tests in this package run against both.
//
// Times are kept as Unix microseconds in both backends so that comparisons
// (a token's expiry) mean the same in each and survive a round trip exactly
// at the precision PostgreSQL keeps.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers tell apart with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrConflict: a segment or session id already stored with another hash.
	ErrConflict = errors.New("store: same id, different content")
	ErrUsed     = errors.New("store: challenge already used")
	ErrExpired  = errors.New("store: expired")
)

// Box is one enrolled box. ID is derived from PublicKey (see boxauth.BoxID).
type Box struct {
	ID        string
	PublicKey []byte // ed25519, 32 bytes
	Name      string
	Added     time.Time
	Revoked   time.Time // zero while the box may sign in
}

// IsRevoked reports whether the box has been revoked.
func (b Box) IsRevoked() bool { return !b.Revoked.IsZero() }

// Token is a box's bearer token, kept only as its hash.
type Token struct {
	Hash    string // hex SHA-256 of the token
	BoxID   string
	Expires time.Time
}

// Segment is one flagged segment received from a box. Its blobs live in the
// blob store under JSONKey and ClipKey (empty without a clip).
type Segment struct {
	BoxID    string
	ID       string
	SHA256   string // hex of the uploaded tar
	Size     int64
	Reason   string
	At       time.Time
	JSON     []byte // segment.json as uploaded
	JSONKey  string
	ClipKey  string
	Received time.Time
}

// SegmentRef names one segment.
type SegmentRef struct{ BoxID, ID string }

// Ref names s.
func (s Segment) Ref() SegmentRef { return SegmentRef{BoxID: s.BoxID, ID: s.ID} }

// Session is one session record received from a box.
type Session struct {
	BoxID    string
	ID       string
	SHA256   string
	Record   []byte // the JSON record as uploaded
	Received time.Time
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	Seq     int64 // assigned by the store
	At      time.Time
	Actor   string // "box:<id>", "cli", a user later
	Action  string // "box.add", "segment.received", ...
	Subject string
	Detail  string
}

// Store is the review service's storage. Methods are safe for concurrent use.
type Store interface {
	Console
	NoteReads    // noteread.go
	Progress     // progress.go
	Escalations  // escalate.go
	Forgetting   // forget.go
	Bundles      // bundles.go
	Fleet        // fleet.go
	Assessments  // assess.go
	SegmentKinds // kinds.go

	// AddBox enrols a box; ErrExists if its id is already enrolled.
	AddBox(ctx context.Context, b Box) error
	// RevokeBox stops a box from signing in and voids its tokens at once;
	// ErrNotFound for an unknown box. Revoking twice keeps the first time.
	RevokeBox(ctx context.Context, id string, at time.Time) error
	Box(ctx context.Context, id string) (Box, error)
	Boxes(ctx context.Context) ([]Box, error)

	// PutChallenge records a sign-in nonce (hex) valid until expires.
	PutChallenge(ctx context.Context, nonce string, expires time.Time) error
	// TakeChallenge uses a nonce up: ErrNotFound if never issued, ErrUsed
	// if taken before, ErrExpired if past its time (and then used up too).
	TakeChallenge(ctx context.Context, nonce string, now time.Time) error

	PutToken(ctx context.Context, t Token) error
	// TokenBox returns the box a token (by hash) belongs to: ErrNotFound,
	// ErrExpired. The box is returned even when revoked; callers check.
	TokenBox(ctx context.Context, hash string, now time.Time) (Box, error)

	// PutSegment stores a segment row, its kind (read from its JSON,
	// kinds.go) and its audit entry in one transaction. The same (box, id, sha256) again returns created=false
	// and no error; the same (box, id) with another hash is ErrConflict.
	PutSegment(ctx context.Context, s Segment) (created bool, err error)
	Segment(ctx context.Context, boxID, id string) (Segment, error)
	// Segments lists a box's segments, oldest received first.
	Segments(ctx context.Context, boxID string) ([]Segment, error)

	// PutSession is PutSegment for session records.
	PutSession(ctx context.Context, s Session) (created bool, err error)
	Session(ctx context.Context, boxID, id string) (Session, error)

	// ExpiredSegments lists at most limit segments received before
	// before, oldest first; with clipsOnly, only those whose clip is kept.
	ExpiredSegments(ctx context.Context, before time.Time, clipsOnly bool, limit int) ([]Segment, error)
	// DropClips forgets the clips of refs (their blobs removed by the
	// caller first), keeping the rest of each segment; DeleteSegments
	// removes the segments' rows. Each runs in one transaction with the
	// audit entry audit returns for the count changed (none when nil).
	DropClips(ctx context.Context, refs []SegmentRef, audit func(n int) *AuditEntry) (int, error)
	DeleteSegments(ctx context.Context, refs []SegmentRef, audit func(n int) *AuditEntry) (int, error)
	// DeleteSessions removes session records of boxID (any box when
	// empty) received before before (any time when zero), with its audit
	// entry as above.
	DeleteSessions(ctx context.Context, boxID string, before time.Time, audit func(n int) *AuditEntry) (int, error)

	AppendAudit(ctx context.Context, e AuditEntry) error
	// Audit returns the newest entries first, at most limit.
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}
