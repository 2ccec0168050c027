package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/internal/sharedtest"
)

// bookOfNotes is the web layer's view of the box's notes (the real book,
// firmware/notes, is wired to the page in firmware/app's tests).
type bookOfNotes struct {
	mu    sync.Mutex
	notes []web.NoteCard
}

func (b *bookOfNotes) Unread() []web.NoteCard {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.notes)
}

func (b *bookOfNotes) MarkRead(seq int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.notes, func(n web.NoteCard) bool { return n.Seq == seq })
	if i < 0 {
		return fmt.Errorf("note %d: %w", seq, web.ErrNoNote)
	}
	b.notes = slices.Delete(b.notes, i, i+1)
	return nil
}

// Her unread notes are in the status while idle, gone while on air, and
// 知道了 (behind the PIN) takes one away.
func TestNotesOnThePage(t *testing.T) {
	v := hw.NewVirtual(nil)
	box, err := firmware.NewBox(firmware.Options{Pipeline: &pipeline{}, LED: v.LED, Ring: v.Ring})
	if err != nil {
		t.Fatal(err)
	}
	sharedtest.Run(t, "Box.Run", 30*time.Second, sharedtest.CanceledIsClean(box.Run))
	at := time.Date(2026, 12, 6, 14, 5, 0, 0, time.UTC)
	book := &bookOfNotes{notes: []web.NoteCard{{Seq: 7, Text: "说“价格很实在”就好", From: "王老师", At: at}, {Seq: 9, Text: "第二句", From: "王老师", At: at}}}
	srv, err := web.New(web.Options{Box: box, PIN: "246813", Notes: book})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	r := &rig{srv: srv, hs: hs, box: box}
	c := r.client(t)
	status := func() web.Status {
		t.Helper()
		code, body := get(t, c, hs.URL+"/api/status")
		var st web.Status
		if err := json.Unmarshal(body, &st); code != 200 || err != nil {
			t.Fatalf("status: %d %v", code, err)
		}
		return st
	}
	read := func(path string) int {
		t.Helper()
		resp, err := c.Post(hs.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := read("/api/notes/7/read"); code != http.StatusUnauthorized {
		t.Fatalf("知道了 without the PIN: %d", code)
	}
	if len(book.Unread()) != 2 {
		t.Fatal("a note was marked read without the PIN")
	}
	if resp := r.login(t, c, "246813"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if st := status(); len(st.Notes) != 2 || st.NotesUnread != 2 || st.Notes[0].Text != "说“价格很实在”就好" || st.Notes[0].From != "王老师" {
		t.Fatalf("idle status notes: %+v (%d)", st.Notes, st.NotesUnread)
	}
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/notes/7/read", http.StatusNoContent},
		{"/api/notes/7/read", http.StatusNotFound}, // gone from the book already
		{"/api/notes/x/read", http.StatusBadRequest},
		{"/api/notes/-1/read", http.StatusBadRequest},
	} {
		if code := read(tc.path); code != tc.code {
			t.Errorf("POST %s: %d, want %d", tc.path, code, tc.code)
		}
	}
	if st := status(); len(st.Notes) != 1 || st.Notes[0].Seq != 9 || st.NotesUnread != 1 {
		t.Fatalf("after 知道了: %+v", st.Notes)
	}
	if code, _ := press(t, c, hs.URL, "big", "short"); code != 200 {
		t.Fatalf("big: %d", code)
	}
	waitState(t, r, state.Live)
	if st := status(); len(st.Notes) != 0 || st.NotesUnread != 0 {
		t.Fatalf("notes shown while live: %+v", st.Notes)
	}
}
