package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Progress is what a woman's page and the per-rule precision need.
type Progress interface {
	// BoxSessions lists a box's session records, newest first, at most
	// limit. Session ids begin with their start time (segment.NewSessionID),
	// so the primary key gives the order.
	BoxSessions(ctx context.Context, boxID string, limit int) ([]Session, error)
	// BoxSessionsOfKind is BoxSessions of her practices (practice true:
	// records of kind "practice") or of her lives (every other record:
	// kind "live", records from boxes before practices, and any that does
	// not parse), so that a run of one kind never pushes the other out of
	// its window on her page.
	BoxSessionsOfKind(ctx context.Context, boxID string, practice bool, limit int) ([]Session, error)
	// BoxMoments lists a box's segments whose moment is at or after since,
	// with their current states, newest moment first, at most limit.
	BoxMoments(ctx context.Context, boxID string, since time.Time, limit int) ([]QueueItem, error)
	// Decided lists the segments of user's caseload (every box when user
	// is empty) whose current state is a decision (not StateNew), newest
	// decision first, at most limit.
	Decided(ctx context.Context, user string, limit int) ([]QueueItem, error)
	// RecentNotes lists a box's notes, newest first, at most limit.
	RecentNotes(ctx context.Context, boxID string, limit int) ([]Note, error)
}

const (
	boxSessionsSQLite = `SELECT box_id, id, sha256, record, received FROM sessions
		WHERE box_id = ? ORDER BY id DESC LIMIT ?`
	boxSessionsPostgres = `SELECT box_id, id, sha256, record, received FROM sessions
		WHERE box_id = $1 ORDER BY id DESC LIMIT $2`

	// The kind is read from the record as uploaded. SQLite checks the JSON
	// is valid before extracting (json_extract fails the whole query on
	// one bad row). PostgreSQL 15 has no error-free cast to jsonb, so it
	// matches the top-level member in the record's text, escaped so that
	// no byte sequence errors: a string value cannot hold the unescaped
	// quotes, and "kind" is the record's only member of that name
	// (segment.Session). Both walk the box's rows in primary-key order.
	boxSessionsPracticeSQLite = `SELECT box_id, id, sha256, record, received FROM sessions
		WHERE box_id = ? AND (CASE WHEN json_valid(CAST(record AS TEXT)) THEN json_extract(CAST(record AS TEXT), '$.kind') END) IS 'practice'
		ORDER BY id DESC LIMIT ?`
	boxSessionsLiveSQLite = `SELECT box_id, id, sha256, record, received FROM sessions
		WHERE box_id = ? AND (CASE WHEN json_valid(CAST(record AS TEXT)) THEN json_extract(CAST(record AS TEXT), '$.kind') END) IS NOT 'practice'
		ORDER BY id DESC LIMIT ?`
	practiceRePostgres          = `'"kind"[[:space:]]*:[[:space:]]*"practice"'`
	boxSessionsPracticePostgres = `SELECT box_id, id, sha256, record, received FROM sessions
		WHERE box_id = $1 AND encode(record, 'escape') ~ ` + practiceRePostgres + `
		ORDER BY id DESC LIMIT $2`
	boxSessionsLivePostgres = `SELECT box_id, id, sha256, record, received FROM sessions
		WHERE box_id = $1 AND encode(record, 'escape') !~ ` + practiceRePostgres + `
		ORDER BY id DESC LIMIT $2`

	// The state is the newest decision row (decisions_segment index), as
	// in the queue.
	boxMomentsSQLite = `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received,
		COALESCE((SELECT d.state FROM decisions d WHERE d.box_id = s.box_id AND d.segment_id = s.id ORDER BY d.seq DESC LIMIT 1), 'new')
		FROM segments s WHERE s.box_id = ? AND s.at >= ? ORDER BY s.at DESC, s.id DESC LIMIT ?`
	boxMomentsPostgres = `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received,
		COALESCE((SELECT d.state FROM decisions d WHERE d.box_id = s.box_id AND d.segment_id = s.id ORDER BY d.seq DESC LIMIT 1), 'new')
		FROM segments s WHERE s.box_id = $1 AND s.at >= $2 ORDER BY s.at DESC, s.id DESC LIMIT $3`

	// A segment's newest decision row is the one no later row of the same
	// segment follows; only segments ever decided are looked at, so the
	// scan is over decisions, not all segments. A caseload's are reached
	// from its boxes (caseload_user, then decisions_segment by box).
	decidedAllSQLite = `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received, d.state
		FROM decisions d
		JOIN segments s ON s.box_id = d.box_id AND s.id = d.segment_id
		WHERE d.state <> 'new'
		AND NOT EXISTS (SELECT 1 FROM decisions n WHERE n.box_id = d.box_id AND n.segment_id = d.segment_id AND n.seq > d.seq)
		ORDER BY d.seq DESC LIMIT ?`
	decidedAllPostgres = `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received, d.state
		FROM decisions d
		JOIN segments s ON s.box_id = d.box_id AND s.id = d.segment_id
		WHERE d.state <> 'new'
		AND NOT EXISTS (SELECT 1 FROM decisions n WHERE n.box_id = d.box_id AND n.segment_id = d.segment_id AND n.seq > d.seq)
		ORDER BY d.seq DESC LIMIT $1`
	// The newest decisions are picked by key first, so the sort does not
	// carry every segment's JSON along.
	decidedOfSQLite = `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received, x.state
		FROM (SELECT d.box_id, d.segment_id, d.state, d.seq FROM caseload c
			JOIN decisions d ON d.box_id = c.box_id
			WHERE c.user_name = ? AND d.state <> 'new'
			AND NOT EXISTS (SELECT 1 FROM decisions n WHERE n.box_id = d.box_id AND n.segment_id = d.segment_id AND n.seq > d.seq)
			ORDER BY d.seq DESC LIMIT ?) x
		JOIN segments s ON s.box_id = x.box_id AND s.id = x.segment_id
		ORDER BY x.seq DESC`
	decidedOfPostgres = `SELECT s.box_id, s.id, s.sha256, s.size, s.reason, s.at, s.json, s.json_key, s.clip_key, s.received, x.state
		FROM (SELECT d.box_id, d.segment_id, d.state, d.seq FROM caseload c
			JOIN decisions d ON d.box_id = c.box_id
			WHERE c.user_name = $1 AND d.state <> 'new'
			AND NOT EXISTS (SELECT 1 FROM decisions n WHERE n.box_id = d.box_id AND n.segment_id = d.segment_id AND n.seq > d.seq)
			ORDER BY d.seq DESC LIMIT $2) x
		JOIN segments s ON s.box_id = x.box_id AND s.id = x.segment_id
		ORDER BY x.seq DESC`

	recentNotesSQLite = `SELECT n.seq, n.box_id, n.text, n.author, n.at, COALESCE(r.read_at, 0)
		FROM notes n LEFT JOIN note_reads r ON r.seq = n.seq WHERE n.box_id = ? ORDER BY n.seq DESC LIMIT ?`
	recentNotesPostgres = `SELECT n.seq, n.box_id, n.text, n.author, n.at, COALESCE(r.read_at, 0)
		FROM notes n LEFT JOIN note_reads r ON r.seq = n.seq WHERE n.box_id = $1 ORDER BY n.seq DESC LIMIT $2`
)

func (s *sqlStore) BoxSessions(ctx context.Context, boxID string, limit int) ([]Session, error) {
	return s.boxSessions(ctx, s.sqlFor(boxSessionsSQLite, boxSessionsPostgres), boxID, limit)
}

func (s *sqlStore) BoxSessionsOfKind(ctx context.Context, boxID string, practice bool, limit int) ([]Session, error) {
	q := s.sqlFor(boxSessionsLiveSQLite, boxSessionsLivePostgres)
	if practice {
		q = s.sqlFor(boxSessionsPracticeSQLite, boxSessionsPracticePostgres)
	}
	return s.boxSessions(ctx, q, boxID, limit)
}

func (s *sqlStore) boxSessions(ctx context.Context, q, boxID string, limit int) ([]Session, error) {
	rows, err := s.db.QueryContext(ctx, q, boxID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: box sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var x Session
		var received int64
		if err := rows.Scan(&x.BoxID, &x.ID, &x.SHA256, &x.Record, &received); err != nil {
			return nil, fmt.Errorf("store: box sessions: %w", err)
		}
		x.Received = fromMicros(received)
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: box sessions: %w", err)
	}
	return out, nil
}

// queueItems scans rows of segment columns and a state.
func queueItems(rows *sql.Rows, what string) ([]QueueItem, error) {
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

func (s *sqlStore) BoxMoments(ctx context.Context, boxID string, since time.Time, limit int) ([]QueueItem, error) {
	// micros maps the zero time to 0, which every moment is at or after.
	rows, err := s.db.QueryContext(ctx, s.sqlFor(boxMomentsSQLite, boxMomentsPostgres), boxID, micros(since), limit)
	if err != nil {
		return nil, fmt.Errorf("store: box moments: %w", err)
	}
	return queueItems(rows, "box moments")
}

func (s *sqlStore) Decided(ctx context.Context, user string, limit int) ([]QueueItem, error) {
	q, args := s.sqlFor(decidedOfSQLite, decidedOfPostgres), []any{user, limit}
	if user == "" {
		q, args = s.sqlFor(decidedAllSQLite, decidedAllPostgres), []any{limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: decided: %w", err)
	}
	return queueItems(rows, "decided")
}

func (s *sqlStore) RecentNotes(ctx context.Context, boxID string, limit int) ([]Note, error) {
	rows, err := s.db.QueryContext(ctx, s.sqlFor(recentNotesSQLite, recentNotesPostgres), boxID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: recent notes: %w", err)
	}
	defer rows.Close()
	var out []Note
	for rows.Next() {
		var n Note
		var at, readAt int64
		if err := rows.Scan(&n.Seq, &n.BoxID, &n.Text, &n.Author, &at, &readAt); err != nil {
			return nil, fmt.Errorf("store: recent notes: %w", err)
		}
		n.At, n.ReadAt = fromMicros(at), fromMicros(readAt)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: recent notes: %w", err)
	}
	return out, nil
}
