package store_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

func TestProgressContract(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"sessions of a box", testBoxSessions},
		{"sessions of a box by kind", testBoxSessionsOfKind},
		{"moments of a box", testBoxMoments},
		{"decided", testDecided},
		{"recent notes", testRecentNotes},
		{"plans use indexes", testProgressPlans},
	}
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
			}
		})
	}
}

func testBoxSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s)
	for i, id := range []string{"20261201T100000Z-00000001", "20261203T100000Z-00000003", "20261202T100000Z-00000002"} {
		x := store.Session{BoxID: "1111", ID: id, SHA256: "s", Record: []byte(`{"id":"` + id + `"}`), Received: t0.Add(time.Duration(i) * time.Hour)}
		if _, err := s.PutSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutSession(ctx, store.Session{BoxID: "2222", ID: "20261204T100000Z-00000004", SHA256: "s", Record: []byte(`{}`), Received: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.BoxSessions(ctx, "1111", 2)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range got {
		ids = append(ids, x.ID)
	}
	if !slices.Equal(ids, []string{"20261203T100000Z-00000003", "20261202T100000Z-00000002"}) || !strings.Contains(string(got[0].Record), "00000003") {
		t.Fatalf("sessions of 1111: %v, want the two newest, newest first", ids)
	}
	if got, err := s.BoxSessions(ctx, "9999", 10); err != nil || len(got) != 0 {
		t.Fatalf("sessions of an unknown box: %v %v", got, err)
	}
}

// testBoxSessionsOfKind: her lives and her practices each have their own
// window: 70 practices after 3 lives leave the lives in theirs.
func testBoxSessionsOfKind(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s)
	put := func(box, id, record string) {
		t.Helper()
		if _, err := s.PutSession(ctx, store.Session{BoxID: box, ID: id, SHA256: "s", Record: []byte(record), Received: t0}); err != nil {
			t.Fatal(err)
		}
	}
	id := func(day, n int) string { return fmt.Sprintf("202611%02dT100000Z-%08d", day, n) }
	// Lives: before practices existed (no kind), a live, one that does
	// not parse, one whose caption text merely mentions the word.
	put("1111", id(1, 1), `{"id":"a","findings":2}`)
	put("1111", id(2, 2), `{"id":"b","kind":"live"}`)
	put("1111", id(3, 3), `not json \xff`)
	put("1111", id(4, 4), `{"id":"d","kind":"live","note":"她说 \"kind\":\"practice\" 是练习"}`)
	for n := range 70 {
		kind := `"kind":"practice"`
		if n%2 == 1 {
			kind = `"kind" : "practice"` // another encoder's spacing
		}
		put("1111", id(10+n/5, 100+n), `{"id":"p`+strconv.Itoa(n)+`",`+kind+`,"checks":{"scenario":"榕江"}}`)
	}
	put("2222", id(5, 5), `{"id":"other","kind":"live"}`)
	tests := []struct {
		name     string
		practice bool
		limit    int
		want     []string
	}{
		{"lives", false, 60, []string{id(4, 4), id(3, 3), id(2, 2), id(1, 1)}},
		{"lives, window of 2", false, 2, []string{id(4, 4), id(3, 3)}},
		{"practices", true, 3, []string{id(23, 169), id(23, 168), id(23, 167)}},
	}
	for _, tc := range tests {
		got, err := s.BoxSessionsOfKind(ctx, "1111", tc.practice, tc.limit)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []string
		for _, x := range got {
			ids = append(ids, x.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, ids, tc.want)
		}
	}
	if got, err := s.BoxSessionsOfKind(ctx, "1111", true, 100); err != nil || len(got) != 70 {
		t.Errorf("all practices: %d, %v; want 70", len(got), err)
	}
}

func testBoxMoments(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s) // 1111: seg0 at t0+2m, seg1 at t0+12m
	r1 := store.SegmentRef{BoxID: "1111", ID: "seg1"}
	for _, st := range []string{store.StateReal, store.StateFalse} {
		if _, err := s.Decide(ctx, store.Decision{Ref: r1, State: st, Actor: "user:a", At: t0}, audit("segment.decide")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.BoxMoments(ctx, "1111", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "seg1" || got[0].State != store.StateFalse || got[1].ID != "seg0" || got[1].State != store.StateNew ||
		got[0].BoxID != "1111" || string(got[0].JSON) != `{"id":"seg1"}` || !got[0].At.Equal(t0.Add(12*time.Minute)) {
		t.Fatalf("moments of 1111: %+v", got)
	}
	if got, err := s.BoxMoments(ctx, "1111", t0.Add(5*time.Minute), 10); err != nil || len(got) != 1 || got[0].ID != "seg1" {
		t.Fatalf("moments since t0+5m: %+v %v", got, err)
	}
	if got, err := s.BoxMoments(ctx, "1111", time.Time{}, 1); err != nil || len(got) != 1 || got[0].ID != "seg1" {
		t.Fatalf("moments, limit 1: %+v %v", got, err)
	}
}

func testDecided(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s) // a: 1111 seg0, seg1; b: 2222 seg0, seg1
	decide := func(box, id, st string) {
		t.Helper()
		if _, err := s.Decide(ctx, store.Decision{Ref: store.SegmentRef{BoxID: box, ID: id}, State: st, Actor: "user:x", At: t0}, audit("segment.decide")); err != nil {
			t.Fatal(err)
		}
	}
	decide("1111", "seg0", store.StateReal)
	decide("1111", "seg1", store.StateFalse)
	decide("1111", "seg1", store.StateNew) // reopened: not decided any more
	decide("2222", "seg0", store.StateFalse)
	decide("1111", "seg0", store.StateCoached)
	refs := func(user string) []string {
		t.Helper()
		got, err := s.Decided(ctx, user, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range got {
			out = append(out, g.BoxID+"/"+g.ID+"="+g.State)
		}
		return out
	}
	if got := refs("a"); !slices.Equal(got, []string{"1111/seg0=coached"}) {
		t.Errorf("decided of a: %v", got)
	}
	if got := refs("b"); !slices.Equal(got, []string{"2222/seg0=false"}) {
		t.Errorf("decided of b: %v", got)
	}
	if got := refs(""); !slices.Equal(got, []string{"1111/seg0=coached", "2222/seg0=false"}) {
		t.Errorf("decided of all: %v, want newest decision first", got)
	}
	if got := refs("nobody"); len(got) != 0 {
		t.Errorf("decided of a user without a caseload: %v", got)
	}
	// Undoing the coaching brings back the real-problem decision.
	if _, err := s.Undo(ctx, "user:x", t0, func(store.Decision) store.AuditEntry { return audit("segment.undo") }); err != nil {
		t.Fatal(err)
	}
	if got := refs("a"); !slices.Equal(got, []string{"1111/seg0=real"}) {
		t.Errorf("decided of a after undo: %v", got)
	}
}

func testRecentNotes(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s)
	for i, text := range []string{"一", "二", "三"} {
		if _, err := s.AddNote(ctx, store.Note{BoxID: "1111", Text: text, Author: "a", At: t0.Add(time.Duration(i) * time.Minute)}, audit("note.add")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddNote(ctx, store.Note{BoxID: "2222", Text: "给 B", Author: "b", At: t0}, audit("note.add")); err != nil {
		t.Fatal(err)
	}
	got, err := s.RecentNotes(ctx, "1111", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Text != "三" || got[1].Text != "二" || !got[0].At.Equal(t0.Add(2*time.Minute)) || got[0].Author != "a" {
		t.Fatalf("recent notes: %+v", got)
	}
	if !got[0].ReadAt.IsZero() || !got[1].ReadAt.IsZero() {
		t.Fatalf("unread notes with a read time: %+v", got)
	}
	read := t0.Add(time.Hour)
	if _, _, err := s.MarkNoteRead(ctx, "1111", got[1].Seq, read, audit("note.read")); err != nil {
		t.Fatal(err)
	}
	if got, err = s.RecentNotes(ctx, "1111", 2); err != nil {
		t.Fatal(err)
	}
	if !got[0].ReadAt.IsZero() || !got[1].ReadAt.Equal(read) {
		t.Fatalf("after her box read 二: %+v", got)
	}
}

// The woman page's queries are answered from indexes on both backends,
// so the page stays fast however many segments other women have: no
// full scan of segments or sessions and no sort of a woman's rows.
// PostgreSQL is told to avoid sequential scans and sorts, as it would
// choose them on tables this small; it still uses them if no index fits.
func testProgressPlans(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedCaseload(t, s)
	conn, err := store.DB(s).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err == nil {
		explain = "EXPLAIN "
		// As small tables make it prefer scans, so they make it prefer a
		// sort of a few rows; a sort it cannot avoid still shows.
		for _, set := range []string{"SET enable_sort = off", "SET enable_bitmapscan = off"} {
			if _, err := conn.ExecContext(ctx, set); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, q := range store.ProgressPlans(s) {
		rows, err := conn.QueryContext(ctx, explain+q.SQL, q.Args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
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
		bads := []string{"SCAN s\n", "SCAN d\n", "SCAN c\n", "SCAN sessions", "SCAN notes", "SCAN segments", "SCAN decisions", "Seq Scan"}
		if !q.SortOK {
			bads = append(bads, "TEMP B-TREE", "Sort")
		}
		for _, bad := range bads {
			if strings.Contains(p+"\n", bad) {
				t.Errorf("%s: plan has %q:\n%s", name, bad, p)
			}
		}
		if !strings.Contains(strings.ToLower(p), "index") {
			t.Errorf("%s: plan uses no index:\n%s", name, p)
		}
	}
}
