package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// NoteCard is a coaching note from her social worker, as the page shows
// it: a big card at the top while the box is idle, with 知道了.
type NoteCard struct {
	Seq  int64     `json:"seq"`
	Text string    `json:"text"`
	From string    `json:"from"` // the social worker's name
	At   time.Time `json:"at"`
}

// Notes are the box's coaching notes (firmware/notes through the app).
type Notes interface {
	// Unread lists the notes she has not read, oldest first.
	Unread() []NoteCard
	// MarkRead records that she read note seq; ErrNoNote for a seq the
	// box does not have.
	MarkRead(seq int64) error
}

// ErrNoNote is what Notes.MarkRead returns for an unknown note.
var ErrNoNote = errors.New("web: no such note")

// maxNoteCards bounds the notes one status carries: the page shows the
// oldest unread and how many more there are.
const maxNoteCards = 5

// unreadNotes is the status's part: none while on air, when her
// attention belongs to the stream and its warnings.
func (s *Server) unreadNotes(onAirNow bool) ([]NoteCard, int) {
	if s.opts.Notes == nil || onAirNow {
		return []NoteCard{}, 0
	}
	all := s.opts.Notes.Unread()
	if all == nil {
		all = []NoteCard{}
	}
	return all[:min(len(all), maxNoteCards)], len(all)
}

// noteRead serves POST /api/notes/{seq}/read: she pressed 知道了.
func (s *Server) noteRead(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "请求内容不对 (bad note number)"})
		return
	}
	if s.opts.Notes == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "没有这条留言 (no such note)"})
		return
	}
	switch err := s.opts.Notes.MarkRead(seq); {
	case errors.Is(err, ErrNoNote):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "没有这条留言 (no such note)"})
		return
	case err != nil:
		s.log.Error("note read not kept", "seq", seq, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "盒子没记住，请再按一次"})
		return
	}
	s.log.Info("note read", "seq", seq)
	// The card goes from every open page at once.
	s.hub.broadcast(event{})
	w.WriteHeader(http.StatusNoContent)
}
