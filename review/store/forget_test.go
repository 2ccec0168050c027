package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// TestForgetConsole: forgetting a woman removes her coaching notes with
// their read receipts, and the decisions and escalations on her segments,
// with one audit entry; another woman's stay whole; forgetting again
// removes nothing and logs nothing. On both backends.
func TestForgetConsole(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			for _, u := range []string{"wang", "li"} {
				if err := s.AddUser(ctx, store.User{Name: u, Roles: []string{"social"}, Hash: "x", Created: t0}, store.AuditEntry{At: t0, Actor: "cli", Action: "user.add", Subject: u}); err != nil {
					t.Fatal(err)
				}
			}
			seqs := map[string]int64{}
			for _, b := range []string{"aa", "bb"} {
				if err := s.AddBox(ctx, box(b)); err != nil {
					t.Fatal(err)
				}
				if _, err := s.PutSegment(ctx, seg(b, "s1", "h-"+b)); err != nil {
					t.Fatal(err)
				}
				ref := store.SegmentRef{BoxID: b, ID: "s1"}
				for _, st := range []string{"real", "coached"} {
					if _, err := s.Decide(ctx, store.Decision{Ref: ref, State: st, Actor: "user:wang", At: t0}, store.AuditEntry{At: t0, Actor: "user:wang", Action: "segment.decide", Subject: b}); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Escalate(ctx, store.Escalation{Ref: ref, From: "wang", To: "li", Reason: "看看", At: t0}, store.AuditEntry{At: t0, Actor: "user:wang", Action: "segment.escalate", Subject: b}); err != nil {
					t.Fatal(err)
				}
				for i := range 2 {
					n, err := s.AddNote(ctx, store.Note{BoxID: b, Text: fmt.Sprintf("说“价格实在”就好 %d", i), Author: "wang", At: t0}, store.AuditEntry{At: t0, Actor: "user:wang", Action: "note.add", Subject: b})
					if err != nil {
						t.Fatal(err)
					}
					seqs[b] = n.Seq
				}
				if _, _, err := s.MarkNoteRead(ctx, b, seqs[b], t0.Add(time.Hour), store.AuditEntry{At: t0, Actor: "box:" + b, Action: "note.read", Subject: b}); err != nil {
					t.Fatal(err)
				}
			}

			at := t0.Add(24 * time.Hour)
			audit := func(f store.Forgotten) *store.AuditEntry {
				return &store.AuditEntry{At: at, Actor: "cli:王社工", Action: "forget.console", Subject: "box:aa",
					Detail: fmt.Sprintf("notes=%d reads=%d decisions=%d escalations=%d", f.Notes, f.NoteReads, f.Decisions, f.Escalations)}
			}
			got, err := s.ForgetConsole(ctx, "aa", audit)
			if err != nil {
				t.Fatal(err)
			}
			if want := (store.Forgotten{Notes: 2, NoteReads: 1, Decisions: 2, Escalations: 1}); got != want {
				t.Fatalf("forgotten %+v, want %+v", got, want)
			}
			last, err := s.Audit(ctx, 1)
			if err != nil || len(last) != 1 || last[0].Action != "forget.console" || last[0].Detail != "notes=2 reads=1 decisions=2 escalations=1" {
				t.Fatalf("newest audit entry %+v (%v), want the forget", last, err)
			}

			// Hers are gone.
			if notes, err := s.Notes(ctx, "aa", 0, 10); err != nil || len(notes) != 0 {
				t.Fatalf("her notes after forget: %v %v", notes, err)
			}
			if _, err := s.LastNote(ctx, "aa"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("her last note after forget: %v", err)
			}
			if r, err := s.NoteReadAt(ctx, seqs["aa"]); err != nil || !r.IsZero() {
				t.Fatalf("her read receipt after forget: %v %v", r, err)
			}
			if _, err := s.Escalation(ctx, store.SegmentRef{BoxID: "aa", ID: "s1"}); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("her escalation after forget: %v", err)
			}
			if st, err := s.State(ctx, store.SegmentRef{BoxID: "aa", ID: "s1"}); err != nil || st != "new" {
				t.Fatalf("her segment's state after forget: %q %v, want new (no decisions left)", st, err)
			}

			// Another woman's are whole.
			if notes, err := s.Notes(ctx, "bb", 0, 10); err != nil || len(notes) != 2 {
				t.Fatalf("another woman's notes: %d %v", len(notes), err)
			}
			if r, err := s.NoteReadAt(ctx, seqs["bb"]); err != nil || r.IsZero() {
				t.Fatalf("another woman's read receipt: %v %v", r, err)
			}
			if _, err := s.Escalation(ctx, store.SegmentRef{BoxID: "bb", ID: "s1"}); err != nil {
				t.Fatalf("another woman's escalation: %v", err)
			}
			if st, err := s.State(ctx, store.SegmentRef{BoxID: "bb", ID: "s1"}); err != nil || st != "coached" {
				t.Fatalf("another woman's segment state %q %v", st, err)
			}

			// Again: nothing to remove, nothing logged.
			again, err := s.ForgetConsole(ctx, "aa", audit)
			if err != nil || again != (store.Forgotten{}) {
				t.Fatalf("forget again: %+v %v", again, err)
			}
			if last2, err := s.Audit(ctx, 1); err != nil || last2[0].Seq != last[0].Seq {
				t.Fatalf("forgetting nothing logged %+v (%v)", last2, err)
			}
		})
	}
}
