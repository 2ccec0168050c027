package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Roles a console user may hold; a user holds one or more.
const (
	RoleSocial  = "social"  // reviews the segments of her caseload
	RoleTrainer = "trainer" // boxes, catalogues, rule packs; no clips unless also social
	RoleAdmin   = "admin"   // accounts
)

// Segment states in the console's queue. A segment nobody decided on is
// StateNew; any decision can be reopened (back to StateNew).
const (
	StateNew     = "new"
	StateReal    = "real"  // a real problem
	StateFalse   = "false" // a false alarm
	StateCoached = "coached"
)

// ValidState reports whether s is a state a decision may set.
func ValidState(s string) bool {
	switch s {
	case StateNew, StateReal, StateFalse, StateCoached:
		return true
	}
	return false
}

// User is one person who signs in to the console.
type User struct {
	Name    string
	Roles   []string
	Hash    string // argon2id, PHC string (review/accounts)
	Created time.Time
}

// Has reports whether u holds role.
func (u User) Has(role string) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// WebSession is a signed-in browser, kept as the hash of its cookie.
type WebSession struct {
	Hash    string // hex SHA-256 of the cookie value
	User    string
	CSRF    string // the token its forms carry
	Created time.Time
	Expires time.Time
}

// Decision is one row of a segment's decision history.
type Decision struct {
	Seq    int64 // assigned by the store
	Ref    SegmentRef
	State  string
	Prev   string // the state before
	Undoes int64  // the Seq this row takes back, 0 for a decision
	Actor  string // "user:<name>"
	At     time.Time
}

// QueueItem is a segment of a caseload with its current state.
type QueueItem struct {
	Segment
	State string
}

// Note is a coaching note from a social worker to a woman (her box).
type Note struct {
	Seq    int64 // assigned by the store, increasing
	BoxID  string
	Text   string
	Author string // the user's name
	At     time.Time
	// ReadAt is when her box said she read it (NoteReads), zero when not
	// yet; only RecentNotes fills it in.
	ReadAt time.Time
}

// Console is the storage of the social workers' console.
type Console interface {
	// AddUser adds a user; ErrExists if the name is taken.
	AddUser(ctx context.Context, u User, audit AuditEntry) error
	// User returns a user by name; ErrNotFound.
	User(ctx context.Context, name string) (User, error)

	PutWebSession(ctx context.Context, w WebSession) error
	// WebSession returns a session (by hash) and its user: ErrNotFound,
	// ErrExpired.
	WebSession(ctx context.Context, hash string, now time.Time) (WebSession, User, error)
	DeleteWebSession(ctx context.Context, hash string) error

	// AssignBox gives a box (a woman) to a social worker, replacing any
	// earlier one; ErrNotFound for an unknown box or user.
	AssignBox(ctx context.Context, boxID, user string, audit AuditEntry) error
	// Caseload lists the ids of the boxes assigned to user.
	Caseload(ctx context.Context, user string) ([]string, error)
	// Worker returns the social worker a box is assigned to; ErrNotFound.
	Worker(ctx context.Context, boxID string) (string, error)

	// QueuePage lists a page of user's caseload with the segments'
	// states: all her undecided segments first, however old, then the
	// decided ones, each group newest moment first, except that undecided
	// lives' come before undecided practices' (a social worker's time goes
	// first to what viewers heard; kinds.go); it skips offset of
	// them and returns at most limit.
	QueuePage(ctx context.Context, user string, offset, limit int) ([]QueueItem, error)
	// Queue is QueuePage's first page.
	Queue(ctx context.Context, user string, limit int) ([]QueueItem, error)
	// QueueRefs lists the same order as Queue with references, times and
	// states only (Segment.BoxID, ID and At; no JSON): at most newLimit of
	// her undecided segments, then at most decidedLimit decided ones.
	QueueRefs(ctx context.Context, user string, newLimit, decidedLimit int) ([]QueueItem, error)
	// NewCount is how many undecided segments user's caseload has.
	NewCount(ctx context.Context, user string) (int, error)
	// State returns a segment's current state (StateNew when undecided).
	State(ctx context.Context, ref SegmentRef) (string, error)
	// Decide sets a segment's state, appending the decision and its
	// audit entry in one transaction; ErrNotFound for an unknown segment.
	// It returns the decision as stored.
	Decide(ctx context.Context, d Decision, audit AuditEntry) (Decision, error)
	// Undo takes back actor's newest decision not yet taken back,
	// appending a decision that restores the state before it;
	// ErrNotFound when there is none.
	Undo(ctx context.Context, actor string, at time.Time, audit func(Decision) AuditEntry) (Decision, error)

	// AddNote appends a note with its audit entry; ErrNotFound for an
	// unknown box. It returns the note as stored.
	AddNote(ctx context.Context, n Note, audit AuditEntry) (Note, error)
	// Notes lists a box's notes after seq after, oldest first, at most
	// limit.
	Notes(ctx context.Context, boxID string, after int64, limit int) ([]Note, error)
	// LastNote returns a box's newest note; ErrNotFound when none.
	LastNote(ctx context.Context, boxID string) (Note, error)
}

// consoleQueries is one backend's SQL for Console.
type consoleQueries struct {
	addUser       string // name, roles, hash, created
	user          string // name
	putSession    string // hash, user_name, csrf, created, expires
	pruneSessions string // before
	session       string // hash -> session columns, user columns
	delSession    string // hash
	assign        string // box_id, user_name, assigned (upsert)
	caseload      string // user_name
	worker        string // box_id
	queueNew      string // user_name, limit, offset
	queueDone     string // user_name, limit, offset
	refsNew       string // user_name, limit
	refsDone      string // user_name, limit
	newCount      string // user_name
	setState      string // state, box_id, segment_id
	state         string // box_id, segment_id
	decide        string // box_id, segment_id, state, prev, undoes, actor, at -> seq
	lastDecision  string // actor -> decision columns
	addNote       string // box_id, text, author, at -> seq
	notes         string // box_id, after, limit
	lastNote      string // box_id
}

var sqliteConsole = consoleQueries{
	addUser:       `INSERT INTO users (name, roles, hash, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	user:          `SELECT name, roles, hash, created FROM users WHERE name = ?`,
	putSession:    `INSERT INTO web_sessions (hash, user_name, csrf, created, expires) VALUES (?, ?, ?, ?, ?)`,
	pruneSessions: `DELETE FROM web_sessions WHERE expires < ?`,
	session: `SELECT w.hash, w.user_name, w.csrf, w.created, w.expires, u.name, u.roles, u.hash, u.created
		FROM web_sessions w JOIN users u ON u.name = w.user_name WHERE w.hash = ?`,
	delSession: `DELETE FROM web_sessions WHERE hash = ?`,
	assign: `INSERT INTO caseload (box_id, user_name, assigned) VALUES (?, ?, ?)
		ON CONFLICT (box_id) DO UPDATE SET user_name = excluded.user_name, assigned = excluded.assigned`,
	caseload: `SELECT box_id FROM caseload WHERE user_name = ? ORDER BY box_id`,
	worker:   `SELECT user_name FROM caseload WHERE box_id = ?`,
	// Her new segments: CROSS JOIN makes SQLite start from her caseload
	// and read each box's new ones off segments_state (migration 00012),
	// sorting only those.
	queueNew: `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received, s.state
		FROM caseload c CROSS JOIN segments s ON s.box_id = c.box_id
		WHERE c.user_name = ? AND s.state = 'new' ORDER BY s.kind = 'practice', s.at DESC, s.id DESC LIMIT ? OFFSET ?`,
	// Her decided ones are most of her segments: CROSS JOIN keeps SQLite
	// walking segments_decided (migration 00012) newest first, stopping at the
	// limit, instead of sorting all of them.
	queueDone: `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received, s.state
		FROM segments s CROSS JOIN caseload c ON c.box_id = s.box_id
		WHERE c.user_name = ? AND s.state <> 'new' ORDER BY s.at DESC, s.id DESC LIMIT ? OFFSET ?`,
	refsNew: `SELECT s.box_id, s.id, s.at, s.state FROM caseload c CROSS JOIN segments s ON s.box_id = c.box_id
		WHERE c.user_name = ? AND s.state = 'new' ORDER BY s.kind = 'practice', s.at DESC, s.id DESC LIMIT ?`,
	refsDone: `SELECT s.box_id, s.id, s.at, s.state FROM segments s CROSS JOIN caseload c ON c.box_id = s.box_id
		WHERE c.user_name = ? AND s.state <> 'new' ORDER BY s.at DESC, s.id DESC LIMIT ?`,
	newCount: `SELECT COUNT(*) FROM caseload c CROSS JOIN segments s ON s.box_id = c.box_id
		WHERE c.user_name = ? AND s.state = 'new'`,
	setState: `UPDATE segments SET state = ? WHERE box_id = ? AND id = ?`,
	state:    `SELECT state FROM decisions WHERE box_id = ? AND segment_id = ? ORDER BY seq DESC LIMIT 1`,
	decide:   `INSERT INTO decisions (box_id, segment_id, state, prev, undoes, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
	lastDecision: `SELECT d.seq, d.box_id, d.segment_id, d.state, d.prev, d.undoes, d.actor, d.at FROM decisions d
		WHERE d.actor = ? AND d.undoes = 0 AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.seq)
		ORDER BY d.seq DESC LIMIT 1`,
	addNote:  `INSERT INTO notes (box_id, text, author, at) VALUES (?, ?, ?, ?) RETURNING seq`,
	notes:    `SELECT seq, box_id, text, author, at FROM notes WHERE box_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
	lastNote: `SELECT seq, box_id, text, author, at FROM notes WHERE box_id = ? ORDER BY seq DESC LIMIT 1`,
}

var postgresConsole = consoleQueries{
	addUser:       `INSERT INTO users (name, roles, hash, created) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
	user:          `SELECT name, roles, hash, created FROM users WHERE name = $1`,
	putSession:    `INSERT INTO web_sessions (hash, user_name, csrf, created, expires) VALUES ($1, $2, $3, $4, $5)`,
	pruneSessions: `DELETE FROM web_sessions WHERE expires < $1`,
	session: `SELECT w.hash, w.user_name, w.csrf, w.created, w.expires, u.name, u.roles, u.hash, u.created
		FROM web_sessions w JOIN users u ON u.name = w.user_name WHERE w.hash = $1`,
	delSession: `DELETE FROM web_sessions WHERE hash = $1`,
	assign: `INSERT INTO caseload (box_id, user_name, assigned) VALUES ($1, $2, $3)
		ON CONFLICT (box_id) DO UPDATE SET user_name = excluded.user_name, assigned = excluded.assigned`,
	caseload: `SELECT box_id FROM caseload WHERE user_name = $1 ORDER BY box_id`,
	worker:   `SELECT user_name FROM caseload WHERE box_id = $1`,
	queueNew: `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received, s.state
		FROM segments s JOIN caseload c ON c.box_id = s.box_id
		WHERE c.user_name = $1 AND s.state = 'new' ORDER BY s.kind = 'practice', s.at DESC, s.id DESC LIMIT $2 OFFSET $3`,
	queueDone: `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received, s.state
		FROM segments s JOIN caseload c ON c.box_id = s.box_id
		WHERE c.user_name = $1 AND s.state <> 'new' ORDER BY s.at DESC, s.id DESC LIMIT $2 OFFSET $3`,
	refsNew: `SELECT s.box_id, s.id, s.at, s.state FROM segments s JOIN caseload c ON c.box_id = s.box_id
		WHERE c.user_name = $1 AND s.state = 'new' ORDER BY s.kind = 'practice', s.at DESC, s.id DESC LIMIT $2`,
	refsDone: `SELECT s.box_id, s.id, s.at, s.state FROM segments s JOIN caseload c ON c.box_id = s.box_id
		WHERE c.user_name = $1 AND s.state <> 'new' ORDER BY s.at DESC, s.id DESC LIMIT $2`,
	newCount: `SELECT COUNT(*) FROM segments s JOIN caseload c ON c.box_id = s.box_id
		WHERE c.user_name = $1 AND s.state = 'new'`,
	setState: `UPDATE segments SET state = $1 WHERE box_id = $2 AND id = $3`,
	state:    `SELECT state FROM decisions WHERE box_id = $1 AND segment_id = $2 ORDER BY seq DESC LIMIT 1`,
	decide:   `INSERT INTO decisions (box_id, segment_id, state, prev, undoes, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq`,
	lastDecision: `SELECT d.seq, d.box_id, d.segment_id, d.state, d.prev, d.undoes, d.actor, d.at FROM decisions d
		WHERE d.actor = $1 AND d.undoes = 0 AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.seq)
		ORDER BY d.seq DESC LIMIT 1`,
	addNote:  `INSERT INTO notes (box_id, text, author, at) VALUES ($1, $2, $3, $4) RETURNING seq`,
	notes:    `SELECT seq, box_id, text, author, at FROM notes WHERE box_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
	lastNote: `SELECT seq, box_id, text, author, at FROM notes WHERE box_id = $1 ORDER BY seq DESC LIMIT 1`,
}

func (s *sqlStore) audit(ctx context.Context, tx *sql.Tx, e AuditEntry) error {
	if _, err := tx.ExecContext(ctx, s.q.appendAudit, micros(e.At), e.Actor, e.Action, e.Subject, e.Detail); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// withTx runs f in a transaction and commits.
func (s *sqlStore) withTx(ctx context.Context, what string, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: begin: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", what, err)
	}
	return nil
}

func (s *sqlStore) AddUser(ctx context.Context, u User, audit AuditEntry) error {
	return s.withTx(ctx, "add user", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.c.addUser, u.Name, strings.Join(u.Roles, ","), u.Hash, micros(u.Created))
		if err != nil {
			return fmt.Errorf("store: add user: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: add user: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store: user %s: %w", u.Name, ErrExists)
		}
		return s.audit(ctx, tx, audit)
	})
}

func splitRoles(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (s *sqlStore) User(ctx context.Context, name string) (User, error) {
	var u User
	var roles string
	var created int64
	if err := s.db.QueryRowContext(ctx, s.c.user, name).Scan(&u.Name, &roles, &u.Hash, &created); err != nil {
		return User{}, notFound(err, "user "+name)
	}
	u.Roles, u.Created = splitRoles(roles), fromMicros(created)
	return u, nil
}

func (s *sqlStore) PutWebSession(ctx context.Context, w WebSession) error {
	// Sessions past their time are pruned here, as challenges are.
	if _, err := s.db.ExecContext(ctx, s.c.pruneSessions, micros(w.Created)); err != nil {
		return fmt.Errorf("store: prune web sessions: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.c.putSession, w.Hash, w.User, w.CSRF, micros(w.Created), micros(w.Expires)); err != nil {
		return fmt.Errorf("store: put web session: %w", err)
	}
	return nil
}

func (s *sqlStore) WebSession(ctx context.Context, hash string, now time.Time) (WebSession, User, error) {
	var w WebSession
	var u User
	var wc, we, uc int64
	var roles string
	err := s.db.QueryRowContext(ctx, s.c.session, hash).Scan(&w.Hash, &w.User, &w.CSRF, &wc, &we, &u.Name, &roles, &u.Hash, &uc)
	if err != nil {
		return WebSession{}, User{}, notFound(err, "web session")
	}
	w.Created, w.Expires = fromMicros(wc), fromMicros(we)
	u.Roles, u.Created = splitRoles(roles), fromMicros(uc)
	if !now.Before(w.Expires) {
		return WebSession{}, User{}, fmt.Errorf("store: web session: %w", ErrExpired)
	}
	return w, u, nil
}

func (s *sqlStore) DeleteWebSession(ctx context.Context, hash string) error {
	if _, err := s.db.ExecContext(ctx, s.c.delSession, hash); err != nil {
		return fmt.Errorf("store: delete web session: %w", err)
	}
	return nil
}

func (s *sqlStore) AssignBox(ctx context.Context, boxID, user string, audit AuditEntry) error {
	if _, err := s.Box(ctx, boxID); err != nil {
		return err
	}
	if _, err := s.User(ctx, user); err != nil {
		return err
	}
	return s.withTx(ctx, "assign box", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.c.assign, boxID, user, micros(audit.At)); err != nil {
			return fmt.Errorf("store: assign box: %w", err)
		}
		return s.audit(ctx, tx, audit)
	})
}

func (s *sqlStore) Caseload(ctx context.Context, user string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.c.caseload, user)
	if err != nil {
		return nil, fmt.Errorf("store: caseload: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: caseload: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: caseload: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Worker(ctx context.Context, boxID string) (string, error) {
	var u string
	if err := s.db.QueryRowContext(ctx, s.c.worker, boxID).Scan(&u); err != nil {
		return "", notFound(err, "caseload of box "+boxID)
	}
	return u, nil
}

func (s *sqlStore) Queue(ctx context.Context, user string, limit int) ([]QueueItem, error) {
	return s.QueuePage(ctx, user, 0, limit)
}

func (s *sqlStore) QueuePage(ctx context.Context, user string, offset, limit int) ([]QueueItem, error) {
	if offset < 0 || limit < 0 {
		return nil, fmt.Errorf("store: queue: offset %d, limit %d", offset, limit)
	}
	out, err := s.queueItems(ctx, "queue", s.c.queueNew, user, limit, offset)
	if err != nil || len(out) == limit {
		return out, err
	}
	// The page reaches past her new ones: the rest comes from the decided,
	// skipping as many of them as the offset goes past the new ones.
	skip := 0
	if len(out) == 0 {
		n, err := s.NewCount(ctx, user)
		if err != nil {
			return nil, err
		}
		skip = max(offset-n, 0)
	}
	done, err := s.queueItems(ctx, "queue", s.c.queueDone, user, limit-len(out), skip)
	return append(out, done...), err
}

// queueItems runs a query returning segment columns and the state, and
// reads them; what names the caller in errors.
func (s *sqlStore) queueItems(ctx context.Context, what, query string, args ...any) ([]QueueItem, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []QueueItem
	for rows.Next() {
		var q QueueItem
		var at, received int64
		g := &q.Segment
		if err := rows.Scan(&g.BoxID, &g.ID, &g.SHA256, &g.Size, &g.Reason, &at, &g.JSON, &g.JSONKey, &g.ClipKey, &received, &q.State); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		g.At, g.Received = fromMicros(at), fromMicros(received)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func (s *sqlStore) QueueRefs(ctx context.Context, user string, newLimit, decidedLimit int) ([]QueueItem, error) {
	var out []QueueItem
	for _, part := range []struct {
		query string
		limit int
	}{{s.c.refsNew, newLimit}, {s.c.refsDone, decidedLimit}} {
		if part.limit <= 0 {
			continue
		}
		rows, err := s.db.QueryContext(ctx, part.query, user, part.limit)
		if err != nil {
			return nil, fmt.Errorf("store: queue refs: %w", err)
		}
		for rows.Next() {
			var q QueueItem
			var at int64
			if err := rows.Scan(&q.BoxID, &q.ID, &at, &q.State); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: queue refs: %w", err)
			}
			q.At = fromMicros(at)
			out = append(out, q)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: queue refs: %w", err)
		}
	}
	return out, nil
}

func (s *sqlStore) NewCount(ctx context.Context, user string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.c.newCount, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: new count: %w", err)
	}
	return n, nil
}

func (s *sqlStore) stateIn(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, ref SegmentRef) (string, error) {
	var st string
	err := q.QueryRowContext(ctx, s.c.state, ref.BoxID, ref.ID).Scan(&st)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return StateNew, nil
	case err != nil:
		return "", fmt.Errorf("store: state: %w", err)
	}
	return st, nil
}

func (s *sqlStore) State(ctx context.Context, ref SegmentRef) (string, error) {
	return s.stateIn(ctx, s.db, ref)
}

// insertDecision appends d and sets the segment's current state (the
// queue's index reads it, migration 00012) in the same transaction.
func (s *sqlStore) insertDecision(ctx context.Context, tx *sql.Tx, d *Decision) error {
	err := tx.QueryRowContext(ctx, s.c.decide, d.Ref.BoxID, d.Ref.ID, d.State, d.Prev, d.Undoes, d.Actor, micros(d.At)).Scan(&d.Seq)
	if err != nil {
		return fmt.Errorf("store: decide: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.c.setState, d.State, d.Ref.BoxID, d.Ref.ID); err != nil {
		return fmt.Errorf("store: decide: set state: %w", err)
	}
	return nil
}

func (s *sqlStore) Decide(ctx context.Context, d Decision, audit AuditEntry) (Decision, error) {
	if !ValidState(d.State) {
		return Decision{}, fmt.Errorf("store: decide: state %q", d.State)
	}
	if _, err := s.Segment(ctx, d.Ref.BoxID, d.Ref.ID); err != nil {
		return Decision{}, err
	}
	d.Undoes = 0
	err := s.withTx(ctx, "decide", func(tx *sql.Tx) error {
		prev, err := s.stateIn(ctx, tx, d.Ref)
		if err != nil {
			return err
		}
		d.Prev = prev
		if err := s.insertDecision(ctx, tx, &d); err != nil {
			return err
		}
		return s.audit(ctx, tx, audit)
	})
	return d, err
}

func (s *sqlStore) Undo(ctx context.Context, actor string, at time.Time, audit func(Decision) AuditEntry) (Decision, error) {
	var d Decision
	err := s.withTx(ctx, "undo", func(tx *sql.Tx) error {
		var last Decision
		var lat int64
		err := tx.QueryRowContext(ctx, s.c.lastDecision, actor).Scan(&last.Seq, &last.Ref.BoxID, &last.Ref.ID, &last.State, &last.Prev, &last.Undoes, &last.Actor, &lat)
		if err != nil {
			return notFound(err, "decision to undo")
		}
		cur, err := s.stateIn(ctx, tx, last.Ref)
		if err != nil {
			return err
		}
		d = Decision{Ref: last.Ref, State: last.Prev, Prev: cur, Undoes: last.Seq, Actor: actor, At: at}
		if err := s.insertDecision(ctx, tx, &d); err != nil {
			return err
		}
		return s.audit(ctx, tx, audit(d))
	})
	return d, err
}

func (s *sqlStore) AddNote(ctx context.Context, n Note, audit AuditEntry) (Note, error) {
	if _, err := s.Box(ctx, n.BoxID); err != nil {
		return Note{}, err
	}
	err := s.withTx(ctx, "add note", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.c.addNote, n.BoxID, n.Text, n.Author, micros(n.At)).Scan(&n.Seq); err != nil {
			return fmt.Errorf("store: add note: %w", err)
		}
		return s.audit(ctx, tx, audit)
	})
	return n, err
}

func scanNote(r scanner) (Note, error) {
	var n Note
	var at int64
	if err := r.Scan(&n.Seq, &n.BoxID, &n.Text, &n.Author, &at); err != nil {
		return Note{}, err
	}
	n.At = fromMicros(at)
	return n, nil
}

func (s *sqlStore) Notes(ctx context.Context, boxID string, after int64, limit int) ([]Note, error) {
	rows, err := s.db.QueryContext(ctx, s.c.notes, boxID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: notes: %w", err)
	}
	defer rows.Close()
	var out []Note
	for rows.Next() {
		n, err := scanNote(rows)
		if err != nil {
			return nil, fmt.Errorf("store: notes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: notes: %w", err)
	}
	return out, nil
}

func (s *sqlStore) LastNote(ctx context.Context, boxID string) (Note, error) {
	n, err := scanNote(s.db.QueryRowContext(ctx, s.c.lastNote, boxID))
	if err != nil {
		return Note{}, notFound(err, "note of box "+boxID)
	}
	return n, nil
}
