package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// A practice's moments are counted and listed apart from her lives' on
// both backends: the kind comes from the uploaded JSON, a segment.json
// without one (every live, every older box) is a live, and a decided
// practice is no longer new.
func TestSegmentKinds(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			// Box 1111 (a's) has two lives seg0, seg1; box 2222 (b's) two.
			seedCaseload(t, s)
			for i, tc := range []struct {
				id, json string
			}{
				{"p1", `{"id":"p1","kind":"practice"}`},
				{"p2", `{"kind": "practice", "id":"p2"}`},
				{"l1", `{"id":"l1","kind":"live"}`},
				{"odd", `{"id":"odd","kind":"rehearsal"}`}, // refused at upload; a live if ever stored
			} {
				g := seg("1111", tc.id, "sha-"+tc.id)
				g.JSON = []byte(tc.json)
				g.At = t0.Add(time.Duration(30+i) * time.Minute)
				if created, err := s.PutSegment(ctx, g); err != nil || !created {
					t.Fatalf("%s: created %v, %v", tc.id, created, err)
				}
			}
			// The same upload again changes nothing.
			again := seg("1111", "p1", "sha-p1")
			again.JSON = []byte(`{"id":"p1","kind":"practice"}`)
			if created, err := s.PutSegment(ctx, again); err != nil || created {
				t.Fatalf("repeat: created %v, %v", created, err)
			}
			for id, want := range map[string]string{"seg0": store.KindLive, "p1": store.KindPractice, "p2": store.KindPractice,
				"l1": store.KindLive, "odd": store.KindLive} {
				if got, err := s.SegmentKind(ctx, store.SegmentRef{BoxID: "1111", ID: id}); err != nil || got != want {
					t.Errorf("%s: kind %q, %v; want %q", id, got, err, want)
				}
			}
			if _, err := s.SegmentKind(ctx, store.SegmentRef{BoxID: "2222", ID: "p1"}); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("another box's id: %v, want ErrNotFound", err)
			}
			if _, err := s.Decide(ctx, store.Decision{Ref: store.SegmentRef{BoxID: "1111", ID: "p2"}, State: store.StateCoached, Actor: "user:a", At: t0}, audit("decide")); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				user           string
				live, practice int
			}{
				{"a", 4, 1},
				{"b", 2, 0},
				{"nobody", 0, 0},
			} {
				live, practice, err := s.NewCounts(ctx, tc.user)
				if err != nil || live != tc.live || practice != tc.practice {
					t.Errorf("%s: new counts %d live, %d practice, %v; want %d, %d", tc.user, live, practice, err, tc.live, tc.practice)
				}
				if n, err := s.NewCount(ctx, tc.user); err != nil || n != live+practice {
					t.Errorf("%s: NewCount %d, %v; want the sum %d", tc.user, n, err, live+practice)
				}
			}
			// Her new lives come first, newest first, then her new
			// practices, then the decided; QueueRefs in the same order.
			want := []string{"odd", "l1", "seg1", "seg0", "p1", "p2"}
			for _, limit := range []int{100, 3} {
				q, err := s.QueuePage(ctx, "a", 0, limit)
				if err != nil {
					t.Fatal(err)
				}
				rest, err := s.QueuePage(ctx, "a", limit, 100)
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(append(q, rest...)); !slices.Equal(got, want) {
					t.Errorf("queue in pages of %d: %v, want %v", limit, got, want)
				}
			}
			refs, err := s.QueueRefs(ctx, "a", 100, 100)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(refs); !slices.Equal(got, want) {
				t.Errorf("queue refs: %v, want %v", got, want)
			}
		})
	}
}

func ids(items []store.QueueItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}
