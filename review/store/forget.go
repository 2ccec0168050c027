package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Forgetting removes everything of one woman on her request.
type Forgetting interface {
	// ForgetConsole removes what the console keeps about box boxID's
	// woman beside her segments: her coaching notes with their read
	// receipts, the scores of her practices and her "ready" marks, and
	// the decisions and escalations on her segments (these also go with
	// each segment row; any left are removed here), in one
	// transaction with the audit entry audit returns for the counts (none
	// when nil or when nothing was removed). Forgetting again removes
	// nothing and is no error. Call it after her segments are deleted,
	// so a failure half way never leaves a clip whose decisions are gone.
	ForgetConsole(ctx context.Context, boxID string, audit func(Forgotten) *AuditEntry) (Forgotten, error)
}

// Forgotten counts the console's rows ForgetConsole removed.
type Forgotten struct {
	Notes, NoteReads, Decisions, Escalations int
	Assessments, ReadyMarks                  int
}

// Total is the number of rows removed.
func (f Forgotten) Total() int {
	return f.Notes + f.NoteReads + f.Decisions + f.Escalations + f.Assessments + f.ReadyMarks
}

// Read receipts first: they name notes by seq only.
var forgetSQLite = []string{
	`DELETE FROM note_reads WHERE seq IN (SELECT seq FROM notes WHERE box_id = ?)`,
	`DELETE FROM notes WHERE box_id = ?`,
	`DELETE FROM escalations WHERE box_id = ?`,
	`DELETE FROM decisions WHERE box_id = ?`,
	`DELETE FROM assessments WHERE box_id = ?`,
	`DELETE FROM ready_marks WHERE box_id = ?`,
}

var forgetPostgres = []string{
	`DELETE FROM note_reads WHERE seq IN (SELECT seq FROM notes WHERE box_id = $1)`,
	`DELETE FROM notes WHERE box_id = $1`,
	`DELETE FROM escalations WHERE box_id = $1`,
	`DELETE FROM decisions WHERE box_id = $1`,
	`DELETE FROM assessments WHERE box_id = $1`,
	`DELETE FROM ready_marks WHERE box_id = $1`,
}

func (s *sqlStore) ForgetConsole(ctx context.Context, boxID string, audit func(Forgotten) *AuditEntry) (Forgotten, error) {
	var f Forgotten
	counts := []*int{&f.NoteReads, &f.Notes, &f.Escalations, &f.Decisions, &f.Assessments, &f.ReadyMarks}
	err := s.withTx(ctx, "forget console", func(tx *sql.Tx) error {
		for i, q := range forgetSQLite {
			res, err := tx.ExecContext(ctx, s.sqlFor(q, forgetPostgres[i]), boxID)
			if err != nil {
				return fmt.Errorf("store: forget console: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: forget console: %w", err)
			}
			*counts[i] = int(n)
		}
		if f.Total() == 0 || audit == nil {
			return nil
		}
		if e := audit(f); e != nil {
			return s.audit(ctx, tx, *e)
		}
		return nil
	})
	if err != nil {
		return Forgotten{}, err
	}
	return f, nil
}
