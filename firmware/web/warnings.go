package web

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cunbo/cunbo/firmware"
)

// DefaultWarningRepeat is how long after its last time the same problem
// still counts as a repeat: she hears the advice once, the card counts up,
// instead of a new card every few seconds while she keeps saying it.
const DefaultWarningRepeat = 5 * time.Minute

// maxWarnings bounds the cards kept (newest last).
const maxWarnings = 20

// warningBook keeps the recent warnings as cards, one per problem: a
// repeat within the window updates its card (count, newest words, time)
// and moves it to the end instead of adding another.
type warningBook struct {
	repeat time.Duration

	mu    sync.Mutex
	cards []WarningCard // newest last
	seq   uint64
}

// problemKey says which warnings are "the same problem": the same rule
// gives the same advice. Without a rule id the words decide.
func problemKey(w WarningCard) string {
	if w.Rule != "" {
		return w.Category + "\x00" + w.Rule
	}
	return w.Category + "\x00\x00" + w.Match
}

// add files w and returns its card as it now is.
func (b *warningBook) add(w WarningCard) WarningCard {
	w.Instead = sayInstead(w.Suggest)
	if w.Why == "" {
		w.Why = w.Explain
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	key := problemKey(w)
	for i := len(b.cards) - 1; i >= 0; i-- {
		c := b.cards[i]
		same := w.ID != "" && c.ID == w.ID // the same warning delivered again
		if !same && (problemKey(c) != key || w.At.Sub(c.At) > b.repeat || w.At.Before(c.First)) {
			continue
		}
		if !same {
			c.Count++
		}
		c.Said, c.Match, c.At = w.Said, w.Match, w.At
		b.cards = append(append(b.cards[:i:i], b.cards[i+1:]...), c)
		return c
	}
	if w.ID == "" {
		b.seq++
		w.ID = "p" + strconv.FormatUint(b.seq, 10)
	}
	w.Count, w.First = 1, w.At
	b.cards = append(b.cards, w)
	if n := len(b.cards); n > maxWarnings {
		b.cards = append([]WarningCard(nil), b.cards[n-maxWarnings:]...)
	}
	return w
}

func (b *warningBook) list() []WarningCard {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]WarningCard{}, b.cards...)
}

// sayInstead is the advice as the page's first line. A rule's suggestion
// is often already an instruction ("说“价格很实惠”", "直接说现在的价格",
// "不说和病有关的话"); putting "可以这样说：" before those doubles the
// verb (可以这样说：说…), which confuses a reader of a second language.
// Only a bare phrase gets the lead-in.
func sayInstead(suggest string) string {
	s := strings.TrimSpace(suggest)
	if s == "" {
		return ""
	}
	head, n := s, 0
	for i := range s {
		if n == 4 {
			head = s[:i]
			break
		}
		n++
	}
	if strings.ContainsAny(head, "说讲") {
		return s
	}
	return "可以这样说：" + s
}

// boxNotices are the box's own messages for the page. The box also lists
// each compliance warning (for its terminal panel and logs); the page
// shows those as warning cards already, so they are left out here: she
// must never read the same warning twice.
func boxNotices(all []firmware.Notice) []firmware.Notice {
	out := []firmware.Notice{}
	for _, n := range all {
		if n.Kind != firmware.NoticeCompliance {
			out = append(out, n)
		}
	}
	return out
}
