package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

func TestEscalationsContract(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"escalate", testEscalate},
		{"users and boxes overview", testUsersBoxesOverview},
		{"audit page", testAuditPage},
		{"audit page plans", testAuditPagePlans},
	}
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
			}
		})
	}
}

func testEscalate(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s)
	ref := store.SegmentRef{BoxID: "1111", ID: "seg0"}
	if _, err := s.Escalation(ctx, ref); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("escalation before any: %v", err)
	}
	e := store.Escalation{Ref: ref, From: "a", To: "b", Reason: "她说的是药效，我拿不准", At: t0}
	for _, bad := range []store.Escalation{
		{Ref: store.SegmentRef{BoxID: "1111", ID: "nope"}, From: "a", To: "b", At: t0},
		{Ref: ref, From: "a", To: "zed", At: t0},
	} {
		if err := s.Escalate(ctx, bad, audit("segment.escalate")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("escalate %+v: %v, want ErrNotFound", bad, err)
		}
	}
	if err := s.Escalate(ctx, e, audit("segment.escalate")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Escalation(ctx, ref)
	if err != nil || got != e {
		t.Fatalf("escalation: %+v %v, want %+v", got, err, e)
	}
	q, err := s.EscalatedTo(ctx, "b", 10)
	if err != nil || len(q) != 1 || q[0].Ref() != ref || q[0].State != store.StateNew || string(q[0].JSON) != `{"id":"seg0"}` {
		t.Fatalf("escalated to b: %+v %v", q, err)
	}
	if q, err := s.EscalatedTo(ctx, "a", 10); err != nil || len(q) != 0 {
		t.Fatalf("escalated to a: %+v %v", q, err)
	}
	// b decides; both see the state.
	if _, err := s.Decide(ctx, store.Decision{Ref: ref, State: store.StateReal, Actor: "user:b", At: t0}, audit("segment.decide")); err != nil {
		t.Fatal(err)
	}
	if q, err := s.EscalatedTo(ctx, "b", 10); err != nil || len(q) != 1 || q[0].State != store.StateReal {
		t.Fatalf("escalated to b after deciding: %+v %v", q, err)
	}
	for _, u := range []string{"a", "b"} {
		es, err := s.EscalationsOf(ctx, u, 10)
		if err != nil || len(es) != 1 || es[0] != e {
			t.Fatalf("escalations of %s: %+v %v", u, es, err)
		}
	}
	// Handing it on again replaces the handoff.
	e2 := store.Escalation{Ref: ref, From: "b", To: "a", Reason: "还给你", At: t0.Add(time.Minute)}
	if err := s.Escalate(ctx, e2, audit("segment.escalate")); err != nil {
		t.Fatal(err)
	}
	if q, err := s.EscalatedTo(ctx, "b", 10); err != nil || len(q) != 0 {
		t.Fatalf("escalated to b after handing back: %+v %v", q, err)
	}
	if got, err := s.Escalation(ctx, ref); err != nil || got != e2 {
		t.Fatalf("escalation after handing back: %+v %v", got, err)
	}
	// The handoff goes with its segment.
	if _, err := s.DeleteSegments(ctx, []store.SegmentRef{ref}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Escalation(ctx, ref); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("escalation of a deleted segment: %v", err)
	}
	n := 0
	es, _ := s.Audit(ctx, 100)
	for _, a := range es {
		if a.Action == "segment.escalate" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d escalate audit entries, want 2 (refused ones leave none)", n)
	}
}

func testUsersBoxesOverview(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s)
	if err := s.AddBox(ctx, box("3333")); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeBox(ctx, "2222", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSession(ctx, store.Session{BoxID: "2222", ID: "s1", SHA256: "x", Record: []byte("{}"), Received: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	us, err := s.Users(ctx)
	if err != nil || len(us) != 2 || us[0].Name != "a" || !us[1].Has(store.RoleSocial) {
		t.Fatalf("users: %+v %v", us, err)
	}
	bs, err := s.BoxesOverview(ctx)
	if err != nil || len(bs) != 3 {
		t.Fatalf("boxes: %+v %v", bs, err)
	}
	want := []struct {
		id, worker        string
		revoked           bool
		lastSeg, lastUpld time.Time
	}{
		{"1111", "a", false, t0.Add(12 * time.Minute), t0.Add(time.Second)},
		{"2222", "b", true, t0.Add(11 * time.Minute), t0.Add(2 * time.Hour)},
		{"3333", "", false, time.Time{}, time.Time{}},
	}
	for i, w := range want {
		b := bs[i]
		if b.ID != w.id || b.Worker != w.worker || b.IsRevoked() != w.revoked || !b.LastSegment.Equal(w.lastSeg) || !b.LastUpload.Equal(w.lastUpld) || !b.Added.Equal(t0) {
			t.Errorf("box %d: %+v, want %+v", i, b, w)
		}
	}
}

func testAuditPage(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 10 {
		actor := []string{"user:a", "user:b"}[i%2]
		action := []string{"segment.view", "segment.decide", "clip.view"}[i%3]
		// Times far from 1970 and beyond 32 bits of microseconds.
		if err := s.AppendAudit(ctx, store.AuditEntry{At: t0.Add(time.Duration(i) * time.Hour), Actor: actor, Action: action, Subject: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func(f store.AuditFilter) []int64 {
		t.Helper()
		es, err := s.AuditPage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	all := seqs(store.AuditFilter{Limit: 100})
	if len(all) != 10 || !slices.IsSortedFunc(all, func(a, b int64) int { return int(b - a) }) {
		t.Fatalf("all: %v, want 10 newest first", all)
	}
	at := func(i int) int64 { return all[9-i] } // the seq of the i-th appended
	tests := []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"limit", store.AuditFilter{Limit: 3}, all[:3]},
		{"next page", store.AuditFilter{Limit: 3, Before: all[2]}, all[3:6]},
		{"actor", store.AuditFilter{Actor: "user:b", Limit: 100}, []int64{at(9), at(7), at(5), at(3), at(1)}},
		{"action", store.AuditFilter{Action: "clip.view", Limit: 100}, []int64{at(8), at(5), at(2)}},
		{"actor and action", store.AuditFilter{Actor: "user:a", Action: "segment.view", Limit: 100}, []int64{at(6), at(0)}},
		{"from", store.AuditFilter{From: t0.Add(8 * time.Hour), Limit: 100}, []int64{at(9), at(8)}},
		{"from to", store.AuditFilter{From: t0.Add(2 * time.Hour), To: t0.Add(4 * time.Hour), Limit: 100}, []int64{at(3), at(2)}},
		{"nobody", store.AuditFilter{Actor: "user:c", Limit: 100}, nil},
		{"no limit", store.AuditFilter{}, nil},
	}
	for _, tc := range tests {
		if got := seqs(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A filter by actor or action walks its index newest first, never the
// whole log, so a rare actor's entries come back at once from a long
// log. PostgreSQL is told to avoid sequential scans and sorts, as it
// would choose them on tables this small; it still uses them if no index
// fits.
func testAuditPagePlans(t *testing.T, s store.Store) {
	ctx := context.Background()
	conn, err := store.DB(s).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err == nil {
		explain = "EXPLAIN "
		for _, set := range []string{"SET enable_sort = off", "SET enable_bitmapscan = off"} {
			if _, err := conn.ExecContext(ctx, set); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name  string
		f     store.AuditFilter
		index string
	}{
		{"actor", store.AuditFilter{Actor: "user:a", Limit: 51}, "audit_actor"},
		{"actor, next page", store.AuditFilter{Actor: "user:a", Before: 1000, Limit: 51}, "audit_actor"},
		{"actor and days", store.AuditFilter{Actor: "user:a", From: t0, To: t0.Add(24 * time.Hour), Limit: 51}, "audit_actor"},
		{"action", store.AuditFilter{Action: "audit.export", Limit: 51}, "audit_action"},
	}
	for _, tc := range tests {
		q, args := store.AuditPageSQL(s, tc.f)
		rows, err := conn.QueryContext(ctx, explain+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				if s, ok := v.(string); ok {
					plan = append(plan, s)
				}
			}
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		if !strings.Contains(p, tc.index) || strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "Sort") || strings.Contains(p, "Seq Scan") {
			t.Errorf("%s: plan does not walk %s newest first:\n%s", tc.name, tc.index, p)
		}
	}
}

// BenchmarkAuditPage: the admin's first page of one person's entries and
// of one action, in a log of 300 000 entries (a county office's years),
// on SQLite.
func BenchmarkAuditPage(b *testing.B) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, b.TempDir()+"/review.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tx, err := store.DB(s).BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	const n = 300_000
	for i := range n {
		actor, action := "box:"+strings.Repeat(string(rune('a'+i%20)), 32), "segment.received"
		switch {
		case i%1000 == 0: // a rare person
			actor, action = "user:王芳", "audit.export"
		case i%3 == 0:
			actor, action = "user:李梅", "segment.view"
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)`,
			t0.Add(time.Duration(i)*time.Minute).UnixMicro(), actor, action, "s", "from=192.168.1.23"); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct {
		name string
		f    store.AuditFilter
	}{
		{"all", store.AuditFilter{Limit: 51}},
		{"rare actor", store.AuditFilter{Actor: "user:王芳", Limit: 51}},
		{"rare action and days", store.AuditFilter{Action: "audit.export", From: t0, To: t0.Add(90 * 24 * time.Hour), Limit: 51}},
		{"common actor, page 10", store.AuditFilter{Actor: "user:李梅", Before: n - 1500, Limit: 51}},
	} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				es, err := s.AuditPage(ctx, f.f)
				if err != nil || len(es) == 0 {
					b.Fatal(len(es), err)
				}
			}
		})
	}
}
