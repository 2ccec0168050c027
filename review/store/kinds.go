package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// Segment kinds (segment.KindLive, segment.KindPractice): a moment said on
// a live, which viewers heard, or in a practice, which nobody did.
const (
	KindLive     = "live"
	KindPractice = "practice"
)

// SegmentKinds keeps practices' moments apart from lives' where the
// console counts them (and Console.QueuePage orders them). A segment's kind is read from its
// segment.json by PutSegment (segmentKind); rows stored before it are
// lives.
type SegmentKinds interface {
	// NewCounts is how many undecided segments user's caseload has, those
	// of lives and those of practices apart (NewCount is their sum).
	NewCounts(ctx context.Context, user string) (live, practice int, err error)
	// SegmentKind returns a stored segment's kind; ErrNotFound.
	SegmentKind(ctx context.Context, ref SegmentRef) (string, error)
}

// segmentKind is the kind a segment.json says: only a practice's says so
// (a live's has no kind member); anything else is a live, as the column's
// default is.
func segmentKind(raw []byte) string {
	var s struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(raw, &s) == nil && s.Kind == KindPractice {
		return KindPractice
	}
	return KindLive
}

const (
	setKindSQLite   = `UPDATE segments SET kind = ? WHERE box_id = ? AND id = ?`
	setKindPostgres = `UPDATE segments SET kind = $1 WHERE box_id = $2 AND id = $3`

	// Her new ones are few (segments_state, migration 00012, lists them
	// per box); the kind is read off their rows.
	newCountsSQLite = `SELECT COALESCE(SUM(CASE WHEN s.kind = 'practice' THEN 0 ELSE 1 END), 0),
		COALESCE(SUM(CASE WHEN s.kind = 'practice' THEN 1 ELSE 0 END), 0)
		FROM caseload c CROSS JOIN segments s ON s.box_id = c.box_id
		WHERE c.user_name = ? AND s.state = 'new'`
	newCountsPostgres = `SELECT COUNT(*) FILTER (WHERE s.kind <> 'practice'), COUNT(*) FILTER (WHERE s.kind = 'practice')
		FROM segments s JOIN caseload c ON c.box_id = s.box_id
		WHERE c.user_name = $1 AND s.state = 'new'`
	segmentKindSQLite   = `SELECT kind FROM segments WHERE box_id = ? AND id = ?`
	segmentKindPostgres = `SELECT kind FROM segments WHERE box_id = $1 AND id = $2`
)

// setSegmentKind stores g's kind on its new row, in PutSegment's
// transaction; a live's row keeps the default.
func (s *sqlStore) setSegmentKind(ctx context.Context, tx *sql.Tx, g Segment) error {
	kind := segmentKind(g.JSON)
	if kind == KindLive {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.sqlFor(setKindSQLite, setKindPostgres), kind, g.BoxID, g.ID); err != nil {
		return fmt.Errorf("store: segment kind: %w", err)
	}
	return nil
}

func (s *sqlStore) NewCounts(ctx context.Context, user string) (int, int, error) {
	var live, practice int
	if err := s.db.QueryRowContext(ctx, s.sqlFor(newCountsSQLite, newCountsPostgres), user).Scan(&live, &practice); err != nil {
		return 0, 0, fmt.Errorf("store: new counts: %w", err)
	}
	return live, practice, nil
}

func (s *sqlStore) SegmentKind(ctx context.Context, ref SegmentRef) (string, error) {
	var kind string
	if err := s.db.QueryRowContext(ctx, s.sqlFor(segmentKindSQLite, segmentKindPostgres), ref.BoxID, ref.ID).Scan(&kind); err != nil {
		return "", notFound(err, "segment "+ref.ID)
	}
	return kind, nil
}
