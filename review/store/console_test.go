package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

func TestConsoleContract(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"users and sessions", testUsersSessions},
		{"caseload and queue", testCaseloadQueue},
		{"decide and undo", testDecideUndo},
		{"notes", testNotes},
	}
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
			}
		})
	}
}

func audit(action string) store.AuditEntry {
	return store.AuditEntry{At: t0, Actor: "cli", Action: action, Subject: "x"}
}

func testUsersSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := store.User{Name: "王芳", Roles: []string{store.RoleSocial, store.RoleTrainer}, Hash: "$argon2id$x", Created: t0}
	if err := s.AddUser(ctx, u, audit("user.add")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(ctx, u, audit("user.add")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second add: %v, want ErrExists", err)
	}
	got, err := s.User(ctx, "王芳")
	if err != nil || !got.Has(store.RoleTrainer) || got.Has(store.RoleAdmin) || got.Hash != u.Hash || !got.Created.Equal(t0) {
		t.Fatalf("user: %+v %v", got, err)
	}
	if _, err := s.User(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	w := store.WebSession{Hash: "h1", User: "王芳", CSRF: "c1", Created: t0, Expires: t0.Add(time.Hour)}
	if err := s.PutWebSession(ctx, w); err != nil {
		t.Fatal(err)
	}
	gw, gu, err := s.WebSession(ctx, "h1", t0.Add(time.Minute))
	if err != nil || gw.CSRF != "c1" || gu.Name != "王芳" || !gw.Expires.Equal(w.Expires) {
		t.Fatalf("web session: %+v %+v %v", gw, gu, err)
	}
	if _, _, err := s.WebSession(ctx, "h1", t0.Add(time.Hour)); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("expired session: %v", err)
	}
	if err := s.DeleteWebSession(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.WebSession(ctx, "h1", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
	es, err := s.Audit(ctx, 10)
	if err != nil || len(es) != 1 || es[0].Action != "user.add" {
		t.Fatalf("audit: %+v %v", es, err)
	}
}

// seedCaseload adds users a and b, boxes 1 and 2 with a segment each (box
// 1's newer), box 1 for a and box 2 for b.
func seedCaseload(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if err := s.AddUser(ctx, store.User{Name: n, Roles: []string{store.RoleSocial}, Hash: "h", Created: t0}, audit("user.add")); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range []string{"1111", "2222"} {
		if err := s.AddBox(ctx, box(id)); err != nil {
			t.Fatal(err)
		}
		for j := range 2 {
			g := seg(id, "seg"+string(rune('0'+j)), "sha")
			g.At = t0.Add(time.Duration(2-i+j*10) * time.Minute)
			if _, err := s.PutSegment(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.AssignBox(ctx, "1111", "a", audit("box.assign")); err != nil {
		t.Fatal(err)
	}
	if err := s.AssignBox(ctx, "2222", "b", audit("box.assign")); err != nil {
		t.Fatal(err)
	}
}

func testCaseloadQueue(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s)
	if err := s.AssignBox(ctx, "9999", "a", audit("box.assign")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown box: %v", err)
	}
	if err := s.AssignBox(ctx, "1111", "zed", audit("box.assign")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	if c, err := s.Caseload(ctx, "a"); err != nil || !slices.Equal(c, []string{"1111"}) {
		t.Fatalf("caseload a: %v %v", c, err)
	}
	if w, err := s.Worker(ctx, "2222"); err != nil || w != "b" {
		t.Fatalf("worker: %q %v", w, err)
	}
	q, err := s.Queue(ctx, "a", 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range q {
		if it.BoxID != "1111" || it.State != store.StateNew {
			t.Fatalf("queue item of a: %+v", it)
		}
		ids = append(ids, it.ID)
	}
	if !slices.Equal(ids, []string{"seg1", "seg0"}) {
		t.Fatalf("queue a: %v, want newest first", ids)
	}
	// Reassigning moves the box, and its segments, to b.
	if err := s.AssignBox(ctx, "1111", "b", audit("box.assign")); err != nil {
		t.Fatal(err)
	}
	if q, err := s.Queue(ctx, "a", 100); err != nil || len(q) != 0 {
		t.Fatalf("queue a after reassigning: %v %v", q, err)
	}
	if q, err := s.Queue(ctx, "b", 3); err != nil || len(q) != 3 {
		t.Fatalf("queue b, limit 3: %d %v", len(q), err)
	}
}

func testDecideUndo(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s)
	r0 := store.SegmentRef{BoxID: "1111", ID: "seg0"}
	r1 := store.SegmentRef{BoxID: "1111", ID: "seg1"}
	decide := func(r store.SegmentRef, st string) {
		t.Helper()
		if _, err := s.Decide(ctx, store.Decision{Ref: r, State: st, Actor: "user:a", At: t0}, audit("segment.decide")); err != nil {
			t.Fatal(err)
		}
	}
	state := func(r store.SegmentRef, want string) {
		t.Helper()
		if got, err := s.State(ctx, r); err != nil || got != want {
			t.Fatalf("state of %s: %q %v, want %q", r.ID, got, err, want)
		}
	}
	undo := func(want store.SegmentRef) {
		t.Helper()
		d, err := s.Undo(ctx, "user:a", t0, func(d store.Decision) store.AuditEntry { return audit("segment.undo") })
		if err != nil || d.Ref != want {
			t.Fatalf("undo: %+v %v, want %s", d, err, want.ID)
		}
	}
	if _, err := s.Decide(ctx, store.Decision{Ref: r0, State: "bogus", Actor: "user:a", At: t0}, audit("x")); err == nil {
		t.Fatal("bogus state accepted")
	}
	if _, err := s.Decide(ctx, store.Decision{Ref: store.SegmentRef{BoxID: "1111", ID: "nope"}, State: store.StateReal, Actor: "user:a", At: t0}, audit("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown segment: %v", err)
	}
	state(r0, store.StateNew)
	decide(r0, store.StateReal)
	decide(r1, store.StateFalse)
	decide(r0, store.StateCoached)
	state(r0, store.StateCoached)
	// Undo walks back through a's decisions, newest first, one at a time.
	undo(r0)
	state(r0, store.StateReal)
	undo(r1)
	state(r1, store.StateNew)
	undo(r0)
	state(r0, store.StateNew)
	if _, err := s.Undo(ctx, "user:a", t0, func(store.Decision) store.AuditEntry { return audit("x") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("nothing left to undo: %v", err)
	}
	// b's undo does not touch a's decisions.
	if _, err := s.Undo(ctx, "user:b", t0, func(store.Decision) store.AuditEntry { return audit("x") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("undo by b: %v", err)
	}
	q, err := s.Queue(ctx, "a", 10)
	if err != nil || q[0].State != store.StateNew {
		t.Fatalf("queue: %+v %v", q, err)
	}
	// Deleting a segment (retention, forget) takes its decisions with it.
	decide(r1, store.StateReal)
	if n, err := s.DeleteSegments(ctx, []store.SegmentRef{r1}, nil); err != nil || n != 1 {
		t.Fatalf("delete decided segment: %d %v", n, err)
	}
	n := 0
	for _, e := range mustAudit(t, s) {
		if e.Action == "segment.decide" || e.Action == "segment.undo" {
			n++
		}
	}
	if n != 7 {
		t.Fatalf("%d decision audit entries, want 7", n)
	}
}

func mustAudit(t *testing.T, s store.Store) []store.AuditEntry {
	t.Helper()
	es, err := s.Audit(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func testNotes(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s)
	if _, err := s.LastNote(ctx, "1111"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no note yet: %v", err)
	}
	if _, err := s.AddNote(ctx, store.Note{BoxID: "9999", Text: "x", Author: "a", At: t0}, audit("note.add")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("note to an unknown box: %v", err)
	}
	var seqs []int64
	for i, text := range []string{"说“很实在”就好", "第二句", "第三句"} {
		n, err := s.AddNote(ctx, store.Note{BoxID: "1111", Text: text, Author: "a", At: t0.Add(time.Duration(i) * time.Minute)}, audit("note.add"))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, n.Seq)
	}
	if _, err := s.AddNote(ctx, store.Note{BoxID: "2222", Text: "给 B", Author: "b", At: t0}, audit("note.add")); err != nil {
		t.Fatal(err)
	}
	all, err := s.Notes(ctx, "1111", 0, 10)
	if err != nil || len(all) != 3 || all[0].Text != "说“很实在”就好" || all[2].Seq != seqs[2] || !all[1].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("notes: %+v %v", all, err)
	}
	if after, err := s.Notes(ctx, "1111", seqs[0], 1); err != nil || len(after) != 1 || after[0].Text != "第二句" {
		t.Fatalf("notes after the first, limit 1: %+v %v", after, err)
	}
	if last, err := s.LastNote(ctx, "1111"); err != nil || last.Text != "第三句" {
		t.Fatalf("last note: %+v %v", last, err)
	}
	if n := countAction(mustAudit(t, s), "note.add"); n != 4 {
		t.Fatalf("%d note audit entries, want 4", n)
	}
}
