package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// A box's read receipt is kept once, for its own notes only, on both
// backends; repeats (a box resending until it hears back) change nothing.
func TestNoteReads(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			seedCaseload(t, s)
			var mine, theirs store.Note
			var err error
			if mine, err = s.AddNote(ctx, store.Note{BoxID: "1111", Text: "说“很实在”就好", Author: "a", At: t0}, audit("note.add")); err != nil {
				t.Fatal(err)
			}
			if theirs, err = s.AddNote(ctx, store.Note{BoxID: "2222", Text: "给 B", Author: "b", At: t0}, audit("note.add")); err != nil {
				t.Fatal(err)
			}
			if at, err := s.NoteReadAt(ctx, mine.Seq); err != nil || !at.IsZero() {
				t.Fatalf("unread note read at %v, %v", at, err)
			}
			read := t0.Add(time.Hour)
			for _, tc := range []struct {
				name  string
				box   string
				seq   int64
				at    time.Time
				want  time.Time
				first bool
				err   error
			}{
				{"another box's note", "2222", mine.Seq, read, time.Time{}, false, store.ErrNotFound},
				{"an unknown note", "1111", theirs.Seq + 100, read, time.Time{}, false, store.ErrNotFound},
				{"unknown box", "9999", mine.Seq, read, time.Time{}, false, store.ErrNotFound},
				{"first receipt", "1111", mine.Seq, read, read, true, nil},
				{"resent later", "1111", mine.Seq, read.Add(time.Hour), read, false, nil},
			} {
				at, first, err := s.MarkNoteRead(ctx, tc.box, tc.seq, tc.at, audit("note.read"))
				if !errors.Is(err, tc.err) || first != tc.first || !at.Equal(tc.want) {
					t.Errorf("%s: %v %v %v, want %v %v %v", tc.name, at, first, err, tc.want, tc.first, tc.err)
				}
			}
			if at, err := s.NoteReadAt(ctx, mine.Seq); err != nil || !at.Equal(read) {
				t.Fatalf("read at %v, %v; want %v", at, err, read)
			}
			if at, err := s.NoteReadAt(ctx, theirs.Seq); err != nil || !at.IsZero() {
				t.Fatalf("box B's note read at %v, %v after box A's receipts", at, err)
			}
			if n := countAction(mustAudit(t, s), "note.read"); n != 1 {
				t.Fatalf("%d note.read audit entries, want 1", n)
			}
			// Receipts racing for one note: exactly one is the first.
			n, err := s.AddNote(ctx, store.Note{BoxID: "1111", Text: "第二句", Author: "a", At: t0}, audit("note.add"))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			firsts := 0
			for i := range 8 {
				wg.Go(func() {
					_, first, err := s.MarkNoteRead(ctx, "1111", n.Seq, read.Add(time.Duration(i)*time.Second), audit("note.read"))
					if err != nil {
						t.Error(err)
					}
					if first {
						mu.Lock()
						firsts++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if firsts != 1 {
				t.Fatalf("%d receipts counted as the first, want 1", firsts)
			}
			if n := countAction(mustAudit(t, s), "note.read"); n != 2 {
				t.Fatalf("%d note.read audit entries, want 2", n)
			}
		})
	}
}
