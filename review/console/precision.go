package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cunbo/cunbo/review/store"
)

// decidedLimit bounds the decisions read for precision and the export:
// the newest ones. A rule's precision is known well from far fewer, and
// each costs a read of its segment.json (about 2 s for 12 000 on SQLite).
const decidedLimit = 5000

// falsesShown bounds the false-alarm sentences listed under a rule.
const falsesShown = 5

// scope is whose decisions a user may learn from: a trainer or an admin
// every box's, a social worker her caseload's (user, non-empty).
func scope(u store.User) (user string, ok bool) {
	switch {
	case u.Has(store.RoleTrainer) || u.Has(store.RoleAdmin):
		return "", true
	case u.Has(store.RoleSocial):
		return u.Name, true
	}
	return "", false
}

// said is one flagged sentence of a decided segment, with the findings in
// it.
type said struct {
	Text  string
	Rules []string // the rules that fired in it, each once
	Cats  []string // their categories, each once
}

// decided is one decided segment read for learning: its flagged
// sentences, and the state its decision left.
type decided struct {
	Ref   store.SegmentRef
	State string
	// Practice: said in a practice. Its decisions count for a rule's
	// precision as a live's do: the rule judged the same words the same
	// way, whether anyone was watching or not.
	Practice bool
	At       time.Time
	Said     []said
	Names    map[string]string // rule -> category name
	Cat      map[string]string // rule -> category code
}

// real: a decision confirming a problem (coaching follows one).
func (d decided) real() bool { return d.State == store.StateReal || d.State == store.StateCoached }

// readDecided lists the decided segments of scope's boxes that have
// findings (a moment she marked herself judges no rule).
func (c *Console) readDecided(ctx context.Context, user string) ([]decided, error) {
	items, err := c.st.Decided(ctx, user, decidedLimit)
	if err != nil {
		return nil, err
	}
	var out []decided
	for _, it := range items {
		var s learnSegment
		if err := json.Unmarshal(it.JSON, &s); err != nil {
			c.log.Error("console: decided", "box", it.BoxID, "segment", it.ID, "err", err)
			continue
		}
		if len(s.Findings) == 0 {
			continue
		}
		d := decided{Ref: it.Ref(), State: it.State, Practice: s.Kind == store.KindPractice, At: it.At, Said: sentences(&s),
			Names: map[string]string{}, Cat: map[string]string{}}
		for _, f := range s.Findings {
			d.Names[f.Rule], d.Cat[f.Rule] = f.CategoryName, f.Category
		}
		out = append(out, d)
	}
	return out, nil
}

// learnSegment is what learning needs of a segment.json: its words and
// findings, without the times (reading them costs most of the parse).
type learnSegment struct {
	Kind       string `json:"kind"`
	Transcript struct {
		Text     string         `json:"text"`
		Captions []learnCaption `json:"captions"`
	} `json:"transcript"`
	Findings []struct {
		Category     string `json:"category"`
		CategoryName string `json:"category_name"`
		Rule         string `json:"rule"`
		Start        int    `json:"start"`
		End          int    `json:"end"`
	} `json:"findings"`
}

type learnCaption struct {
	Offset int    `json:"offset"`
	Text   string `json:"text"`
}

// sentences returns the utterances the findings of s are in, in
// transcript order: the caption a finding's span starts in, through the
// one it ends in (a phrase said across two), joined as one sentence.
func sentences(s *learnSegment) []said {
	text := []rune(s.Transcript.Text)
	caps := s.Transcript.Captions
	if len(caps) == 0 {
		caps = []learnCaption{{Text: s.Transcript.Text}}
	}
	// capAt is the caption rune i of the transcript is in, -1 between
	// captions.
	capAt := func(i int) int {
		for j, cp := range caps {
			if i >= cp.Offset && i < cp.Offset+utf8.RuneCountInString(cp.Text) {
				return j
			}
		}
		return -1
	}
	type key struct{ from, to int }
	byKey := map[key]*said{}
	var order []key
	for _, f := range s.Findings {
		if f.Start < 0 || f.End > len(text) || f.Start >= f.End {
			continue
		}
		from, to := capAt(f.Start), capAt(f.End-1)
		if from < 0 {
			continue
		}
		if to < from {
			to = from
		}
		k := key{from, to}
		sd := byKey[k]
		if sd == nil {
			var b strings.Builder
			for j := from; j <= to; j++ {
				b.WriteString(caps[j].Text)
			}
			sd = &said{Text: cleanSentence(b.String())}
			byKey[k] = sd
			order = append(order, k)
		}
		if !slices.Contains(sd.Rules, f.Rule) {
			sd.Rules = append(sd.Rules, f.Rule)
		}
		if !slices.Contains(sd.Cats, f.Category) {
			sd.Cats = append(sd.Cats, f.Category)
		}
	}
	slices.SortFunc(order, func(a, b key) int { return a.from - b.from })
	var out []said
	for _, k := range order {
		if byKey[k].Text != "" {
			out = append(out, *byKey[k])
		}
	}
	return out
}

// cleanSentence makes a caption one corpus field: no tabs, line breaks
// or other control characters, spaces not doubled.
func cleanSentence(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// ruleStat is one rule's record in its decisions.
type ruleStat struct {
	Rule, Code, What string
	Real, False      int
	Falses           []falseAlarm // newest first, at most falsesShown
}

// Decided is how many decisions the rule has.
func (r ruleStat) Decided() int { return r.Real + r.False }

// Precision is the share of its decisions that confirmed a problem, in
// percent.
func (r ruleStat) Precision() int {
	if r.Decided() == 0 {
		return 0
	}
	return (r.Real*100 + r.Decided()/2) / r.Decided()
}

// Low marks a rule that is wrong more often than right.
func (r ruleStat) Low() bool { return r.Decided() > 0 && r.Real < r.False }

type falseAlarm struct {
	Text string
	Ref  store.SegmentRef
	Link bool // the viewer may open the moment (her own caseload)
	At   time.Time
}

type rulesData struct {
	Rules     []ruleStat
	Decisions int
	All       bool // every box, not a caseload
	Capped    bool
}

// ruleStats counts, for each rule, the decided segments it fired in.
// A segment's decision counts once for each rule in it.
func ruleStats(ds []decided, link bool) []ruleStat {
	by := map[string]*ruleStat{}
	for _, d := range ds {
		for rule, name := range d.Names {
			st := by[rule]
			if st == nil {
				st = &ruleStat{Rule: rule, Code: d.Cat[rule], What: name}
				by[rule] = st
			}
			if d.real() {
				st.Real++
				continue
			}
			st.False++
			for _, sd := range d.Said {
				if slices.Contains(sd.Rules, rule) && len(st.Falses) < falsesShown {
					st.Falses = append(st.Falses, falseAlarm{Text: sd.Text, Ref: d.Ref, Link: link, At: d.At})
				}
			}
		}
	}
	out := make([]ruleStat, 0, len(by))
	for _, st := range by {
		out = append(out, *st)
	}
	// The rules most often wrong first: they are the ones to fix.
	slices.SortFunc(out, func(a, b ruleStat) int {
		if a.False != b.False {
			return b.False - a.False
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return out
}

func (c *Console) rules(w http.ResponseWriter, r *http.Request, u who) {
	user, ok := scope(u.user)
	if !ok {
		c.fail(w, r, http.StatusForbidden, "您的账号不能看这一页。")
		return
	}
	ds, err := c.readDecided(r.Context(), user)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	// A social worker's list is her own women's, whose moments she may
	// open; a trainer sees the sentences, not the clips.
	d := rulesData{Rules: ruleStats(ds, user != ""), Decisions: len(ds), All: user == "", Capped: len(ds) >= decidedLimit}
	c.audit(r.Context(), u, r, "rules.view", "precision", fmt.Sprintf("decisions=%d", len(ds)))
	c.render(w, http.StatusOK, "rules.html", page{Title: "规则准不准", User: &u.user, CSRF: u.session.CSRF, Data: d})
}
