package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cunbo/cunbo/review/store"
)

// A published bundle is found by each of its boxes only, the newest
// version first, on both backends; publishing is all or nothing.
func TestBundles(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			seedCaseload(t, s)
			if _, err := s.LatestBundle(ctx, "1111"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("before any: %v, want ErrNotFound", err)
			}
			b := func(v uint64) store.PublishedBundle {
				return store.PublishedBundle{Version: v, BlobKey: "bundles/x.cunbo", Size: 10, SHA256: "ab", Published: t0, Actor: "user:t"}
			}
			for _, tc := range []struct {
				name    string
				version uint64
				boxes   []string
				err     error
			}{
				{"both boxes", 1_700_000_000, []string{"1111", "2222"}, nil},
				{"newer for one", 1_700_000_100, []string{"1111"}, nil},
				{"older for the other", 1_600_000_000, []string{"2222"}, nil},
				{"same version again", 1_700_000_100, []string{"1111"}, store.ErrExists},
				{"an unknown box with a known one", 1_700_000_200, []string{"1111", "9999"}, store.ErrNotFound},
				{"a version too big for the column", 1 << 63, []string{"1111"}, nil},
			} {
				err := s.PublishBundle(ctx, b(tc.version), tc.boxes, audit("bundle.publish"))
				if tc.version == 1<<63 {
					if err == nil {
						t.Errorf("%s: accepted", tc.name)
					}
					continue
				}
				if !errors.Is(err, tc.err) {
					t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
				}
			}
			for box, want := range map[string]uint64{"1111": 1_700_000_100, "2222": 1_700_000_000} {
				got, err := s.LatestBundle(ctx, box)
				if err != nil || got.Version != want || got.BoxID != box || !got.Published.Equal(t0) || got.BlobKey != "bundles/x.cunbo" {
					t.Errorf("box %s: %+v, %v; want version %d", box, got, err, want)
				}
			}
			if n := countAction(mustAudit(t, s), "bundle.publish"); n != 3 {
				t.Errorf("%d bundle.publish audit entries, want 3 (refused ones leave none)", n)
			}
		})
	}
}
