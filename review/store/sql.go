package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
)

// queries is one backend's SQL; each backend writes its own (placeholders,
// upsert and locking differ), and the code around them is shared.
type queries struct {
	addBox       string // id, public_key, name, added
	revokeBox    string // revoked, id
	box          string // id
	boxes        string
	putChallenge string // nonce, expires
	pruneChalls  string // before
	useChallenge string // used, nonce -> expires
	challenge    string // nonce -> used, expires
	putToken     string // hash, box_id, expires
	tokenBox     string // hash -> expires, box columns
	putSegment   string // box_id, id, sha256, size, reason, at, json, json_key, clip_key, received; ON CONFLICT DO NOTHING
	segment      string // box_id, id
	segments     string // box_id
	putSession   string // box_id, id, sha256, record, received; ON CONFLICT DO NOTHING
	session      string // box_id, id
	appendAudit  string // at, actor, action, subject, detail
	audit        string // limit
	segmentSHA   string // box_id, id -> sha256
	sessionSHA   string // box_id, id -> sha256
	expired      string // received before, limit -> segment columns
	expiredClips string // received before, limit -> segment columns; clip_key <> ''
	dropClip     string // box_id, id
	delSegment   string // box_id, id
	delSessions  string // box_id ('' for any), before (0 for any)
}

// sqlStore is Store over database/sql with a backend's queries.
type sqlStore struct {
	db *sql.DB
	q  queries
	c  consoleQueries
	// postgres picks the PostgreSQL text of a feature's queries; features
	// added later keep both backends' SQL side by side in their own file
	// (see sqlFor) instead of growing the structs above.
	postgres bool
}

// sqlFor returns the query for this store's backend.
func (s *sqlStore) sqlFor(sqlite, postgres string) string {
	if s.postgres {
		return postgres
	}
	return sqlite
}

// migrate runs the embedded goose migrations up.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS) error {
	p, err := goose.NewProvider(dialect, db, fsys)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func (s *sqlStore) AddBox(ctx context.Context, b Box) error {
	res, err := s.db.ExecContext(ctx, s.q.addBox, b.ID, b.PublicKey, b.Name, micros(b.Added))
	if err != nil {
		return fmt.Errorf("store: add box: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: add box: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: box %s: %w", b.ID, ErrExists)
	}
	return nil
}

func (s *sqlStore) RevokeBox(ctx context.Context, id string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q.revokeBox, micros(at), id); err != nil {
		return fmt.Errorf("store: revoke box: %w", err)
	}
	// Revoking twice is not an error, so existence is checked apart from
	// the rows the update touched.
	_, err := s.Box(ctx, id)
	return err
}

type scanner interface{ Scan(dest ...any) error }

func scanBox(r scanner) (Box, error) {
	var b Box
	var added, revoked int64
	if err := r.Scan(&b.ID, &b.PublicKey, &b.Name, &added, &revoked); err != nil {
		return Box{}, err
	}
	b.Added, b.Revoked = fromMicros(added), fromMicros(revoked)
	return b, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

func (s *sqlStore) Box(ctx context.Context, id string) (Box, error) {
	b, err := scanBox(s.db.QueryRowContext(ctx, s.q.box, id))
	if err != nil {
		return Box{}, notFound(err, "box "+id)
	}
	return b, nil
}

func (s *sqlStore) Boxes(ctx context.Context) ([]Box, error) {
	rows, err := s.db.QueryContext(ctx, s.q.boxes)
	if err != nil {
		return nil, fmt.Errorf("store: boxes: %w", err)
	}
	defer rows.Close()
	var out []Box
	for rows.Next() {
		b, err := scanBox(rows)
		if err != nil {
			return nil, fmt.Errorf("store: boxes: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: boxes: %w", err)
	}
	return out, nil
}

// challengeKeep is how long a used or expired challenge is remembered, so a
// replay is told apart from a nonce that was never issued.
const challengeKeep = time.Hour

func (s *sqlStore) PutChallenge(ctx context.Context, nonce string, expires time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q.pruneChalls, micros(expires.Add(-challengeKeep))); err != nil {
		return fmt.Errorf("store: prune challenges: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q.putChallenge, nonce, micros(expires)); err != nil {
		return fmt.Errorf("store: put challenge: %w", err)
	}
	return nil
}

func (s *sqlStore) TakeChallenge(ctx context.Context, nonce string, now time.Time) error {
	// One conditional update decides who uses a nonce, so two requests
	// racing with the same nonce cannot both win.
	var expires int64
	err := s.db.QueryRowContext(ctx, s.q.useChallenge, micros(now), nonce).Scan(&expires)
	switch {
	case err == nil:
		if now.After(fromMicros(expires)) {
			return fmt.Errorf("store: challenge: %w", ErrExpired)
		}
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: take challenge: %w", err)
	}
	var used int64
	if err := s.db.QueryRowContext(ctx, s.q.challenge, nonce).Scan(&used, &expires); err != nil {
		return notFound(err, "challenge")
	}
	return fmt.Errorf("store: challenge: %w", ErrUsed)
}

func (s *sqlStore) PutToken(ctx context.Context, t Token) error {
	if _, err := s.db.ExecContext(ctx, s.q.putToken, t.Hash, t.BoxID, micros(t.Expires)); err != nil {
		return fmt.Errorf("store: put token: %w", err)
	}
	return nil
}

func (s *sqlStore) TokenBox(ctx context.Context, hash string, now time.Time) (Box, error) {
	var expires int64
	var b Box
	var added, revoked int64
	err := s.db.QueryRowContext(ctx, s.q.tokenBox, hash).Scan(&expires, &b.ID, &b.PublicKey, &b.Name, &added, &revoked)
	if err != nil {
		return Box{}, notFound(err, "token")
	}
	if !now.Before(fromMicros(expires)) {
		return Box{}, fmt.Errorf("store: token: %w", ErrExpired)
	}
	b.Added, b.Revoked = fromMicros(added), fromMicros(revoked)
	return b, nil
}

// putOnce runs an insert-if-absent, then (if not nil, on a new row) and
// the audit entry in one transaction; when the row was there already it
// compares hashes.
func (s *sqlStore) putOnce(ctx context.Context, insert string, args []any, shaQuery, boxID, id, sha string, audit AuditEntry, then func(*sql.Tx) error) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	res, err := tx.ExecContext(ctx, insert, args...)
	if err != nil {
		return false, fmt.Errorf("store: insert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: insert: %w", err)
	}
	if n == 0 {
		var have string
		if err := tx.QueryRowContext(ctx, shaQuery, boxID, id).Scan(&have); err != nil {
			return false, fmt.Errorf("store: existing %s: %w", id, err)
		}
		if have != sha {
			return false, fmt.Errorf("store: %s stored with sha256 %s: %w", id, have, ErrConflict)
		}
		return false, nil
	}
	if then != nil {
		if err := then(tx); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, s.q.appendAudit, micros(audit.At), audit.Actor, audit.Action, audit.Subject, audit.Detail); err != nil {
		return false, fmt.Errorf("store: audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: commit: %w", err)
	}
	return true, nil
}

func (s *sqlStore) PutSegment(ctx context.Context, g Segment) (bool, error) {
	args := []any{g.BoxID, g.ID, g.SHA256, g.Size, g.Reason, micros(g.At), g.JSON, g.JSONKey, g.ClipKey, micros(g.Received)}
	audit := AuditEntry{At: g.Received, Actor: "box:" + g.BoxID, Action: "segment.received", Subject: g.ID, Detail: "sha256=" + g.SHA256}
	return s.putOnce(ctx, s.q.putSegment, args, s.q.segmentSHA, g.BoxID, g.ID, g.SHA256, audit,
		func(tx *sql.Tx) error { return s.setSegmentKind(ctx, tx, g) })
}

func scanSegment(r scanner) (Segment, error) {
	var g Segment
	var at, received int64
	if err := r.Scan(&g.BoxID, &g.ID, &g.SHA256, &g.Size, &g.Reason, &at, &g.JSON, &g.JSONKey, &g.ClipKey, &received); err != nil {
		return Segment{}, err
	}
	g.At, g.Received = fromMicros(at), fromMicros(received)
	return g, nil
}

func (s *sqlStore) Segment(ctx context.Context, boxID, id string) (Segment, error) {
	g, err := scanSegment(s.db.QueryRowContext(ctx, s.q.segment, boxID, id))
	if err != nil {
		return Segment{}, notFound(err, "segment "+id)
	}
	return g, nil
}

func (s *sqlStore) Segments(ctx context.Context, boxID string) ([]Segment, error) {
	rows, err := s.db.QueryContext(ctx, s.q.segments, boxID)
	if err != nil {
		return nil, fmt.Errorf("store: segments: %w", err)
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		g, err := scanSegment(rows)
		if err != nil {
			return nil, fmt.Errorf("store: segments: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: segments: %w", err)
	}
	return out, nil
}

func (s *sqlStore) PutSession(ctx context.Context, x Session) (bool, error) {
	args := []any{x.BoxID, x.ID, x.SHA256, x.Record, micros(x.Received)}
	audit := AuditEntry{At: x.Received, Actor: "box:" + x.BoxID, Action: "session.received", Subject: x.ID, Detail: "sha256=" + x.SHA256}
	return s.putOnce(ctx, s.q.putSession, args, s.q.sessionSHA, x.BoxID, x.ID, x.SHA256, audit, nil)
}

func (s *sqlStore) Session(ctx context.Context, boxID, id string) (Session, error) {
	var x Session
	var received int64
	err := s.db.QueryRowContext(ctx, s.q.session, boxID, id).Scan(&x.BoxID, &x.ID, &x.SHA256, &x.Record, &received)
	if err != nil {
		return Session{}, notFound(err, "session "+id)
	}
	x.Received = fromMicros(received)
	return x, nil
}

func (s *sqlStore) ExpiredSegments(ctx context.Context, before time.Time, clipsOnly bool, limit int) ([]Segment, error) {
	q := s.q.expired
	if clipsOnly {
		q = s.q.expiredClips
	}
	rows, err := s.db.QueryContext(ctx, q, micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("store: expired segments: %w", err)
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		g, err := scanSegment(rows)
		if err != nil {
			return nil, fmt.Errorf("store: expired segments: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: expired segments: %w", err)
	}
	return out, nil
}

// inTx runs change and then the audit entry for the count it returns, in
// one transaction, so a deletion is never without its audit line.
func (s *sqlStore) inTx(ctx context.Context, what string, change func(tx *sql.Tx) (int, error), audit func(n int) *AuditEntry) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: %s: begin: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	n, err := change(tx)
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", what, err)
	}
	if audit != nil {
		if e := audit(n); e != nil {
			if _, err := tx.ExecContext(ctx, s.q.appendAudit, micros(e.At), e.Actor, e.Action, e.Subject, e.Detail); err != nil {
				return 0, fmt.Errorf("store: %s: audit: %w", what, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: %s: commit: %w", what, err)
	}
	return n, nil
}

func (s *sqlStore) eachRef(ctx context.Context, what, query string, refs []SegmentRef, audit func(n int) *AuditEntry) (int, error) {
	return s.inTx(ctx, what, func(tx *sql.Tx) (int, error) {
		total := 0
		for _, r := range refs {
			res, err := tx.ExecContext(ctx, query, r.BoxID, r.ID)
			if err != nil {
				return 0, err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return 0, err
			}
			total += int(n)
		}
		return total, nil
	}, audit)
}

func (s *sqlStore) DropClips(ctx context.Context, refs []SegmentRef, audit func(n int) *AuditEntry) (int, error) {
	return s.eachRef(ctx, "drop clips", s.q.dropClip, refs, audit)
}

func (s *sqlStore) DeleteSegments(ctx context.Context, refs []SegmentRef, audit func(n int) *AuditEntry) (int, error) {
	return s.eachRef(ctx, "delete segments", s.q.delSegment, refs, audit)
}

func (s *sqlStore) DeleteSessions(ctx context.Context, boxID string, before time.Time, audit func(n int) *AuditEntry) (int, error) {
	return s.inTx(ctx, "delete sessions", func(tx *sql.Tx) (int, error) {
		res, err := tx.ExecContext(ctx, s.q.delSessions, boxID, micros(before))
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		return int(n), err
	}, audit)
}

func (s *sqlStore) AppendAudit(ctx context.Context, e AuditEntry) error {
	if _, err := s.db.ExecContext(ctx, s.q.appendAudit, micros(e.At), e.Actor, e.Action, e.Subject, e.Detail); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

func (s *sqlStore) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	return s.auditRows(ctx, "audit", s.q.audit, limit)
}

// auditRows runs a query returning audit columns (seq, at, actor, action,
// subject, detail) and reads them; what names the caller in errors.
func (s *sqlStore) auditRows(ctx context.Context, what, query string, args ...any) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	// A pool can answer a ping from a cached connection; a query proves
	// the server is there.
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func (s *sqlStore) Close() error { return s.db.Close() }
