package console

import (
	"context"
	"net/http"

	"github.com/cunbo/cunbo/review/store"
)

// nextNew is the URL of user's first undecided moment other than skip (the
// first new one her queue lists), or the queue when none is left.
//
// Only references are read (no JSON), and only the two newest of her new
// ones: skip may be one of them. The store lists her new ones first however
// old (segments_state, migration 00012), so this is the queue's own answer.
func (c *Console) nextNew(ctx context.Context, user string, skip store.SegmentRef) (string, error) {
	own, err := c.st.QueueRefs(ctx, user, 2, 0)
	if err != nil {
		return "", err
	}
	items, err := c.withEscalated(ctx, user, own)
	if err != nil {
		return "", err
	}
	for _, it := range items {
		if it.State == store.StateNew && it.Ref() != skip {
			return momentURL(it.Ref()), nil
		}
	}
	return Prefix + "?msg=alldone", nil
}

func (c *Console) decide(w http.ResponseWriter, r *http.Request, u who) {
	box, id, state := r.PostFormValue("box"), r.PostFormValue("id"), r.PostFormValue("state")
	if !store.ValidState(state) {
		c.fail(w, r, http.StatusBadRequest, "不认识这个选择。请回到上一页再试。")
		return
	}
	g, ok, err := c.ownSegment(r.Context(), u.user.Name, box, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "找不到这一段。它可能已经被删除，或者不归您管。")
		return
	}
	now := c.now()
	d := store.Decision{Ref: g.Ref(), State: state, Actor: u.actor(), At: now}
	e := store.AuditEntry{At: now, Actor: u.actor(), Action: "segment.decide", Subject: box + "/" + id, Detail: "state=" + state + " from=" + from(r)}
	if _, err := c.st.Decide(r.Context(), d, e); err != nil {
		c.internal(w, r, err)
		return
	}
	next := momentURL(g.Ref())
	if state != store.StateNew {
		if next, err = c.nextNew(r.Context(), u.user.Name, g.Ref()); err != nil {
			c.internal(w, r, err)
			return
		}
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) undo(w http.ResponseWriter, r *http.Request, u who) {
	now := c.now()
	d, err := c.st.Undo(r.Context(), u.actor(), now, func(d store.Decision) store.AuditEntry {
		return store.AuditEntry{At: now, Actor: u.actor(), Action: "segment.undo", Subject: d.Ref.BoxID + "/" + d.Ref.ID,
			Detail: "state=" + d.State + " from=" + from(r)}
	})
	if isNotFound(err) {
		c.fail(w, r, http.StatusConflict, "没有可以撤销的了。")
		return
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, momentURL(d.Ref)+"?msg=undone", http.StatusSeeOther)
}
