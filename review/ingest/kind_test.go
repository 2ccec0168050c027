package ingest_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wiretest"
)

// A segment a box flagged during a practice is stored as a practice's,
// on both backends; one without a kind (every live, every older box) as a
// live's; an unknown kind is refused and nothing is stored.
func TestUploadKeepsTheKind(t *testing.T) {
	pg := pgtest.Start(t)
	for name, open := range map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "review.db"))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"postgres": func(t *testing.T) store.Store {
			st, err := store.OpenPostgres(context.Background(), pg.NewDB(t))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() { st.Close() })
			e := newEnv(t, opts{st: st})
			boxID, tok := e.box(t)
			for i, tc := range []struct {
				name, kind string
				code       int
				want       string // the stored kind; "" when refused
			}{
				{"live, as every box wrote it", "", http.StatusNoContent, store.KindLive},
				{"live, said so", "live", http.StatusNoContent, store.KindLive},
				{"practice", "practice", http.StatusNoContent, store.KindPractice},
				{"unknown kind", "rehearsal", http.StatusBadRequest, ""},
			} {
				id := wiretest.ID(20 + i)
				seg := wiretest.Segment(id, 0)
				seg.Kind = tc.kind
				body := wiretest.Tar(t, wiretest.Entry{Name: "segment.json", Body: wiretest.JSON(t, seg)})
				r := e.upload(t, tok, "segment", id, sum(body), body)
				if r.code != tc.code {
					t.Fatalf("%s: final PATCH %d %s %s, want %d", tc.name, r.code, r.Err, r.Msg, tc.code)
				}
				got, err := st.SegmentKind(context.Background(), store.SegmentRef{BoxID: boxID, ID: id})
				switch {
				case tc.want == "" && err == nil:
					t.Errorf("%s: refused, yet stored as %q", tc.name, got)
				case tc.want != "" && (err != nil || got != tc.want):
					t.Errorf("%s: stored kind %q, %v; want %q", tc.name, got, err, tc.want)
				}
			}
		})
	}
}
