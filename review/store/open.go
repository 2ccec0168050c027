package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SQLiteFile is the database file's name under the data directory.
const SQLiteFile = "review.db"

// Open opens the store a --db value names: empty for SQLite in dataDir,
// or a postgres:// (postgresql://) URL.
func Open(ctx context.Context, db, dataDir string) (Store, error) {
	switch {
	case db == "":
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		return OpenSQLite(ctx, filepath.Join(dataDir, SQLiteFile))
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return OpenPostgres(ctx, db)
	}
	return nil, fmt.Errorf("store: --db must be empty (SQLite under --data) or a postgres:// URL")
}
