package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/firmware/app"
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
)

// heard is one publish in a repeat-merging case: after, the clock moves
// on; then the warning with rule (and words) is published.
type heard struct {
	after      time.Duration
	id         string
	rule, said string
}

func TestRepeatedProblemIsOneCardWithACount(t *testing.T) {
	type card struct {
		rule  string
		count int
		said  string
	}
	cases := []struct {
		name  string
		heard []heard
		want  []card // oldest first
	}{
		{"one", []heard{{0, "", "abs-lowest", "全网最低价"}},
			[]card{{"abs-lowest", 1, "全网最低价"}}},
		{"said again and again within minutes", []heard{
			{0, "", "abs-lowest", "全网最低价"},
			{4 * time.Second, "", "abs-lowest", "真的全网最低"},
			{2 * time.Minute, "", "abs-lowest", "全网最低了"},
			{4 * time.Minute, "", "abs-lowest", "全网最低"},
		}, []card{{"abs-lowest", 4, "全网最低"}}},
		{"a different problem is its own card", []heard{
			{0, "", "abs-lowest", "全网最低价"},
			{3 * time.Second, "", "med-cure", "能治胃病"},
			{3 * time.Second, "", "abs-lowest", "全网最低"},
		}, []card{{"med-cure", 1, "能治胃病"}, {"abs-lowest", 2, "全网最低"}}},
		{"long after, a new card", []heard{
			{0, "", "abs-lowest", "全网最低价"},
			{web.DefaultWarningRepeat + time.Second, "", "abs-lowest", "全网最低"},
		}, []card{{"abs-lowest", 1, "全网最低价"}, {"abs-lowest", 1, "全网最低"}}},
		{"the window follows the last time", []heard{
			{0, "", "abs-lowest", "一"},
			{web.DefaultWarningRepeat - time.Second, "", "abs-lowest", "二"},
			{web.DefaultWarningRepeat - time.Second, "", "abs-lowest", "三"},
		}, []card{{"abs-lowest", 3, "三"}}},
		{"the same warning delivered twice is counted once", []heard{
			{0, "w1", "abs-lowest", "全网最低价"},
			{time.Second, "w1", "abs-lowest", "全网最低价"},
		}, []card{{"abs-lowest", 1, "全网最低价"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			var first string
			for i, h := range tc.heard {
				r.clock.Advance(h.after)
				r.srv.PublishWarning(web.WarningCard{ID: h.id, Said: h.said, Match: "全网最低", Category: "ABS",
					Rule: h.rule, Suggest: "说“价格很实惠”"})
				if i == 0 {
					first = r.srv.Status().Warnings[0].ID
				}
			}
			got := r.srv.Status().Warnings
			if len(got) != len(tc.want) {
				t.Fatalf("%d cards %+v, want %d", len(got), got, len(tc.want))
			}
			ids := map[string]bool{}
			for i, w := range tc.want {
				g := got[i]
				if g.Rule != w.rule || g.Count != w.count || g.Said != w.said {
					t.Errorf("card %d: %s ×%d %q, want %s ×%d %q", i, g.Rule, g.Count, g.Said, w.rule, w.count, w.said)
				}
				if g.ID == "" || ids[g.ID] {
					t.Errorf("card %d: id %q empty or shown twice", i, g.ID)
				}
				ids[g.ID] = true
				if g.First.After(g.At) {
					t.Errorf("card %d: first %v after last %v", i, g.First, g.At)
				}
			}
			// A counted-up card keeps its id: the page updates it in place.
			if len(tc.want) == 1 && got[0].ID != first {
				t.Errorf("card id changed from %q to %q", first, got[0].ID)
			}
		})
	}
}

// The events stream sends a counted-up card under the id it already
// has, so the page replaces the card instead of adding one.
func TestRepeatUpdatesTheCardOnTheStream(t *testing.T) {
	r := newRig(t, nil)
	c := r.client(t)
	r.login(t, c, "246813")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openSSE(t, ctx, c, r.hs.URL+"/api/events")
	s.next(t, "status", func(string) bool { return true })
	var cards []web.WarningCard
	for _, said := range []string{"全网最低价", "真的全网最低"} {
		r.clock.Advance(10 * time.Second)
		r.srv.PublishWarning(web.WarningCard{Said: said, Match: "全网最低", Category: "ABS", Rule: "abs-lowest"})
		var w web.WarningCard
		if err := json.Unmarshal([]byte(s.next(t, "warning", func(string) bool { return true })), &w); err != nil {
			t.Fatal(err)
		}
		cards = append(cards, w)
	}
	if cards[0].ID == "" || cards[1].ID != cards[0].ID || cards[1].Count != 2 || cards[1].Said != "真的全网最低" {
		t.Fatalf("cards on the stream %+v, want the first counted up under its id", cards)
	}
}

// What to say comes first and never doubles the verb: a rule's
// suggestion that already says 说 is not put behind "可以这样说：".
func TestAdviceLeadsWithoutDoubledWords(t *testing.T) {
	cases := []struct{ suggest, want string }{
		{"说“价格很实惠”“很多老顾客回购”", "说“价格很实惠”“很多老顾客回购”"},
		{"直接说现在的价格：“这一罐三十九块九”", "直接说现在的价格：“这一罐三十九块九”"},
		{"不说和病有关的话，只讲口味、产地和做法", "不说和病有关的话，只讲口味、产地和做法"},
		{"只说自己的：“我们的是自家做的”", "只说自己的：“我们的是自家做的”"},
		{"这个辣椒酱很多老顾客回购", "可以这样说：这个辣椒酱很多老顾客回购"},
		{"  ", ""},
	}
	for _, tc := range cases {
		r := newRig(t, nil)
		r.srv.PublishWarning(web.WarningCard{Said: "全网最低价", Category: "ABS", Suggest: tc.suggest})
		got := r.srv.Status().Warnings[0].Instead
		if got != tc.want {
			t.Errorf("suggest %q: first line %q, want %q", tc.suggest, got, tc.want)
		}
		if strings.Contains(got, "说说") || strings.Contains(got, "说：说") {
			t.Errorf("suggest %q: first line %q doubles 说", tc.suggest, got)
		}
	}
}

// A finding reaches the box (LED, terminal panel) and the phone page; the
// page shows it once, as a warning card, and not again under the box's own
// messages.
func TestComplianceWarningShownOnce(t *testing.T) {
	r := newRig(t, nil)
	r.box.Post(state.BigShort, "")
	waitState(t, r, state.Live) // the box lists warnings only on air
	w := compliance.Warning{ID: "w1", At: r.clock.Now(), Said: "今天的辣椒酱全网最低价", Match: "全网最低价",
		Category: "ABS", CategoryName: "绝对化用语", Rule: "abs-lowest", Explain: "“全网最……”是绝对化用语",
		Suggest: "说“价格很实惠”", Law: "《广告法》第九条"}
	for _, sink := range []compliance.WarningSink{compliance.BoxSink(r.box), app.PhonePage(r.srv)} {
		sink.Warn(w)
	}
	// The box has taken it (its LED flashes) before the page is asked.
	deadline := time.Now().Add(3 * time.Second)
	for len(r.box.Status().Warnings) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the box never listed the warning")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := r.srv.Status()
	if len(st.Warnings) != 1 || st.Warnings[0].Said != w.Said {
		t.Fatalf("warning cards %+v, want the one", st.Warnings)
	}
	for _, n := range st.Notices {
		if strings.Contains(n.Text, w.Match) {
			t.Errorf("the warning is shown again under the box's messages: %q", n.Text)
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), w.Said); n != 1 {
		t.Errorf("the status carries what she said %d times, want once: %s", n, b)
	}
	// Her first screen has no legal terms: the everyday reason is given.
	if c := st.Warnings[0]; c.Why == "" || strings.Contains(c.Why, "绝对化") || strings.Contains(c.Why, "第九条") {
		t.Errorf("reason %q: want everyday words", c.Why)
	}
	// The box's own messages still show.
	r.box.Post(state.StreamDegraded, "")
	deadline = time.Now().Add(3 * time.Second)
	for len(r.srv.Status().Notices) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the box's own message is not listed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
