package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Escalation is a segment a social worker handed to a colleague.
type Escalation struct {
	Ref    SegmentRef
	From   string // user names
	To     string
	Reason string
	At     time.Time
}

// AuditFilter picks audit entries; zero fields pick everything.
type AuditFilter struct {
	Actor    string    // exact
	Action   string    // exact
	From, To time.Time // From inclusive, To exclusive
	Before   int64     // entries with a smaller Seq: the next page
	Limit    int
}

// BoxOverview is one box as the trainer's page shows it.
type BoxOverview struct {
	Box
	Worker      string    // the social worker it is assigned to; "" when none
	LastSegment time.Time // the newest flagged moment; zero when none
	LastUpload  time.Time // the newest segment or session record received
}

// Escalations hands a segment to a colleague, and lists accounts, boxes and
// the audit log for the admin and trainer pages.
type Escalations interface {
	// Escalate hands e.Ref to e.To with its audit entry in one
	// transaction, replacing any earlier handoff of the segment;
	// ErrNotFound for an unknown segment or user.
	Escalate(ctx context.Context, e Escalation, audit AuditEntry) error
	// Escalation returns the handoff of a segment; ErrNotFound when none.
	Escalation(ctx context.Context, ref SegmentRef) (Escalation, error)
	// EscalatedTo lists the segments handed to user with their states,
	// newest handoff first, at most limit.
	EscalatedTo(ctx context.Context, user string, limit int) ([]QueueItem, error)
	// EscalationsOf lists the handoffs user gave or got, newest first, at
	// most limit.
	EscalationsOf(ctx context.Context, user string, limit int) ([]Escalation, error)

	// Users lists every console user by name.
	Users(ctx context.Context) ([]User, error)
	// BoxesOverview lists every box with its worker and latest activity,
	// by name.
	BoxesOverview(ctx context.Context) ([]BoxOverview, error)
	// AuditPage returns the entries f picks, newest first.
	AuditPage(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

const (
	sqliteEscalate = `INSERT INTO escalations (box_id, segment_id, from_user, to_user, reason, at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (box_id, segment_id) DO UPDATE SET from_user = excluded.from_user, to_user = excluded.to_user,
		reason = excluded.reason, at = excluded.at`
	postgresEscalate = `INSERT INTO escalations (box_id, segment_id, from_user, to_user, reason, at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (box_id, segment_id) DO UPDATE SET from_user = excluded.from_user, to_user = excluded.to_user,
		reason = excluded.reason, at = excluded.at`

	sqliteEscalation   = `SELECT box_id, segment_id, from_user, to_user, reason, at FROM escalations WHERE box_id = ? AND segment_id = ?`
	postgresEscalation = `SELECT box_id, segment_id, from_user, to_user, reason, at FROM escalations WHERE box_id = $1 AND segment_id = $2`

	sqliteEscalatedTo = `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received,
		COALESCE((SELECT d.state FROM decisions d WHERE d.box_id = s.box_id AND d.segment_id = s.id ORDER BY d.seq DESC LIMIT 1), 'new')
		FROM escalations e JOIN segments s ON s.box_id = e.box_id AND s.id = e.segment_id
		WHERE e.to_user = ? ORDER BY e.at DESC, s.id DESC LIMIT ?`
	postgresEscalatedTo = `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received,
		COALESCE((SELECT d.state FROM decisions d WHERE d.box_id = s.box_id AND d.segment_id = s.id ORDER BY d.seq DESC LIMIT 1), 'new')
		FROM escalations e JOIN segments s ON s.box_id = e.box_id AND s.id = e.segment_id
		WHERE e.to_user = $1 ORDER BY e.at DESC, s.id DESC LIMIT $2`

	sqliteEscalationsOf = `SELECT box_id, segment_id, from_user, to_user, reason, at FROM escalations
		WHERE to_user = ? OR from_user = ? ORDER BY at DESC, segment_id DESC LIMIT ?`
	postgresEscalationsOf = `SELECT box_id, segment_id, from_user, to_user, reason, at FROM escalations
		WHERE to_user = $1 OR from_user = $1 ORDER BY at DESC, segment_id DESC LIMIT $2`

	usersSQL = `SELECT name, roles, hash, created FROM users ORDER BY name`

	boxesOverviewSQL = `SELECT b.id, b.public_key, b.name, b.added, b.revoked, COALESCE(c.user_name, ''),
		COALESCE((SELECT MAX(s.at) FROM segments s WHERE s.box_id = b.id), 0),
		COALESCE((SELECT MAX(s.received) FROM segments s WHERE s.box_id = b.id), 0),
		COALESCE((SELECT MAX(x.received) FROM sessions x WHERE x.box_id = b.id), 0)
		FROM boxes b LEFT JOIN caseload c ON c.box_id = b.id ORDER BY b.name, b.id`
)

func (s *sqlStore) Escalate(ctx context.Context, e Escalation, audit AuditEntry) error {
	if _, err := s.Segment(ctx, e.Ref.BoxID, e.Ref.ID); err != nil {
		return err
	}
	if _, err := s.User(ctx, e.To); err != nil {
		return err
	}
	return s.withTx(ctx, "escalate", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.sqlFor(sqliteEscalate, postgresEscalate), e.Ref.BoxID, e.Ref.ID, e.From, e.To, e.Reason, micros(e.At)); err != nil {
			return fmt.Errorf("store: escalate: %w", err)
		}
		return s.audit(ctx, tx, audit)
	})
}

func scanEscalation(r scanner) (Escalation, error) {
	var e Escalation
	var at int64
	if err := r.Scan(&e.Ref.BoxID, &e.Ref.ID, &e.From, &e.To, &e.Reason, &at); err != nil {
		return Escalation{}, err
	}
	e.At = fromMicros(at)
	return e, nil
}

func (s *sqlStore) Escalation(ctx context.Context, ref SegmentRef) (Escalation, error) {
	e, err := scanEscalation(s.db.QueryRowContext(ctx, s.sqlFor(sqliteEscalation, postgresEscalation), ref.BoxID, ref.ID))
	if err != nil {
		return Escalation{}, notFound(err, "escalation of "+ref.ID)
	}
	return e, nil
}

func (s *sqlStore) EscalatedTo(ctx context.Context, user string, limit int) ([]QueueItem, error) {
	return s.queueItems(ctx, "escalated to", s.sqlFor(sqliteEscalatedTo, postgresEscalatedTo), user, limit)
}

func (s *sqlStore) EscalationsOf(ctx context.Context, user string, limit int) ([]Escalation, error) {
	q, args := sqliteEscalationsOf, []any{user, user, limit}
	if s.postgres {
		q, args = postgresEscalationsOf, []any{user, limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: escalations: %w", err)
	}
	defer rows.Close()
	var out []Escalation
	for rows.Next() {
		e, err := scanEscalation(rows)
		if err != nil {
			return nil, fmt.Errorf("store: escalations: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: escalations: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, usersSQL)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var roles string
		var created int64
		if err := rows.Scan(&u.Name, &roles, &u.Hash, &created); err != nil {
			return nil, fmt.Errorf("store: users: %w", err)
		}
		u.Roles, u.Created = splitRoles(roles), fromMicros(created)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return out, nil
}

func (s *sqlStore) BoxesOverview(ctx context.Context) ([]BoxOverview, error) {
	rows, err := s.db.QueryContext(ctx, boxesOverviewSQL)
	if err != nil {
		return nil, fmt.Errorf("store: boxes overview: %w", err)
	}
	defer rows.Close()
	var out []BoxOverview
	for rows.Next() {
		var o BoxOverview
		var added, revoked, lastAt, lastSeg, lastSess int64
		if err := rows.Scan(&o.ID, &o.PublicKey, &o.Name, &added, &revoked, &o.Worker, &lastAt, &lastSeg, &lastSess); err != nil {
			return nil, fmt.Errorf("store: boxes overview: %w", err)
		}
		o.Added, o.Revoked, o.LastSegment, o.LastUpload = fromMicros(added), fromMicros(revoked), fromMicros(lastAt), fromMicros(max(lastSeg, lastSess))
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: boxes overview: %w", err)
	}
	return out, nil
}

// auditPageSQL writes only the conditions f gives, so that the planner
// can walk the actor or action index (newest first) instead of the whole
// log.
func (s *sqlStore) auditPageSQL(f AuditFilter) (string, []any) {
	var where []string
	var args []any
	cond := func(c string, v any) {
		args = append(args, v)
		ph := "?"
		if s.postgres {
			ph = fmt.Sprintf("$%d", len(args))
		}
		where = append(where, c+" "+ph)
	}
	if a := strings.TrimSpace(f.Actor); a != "" {
		cond("actor =", a)
	}
	if a := strings.TrimSpace(f.Action); a != "" {
		cond("action =", a)
	}
	if !f.From.IsZero() {
		cond("at >=", micros(f.From))
	}
	if !f.To.IsZero() {
		cond("at <", micros(f.To))
	}
	if f.Before > 0 {
		cond("seq <", f.Before)
	}
	q := "SELECT seq, at, actor, action, subject, detail FROM audit"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	if s.postgres {
		q += fmt.Sprintf(" ORDER BY seq DESC LIMIT $%d", len(args))
	} else {
		q += " ORDER BY seq DESC LIMIT ?"
	}
	return q, args
}

func (s *sqlStore) AuditPage(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		return nil, nil
	}
	q, args := s.auditPageSQL(f)
	return s.auditRows(ctx, "audit page", q, args...)
}
