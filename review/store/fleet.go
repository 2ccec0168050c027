package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Heartbeat is one report a box sent about itself (version, disk, heat,
// its last live, ...). The store keeps Report as the console validated it
// and does not read it: what a box reports grows with the firmware, the
// table does not have to.
type Heartbeat struct {
	BoxID  string
	At     time.Time // the service's clock when it arrived
	Report []byte    // JSON
}

// Fleet keeps the boxes' heartbeats for the trainer's fleet page, and
// re-keys a box replaced for the same woman.
type Fleet interface {
	// PutHeartbeat stores h and drops that box's older heartbeats beyond
	// the keep newest, in one transaction; ErrNotFound for an unknown box.
	PutHeartbeat(ctx context.Context, h Heartbeat, keep int) error
	// LastHeartbeats returns each box's newest heartbeat, by box id; a box
	// that never sent one is absent.
	LastHeartbeats(ctx context.Context) (map[string]Heartbeat, error)
	// Heartbeats lists box boxID's heartbeats, newest first, at most limit.
	Heartbeats(ctx context.Context, boxID string, limit int) ([]Heartbeat, error)
	// ReplaceBox enrols nb in place of box oldID for the same woman, in
	// one transaction with its audit entry: the old box is revoked (its
	// first revocation time kept when it already was), nb takes its name
	// and its social worker. ErrNotFound for an unknown old box, ErrExists
	// when nb's key is enrolled already. nb.Name is set by the store.
	ReplaceBox(ctx context.Context, oldID string, nb Box, audit AuditEntry) (Box, error)
}

const (
	boxExistsSQLite   = `SELECT 1 FROM boxes WHERE id = ?`
	boxExistsPostgres = `SELECT 1 FROM boxes WHERE id = $1`
	putBeatSQLite     = `INSERT INTO heartbeats (box_id, at, report) VALUES (?, ?, ?)`
	putBeatPostgres   = `INSERT INTO heartbeats (box_id, at, report) VALUES ($1, $2, $3)`
	// Everything at or below the keep+1-th newest seq goes; with fewer
	// rows the subquery is NULL and nothing does.
	trimBeatsSQLite = `DELETE FROM heartbeats WHERE box_id = ? AND seq <=
	  (SELECT seq FROM heartbeats WHERE box_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`
	trimBeatsPostgres = `DELETE FROM heartbeats WHERE box_id = $1 AND seq <=
	  (SELECT seq FROM heartbeats WHERE box_id = $2 ORDER BY seq DESC LIMIT 1 OFFSET $3)`
	lastBeats = `SELECT h.box_id, h.at, h.report FROM heartbeats h
	  JOIN (SELECT box_id, MAX(seq) AS seq FROM heartbeats GROUP BY box_id) l ON h.seq = l.seq`
	beatsSQLite   = `SELECT box_id, at, report FROM heartbeats WHERE box_id = ? ORDER BY seq DESC LIMIT ?`
	beatsPostgres = `SELECT box_id, at, report FROM heartbeats WHERE box_id = $1 ORDER BY seq DESC LIMIT $2`
	oldBoxSQLite  = `SELECT name FROM boxes WHERE id = ?`
	oldBoxPostgre = `SELECT name FROM boxes WHERE id = $1 FOR UPDATE`
	// The replacement takes over her social worker as of now.
	copyCaseloadSQLite = `INSERT INTO caseload (box_id, user_name, assigned)
	  SELECT ?, user_name, ? FROM caseload WHERE box_id = ?`
	copyCaseloadPostgres = `INSERT INTO caseload (box_id, user_name, assigned)
	  SELECT $1, user_name, $2 FROM caseload WHERE box_id = $3`
)

func (s *sqlStore) PutHeartbeat(ctx context.Context, h Heartbeat, keep int) error {
	if keep < 1 {
		return errors.New("store: put heartbeat: keep must be at least 1")
	}
	return s.withTx(ctx, "put heartbeat", func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, s.sqlFor(boxExistsSQLite, boxExistsPostgres), h.BoxID).Scan(&one); err != nil {
			return notFound(err, "box "+h.BoxID)
		}
		if _, err := tx.ExecContext(ctx, s.sqlFor(putBeatSQLite, putBeatPostgres), h.BoxID, micros(h.At), h.Report); err != nil {
			return fmt.Errorf("store: put heartbeat: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.sqlFor(trimBeatsSQLite, trimBeatsPostgres), h.BoxID, h.BoxID, keep); err != nil {
			return fmt.Errorf("store: trim heartbeats: %w", err)
		}
		return nil
	})
}

func (s *sqlStore) LastHeartbeats(ctx context.Context) (map[string]Heartbeat, error) {
	hs, err := s.scanBeats(ctx, lastBeats)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Heartbeat, len(hs))
	for _, h := range hs {
		out[h.BoxID] = h
	}
	return out, nil
}

func (s *sqlStore) Heartbeats(ctx context.Context, boxID string, limit int) ([]Heartbeat, error) {
	return s.scanBeats(ctx, s.sqlFor(beatsSQLite, beatsPostgres), boxID, limit)
}

func (s *sqlStore) scanBeats(ctx context.Context, q string, args ...any) ([]Heartbeat, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: heartbeats: %w", err)
	}
	defer rows.Close()
	var out []Heartbeat
	for rows.Next() {
		var h Heartbeat
		var at int64
		if err := rows.Scan(&h.BoxID, &at, &h.Report); err != nil {
			return nil, fmt.Errorf("store: heartbeats: %w", err)
		}
		h.At = fromMicros(at)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: heartbeats: %w", err)
	}
	return out, nil
}

func (s *sqlStore) ReplaceBox(ctx context.Context, oldID string, nb Box, audit AuditEntry) (Box, error) {
	err := s.withTx(ctx, "replace box", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.sqlFor(oldBoxSQLite, oldBoxPostgre), oldID).Scan(&nb.Name); err != nil {
			return notFound(err, "box "+oldID)
		}
		res, err := tx.ExecContext(ctx, s.q.addBox, nb.ID, nb.PublicKey, nb.Name, micros(nb.Added))
		if err != nil {
			return fmt.Errorf("store: replace box: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: replace box: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store: box %s: %w", nb.ID, ErrExists)
		}
		if _, err := tx.ExecContext(ctx, s.q.revokeBox, micros(audit.At), oldID); err != nil {
			return fmt.Errorf("store: replace box: revoke: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.sqlFor(copyCaseloadSQLite, copyCaseloadPostgres), nb.ID, micros(audit.At), oldID); err != nil {
			return fmt.Errorf("store: replace box: caseload: %w", err)
		}
		return s.audit(ctx, tx, audit)
	})
	if err != nil {
		return Box{}, err
	}
	nb.Added = fromMicros(micros(nb.Added))
	return nb, nil
}
