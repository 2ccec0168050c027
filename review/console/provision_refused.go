package console

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/cunbo/cunbo/review/retention"
)

// A refused build answers with a redirect to the draft page (post/redirect/
// get): reloading that page must not send the form again. What the trainer
// typed, secrets excluded, and why it was refused are kept beside the
// draft, under the drafts' prefix so the retention sweep removes them with
// it.

// refusedForm is a refused build form without its secrets (stream keys,
// Wi-Fi password, PIN are never written down).
type refusedForm struct {
	User   string            `json:"user"`
	Msg    string            `json:"msg"`
	Boxes  []string          `json:"boxes"`
	Dests  map[string]string `json:"dests"`
	Keys   map[string]bool   `json:"keys"`
	SSID   string            `json:"ssid"`
	Review string            `json:"review"`
	Device string            `json:"device"`
	Days   int               `json:"days"`
}

// maxRefused bounds what is read back: the form's fields are each bounded
// when the build reads them, the boxes by the registry.
const maxRefused = 1 << 20

func refusedKey(id string) string { return retention.DraftsPrefix + id + ".refused.json" }

func (rf refusedForm) form() draftForm {
	return draftForm{boxes: rf.Boxes, dests: rf.Dests, keys: rf.Keys, ssid: rf.SSID, review: rf.Review, device: rf.Device, days: rf.Days}
}

// refuseBuild keeps the refused form and sends the browser to the draft
// page, which shows msg. When the form cannot be kept the page is written
// straight away, so nothing typed is lost either way.
func (c *Console) refuseBuild(w http.ResponseWriter, r *http.Request, u who, id string, d *draft, f draftForm, msg string) {
	rf := refusedForm{User: u.actor(), Msg: msg, Boxes: f.boxes, Dests: f.dests, Keys: f.keys, SSID: f.ssid, Review: f.review, Device: f.device, Days: f.days}
	b, err := json.Marshal(rf)
	if err == nil {
		err = c.blobs.Put(r.Context(), refusedKey(id), bytes.NewReader(b), int64(len(b)))
	}
	if err != nil {
		c.log.Error("console: provision: keep the refused form", "draft", id, "err", err)
		c.renderDraft(w, r, u, http.StatusBadRequest, id, d, f, msg)
		return
	}
	http.Redirect(w, r, Prefix+"provision/d/"+id+"?refused=1", http.StatusSeeOther)
}

// loadRefused reads back the last refused form of draft id, if it was this
// trainer's.
func (c *Console) loadRefused(r *http.Request, u who, id string) (refusedForm, bool) {
	var rf refusedForm
	rc, err := c.blobs.Open(r.Context(), refusedKey(id))
	if err != nil {
		c.log.Info("console: provision: refused form", "draft", id, "err", err)
		return rf, false
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxRefused))
	if err == nil {
		err = json.Unmarshal(b, &rf)
	}
	if err != nil {
		c.log.Error("console: provision: refused form", "draft", id, "err", err)
		return rf, false
	}
	return rf, rf.User == u.actor()
}
