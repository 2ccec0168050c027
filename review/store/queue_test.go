package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// A caseload with a backlog: her undecided moments come first however old,
// on every backend, whether undecided from the start, reopened by a
// decision or by an undo.
func TestQueueBacklog(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) { testQueueBacklog(t, open(t)) })
	}
}

func testQueueBacklog(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if err := s.AddUser(ctx, store.User{Name: n, Roles: []string{store.RoleSocial}, Hash: "h", Created: t0}, audit("user.add")); err != nil {
			t.Fatal(err)
		}
	}
	for id, user := range map[string]string{"1111": "a", "2222": "a", "3333": "b"} {
		if err := s.AddBox(ctx, box(id)); err != nil {
			t.Fatal(err)
		}
		if err := s.AssignBox(ctx, id, user, audit("box.assign")); err != nil {
			t.Fatal(err)
		}
	}
	const total = 250
	refs := make([]store.SegmentRef, total) // oldest first
	for i := range total {
		g := seg([]string{"1111", "2222"}[i%2], fmt.Sprintf("seg%03d", i), "sha")
		g.At = t0.Add(time.Duration(i) * time.Minute)
		if _, err := s.PutSegment(ctx, g); err != nil {
			t.Fatal(err)
		}
		refs[i] = g.Ref()
	}
	other := seg("3333", "other", "sha")
	other.At = t0.Add(time.Hour)
	if _, err := s.PutSegment(ctx, other); err != nil {
		t.Fatal(err)
	}
	decide := func(i int, state, actor string) {
		t.Helper()
		if _, err := s.Decide(ctx, store.Decision{Ref: refs[i], State: state, Actor: actor, At: t0}, audit("segment.decide")); err != nil {
			t.Fatal(err)
		}
	}
	// Left undecided: the two oldest and one of the newest. Reopened: 100
	// by a decision back to new, 120 by b's undo.
	undecided := map[int]bool{0: true, 1: true, 100: true, 120: true, 240: true}
	for i := range total {
		switch i {
		case 0, 1, 240:
		case 100:
			decide(i, store.StateReal, "user:a")
			decide(i, store.StateNew, "user:a")
		case 120:
			decide(i, store.StateFalse, "user:b")
		default:
			decide(i, store.StateReal, "user:a")
		}
	}
	if _, err := s.Undo(ctx, "user:b", t0, func(store.Decision) store.AuditEntry { return audit("segment.undo") }); err != nil {
		t.Fatal(err)
	}
	decide(7, store.StateCoached, "user:a")

	// The whole queue, newest first within each group.
	var want []store.SegmentRef
	for _, part := range []bool{true, false} {
		for i := total - 1; i >= 0; i-- {
			if undecided[i] == part {
				want = append(want, refs[i])
			}
		}
	}
	if n, err := s.NewCount(ctx, "a"); err != nil || n != len(undecided) {
		t.Fatalf("new count: %d %v, want %d", n, err, len(undecided))
	}
	if n, err := s.NewCount(ctx, "b"); err != nil || n != 1 {
		t.Fatalf("new count of b: %d %v, want 1", n, err)
	}

	for _, size := range []int{1, 3, 5, 100, 250, 300} {
		var got []store.SegmentRef
		for off := 0; ; off += size {
			page, err := s.QueuePage(ctx, "a", off, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > size {
				t.Fatalf("page size %d at %d: %d items", size, off, len(page))
			}
			for _, it := range page {
				wantState := store.StateReal
				switch {
				case undecided[index(refs, it.Ref())]:
					wantState = store.StateNew
				case it.Ref() == refs[7]:
					wantState = store.StateCoached
				}
				if it.State != wantState || len(it.JSON) == 0 || !it.At.Equal(t0.Add(time.Duration(index(refs, it.Ref()))*time.Minute)) {
					t.Fatalf("page size %d: item %+v, want state %s with its JSON and time", size, it, wantState)
				}
				got = append(got, it.Ref())
			}
			if len(page) < size {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages of %d:\n got %v\nwant %v", size, got, want)
		}
	}
	if q, err := s.Queue(ctx, "a", 6); err != nil || len(q) != 6 || q[4].Ref() != refs[0] || q[5].Ref() != refs[249] {
		t.Fatalf("first page of 6: %+v %v, want the oldest new one above the newest decided", q, err)
	}
	if _, err := s.QueuePage(ctx, "a", -1, 10); err == nil {
		t.Fatal("negative offset accepted")
	}
	if q, err := s.QueuePage(ctx, "b", 0, 10); err != nil || len(q) != 1 || q[0].Ref() != other.Ref() {
		t.Fatalf("queue of b: %+v %v", q, err)
	}

	for _, tc := range []struct {
		newLimit, decided int
		want              []store.SegmentRef
	}{
		{2, 0, want[:2]},
		{100, 3, want[:len(undecided)+3]},
		{3, 2, append(slices.Clone(want[:3]), want[len(undecided):len(undecided)+2]...)},
		{0, 0, nil},
	} {
		items, err := s.QueueRefs(ctx, "a", tc.newLimit, tc.decided)
		if err != nil {
			t.Fatal(err)
		}
		var got []store.SegmentRef
		for _, it := range items {
			if len(it.JSON) != 0 || it.At.IsZero() || (it.State == store.StateNew) != undecided[index(refs, it.Ref())] {
				t.Fatalf("refs %d/%d: item %+v", tc.newLimit, tc.decided, it)
			}
			got = append(got, it.Ref())
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("refs %d/%d: %v, want %v", tc.newLimit, tc.decided, got, tc.want)
		}
	}
}

func index(refs []store.SegmentRef, r store.SegmentRef) int { return slices.Index(refs, r) }
