package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/cunbo/cunbo/review/store"
)

// ownSegment loads the segment a request names if it is of user's
// caseload. Anything else, including a malformed or other caseload's
// reference, is "not found", so ids of other women cannot be probed.
func (c *Console) ownSegment(ctx context.Context, user, box, id string) (store.Segment, bool, error) {
	if !validRef(box, id) {
		return store.Segment{}, false, nil
	}
	if ok, err := c.reviews(ctx, user, box, id); err != nil || !ok {
		return store.Segment{}, false, err
	}
	g, err := c.st.Segment(ctx, box, id)
	if isNotFound(err) {
		return store.Segment{}, false, nil
	}
	return g, err == nil, err
}

type momentData struct {
	moment
	Pos, Total int // among the undecided, 1-based; 0 when this one is decided
	Next, Prev string
	Msg        string
	Note       *noteView // the newest note to her, with its read receipt
	MaxNote    int
	Esc        *escView // handing it to a colleague (escalate.go)
}

var momentMessages = map[string]string{
	"undone":    "↩ 已撤销上一步。",
	"noted":     "📨 留言已存好，她的盒子下次空闲时会收到。",
	"escalated": "📤 已经转给同事了。她的列表最上面会看到这一条。",
}

func momentURL(ref store.SegmentRef) string { return Prefix + "m/" + ref.BoxID + "/" + ref.ID }

func (c *Console) moment(w http.ResponseWriter, r *http.Request, u who) {
	box, id := r.PathValue("box"), r.PathValue("id")
	g, ok, err := c.ownSegment(r.Context(), u.user.Name, box, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "找不到这一段。它可能已经被删除，或者不归您管。")
		return
	}
	items, err := c.orderedRefs(r.Context(), u.user.Name)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	names, err := c.boxNames(r.Context())
	if err != nil {
		c.internal(w, r, err)
		return
	}
	state, err := c.st.State(r.Context(), g.Ref())
	if err != nil {
		c.internal(w, r, err)
		return
	}
	at := slices.IndexFunc(items, func(it store.QueueItem) bool { return it.Ref() == g.Ref() })
	m, err := build(g, state, names[box])
	if err != nil {
		c.log.Error("console: moment", "box", box, "segment", id, "err", err)
	}
	d := momentData{moment: m, Msg: momentMessages[r.URL.Query().Get("msg")], MaxNote: MaxNote}
	if d.Note, err = c.lastNote(r.Context(), box); err != nil {
		c.internal(w, r, err)
		return
	}
	if d.Esc, err = c.escalationView(r.Context(), u.user.Name, g.Ref()); err != nil {
		c.internal(w, r, err)
		return
	}
	if at >= 0 {
		if at+1 < len(items) {
			d.Next = momentURL(items[at+1].Ref())
		}
		if at > 0 {
			d.Prev = momentURL(items[at-1].Ref())
		}
		for _, it := range items {
			if it.State == store.StateNew {
				d.Total++
			}
		}
		if d.Total >= refsLimit { // a backlog past what was listed
			n, err := c.st.NewCount(r.Context(), u.user.Name)
			if err != nil {
				c.internal(w, r, err)
				return
			}
			d.Total = max(d.Total, n)
		}
		if state == store.StateNew {
			d.Pos = at + 1
		}
	}
	c.audit(r.Context(), u, r, "segment.view", box+"/"+id, "")
	c.render(w, http.StatusOK, "moment.html", page{Title: "看一段", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

// maxSpool bounds a clip copied to a temporary file to serve ranges from a
// blob store that cannot seek (S3); clips are far smaller.
const maxSpool = 256 << 20

func (c *Console) clip(w http.ResponseWriter, r *http.Request, u who) {
	box, id := r.PathValue("box"), r.PathValue("id")
	g, ok, err := c.ownSegment(r.Context(), u.user.Name, box, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok || g.ClipKey == "" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	rc, err := c.blobs.Open(r.Context(), g.ClipKey)
	if err != nil {
		c.log.Error("console: clip", "key", g.ClipKey, "err", err)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	defer rc.Close()
	rs, ok := rc.(io.ReadSeeker)
	if !ok {
		f, err := spool(rc)
		if err != nil {
			c.internal(w, r, err)
			return
		}
		defer f.Close()
		rs = f
	}
	// A player asks for many ranges per viewing; the first (from byte 0)
	// counts as the view.
	if rg := r.Header.Get("Range"); rg == "" || strings.HasPrefix(rg, "bytes=0-") {
		c.audit(r.Context(), u, r, "clip.view", box+"/"+id, "")
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", g.Received, rs)
}

// spool copies r into an unlinked temporary file.
func spool(r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "cunbo-clip-")
	if err != nil {
		return nil, fmt.Errorf("console: spool: %w", err)
	}
	os.Remove(f.Name()) // unlinked: nothing is left behind if the process dies
	n, err := io.Copy(f, io.LimitReader(r, maxSpool+1))
	if err == nil && n > maxSpool {
		err = fmt.Errorf("clip over %d bytes", maxSpool)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("console: spool: %w", err)
	}
	return f, nil
}
