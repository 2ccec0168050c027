package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers "sqlite"; pure Go, so the binary stays CGO_ENABLED=0
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

var sqliteQueries = queries{
	addBox:       `INSERT INTO boxes (id, public_key, name, added) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	revokeBox:    `UPDATE boxes SET revoked = ? WHERE id = ? AND revoked = 0`,
	box:          `SELECT id, public_key, name, added, revoked FROM boxes WHERE id = ?`,
	boxes:        `SELECT id, public_key, name, added, revoked FROM boxes ORDER BY added, id`,
	putChallenge: `INSERT INTO challenges (nonce, expires) VALUES (?, ?)`,
	pruneChalls:  `DELETE FROM challenges WHERE expires < ?`,
	useChallenge: `UPDATE challenges SET used = ? WHERE nonce = ? AND used = 0 RETURNING expires`,
	challenge:    `SELECT used, expires FROM challenges WHERE nonce = ?`,
	putToken:     `INSERT INTO tokens (hash, box_id, expires) VALUES (?, ?, ?)`,
	tokenBox: `SELECT t.expires, b.id, b.public_key, b.name, b.added, b.revoked
		FROM tokens t JOIN boxes b ON b.id = t.box_id WHERE t.hash = ?`,
	putSegment: `INSERT INTO segments (box_id, id, sha256, size, reason, at, json, json_key, clip_key, received)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	segment: `SELECT box_id, id, sha256, size, reason, at, json, json_key, clip_key, received
		FROM segments WHERE box_id = ? AND id = ?`,
	segments: `SELECT box_id, id, sha256, size, reason, at, json, json_key, clip_key, received
		FROM segments WHERE box_id = ? ORDER BY received, id`,
	putSession:  `INSERT INTO sessions (box_id, id, sha256, record, received) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	session:     `SELECT box_id, id, sha256, record, received FROM sessions WHERE box_id = ? AND id = ?`,
	appendAudit: `INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)`,
	audit:       `SELECT seq, at, actor, action, subject, detail FROM audit ORDER BY seq DESC LIMIT ?`,
	segmentSHA:  `SELECT sha256 FROM segments WHERE box_id = ? AND id = ?`,
	sessionSHA:  `SELECT sha256 FROM sessions WHERE box_id = ? AND id = ?`,
	expired: `SELECT box_id, id, sha256, size, reason, at, json, json_key, clip_key, received
		FROM segments WHERE received < ? ORDER BY received, box_id, id LIMIT ?`,
	expiredClips: `SELECT box_id, id, sha256, size, reason, at, json, json_key, clip_key, received
		FROM segments WHERE received < ? AND clip_key <> '' ORDER BY received, box_id, id LIMIT ?`,
	dropClip:    `UPDATE segments SET clip_key = '' WHERE box_id = ? AND id = ? AND clip_key <> ''`,
	delSegment:  `DELETE FROM segments WHERE box_id = ? AND id = ?`,
	delSessions: `DELETE FROM sessions WHERE (?1 = '' OR box_id = ?1) AND (?2 = 0 OR received < ?2)`,
}

// sqliteConns bounds the pool: enough for readers (WAL) beside the writer.
const sqliteConns = 8

// OpenSQLite opens (creating if needed) the SQLite database file at path and
// migrates it.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	// WAL lets the readiness probe read while an upload writes; the busy
	// timeout makes concurrent writers wait instead of failing; foreign
	// keys are off by default in SQLite.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	// SQLite has one writer at a time. Many connections each waiting in
	// its busy handler (sleep and retry, unfair) gave 503s past the busy
	// timeout with 300 boxes uploading; a small pool queues the waiters in
	// Go instead, in order and without a deadline of their own.
	db.SetMaxOpenConns(sqliteConns)
	db.SetMaxIdleConns(sqliteConns)
	sub, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := migrate(ctx, db, goose.DialectSQLite3, sub); err != nil {
		db.Close()
		return nil, err
	}
	return &sqlStore{db: db, q: sqliteQueries, c: sqliteConsole}, nil
}
