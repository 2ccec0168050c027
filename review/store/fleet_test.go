package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// Heartbeats: the newest per box, a bounded history per box, unknown
// boxes refused; on both backends.
func TestHeartbeats(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			seedCaseload(t, s)
			if last, err := s.LastHeartbeats(ctx); err != nil || len(last) != 0 {
				t.Fatalf("no heartbeats yet: %v, %v", last, err)
			}
			const keep = 3
			for i := range 5 {
				for _, b := range []string{"1111", "2222"} {
					h := store.Heartbeat{BoxID: b, At: t0.Add(time.Duration(i) * time.Minute), Report: fmt.Appendf(nil, `{"box":%q,"n":%d}`, b, i)}
					if err := s.PutHeartbeat(ctx, h, keep); err != nil {
						t.Fatal(err)
					}
				}
			}
			err := s.PutHeartbeat(ctx, store.Heartbeat{BoxID: "9999", At: t0, Report: []byte(`{}`)}, keep)
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown box: %v, want ErrNotFound", err)
			}
			if err := s.PutHeartbeat(ctx, store.Heartbeat{BoxID: "1111", At: t0, Report: []byte(`{}`)}, 0); err == nil {
				t.Fatal("keep 0 accepted")
			}
			last, err := s.LastHeartbeats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(last) != 2 {
				t.Fatalf("last heartbeats of %d boxes, want 2: %v", len(last), last)
			}
			for _, b := range []string{"1111", "2222"} {
				h := last[b]
				want := fmt.Appendf(nil, `{"box":%q,"n":4}`, b)
				if !bytes.Equal(h.Report, want) || !h.At.Equal(t0.Add(4*time.Minute)) {
					t.Errorf("box %s last: %s at %v, want %s at %v", b, h.Report, h.At, want, t0.Add(4*time.Minute))
				}
			}
			hs, err := s.Heartbeats(ctx, "1111", 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) != keep {
				t.Fatalf("%d heartbeats kept, want %d", len(hs), keep)
			}
			for i, h := range hs {
				if want := fmt.Appendf(nil, `{"box":"1111","n":%d}`, 4-i); !bytes.Equal(h.Report, want) {
					t.Errorf("heartbeat %d: %s, want %s (newest first)", i, h.Report, want)
				}
			}
			if hs, err := s.Heartbeats(ctx, "1111", 1); err != nil || len(hs) != 1 {
				t.Fatalf("limit 1: %d, %v", len(hs), err)
			}
		})
	}
}

// A replacement box takes the old one's name and social worker; the old
// one is revoked; all in one step with its audit entry.
func TestReplaceBox(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			seedCaseload(t, s)
			oldWorker, err := s.Worker(ctx, "1111")
			if err != nil {
				t.Fatal(err)
			}
			at := t0.Add(time.Hour)
			nb := box("3333")
			nb.Name, nb.Added = "", at
			got, err := s.ReplaceBox(ctx, "1111", nb, store.AuditEntry{At: at, Actor: "user:t", Action: "box.replace", Subject: "3333", Detail: "old=1111"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "box 1111" || got.ID != "3333" {
				t.Fatalf("replacement %+v, want the old box's name", got)
			}
			stored, err := s.Box(ctx, "3333")
			if err != nil || stored.Name != "box 1111" || stored.IsRevoked() {
				t.Fatalf("new box stored as %+v, %v", stored, err)
			}
			old, err := s.Box(ctx, "1111")
			if err != nil || !old.Revoked.Equal(at) {
				t.Fatalf("old box %+v, %v; want revoked at %v", old, err, at)
			}
			if w, err := s.Worker(ctx, "3333"); err != nil || w != oldWorker {
				t.Fatalf("new box's worker %q, %v; want %q", w, err, oldWorker)
			}
			if n := countAction(mustAudit(t, s), "box.replace"); n != 1 {
				t.Fatalf("%d box.replace audit entries, want 1", n)
			}
			for _, tc := range []struct {
				name string
				old  string
				nb   store.Box
				err  error
			}{
				{"unknown old box", "9999", box("4444"), store.ErrNotFound},
				{"key enrolled already", "2222", box("3333"), store.ErrExists},
			} {
				if _, err := s.ReplaceBox(ctx, tc.old, tc.nb, audit("box.replace")); !errors.Is(err, tc.err) {
					t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
				}
			}
			// A refused replacement changes nothing.
			if b, err := s.Box(ctx, "2222"); err != nil || b.IsRevoked() {
				t.Fatalf("box 2222 after a refused replacement: %+v, %v", b, err)
			}
			if n := countAction(mustAudit(t, s), "box.replace"); n != 1 {
				t.Fatalf("%d box.replace audit entries after refusals, want 1", n)
			}
		})
	}
}
