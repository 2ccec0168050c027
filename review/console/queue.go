package console

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/cunbo/cunbo/review/store"
)

// queueLimit bounds a queue page; a caseload has a few women with a few
// flagged moments a day. At 500 a full queue page was 280 KB of HTML
// (minutes on a 3g link) and rendering it took most of its server time.
const queueLimit = 200

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// ordered returns user's queue: undecided moments first, each group newest
// first (as the store lists them).
func (c *Console) ordered(ctx context.Context, user string) ([]store.QueueItem, error) {
	items, err := c.st.Queue(ctx, user, queueLimit)
	if err != nil {
		return nil, err
	}
	if items, err = c.withEscalated(ctx, user, items); err != nil {
		return nil, err
	}
	slices.SortStableFunc(items, func(a, b store.QueueItem) int {
		an, bn := a.State == store.StateNew, b.State == store.StateNew
		switch {
		case an && !bn:
			return -1
		case bn && !an:
			return 1
		}
		return 0
	})
	return items, nil
}

func (c *Console) boxNames(ctx context.Context) (map[string]string, error) {
	boxes, err := c.st.Boxes(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(boxes))
	for _, b := range boxes {
		names[b.ID] = b.Name
		if b.Name == "" {
			names[b.ID] = "盒子 " + b.ID[:6]
		}
	}
	return names, nil
}

type queueRow struct {
	moment
	Said []span
	Esc  *escMark // handed on to or by a colleague (escalate.go)
}

type queueData struct {
	New, Done []queueRow
	Social    bool
	Msg       string
}

var messages = map[string]string{
	"alldone": "🎉 新的都看完了。",
}

func (c *Console) queue(w http.ResponseWriter, r *http.Request, u who) {
	d := queueData{Social: u.user.Has(store.RoleSocial), Msg: messages[r.URL.Query().Get("msg")]}
	if d.Social {
		items, err := c.ordered(r.Context(), u.user.Name)
		if err != nil {
			c.internal(w, r, err)
			return
		}
		names, err := c.boxNames(r.Context())
		if err != nil {
			c.internal(w, r, err)
			return
		}
		marks, err := c.escalationMarks(r.Context(), u.user.Name)
		if err != nil {
			c.internal(w, r, err)
			return
		}
		for _, it := range items {
			m, err := build(it.Segment, it.State, names[it.BoxID])
			if err != nil {
				c.log.Error("console: queue", "box", it.BoxID, "segment", it.ID, "err", err)
			}
			row := queueRow{moment: m, Said: short(m.Said, 40), Esc: marks[it.Ref()]}
			if it.State == store.StateNew {
				d.New = append(d.New, row)
			} else {
				d.Done = append(d.Done, row)
			}
		}
	}
	c.render(w, http.StatusOK, "queue.html", page{Title: "要看的片段", User: &u.user, CSRF: u.session.CSRF, Data: d})
}
