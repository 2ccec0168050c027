package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/store"
)

// NotesPath is where a box fetches the coaching notes written to it.
const NotesPath = "/api/box/notes"

// NoteReadPath is where a box says she has read a note (pressed 知道了):
// POST {"seq":N} with its bearer token.
const NoteReadPath = "/api/box/notes/read"

// MaxNote is the longest note, in characters: the box shows it on a small
// screen and may read it aloud.
const MaxNote = 200

// notesLimit bounds one fetch; a box asks again with the last seq it got.
const notesLimit = 20

// BoxAuth checks a box's bearer token (boxauth.Service).
type BoxAuth interface {
	Authenticate(r *http.Request) (store.Box, *boxauth.Error)
}

// cleanNote trims a note and refuses control characters other than line
// breaks; ok is false when nothing usable is left or it is too long.
func cleanNote(s string) (string, bool) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNote {
		return "", false
	}
	for _, r := range s {
		if r != '\n' && unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}

func (c *Console) note(w http.ResponseWriter, r *http.Request, u who) {
	box, id := r.PostFormValue("box"), r.PostFormValue("id")
	g, ok, err := c.ownSegment(r.Context(), u.user.Name, box, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "找不到这一段。它可能已经被删除，或者不归您管。")
		return
	}
	text, ok := cleanNote(r.PostFormValue("text"))
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "留言要写 1 到 200 个字。请回到上一页再写一次（刚才写的字还在上一页）。")
		return
	}
	now := c.now()
	n := store.Note{BoxID: g.BoxID, Text: text, Author: u.user.Name, At: now}
	e := store.AuditEntry{At: now, Actor: u.actor(), Action: "note.add", Subject: g.BoxID,
		Detail: "segment=" + g.ID + " chars=" + strconv.Itoa(utf8.RuneCountInString(text)) + " from=" + from(r)}
	if _, err := c.st.AddNote(r.Context(), n, e); err != nil {
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, momentURL(g.Ref())+"?msg=noted", http.StatusSeeOther)
}

// boxNote is a note as a box gets it.
type boxNote struct {
	Seq  int64     `json:"seq"`
	Text string    `json:"text"`
	From string    `json:"from"`
	At   time.Time `json:"at"`
}

// boxNotes serves GET /api/box/notes?after=SEQ to a box with its bearer
// token: its own notes after SEQ, oldest first.
func (c *Console) boxNotes(w http.ResponseWriter, r *http.Request) {
	b, aerr := c.auth.Authenticate(r)
	if aerr != nil {
		boxauth.WriteError(w, aerr)
		return
	}
	var after int64
	if a := r.URL.Query().Get("after"); a != "" {
		v, err := strconv.ParseInt(a, 10, 64)
		if err != nil || v < 0 {
			boxauth.WriteError(w, &boxauth.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "after must be a note's seq (a non-negative integer)"})
			return
		}
		after = v
	}
	notes, err := c.st.Notes(r.Context(), b.ID, after, notesLimit)
	if err != nil {
		c.log.Error("console: notes", "box", b.ID, "err", err)
		w.Header().Set("Retry-After", "60")
		boxauth.WriteError(w, boxauth.ErrUnavailable)
		return
	}
	out := struct {
		Notes []boxNote `json:"notes"`
		More  bool      `json:"more"`
	}{Notes: []boxNote{}, More: len(notes) == notesLimit}
	for _, n := range notes {
		out.Notes = append(out.Notes, boxNote{Seq: n.Seq, Text: n.Text, From: n.Author, At: n.At})
	}
	if len(notes) > 0 {
		e := store.AuditEntry{At: c.now(), Actor: "box:" + b.ID, Action: "note.fetch", Subject: b.ID,
			Detail: "through=" + strconv.FormatInt(notes[len(notes)-1].Seq, 10) + " from=" + from(r)}
		if err := c.st.AppendAudit(r.Context(), e); err != nil {
			c.log.Error("console: audit", "err", err)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out) // a write error means the box went away
}

// boxNoteRead serves POST /api/box/notes/read {"seq":N}: the box's read
// receipt for one of its own notes. A repeat is answered as the first was
// (the box resends until it hears back); another box's note is "not
// found", so notes of other women cannot be probed.
func (c *Console) boxNoteRead(w http.ResponseWriter, r *http.Request) {
	b, aerr := c.auth.Authenticate(r)
	if aerr != nil {
		boxauth.WriteError(w, aerr)
		return
	}
	var in struct {
		Seq int64 `json:"seq"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.Seq <= 0 {
		boxauth.WriteError(w, &boxauth.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: `the body must be {"seq":N} with a note's seq`})
		return
	}
	now := c.now()
	e := store.AuditEntry{At: now, Actor: "box:" + b.ID, Action: "note.read", Subject: b.ID,
		Detail: "seq=" + strconv.FormatInt(in.Seq, 10) + " from=" + from(r)}
	at, _, err := c.st.MarkNoteRead(r.Context(), b.ID, in.Seq, now, e)
	if isNotFound(err) {
		boxauth.WriteError(w, &boxauth.Error{Status: http.StatusNotFound, Code: "not_found", Message: "this box has no such note"})
		return
	}
	if err != nil {
		c.log.Error("console: note read", "box", b.ID, "seq", in.Seq, "err", err)
		w.Header().Set("Retry-After", "60")
		boxauth.WriteError(w, boxauth.ErrUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		Seq    int64     `json:"seq"`
		ReadAt time.Time `json:"read_at"`
	}{in.Seq, at})
}

// noteView is a note as the console lists it: with whether she has read it.
type noteView struct {
	store.Note
}

// Read is the note's receipt in plain words.
func (n noteView) Read() string {
	if n.ReadAt.IsZero() {
		return "⏳ 她还没看"
	}
	return "✅ 她 " + when(n.ReadAt) + " 看过了"
}

// lastNote is the newest note to box with its receipt; nil when none.
func (c *Console) lastNote(ctx context.Context, box string) (*noteView, error) {
	n, err := c.st.LastNote(ctx, box)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	at, err := c.st.NoteReadAt(ctx, n.Seq)
	if err != nil {
		return nil, err
	}
	n.ReadAt = at
	return &noteView{Note: n}, nil
}
