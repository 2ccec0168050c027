package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Rubric scores, in the social worker's plain words.
const (
	ScoreNotYet = 1 // 未做到
	ScoreBasic  = 2 // 基本做到
	ScoreGood   = 3 // 做得好
)

// Assessment is one scoring of a practice against the lab's rubric: the
// steps of the e-commerce practice lab, each ScoreNotYet..ScoreGood.
type Assessment struct {
	Seq       int64 // assigned by the store
	BoxID     string
	SessionID string
	Present   int // presenting a product
	Answer    int // answering questions
	Orders    int // handling an order
	Rules     int // staying within the rules
	Comment   string
	Author    string // user name
	At        time.Time
}

// ReadyMark is whether a social worker said she may go on a real live.
type ReadyMark struct {
	BoxID  string
	Ready  bool
	Author string
	At     time.Time
}

// ErrBadScore: a rubric score outside ScoreNotYet..ScoreGood.
var ErrBadScore = errors.New("store: rubric score out of range")

// Assessments keeps the scores of practices and the "ready for a real
// live" mark. Both are append-only: the newest row is the current one.
type Assessments interface {
	// Assess adds a scoring of a practice with its audit entry in one
	// transaction; ErrBadScore for a score out of range, ErrNotFound for
	// an unknown box.
	Assess(ctx context.Context, a Assessment, audit AuditEntry) (Assessment, error)
	// PracticeAssessments lists the scorings of one practice, newest first.
	PracticeAssessments(ctx context.Context, boxID, sessionID string) ([]Assessment, error)
	// BoxAssessments lists the current (newest) scoring of each of a box's
	// practices, newest practice first, at most limit.
	BoxAssessments(ctx context.Context, boxID string, limit int) ([]Assessment, error)

	// SetReady sets or clears a box's mark with its audit entry in one
	// transaction; ErrNotFound for an unknown box.
	SetReady(ctx context.Context, m ReadyMark, audit AuditEntry) error
	// Ready returns a box's current mark; the zero mark (not ready, no
	// author) when never set.
	Ready(ctx context.Context, boxID string) (ReadyMark, error)
	// ReadyBoxes returns the current marks of every box marked ready now.
	ReadyBoxes(ctx context.Context) (map[string]ReadyMark, error)
}

const (
	assessSQLite = `INSERT INTO assessments (box_id, session_id, present, answer, orders, rules, comment, author, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`
	assessPostgres = `INSERT INTO assessments (box_id, session_id, present, answer, orders, rules, comment, author, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq`

	assessCols = `seq, box_id, session_id, present, answer, orders, rules, comment, author, at`

	practiceAssessSQLite = `SELECT ` + assessCols + ` FROM assessments
		WHERE box_id = ? AND session_id = ? ORDER BY seq DESC`
	practiceAssessPostgres = `SELECT ` + assessCols + ` FROM assessments
		WHERE box_id = $1 AND session_id = $2 ORDER BY seq DESC`

	// A practice's current scoring is the row no later row of the same
	// practice follows (assessments_session index).
	boxAssessSQLite = `SELECT ` + assessCols + ` FROM assessments a
		WHERE a.box_id = ? AND NOT EXISTS (SELECT 1 FROM assessments n
			WHERE n.box_id = a.box_id AND n.session_id = a.session_id AND n.seq > a.seq)
		ORDER BY a.session_id DESC LIMIT ?`
	boxAssessPostgres = `SELECT ` + assessCols + ` FROM assessments a
		WHERE a.box_id = $1 AND NOT EXISTS (SELECT 1 FROM assessments n
			WHERE n.box_id = a.box_id AND n.session_id = a.session_id AND n.seq > a.seq)
		ORDER BY a.session_id DESC LIMIT $2`

	setReadySQLite   = `INSERT INTO ready_marks (box_id, ready, author, at) VALUES (?, ?, ?, ?)`
	setReadyPostgres = `INSERT INTO ready_marks (box_id, ready, author, at) VALUES ($1, $2, $3, $4)`

	readySQLite   = `SELECT box_id, ready, author, at FROM ready_marks WHERE box_id = ? ORDER BY seq DESC LIMIT 1`
	readyPostgres = `SELECT box_id, ready, author, at FROM ready_marks WHERE box_id = $1 ORDER BY seq DESC LIMIT 1`

	// Same text on both backends: no parameters.
	readyBoxesSQL = `SELECT r.box_id, r.ready, r.author, r.at FROM ready_marks r
		WHERE r.ready = 1 AND NOT EXISTS (SELECT 1 FROM ready_marks n WHERE n.box_id = r.box_id AND n.seq > r.seq)`
)

func validScore(v int) bool { return v >= ScoreNotYet && v <= ScoreGood }

// boxExists reports ErrNotFound for an unknown box inside tx, so a foreign
// key failure is not the only (backend-specific) sign of it.
func (s *sqlStore) boxExists(ctx context.Context, tx *sql.Tx, what, boxID string) error {
	var one int
	err := tx.QueryRowContext(ctx, s.sqlFor(`SELECT 1 FROM boxes WHERE id = ?`, `SELECT 1 FROM boxes WHERE id = $1`), boxID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: box %q: %w", what, boxID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

func (s *sqlStore) Assess(ctx context.Context, a Assessment, audit AuditEntry) (Assessment, error) {
	for _, v := range []int{a.Present, a.Answer, a.Orders, a.Rules} {
		if !validScore(v) {
			return Assessment{}, fmt.Errorf("store: assess: %d: %w", v, ErrBadScore)
		}
	}
	err := s.withTx(ctx, "assess", func(tx *sql.Tx) error {
		if err := s.boxExists(ctx, tx, "assess", a.BoxID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.sqlFor(assessSQLite, assessPostgres), a.BoxID, a.SessionID,
			a.Present, a.Answer, a.Orders, a.Rules, a.Comment, a.Author, micros(a.At)).Scan(&a.Seq); err != nil {
			return fmt.Errorf("store: assess: %w", err)
		}
		return s.audit(ctx, tx, audit)
	})
	if err != nil {
		return Assessment{}, err
	}
	return a, nil
}

func (s *sqlStore) assessments(ctx context.Context, what, q string, args ...any) ([]Assessment, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Assessment
	for rows.Next() {
		var a Assessment
		var at int64
		if err := rows.Scan(&a.Seq, &a.BoxID, &a.SessionID, &a.Present, &a.Answer, &a.Orders, &a.Rules, &a.Comment, &a.Author, &at); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		a.At = fromMicros(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func (s *sqlStore) PracticeAssessments(ctx context.Context, boxID, sessionID string) ([]Assessment, error) {
	return s.assessments(ctx, "practice assessments", s.sqlFor(practiceAssessSQLite, practiceAssessPostgres), boxID, sessionID)
}

func (s *sqlStore) BoxAssessments(ctx context.Context, boxID string, limit int) ([]Assessment, error) {
	return s.assessments(ctx, "box assessments", s.sqlFor(boxAssessSQLite, boxAssessPostgres), boxID, limit)
}

func (s *sqlStore) SetReady(ctx context.Context, m ReadyMark, audit AuditEntry) error {
	ready := 0
	if m.Ready {
		ready = 1
	}
	return s.withTx(ctx, "set ready", func(tx *sql.Tx) error {
		if err := s.boxExists(ctx, tx, "set ready", m.BoxID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.sqlFor(setReadySQLite, setReadyPostgres), m.BoxID, ready, m.Author, micros(m.At)); err != nil {
			return fmt.Errorf("store: set ready: %w", err)
		}
		return s.audit(ctx, tx, audit)
	})
}

func scanReady(sc interface{ Scan(...any) error }) (ReadyMark, error) {
	var m ReadyMark
	var ready int
	var at int64
	if err := sc.Scan(&m.BoxID, &ready, &m.Author, &at); err != nil {
		return ReadyMark{}, err
	}
	m.Ready, m.At = ready == 1, fromMicros(at)
	return m, nil
}

func (s *sqlStore) Ready(ctx context.Context, boxID string) (ReadyMark, error) {
	m, err := scanReady(s.db.QueryRowContext(ctx, s.sqlFor(readySQLite, readyPostgres), boxID))
	if errors.Is(err, sql.ErrNoRows) {
		return ReadyMark{BoxID: boxID}, nil
	}
	if err != nil {
		return ReadyMark{}, fmt.Errorf("store: ready: %w", err)
	}
	return m, nil
}

func (s *sqlStore) ReadyBoxes(ctx context.Context) (map[string]ReadyMark, error) {
	rows, err := s.db.QueryContext(ctx, readyBoxesSQL)
	if err != nil {
		return nil, fmt.Errorf("store: ready boxes: %w", err)
	}
	defer rows.Close()
	out := map[string]ReadyMark{}
	for rows.Next() {
		m, err := scanReady(rows)
		if err != nil {
			return nil, fmt.Errorf("store: ready boxes: %w", err)
		}
		out[m.BoxID] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: ready boxes: %w", err)
	}
	return out, nil
}
