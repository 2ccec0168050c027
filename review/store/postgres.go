package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"; pure Go
	"github.com/pressly/goose/v3"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

var postgresQueries = queries{
	addBox:       `INSERT INTO boxes (id, public_key, name, added) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
	revokeBox:    `UPDATE boxes SET revoked = $1 WHERE id = $2 AND revoked = 0`,
	box:          `SELECT id, public_key, name, added, revoked FROM boxes WHERE id = $1`,
	boxes:        `SELECT id, public_key, name, added, revoked FROM boxes ORDER BY added, id`,
	putChallenge: `INSERT INTO challenges (nonce, expires) VALUES ($1, $2)`,
	pruneChalls:  `DELETE FROM challenges WHERE expires < $1`,
	useChallenge: `UPDATE challenges SET used = $1 WHERE nonce = $2 AND used = 0 RETURNING expires`,
	challenge:    `SELECT used, expires FROM challenges WHERE nonce = $1`,
	putToken:     `INSERT INTO tokens (hash, box_id, expires) VALUES ($1, $2, $3)`,
	tokenBox: `SELECT t.expires, b.id, b.public_key, b.name, b.added, b.revoked
		FROM tokens t JOIN boxes b ON b.id = t.box_id WHERE t.hash = $1`,
	putSegment: `INSERT INTO segments (box_id, id, sha256, size, reason, at, json, json_key, clip_key, received)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
	segment: `SELECT box_id, id, sha256, size, reason, at, json, json_key, clip_key, received
		FROM segments WHERE box_id = $1 AND id = $2`,
	segments: `SELECT box_id, id, sha256, size, reason, at, json, json_key, clip_key, received
		FROM segments WHERE box_id = $1 ORDER BY received, id`,
	putSession:  `INSERT INTO sessions (box_id, id, sha256, record, received) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
	session:     `SELECT box_id, id, sha256, record, received FROM sessions WHERE box_id = $1 AND id = $2`,
	appendAudit: `INSERT INTO audit (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)`,
	audit:       `SELECT seq, at, actor, action, subject, detail FROM audit ORDER BY seq DESC LIMIT $1`,
	segmentSHA:  `SELECT sha256 FROM segments WHERE box_id = $1 AND id = $2`,
	sessionSHA:  `SELECT sha256 FROM sessions WHERE box_id = $1 AND id = $2`,
	expired: `SELECT box_id, id, sha256, size, reason, at, json, json_key, clip_key, received
		FROM segments WHERE received < $1 ORDER BY received, box_id, id LIMIT $2`,
	expiredClips: `SELECT box_id, id, sha256, size, reason, at, json, json_key, clip_key, received
		FROM segments WHERE received < $1 AND clip_key <> '' ORDER BY received, box_id, id LIMIT $2`,
	dropClip:    `UPDATE segments SET clip_key = '' WHERE box_id = $1 AND id = $2 AND clip_key <> ''`,
	delSegment:  `DELETE FROM segments WHERE box_id = $1 AND id = $2`,
	delSessions: `DELETE FROM sessions WHERE ($1::text = '' OR box_id = $1) AND ($2::bigint = 0 OR received < $2)`,
}

// postgresConns bounds one process's pool.
const postgresConns = 16

// OpenPostgres connects to the PostgreSQL database at dsn (a postgres://
// URL or key=value string) and migrates it.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	// Unbounded, 300 boxes uploading at once opened a connection each and
	// ran the server out of them (FATAL: too many clients); bounded,
	// requests queue for a connection. Several servers share the server's
	// max_connections (100 by default).
	db.SetMaxOpenConns(postgresConns)
	db.SetMaxIdleConns(postgresConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect postgres: %w", err)
	}
	sub, err := fs.Sub(postgresMigrations, "migrations/postgres")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := migrate(ctx, db, goose.DialectPostgres, sub); err != nil {
		db.Close()
		return nil, err
	}
	return &sqlStore{db: db, q: postgresQueries, c: postgresConsole, postgres: true}, nil
}
