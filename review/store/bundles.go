package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PublishedBundle is a signed setup bundle a trainer published for the
// network path; the bundle's bytes are a blob under BlobKey.
type PublishedBundle struct {
	BoxID     string
	Version   uint64
	BlobKey   string
	Size      int64
	SHA256    string // hex of the whole file, so a box can check its download
	Published time.Time
	Actor     string
}

// Bundles keeps the bundles published for boxes to fetch.
type Bundles interface {
	// PublishBundle records b for each of boxes (b.BoxID is ignored) and
	// audit, in one transaction. ErrNotFound when a box is not enrolled;
	// ErrExists when one of them already has a bundle of that version.
	PublishBundle(ctx context.Context, b PublishedBundle, boxes []string, audit AuditEntry) error
	// LatestBundle is the newest bundle published for box; ErrNotFound
	// when none.
	LatestBundle(ctx context.Context, box string) (PublishedBundle, error)
}

const (
	// Versions are compared as numbers in the database; they are stored
	// signed (both backends' integers are), which holds any version made
	// from a time in seconds.
	publishBundleSQLite = `INSERT INTO bundles (box_id, version, blob_key, size, sha256, published, actor)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	publishBundlePostgres = `INSERT INTO bundles (box_id, version, blob_key, size, sha256, published, actor)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`
	latestBundleSQLite = `SELECT box_id, version, blob_key, size, sha256, published, actor FROM bundles
		WHERE box_id = ? ORDER BY version DESC LIMIT 1`
	latestBundlePostgres = `SELECT box_id, version, blob_key, size, sha256, published, actor FROM bundles
		WHERE box_id = $1 ORDER BY version DESC LIMIT 1`
)

// maxBundleVersion keeps a version in a signed 64-bit column.
const maxBundleVersion = 1<<63 - 1

func (s *sqlStore) PublishBundle(ctx context.Context, b PublishedBundle, boxes []string, audit AuditEntry) error {
	if len(boxes) == 0 {
		return errors.New("store: publish bundle: no boxes")
	}
	if b.Version == 0 || b.Version > maxBundleVersion {
		return fmt.Errorf("store: publish bundle: version %d out of range", b.Version)
	}
	for _, id := range boxes {
		if _, err := s.Box(ctx, id); err != nil {
			return fmt.Errorf("store: publish bundle for %s: %w", id, err)
		}
	}
	return s.withTx(ctx, "publish bundle", func(tx *sql.Tx) error {
		for _, id := range boxes {
			res, err := tx.ExecContext(ctx, s.sqlFor(publishBundleSQLite, publishBundlePostgres),
				id, int64(b.Version), b.BlobKey, b.Size, b.SHA256, micros(b.Published), b.Actor)
			if err != nil {
				return fmt.Errorf("store: publish bundle: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("store: publish bundle: %w", err)
			} else if n == 0 {
				return fmt.Errorf("store: publish bundle: box %s already has version %d: %w", id, b.Version, ErrExists)
			}
		}
		return s.audit(ctx, tx, audit)
	})
}

func (s *sqlStore) LatestBundle(ctx context.Context, box string) (PublishedBundle, error) {
	var b PublishedBundle
	var version, published int64
	err := s.db.QueryRowContext(ctx, s.sqlFor(latestBundleSQLite, latestBundlePostgres), box).
		Scan(&b.BoxID, &version, &b.BlobKey, &b.Size, &b.SHA256, &published, &b.Actor)
	if errors.Is(err, sql.ErrNoRows) {
		return PublishedBundle{}, ErrNotFound
	}
	if err != nil {
		return PublishedBundle{}, fmt.Errorf("store: latest bundle: %w", err)
	}
	b.Version, b.Published = uint64(version), fromMicros(published)
	return b, nil
}
