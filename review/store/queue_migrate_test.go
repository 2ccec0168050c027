package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/store"
)

// Migration 00012 takes a database whose decisions were stored before the
// segment row kept its state: every segment gets its newest decision's
// state, and the undecided stay new.
func TestSegmentStateBackfill(t *testing.T) {
	pg := pgtest.Start(t)
	tests := []struct {
		name    string
		driver  string
		dialect goose.Dialect
		dsn     func(t *testing.T) string
		open    func(ctx context.Context, dsn string) (store.Store, error)
		insert  string
	}{
		{"sqlite", "sqlite", goose.DialectSQLite3,
			func(t *testing.T) string { return filepath.Join(t.TempDir(), "review.db") },
			store.OpenSQLite,
			`INSERT INTO decisions (box_id, segment_id, state, prev, undoes, actor, at) VALUES (?, ?, ?, ?, 0, ?, ?)`},
		{"postgres", "pgx", goose.DialectPostgres, func(t *testing.T) string { return pg.NewDB(t) }, store.OpenPostgres,
			`INSERT INTO decisions (box_id, segment_id, state, prev, undoes, actor, at) VALUES ($1, $2, $3, $4, 0, $5, $6)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := tc.dsn(t)
			s, err := tc.open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			seedCaseload(t, s) // a: box 1111, seg0 and seg1; b: box 2222
			r0 := store.SegmentRef{BoxID: "1111", ID: "seg0"}
			for _, st := range []string{store.StateReal, store.StateCoached} {
				if _, err := s.Decide(ctx, store.Decision{Ref: r0, State: st, Actor: "user:a", At: t0}, audit("segment.decide")); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()

			// Back to the schema before 00012, a decision stored there, and up again.
			db, err := sql.Open(tc.driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			p, err := goose.NewProvider(tc.dialect, db, os.DirFS(filepath.Join("migrations", tc.name)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(ctx, 11); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, tc.insert, "2222", "seg1", store.StateFalse, store.StateNew, "user:b", t0.UnixMicro()); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatal(err)
			}

			s, err = tc.open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for user, want := range map[string]map[string]string{
				"a": {"1111/seg0": store.StateCoached, "1111/seg1": store.StateNew},
				"b": {"2222/seg0": store.StateNew, "2222/seg1": store.StateFalse},
			} {
				items, err := s.QueueRefs(ctx, user, 10, 10)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]string{}
				for _, it := range items {
					got[it.BoxID+"/"+it.ID] = it.State
				}
				if len(got) != len(want) {
					t.Fatalf("queue of %s after the backfill: %v, want %v", user, got, want)
				}
				for ref, st := range want {
					if got[ref] != st {
						t.Fatalf("queue of %s after the backfill: %v, want %v", user, got, want)
					}
				}
				if n, err := s.NewCount(ctx, user); err != nil || n != 1 {
					t.Fatalf("new ones of %s after the backfill: %d %v, want 1", user, n, err)
				}
			}
		})
	}
}
