package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/store"
)

// backends opens a fresh, empty store of each kind; the contract below runs
// against every one.
func backends(t *testing.T) map[string]func(t *testing.T) store.Store {
	pg := pgtest.Start(t)
	return map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "review.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T) store.Store {
			s, err := store.OpenPostgres(context.Background(), pg.NewDB(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 123456000, time.UTC)

func box(id string) store.Box {
	return store.Box{ID: id, PublicKey: bytes.Repeat([]byte(id[:1]), 32), Name: "box " + id, Added: t0}
}

func TestContract(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"boxes", testBoxes},
		{"challenges", testChallenges},
		{"tokens", testTokens},
		{"segments", testSegments},
		{"sessions", testSessions},
		{"audit", testAudit},
		{"concurrent segment puts", testConcurrentPuts},
		{"audit is append-only", testAuditAppendOnly},
		{"expiry and deletion", testDeletion},
		{"more requests than connections", testManyAtOnce},
		{"migrate twice", nil},
	}
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := open(t)
					if tc.run != nil {
						tc.run(t, s)
					}
					if err := s.Ping(context.Background()); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

func testBoxes(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := box("aa"), box("bb")
	for _, x := range []store.Box{a, b} {
		if err := s.AddBox(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddBox(ctx, a); !errors.Is(err, store.ErrExists) {
		t.Fatalf("add twice: %v, want ErrExists", err)
	}
	got, err := s.Box(ctx, "aa")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || !bytes.Equal(got.PublicKey, a.PublicKey) || got.Name != a.Name || !got.Added.Equal(t0) || got.IsRevoked() {
		t.Fatalf("box = %+v, want %+v", got, a)
	}
	if _, err := s.Box(ctx, "zz"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown box: %v", err)
	}
	if err := s.RevokeBox(ctx, "zz", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if err := s.RevokeBox(ctx, "aa", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeBox(ctx, "aa", t0.Add(2*time.Hour)); err != nil {
		t.Fatalf("revoke twice: %v", err)
	}
	got, _ = s.Box(ctx, "aa")
	if !got.Revoked.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revoked at %v, want the first revocation", got.Revoked)
	}
	all, err := s.Boxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != "aa" || all[1].ID != "bb" || !all[0].IsRevoked() || all[1].IsRevoked() {
		t.Fatalf("boxes = %+v", all)
	}
}

func testChallenges(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.PutChallenge(ctx, "n1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutChallenge(ctx, "n2", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		nonce string
		now   time.Time
		want  error
	}{
		{"n1", t0.Add(59 * time.Second), nil},
		{"n1", t0.Add(59 * time.Second), store.ErrUsed},
		{"n2", t0.Add(61 * time.Second), store.ErrExpired},
		{"n2", t0.Add(61 * time.Second), store.ErrUsed},
		{"never", t0, store.ErrNotFound},
	}
	for i, st := range steps {
		err := s.TakeChallenge(ctx, st.nonce, st.now)
		if (st.want == nil && err != nil) || (st.want != nil && !errors.Is(err, st.want)) {
			t.Fatalf("step %d take %s: %v, want %v", i, st.nonce, err, st.want)
		}
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AddBox(ctx, box("aa")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, store.Token{Hash: "h1", BoxID: "aa", Expires: t0.Add(15 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, store.Token{Hash: "h2", BoxID: "nobox", Expires: t0}); err == nil {
		t.Fatal("token for an unknown box stored")
	}
	b, err := s.TokenBox(ctx, "h1", t0)
	if err != nil || b.ID != "aa" || b.IsRevoked() {
		t.Fatalf("token box = %+v, %v", b, err)
	}
	if _, err := s.TokenBox(ctx, "h1", t0.Add(15*time.Minute)); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("expired token: %v", err)
	}
	if _, err := s.TokenBox(ctx, "nope", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	if err := s.RevokeBox(ctx, "aa", t0); err != nil {
		t.Fatal(err)
	}
	if b, err := s.TokenBox(ctx, "h1", t0); err != nil || !b.IsRevoked() {
		t.Fatalf("token of a revoked box = %+v, %v; want the box, revoked", b, err)
	}
}

func seg(boxID, id, sha string) store.Segment {
	return store.Segment{BoxID: boxID, ID: id, SHA256: sha, Size: 1234, Reason: "finding", At: t0,
		JSON: []byte(`{"id":"` + id + `"}`), JSONKey: "k/" + sha + "/segment.json", ClipKey: "k/" + sha + "/clip.mp4", Received: t0.Add(time.Second)}
}

func testSegments(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, id := range []string{"aa", "bb"} {
		if err := s.AddBox(ctx, box(id)); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		g           store.Segment
		wantCreated bool
		wantErr     error
	}{
		{seg("aa", "s1", "h1"), true, nil},
		{seg("aa", "s1", "h1"), false, nil},               // retried upload
		{seg("aa", "s1", "h2"), false, store.ErrConflict}, // same id, other body
		{seg("bb", "s1", "h2"), true, nil},                // ids are per box
		{seg("aa", "s2", "h3"), true, nil},
	}
	for i, st := range steps {
		created, err := s.PutSegment(ctx, st.g)
		if created != st.wantCreated || (st.wantErr == nil && err != nil) || (st.wantErr != nil && !errors.Is(err, st.wantErr)) {
			t.Fatalf("step %d: created %v err %v, want %v %v", i, created, err, st.wantCreated, st.wantErr)
		}
	}
	if _, err := s.PutSegment(ctx, seg("nobox", "s1", "h1")); err == nil {
		t.Fatal("segment of an unknown box stored")
	}
	got, err := s.Segment(ctx, "aa", "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := seg("aa", "s1", "h1")
	if got.SHA256 != "h1" || got.Size != want.Size || got.Reason != want.Reason || !got.At.Equal(t0) || !bytes.Equal(got.JSON, want.JSON) ||
		got.JSONKey != want.JSONKey || got.ClipKey != want.ClipKey || !got.Received.Equal(want.Received) {
		t.Fatalf("segment = %+v, want %+v", got, want)
	}
	if _, err := s.Segment(ctx, "bb", "s2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other box's segment: %v", err)
	}
	list, err := s.Segments(ctx, "aa")
	if err != nil || len(list) != 2 || list[0].ID != "s1" || list[1].ID != "s2" {
		t.Fatalf("segments = %+v, %v", list, err)
	}
	audit, err := s.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n := countAction(audit, "segment.received"); n != 3 {
		t.Fatalf("%d segment.received audit entries, want 3 (one per stored segment, none for retries)", n)
	}
}

func countAction(es []store.AuditEntry, action string) int {
	n := 0
	for _, e := range es {
		if e.Action == action {
			n++
		}
	}
	return n
}

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AddBox(ctx, box("aa")); err != nil {
		t.Fatal(err)
	}
	x := store.Session{BoxID: "aa", ID: "x1", SHA256: "h1", Record: []byte(`{"id":"x1"}`), Received: t0}
	if c, err := s.PutSession(ctx, x); !c || err != nil {
		t.Fatalf("put: %v %v", c, err)
	}
	if c, err := s.PutSession(ctx, x); c || err != nil {
		t.Fatalf("put again: %v %v, want not created, no error", c, err)
	}
	x2 := x
	x2.SHA256 = "h2"
	if _, err := s.PutSession(ctx, x2); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("other hash: %v", err)
	}
	got, err := s.Session(ctx, "aa", "x1")
	if err != nil || !bytes.Equal(got.Record, x.Record) || got.SHA256 != "h1" || !got.Received.Equal(t0) {
		t.Fatalf("session = %+v, %v", got, err)
	}
	if _, err := s.Session(ctx, "aa", "x2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing session: %v", err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, a := range []string{"box.add", "box.revoke", "segment.view"} {
		if err := s.AppendAudit(ctx, store.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Actor: "cli", Action: a, Subject: "aa", Detail: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Audit(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Action != "segment.view" || got[1].Action != "box.revoke" || got[0].Seq <= got[1].Seq ||
		!got[0].At.Equal(t0.Add(2*time.Second)) || got[0].Actor != "cli" || got[0].Subject != "aa" {
		t.Fatalf("audit = %+v", got)
	}
}

// testConcurrentPuts: boxes retry uploads, so the same segment can arrive
// twice at once; exactly one put creates it.
func testConcurrentPuts(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AddBox(ctx, box("aa")); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	var errs []error
	for range n {
		wg.Go(func() {
			c, err := s.PutSegment(ctx, seg("aa", "s1", "h1"))
			mu.Lock()
			defer mu.Unlock()
			if c {
				created++
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if created != 1 || len(errs) != 0 {
		t.Fatalf("%d created, errors %v; want exactly 1 created, no errors", created, errs)
	}
}

// testAuditAppendOnly: the database itself refuses to change or remove an
// audit entry, whatever code runs against it.
func testAuditAppendOnly(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AppendAudit(ctx, store.AuditEntry{At: t0, Actor: "cli", Action: "box.add", Subject: "aa"}); err != nil {
		t.Fatal(err)
	}
	db := store.DB(s)
	for _, q := range []string{"UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"} {
		if _, err := db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only refusal", q, err)
		}
	}
	if got, _ := s.Audit(ctx, 10); len(got) != 1 || got[0].Actor != "cli" {
		t.Fatalf("audit = %+v", got)
	}
}

// testDeletion: expired rows are found oldest first, clips and rows go
// with one audit entry each, and other boxes' rows stay.
func testDeletion(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, id := range []string{"aa", "bb"} {
		if err := s.AddBox(ctx, box(id)); err != nil {
			t.Fatal(err)
		}
	}
	for i, g := range []store.Segment{seg("aa", "s1", "h1"), seg("aa", "s2", "h2"), seg("bb", "s1", "h3")} {
		g.Received = t0.Add(time.Duration(i) * time.Hour)
		if _, err := s.PutSegment(ctx, g); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutSession(ctx, store.Session{BoxID: g.BoxID, ID: g.ID, SHA256: g.SHA256, Record: []byte("{}"), Received: g.Received}); err != nil {
			t.Fatal(err)
		}
	}
	old, err := s.ExpiredSegments(ctx, t0.Add(90*time.Minute), true, 10)
	if err != nil || len(old) != 2 || old[0].ID != "s1" || old[1].ID != "s2" {
		t.Fatalf("expired = %+v, %v; want aa/s1, aa/s2", old, err)
	}
	if got, _ := s.ExpiredSegments(ctx, t0.Add(90*time.Minute), true, 1); len(got) != 1 {
		t.Fatalf("limit 1 gave %d", len(got))
	}
	entry := func(action string) func(int) *store.AuditEntry {
		return func(n int) *store.AuditEntry {
			return &store.AuditEntry{At: t0, Actor: "test", Action: action, Subject: "aa", Detail: fmt.Sprintf("count=%d", n)}
		}
	}
	if n, err := s.DropClips(ctx, []store.SegmentRef{old[0].Ref()}, entry("clips")); err != nil || n != 1 {
		t.Fatalf("drop clips: %d, %v", n, err)
	}
	if g, _ := s.Segment(ctx, "aa", "s1"); g.ClipKey != "" || g.JSONKey == "" {
		t.Fatalf("after dropping the clip: %+v", g)
	}
	if got, _ := s.ExpiredSegments(ctx, t0.Add(90*time.Minute), true, 10); len(got) != 1 || got[0].ID != "s2" {
		t.Fatalf("clips still kept = %+v", got)
	}
	if n, err := s.DeleteSegments(ctx, []store.SegmentRef{{BoxID: "aa", ID: "s1"}, {BoxID: "aa", ID: "s2"}, {BoxID: "aa", ID: "nope"}}, entry("segments")); err != nil || n != 2 {
		t.Fatalf("delete segments: %d, %v", n, err)
	}
	if list, _ := s.Segments(ctx, "aa"); len(list) != 0 {
		t.Fatalf("aa's segments after deletion: %+v", list)
	}
	if n, err := s.DeleteSessions(ctx, "", t0.Add(30*time.Minute), entry("old sessions")); err != nil || n != 1 {
		t.Fatalf("delete sessions before: %d, %v", n, err)
	}
	if n, err := s.DeleteSessions(ctx, "aa", time.Time{}, nil); err != nil || n != 1 {
		t.Fatalf("delete aa's sessions: %d, %v", n, err)
	}
	if _, err := s.Session(ctx, "bb", "s1"); err != nil {
		t.Fatalf("bb's session: %v", err)
	}
	if _, err := s.Segment(ctx, "bb", "s1"); err != nil {
		t.Fatalf("bb's segment: %v", err)
	}
	audit, _ := s.Audit(ctx, 100)
	for action, want := range map[string]string{"clips": "count=1", "segments": "count=2", "old sessions": "count=1"} {
		if n := countAction(audit, action); n != 1 {
			t.Errorf("%d %q audit entries, want 1", n, action)
		}
		for _, e := range audit {
			if e.Action == action && e.Detail != want {
				t.Errorf("%q audit detail %q, want %q", action, e.Detail, want)
			}
		}
	}
	// No entry when the callback declines (a sweep that found nothing).
	if _, err := s.DeleteSessions(ctx, "", t0, func(int) *store.AuditEntry { return nil }); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.Audit(ctx, 100); len(after) != len(audit) {
		t.Fatalf("audit grew from %d to %d", len(audit), len(after))
	}
}

// testManyAtOnce: more requests at once than the database has connections
// (the test cluster allows 50) wait for one instead of failing.
func testManyAtOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AddBox(ctx, box("aa")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 150)
	for i := range 150 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := seg("aa", fmt.Sprintf("s%d", i), "h")
			if _, err := s.PutSegment(ctx, g); err != nil {
				errs <- err
				return
			}
			if _, err := s.Segment(ctx, "aa", g.ID); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
