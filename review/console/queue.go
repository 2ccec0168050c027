package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/cunbo/cunbo/review/store"
)

// queueLimit bounds a queue page; a caseload has a few women with a few
// flagged moments a day, and a backlog is paged ("更多"). At 500 a full
// queue page was 280 KB of HTML (minutes on a 3g link) and rendering it
// took most of its server time.
const queueLimit = 200

// refsLimit bounds the undecided moments the moment page places itself
// among (references only, no JSON): weeks of a whole caseload's backlog.
const refsLimit = 5000

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// newFirst puts undecided moments first, keeping the order within each
// group (withEscalated's moments at the top, then as the store lists them:
// her lives' new moments before her practices', store.Console.QueuePage).
func newFirst(items []store.QueueItem) {
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
}

// ordered returns page (0-based) of user's queue: her undecided moments
// first, however old, then the decided ones, each group newest first; the
// moments colleagues handed to her top the first page. more is whether a
// next page may have more; handed is how many of the page's new moments a
// colleague handed her (they are not of her caseload).
func (c *Console) ordered(ctx context.Context, user string, page int) (items []store.QueueItem, more bool, handed int, err error) {
	own, err := c.st.QueuePage(ctx, user, page*queueLimit, queueLimit)
	if err != nil {
		return nil, false, 0, err
	}
	items = own
	if page == 0 {
		if items, err = c.withEscalated(ctx, user, own); err != nil {
			return nil, false, 0, err
		}
		for _, it := range items[:len(items)-len(own)] {
			if it.State == store.StateNew {
				handed++
			}
		}
	}
	newFirst(items)
	return items, len(own) == queueLimit, handed, nil
}

// orderedRefs is the same order as ordered's pages, references and states
// only, for placing one moment among the others.
func (c *Console) orderedRefs(ctx context.Context, user string) ([]store.QueueItem, error) {
	items, err := c.st.QueueRefs(ctx, user, refsLimit, queueLimit)
	if err != nil {
		return nil, err
	}
	if items, err = c.withEscalated(ctx, user, items); err != nil {
		return nil, err
	}
	newFirst(items)
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
	// Ready: a social worker said she may go on a real live (practice.go).
	Ready bool
}

type queueData struct {
	New, Done []queueRow
	// NewTotal is her undecided moments of lives, on any page; a
	// practice's (NewPractice) are listed after them, apart, since no
	// viewer heard them.
	NewTotal    int
	NewPractice int
	Page        int    // 1-based
	More        string // the next page, when there is one
	Social      bool
	Msg         string
}

// queuePageNo is the 0-based page a ?p= asks for; anything odd is the
// first.
func queuePageNo(r *http.Request) int {
	p, err := strconv.Atoi(r.URL.Query().Get("p"))
	if err != nil || p < 1 || p > 10000 {
		return 0
	}
	return p - 1
}

var messages = map[string]string{
	"alldone": "🎉 新的都看完了。",
}

func (c *Console) queue(w http.ResponseWriter, r *http.Request, u who) {
	pg := queuePageNo(r)
	d := queueData{Social: u.user.Has(store.RoleSocial), Msg: messages[r.URL.Query().Get("msg")], Page: pg + 1}
	if d.Social {
		items, more, handed, err := c.ordered(r.Context(), u.user.Name, pg)
		if err != nil {
			c.internal(w, r, err)
			return
		}
		own, practice, err := c.st.NewCounts(r.Context(), u.user.Name)
		if err != nil {
			c.internal(w, r, err)
			return
		}
		d.NewTotal, d.NewPractice = own+handed, practice
		if more {
			d.More = Prefix + "?p=" + strconv.Itoa(pg+2)
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
		ready, err := c.st.ReadyBoxes(r.Context())
		if err != nil {
			c.internal(w, r, err)
			return
		}
		for _, it := range items {
			m, err := build(it.Segment, it.State, names[it.BoxID])
			if err != nil {
				c.log.Error("console: queue", "box", it.BoxID, "segment", it.ID, "err", err)
			}
			_, isReady := ready[it.BoxID]
			row := queueRow{moment: m, Said: short(m.Said, 40), Esc: marks[it.Ref()], Ready: isReady}
			if it.State == store.StateNew {
				d.New = append(d.New, row)
			} else {
				d.Done = append(d.Done, row)
			}
		}
	}
	c.render(w, http.StatusOK, "queue.html", page{Title: "要看的片段", User: &u.user, CSRF: u.session.CSRF, Data: d})
}
