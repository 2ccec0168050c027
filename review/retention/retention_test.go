package retention_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/cunbo/cunbo/review/blob"
	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/retention"
	"github.com/cunbo/cunbo/review/s3test"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wiretest"
)

// backend is one storage setup with a raw view of its database, to check
// that nothing is left in any table.
type backend struct {
	st       store.Store
	bs       blob.Store
	raw      *sql.DB
	blobRoot string // files only
}

func backends(t *testing.T) map[string]func(t *testing.T) backend {
	pg := pgtest.Start(t)
	return map[string]func(t *testing.T) backend{
		"sqlite+files": func(t *testing.T) backend {
			dir := t.TempDir()
			st, err := store.Open(context.Background(), "", dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			bs, err := blob.OpenURL(context.Background(), "", dir)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.SQLiteFile))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return backend{st, bs, raw, filepath.Join(dir, "blobs")}
		},
		"postgres+s3": func(t *testing.T) backend {
			dsn := pg.NewDB(t)
			st, err := store.OpenPostgres(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			s3 := s3test.Start(t, "clips")
			bs, err := blob.OpenURL(context.Background(), s3.Spec("clips"), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			raw, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return backend{st, bs, raw, ""}
		},
	}
}

var now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// put stores one segment the way ingest does: blobs, then the row; and a
// session record naming it. It returns the segment's blob keys.
func put(t *testing.T, b backend, boxID string, n int, received time.Time) []string {
	t.Helper()
	ctx := context.Background()
	id := wiretest.ID(n)
	js := wiretest.JSON(t, wiretest.Segment(id, 100))
	prefix := fmt.Sprintf("segments/%s/%s/%064x/", boxID, id, n)
	g := store.Segment{BoxID: boxID, ID: id, SHA256: fmt.Sprintf("%064x", n), Size: 1, Reason: "finding", At: wiretest.At,
		JSON: js, JSONKey: prefix + "segment.json", ClipKey: prefix + "clip.mp4", Received: received}
	for k, body := range map[string][]byte{g.JSONKey: js, g.ClipKey: bytes.Repeat([]byte("v"), 100)} {
		if err := b.bs.Put(ctx, k, bytes.NewReader(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.st.PutSegment(ctx, g); err != nil {
		t.Fatal(err)
	}
	rec := fmt.Sprintf(`{"version":1,"id":"s%d","segments":[%q]}`, n, id)
	if _, err := b.st.PutSession(ctx, store.Session{BoxID: boxID, ID: fmt.Sprintf("s%d", n), SHA256: "x", Record: []byte(rec), Received: received}); err != nil {
		t.Fatal(err)
	}
	return []string{g.ClipKey, g.JSONKey}
}

func exists(t *testing.T, bs blob.Store, key string) bool {
	t.Helper()
	r, err := bs.Open(context.Background(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r)
	r.Close()
	return true
}

func addBoxes(t *testing.T, st store.Store, ids ...string) {
	t.Helper()
	for i, id := range ids {
		if err := st.AddBox(context.Background(), store.Box{ID: id, PublicKey: bytes.Repeat([]byte{byte(i + 1)}, 32), Added: now}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSweep(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			addBoxes(t, b.st, "aa")
			p := retention.DefaultPolicy()
			fresh := put(t, b, "aa", 1, now.Add(-179*retention.Day))    // all kept
			clipGone := put(t, b, "aa", 2, now.Add(-181*retention.Day)) // clip goes, words stay
			allGone := put(t, b, "aa", 3, now.Add(-1096*retention.Day)) // everything goes
			c, err := retention.Sweep(ctx, b.st, b.bs, p, now, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if want := (retention.Counts{Clips: 1, Segments: 1, Sessions: 1}); c != want {
				t.Fatalf("counts %+v, want %+v", c, want)
			}
			for _, tc := range []struct {
				key  string
				want bool
			}{{fresh[0], true}, {fresh[1], true}, {clipGone[0], false}, {clipGone[1], true}, {allGone[0], false}, {allGone[1], false}} {
				if got := exists(t, b.bs, tc.key); got != tc.want {
					t.Errorf("blob %s kept = %v, want %v", tc.key, got, tc.want)
				}
			}
			if g, err := b.st.Segment(ctx, "aa", wiretest.ID(2)); err != nil || g.ClipKey != "" || len(g.JSON) == 0 {
				t.Errorf("segment past clip retention: %+v %v; want its words, no clip", g, err)
			}
			if _, err := b.st.Segment(ctx, "aa", wiretest.ID(3)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("segment past 3 years: %v", err)
			}
			if _, err := b.st.Session(ctx, "aa", "s3"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("session record past 3 years: %v", err)
			}
			if _, err := b.st.Session(ctx, "aa", "s2"); err != nil {
				t.Errorf("session record within 3 years: %v", err)
			}
			audit, _ := b.st.Audit(ctx, 100)
			acts := map[string]string{}
			for _, e := range audit {
				acts[e.Action] = e.Actor + " " + e.Detail
			}
			for _, a := range []string{"retention.segments", "retention.clips", "retention.sessions"} {
				if acts[a] != "retention count=1" {
					t.Errorf("audit %s: %q, want %q", a, acts[a], "retention count=1")
				}
			}
			// Again at once: nothing to do, and nothing logged.
			if c, err := retention.Sweep(ctx, b.st, b.bs, p, now, slog.New(slog.DiscardHandler)); err != nil || c != (retention.Counts{}) {
				t.Fatalf("second sweep: %+v %v", c, err)
			}
			if again, _ := b.st.Audit(ctx, 100); len(again) != len(audit) {
				t.Fatalf("an empty sweep wrote %d audit entries", len(again)-len(audit))
			}
		})
	}
}

// TestSweepBatches: more expired segments than one batch all go.
func TestSweepBatches(t *testing.T) {
	ctx := context.Background()
	b := backends(t)["sqlite+files"](t)
	addBoxes(t, b.st, "aa")
	const n = 450
	for i := range n {
		id := fmt.Sprintf("20261128T093000000Z-%08x", i)
		g := store.Segment{BoxID: "aa", ID: id, SHA256: "h", Reason: "finding", JSON: []byte("{}"), JSONKey: "j/" + id, Received: now.Add(-2000 * retention.Day)}
		if _, err := b.st.PutSegment(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	c, err := retention.Sweep(ctx, b.st, b.bs, retention.DefaultPolicy(), now, slog.New(slog.DiscardHandler))
	if err != nil || c.Segments != n {
		t.Fatalf("sweep: %+v %v, want %d segments", c, err, n)
	}
}

// TestForget: a box's data on her request: every row and blob of hers
// goes, another box's stays, and the audit log says who asked and how
// many, without any of her words.
func TestForget(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			her, other := "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
			addBoxes(t, b.st, her, other)
			var herKeys []string
			for i := 1; i <= 3; i++ {
				herKeys = append(herKeys, put(t, b, her, i, now.Add(-time.Duration(i)*time.Hour))...)
			}
			otherKeys := put(t, b, other, 4, now)
			// A social worker's decisions on her segments (the console's
			// table) go with the segments.
			for _, d := range []struct{ box, seg string }{{her, wiretest.ID(2)}, {her, wiretest.ID(3)}, {other, wiretest.ID(4)}} {
				q := "INSERT INTO decisions (box_id, segment_id, state, prev, actor, at) VALUES ('" + d.box + "', '" + d.seg + "', 'reviewed', 'new', 'user:x', 1)"
				if _, err := b.raw.Exec(q); err != nil {
					t.Fatal(err)
				}
			}

			// By segment id: only that one.
			c, err := retention.Forget(ctx, b.st, b.bs, her, []string{wiretest.ID(1)}, "cli:王社工", now)
			if err != nil || c != (retention.Counts{Clips: 1, Segments: 1}) {
				t.Fatalf("forget one: %+v %v", c, err)
			}
			if exists(t, b.bs, herKeys[0]) || exists(t, b.bs, herKeys[1]) || !exists(t, b.bs, herKeys[2]) {
				t.Fatal("forget by id removed the wrong blobs")
			}
			// An unknown id: an error, and nothing removed.
			if _, err := retention.Forget(ctx, b.st, b.bs, her, []string{wiretest.ID(2), "20261128T093000000Z-ffffffff"}, "cli:x", now); !errors.Is(err, retention.ErrUnknownSegment) {
				t.Fatalf("unknown id: %v", err)
			}
			if !exists(t, b.bs, herKeys[2]) {
				t.Fatal("a forget that failed removed a blob")
			}
			if _, err := retention.Forget(ctx, b.st, b.bs, "cccccccccccccccccccccccccccccccc", nil, "cli:x", now); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown box: %v", err)
			}
			if _, err := retention.Forget(ctx, b.st, b.bs, her, nil, "", now); err == nil {
				t.Fatal("forget without who asked")
			}

			// The whole box.
			c, err = retention.Forget(ctx, b.st, b.bs, her, nil, "cli:王社工", now)
			if err != nil || c != (retention.Counts{Clips: 2, Segments: 2, Sessions: 3}) {
				t.Fatalf("forget box: %+v %v", c, err)
			}
			for _, k := range herKeys {
				if exists(t, b.bs, k) {
					t.Errorf("her blob %s remains", k)
				}
			}
			for _, k := range otherKeys {
				if !exists(t, b.bs, k) {
					t.Errorf("other box's blob %s removed", k)
				}
			}
			for _, table := range []string{"segments", "sessions", "decisions"} {
				var n int
				if err := b.raw.QueryRow("SELECT count(*) FROM " + table + " WHERE box_id = '" + her + "'").Scan(&n); err != nil || n != 0 {
					t.Errorf("%s: %d rows of hers remain (%v)", table, n, err)
				}
				if err := b.raw.QueryRow("SELECT count(*) FROM " + table + " WHERE box_id = '" + other + "'").Scan(&n); err != nil || n != 1 {
					t.Errorf("%s: %d rows of the other box, want 1 (%v)", table, n, err)
				}
			}
			if b.blobRoot != "" {
				filepath.Walk(b.blobRoot, func(p string, _ os.FileInfo, _ error) error {
					if strings.Contains(p, her) {
						t.Errorf("left under the blob directory: %s", p)
					}
					return nil
				})
			}
			audit, _ := b.st.Audit(ctx, 100)
			var forgets []string
			for _, e := range audit {
				if strings.Contains(e.Detail+e.Subject, "辣椒") || strings.Contains(e.Detail+e.Subject, "全网最低") {
					t.Errorf("audit entry carries her words: %+v", e)
				}
				if strings.HasPrefix(e.Action, "forget.") {
					forgets = append(forgets, fmt.Sprintf("%s %s %s %s", e.Actor, e.Action, e.Subject, e.Detail))
					if !e.At.Equal(now) {
						t.Errorf("forget logged at %v, want %v", e.At, now)
					}
				}
			}
			want := []string{
				"cli:王社工 forget.sessions box:" + her + " count=3",
				"cli:王社工 forget.segments box:" + her + " count=2",
				"cli:王社工 forget.segments box:" + her + " count=1",
			}
			if strings.Join(forgets, "\n") != strings.Join(want, "\n") {
				t.Fatalf("forget audit:\n%s\nwant:\n%s", strings.Join(forgets, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"180d", 180 * retention.Day, true},
		{"1095d", 1095 * retention.Day, true},
		{"72h", 72 * time.Hour, true},
		{"0d", 0, false},
		{"-3d", 0, false},
		{"d", 0, false},
		{"180", 0, false},
		{"99999999d", 0, false},
		{"-1h", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := retention.ParseAge(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if err := (retention.Policy{Clips: time.Hour, Transcripts: retention.Day, Sessions: retention.Day}).Validate(); err == nil {
		t.Error("a policy keeping clips one hour passed")
	}
}

func FuzzParseAge(f *testing.F) {
	for _, s := range []string{"180d", "72h", "0d", "1e9d", "1h30m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := retention.ParseAge(s)
		if err == nil && (d <= 0 || d > 100*365*retention.Day) {
			t.Fatalf("ParseAge(%q) = %v, out of range", s, d)
		}
	})
}
