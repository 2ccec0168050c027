package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// NoteReads records that a woman has read her coaching notes (read receipts from her box).
type NoteReads interface {
	// MarkNoteRead records that box boxID's note seq was read at at, with
	// its audit entry, in one transaction. Only the first receipt counts:
	// a box resends one until it hears back, so a repeat returns the time
	// stored first, first=false, and appends no audit entry. ErrNotFound
	// when boxID has no note seq (another box's notes included).
	MarkNoteRead(ctx context.Context, boxID string, seq int64, at time.Time, audit AuditEntry) (readAt time.Time, first bool, err error)
	// NoteReadAt returns when note seq was read; zero when not yet.
	NoteReadAt(ctx context.Context, seq int64) (time.Time, error)
}

const (
	// The note must be the box's own: a box can never mark another's.
	noteOfBoxSQLite   = `SELECT 1 FROM notes WHERE seq = ? AND box_id = ?`
	noteOfBoxPostgres = `SELECT 1 FROM notes WHERE seq = $1 AND box_id = $2`
	// The row is locked so two receipts racing for the same note cannot
	// both count as the first (SQLite serialises writers already).
	addNoteReadSQLite   = `INSERT INTO note_reads (seq, read_at) VALUES (?, ?) ON CONFLICT (seq) DO NOTHING`
	addNoteReadPostgres = `INSERT INTO note_reads (seq, read_at) VALUES ($1, $2) ON CONFLICT (seq) DO NOTHING`
	noteReadSQLite      = `SELECT read_at FROM note_reads WHERE seq = ?`
	noteReadPostgres    = `SELECT read_at FROM note_reads WHERE seq = $1`
)

func (s *sqlStore) MarkNoteRead(ctx context.Context, boxID string, seq int64, at time.Time, audit AuditEntry) (time.Time, bool, error) {
	var readAt time.Time
	first := false
	err := s.withTx(ctx, "mark note read", func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, s.sqlFor(noteOfBoxSQLite, noteOfBoxPostgres), seq, boxID).Scan(&one); err != nil {
			return notFound(err, fmt.Sprintf("note %d of box %s", seq, boxID))
		}
		res, err := tx.ExecContext(ctx, s.sqlFor(addNoteReadSQLite, addNoteReadPostgres), seq, micros(at))
		if err != nil {
			return fmt.Errorf("store: mark note read: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: mark note read: %w", err)
		}
		if n == 0 {
			var us int64
			if err := tx.QueryRowContext(ctx, s.sqlFor(noteReadSQLite, noteReadPostgres), seq).Scan(&us); err != nil {
				return fmt.Errorf("store: mark note read: %w", err)
			}
			readAt = fromMicros(us)
			return nil
		}
		readAt, first = fromMicros(micros(at)), true
		return s.audit(ctx, tx, audit)
	})
	if err != nil {
		return time.Time{}, false, err
	}
	return readAt, first, nil
}

func (s *sqlStore) NoteReadAt(ctx context.Context, seq int64) (time.Time, error) {
	var us int64
	err := s.db.QueryRowContext(ctx, s.sqlFor(noteReadSQLite, noteReadPostgres), seq).Scan(&us)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: note read: %w", err)
	}
	return fromMicros(us), nil
}
