package retention_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/retention"
)

// A trainer's provisioning drafts go 7 days after they were saved; the
// published bundles and the segments beside them stay, and the sweep
// says in the audit log how many went.
func TestSweepDrafts(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			keys := map[string]bool{ // key: a draft, to go
				retention.DraftsPrefix + "0123456789abcdef0123456789abcdef.zip": true,
				retention.DraftsPrefix + "fedcba9876543210fedcba9876543210.zip": true,
				"provision/bundles/b-1.cunbo":                                   false,
				"segments/aa/x/clip.mp4":                                        false,
			}
			for k := range keys {
				if err := b.bs.Put(ctx, k, strings.NewReader("zip"), 3); err != nil {
					t.Fatal(err)
				}
			}
			saved := time.Now()
			sweep := func(at time.Time) retention.Counts {
				t.Helper()
				c, err := retention.Sweep(ctx, b.st, b.bs, retention.DefaultPolicy(), at, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			// Six days on: a trainer may still build from it.
			if c := sweep(saved.Add(6 * retention.Day)); c != (retention.Counts{}) {
				t.Fatalf("six days after: removed %+v", c)
			}
			for k := range keys {
				if !exists(t, b.bs, k) {
					t.Fatalf("%s gone after six days", k)
				}
			}
			if c := sweep(saved.Add(retention.DraftsKept + time.Hour)); c != (retention.Counts{Drafts: 2}) {
				t.Fatalf("after 7 days: removed %+v, want the 2 drafts", c)
			}
			for k, draft := range keys {
				if got := exists(t, b.bs, k); got == draft {
					t.Errorf("%s kept = %v after 7 days", k, got)
				}
			}
			if left, err := b.bs.List(ctx, retention.DraftsPrefix); err != nil || len(left) != 0 {
				t.Errorf("drafts left: %+v %v", left, err)
			}
			audit, err := b.st.Audit(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range audit {
				if e.Action == "retention.drafts" {
					found = e.Actor == retention.Actor && e.Detail == "count=2"
				}
			}
			if !found {
				t.Errorf("no audit entry retention.drafts count=2 in %+v", audit)
			}
		})
	}
}
