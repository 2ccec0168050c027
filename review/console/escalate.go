package console

import (
	"context"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cunbo/cunbo/review/store"
)

// MaxReason is the longest reason for handing a moment on, in characters:
// a line the colleague reads at a glance in her queue.
const MaxReason = 100

// reviews reports whether user may see and decide a segment: it is of her
// caseload, or a colleague handed it to her.
func (c *Console) reviews(ctx context.Context, user, box, id string) (bool, error) {
	worker, err := c.st.Worker(ctx, box)
	switch {
	case err == nil && worker == user:
		return true, nil
	case err != nil && !isNotFound(err):
		return false, err
	}
	e, err := c.st.Escalation(ctx, store.SegmentRef{BoxID: box, ID: id})
	if isNotFound(err) {
		return false, nil
	}
	return err == nil && e.To == user, err
}

// withEscalated puts the moments colleagues handed to user before her own
// (the stable new-first sort that follows keeps them at the top of each
// group).
func (c *Console) withEscalated(ctx context.Context, user string, own []store.QueueItem) ([]store.QueueItem, error) {
	got, err := c.st.EscalatedTo(ctx, user, queueLimit)
	if err != nil || len(got) == 0 {
		return own, err
	}
	seen := make(map[store.SegmentRef]bool, len(got))
	for _, it := range got {
		seen[it.Ref()] = true
	}
	for _, it := range own {
		if !seen[it.Ref()] {
			got = append(got, it)
		}
	}
	return got, nil
}

// escMark is how a handed-on moment is marked on the queue and moment
// pages.
type escMark struct {
	ToMe   bool   // a colleague handed it to the viewer
	Other  string // the colleague: who handed it, or to whom
	Reason string
}

// escalationMarks are the marks of the moments user handed on or got.
func (c *Console) escalationMarks(ctx context.Context, user string) (map[store.SegmentRef]*escMark, error) {
	es, err := c.st.EscalationsOf(ctx, user, queueLimit)
	if err != nil {
		return nil, err
	}
	out := make(map[store.SegmentRef]*escMark, len(es))
	for _, e := range es {
		m := &escMark{ToMe: e.To == user, Other: e.To, Reason: e.Reason}
		if m.ToMe {
			m.Other = e.From
		}
		out[e.Ref] = m
	}
	return out, nil
}

// escView is the moment page's part about handing it on.
type escView struct {
	Mark       *escMark
	Colleagues []string // social workers she can hand it to
	MaxReason  int
}

func (c *Console) escalationView(ctx context.Context, user string, ref store.SegmentRef) (*escView, error) {
	v := &escView{MaxReason: MaxReason}
	e, err := c.st.Escalation(ctx, ref)
	switch {
	case err == nil:
		v.Mark = &escMark{ToMe: e.To == user, Other: e.To, Reason: e.Reason}
		if v.Mark.ToMe {
			v.Mark.Other = e.From
		}
	case !isNotFound(err):
		return nil, err
	}
	users, err := c.st.Users(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if u.Name != user && u.Has(store.RoleSocial) {
			v.Colleagues = append(v.Colleagues, u.Name)
		}
	}
	return v, nil
}

// cleanLine trims a one-line text and refuses control characters; ok is
// false when nothing is left or it is longer than max characters.
func cleanLine(s string, max int) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}

func (c *Console) escalate(w http.ResponseWriter, r *http.Request, u who) {
	box, id, to := r.PostFormValue("box"), r.PostFormValue("id"), r.PostFormValue("to")
	g, ok, err := c.ownSegment(r.Context(), u.user.Name, box, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "找不到这一段。它可能已经被删除，或者不归您管。")
		return
	}
	reason, ok := cleanLine(r.PostFormValue("reason"), MaxReason)
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "请用一句话（1 到 100 个字）写上为什么转给同事。请回到上一页再写（刚才写的字还在上一页）。")
		return
	}
	colleague, err := c.st.User(r.Context(), to)
	if isNotFound(err) || (err == nil && (!colleague.Has(store.RoleSocial) || colleague.Name == u.user.Name)) {
		c.fail(w, r, http.StatusBadRequest, "只能转给另一位社工。请回到上一页，从名单里选一位同事。")
		return
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	now := c.now()
	e := store.Escalation{Ref: g.Ref(), From: u.user.Name, To: colleague.Name, Reason: reason, At: now}
	a := store.AuditEntry{At: now, Actor: u.actor(), Action: "segment.escalate", Subject: box + "/" + id,
		Detail: "to=" + colleague.Name + " from=" + from(r)}
	if err := c.st.Escalate(r.Context(), e, a); err != nil {
		if isNotFound(err) {
			c.fail(w, r, http.StatusNotFound, "找不到这一段或这位同事。请回到上一页再试。")
			return
		}
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, momentURL(g.Ref())+"?msg=escalated", http.StatusSeeOther)
}
