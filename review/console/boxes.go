package console

import (
	"net/http"

	"github.com/cunbo/cunbo/review/store"
)

// The trainer's page lists boxes and what they last sent, never what was
// said: a trainer sees no clips and no transcripts unless she is also a
// social worker (and then on the social worker's pages only).

type boxesData struct {
	Boxes []store.BoxOverview
	Msg   string
}

var boxesMessages = map[string]string{"revoked": "🔒 这个盒子已经停用了。它再也连不上来。"}

func (c *Console) boxesPage(w http.ResponseWriter, r *http.Request, u who) {
	bs, err := c.st.BoxesOverview(r.Context())
	if err != nil {
		c.internal(w, r, err)
		return
	}
	c.audit(r.Context(), u, r, "boxes.view", "", "")
	d := boxesData{Boxes: bs, Msg: boxesMessages[r.URL.Query().Get("msg")]}
	c.render(w, http.StatusOK, "boxes.html", page{Title: "盒子", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

// box looks up the box a request names; ok is false (and the page written)
// when there is none.
func (c *Console) namedBox(w http.ResponseWriter, r *http.Request, id string) (store.Box, bool) {
	if !boxIDRe.MatchString(id) {
		c.fail(w, r, http.StatusNotFound, "找不到这个盒子。请回到盒子列表再选。")
		return store.Box{}, false
	}
	b, err := c.st.Box(r.Context(), id)
	if isNotFound(err) {
		c.fail(w, r, http.StatusNotFound, "找不到这个盒子。请回到盒子列表再选。")
		return store.Box{}, false
	}
	if err != nil {
		c.internal(w, r, err)
		return store.Box{}, false
	}
	return b, true
}

// revokeConfirm is the step before revoking: revoking cannot be taken
// back from the console (the box must be enrolled again).
func (c *Console) revokeConfirm(w http.ResponseWriter, r *http.Request, u who) {
	b, ok := c.namedBox(w, r, r.PathValue("box"))
	if !ok {
		return
	}
	c.render(w, http.StatusOK, "boxes_revoke.html", page{Title: "停用盒子", User: &u.user, CSRF: u.session.CSRF, Data: b})
}

func (c *Console) revokeBox(w http.ResponseWriter, r *http.Request, u who) {
	b, ok := c.namedBox(w, r, r.PostFormValue("box"))
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		c.fail(w, r, http.StatusBadRequest, "停用前要先确认。请回到盒子列表，点“停用”再确认一次。")
		return
	}
	now := c.now()
	if err := c.st.RevokeBox(r.Context(), b.ID, now); err != nil {
		c.internal(w, r, err)
		return
	}
	c.audit(r.Context(), u, r, "box.revoke", b.ID, "")
	http.Redirect(w, r, Prefix+"boxes?msg=revoked", http.StatusSeeOther)
}
