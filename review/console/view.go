package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
)

// china is the time the women and their social workers live by (no
// daylight saving, so a fixed zone needs no tz database).
var china = time.FixedZone("北京时间", 8*3600)

func funcMap() template.FuncMap {
	return template.FuncMap{
		"args":      args,
		"when":      when,
		"stateName": stateName,
		"stateIcon": stateIcon,
		"secs":      func(f float64) string { return fmt.Sprintf("%.2f", f) },
	}
}

func when(t time.Time) string { return t.In(china).Format("1月2日 15:04") }

func stateName(s string) string {
	switch s {
	case store.StateReal:
		return "确实有问题"
	case store.StateFalse:
		return "误报，没问题"
	case store.StateCoached:
		return "已经辅导过"
	}
	return "还没看"
}

func stateIcon(s string) string {
	switch s {
	case store.StateReal:
		return "❗"
	case store.StateFalse:
		return "👌"
	case store.StateCoached:
		return "🎓"
	}
	return "🔔"
}

// span is a run of a line's text, marked when a finding covers it.
type span struct {
	Text string
	Mark bool
}

// line is one utterance of the transcript.
type line struct {
	From, To float64 // seconds into the clip; To < 0 when unknown
	Spans    []span
	Flagged  bool
}

// finding is one finding in everyday words.
type finding struct {
	Said, What, Explain, Law, Suggest string
	// Times is how often she said it in the segment: a phrase repeated
	// while the segment stayed open is one entry, counted, not a
	// screenful of the same line above the clip.
	Times int
}

// moment is one segment as the pages show it.
type moment struct {
	Ref      store.SegmentRef
	State    string
	At       time.Time
	Who      string // the box's name: the woman, for now
	Lines    []line
	Findings []finding
	HasClip  bool
	StartAt  float64 // where the clip starts playing: a few seconds before the words
	Said     []span  // the flagged line, for the queue
	Mark     bool    // a moment she marked herself, not a finding
	// Practice: said in a practice, which no viewer heard (🎓 练习).
	Practice bool
}

// lead is how long before the flagged words the clip starts.
const lead = 3.0

var boxIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// validRef reports whether a path's box and segment ids have the shapes
// boxes have, before anything is looked up with them.
func validRef(box, id string) bool { return boxIDRe.MatchString(box) && wire.ValidSegmentID(id) }

// build reads a stored segment for the pages. The JSON was validated at
// upload; a row that still does not parse is shown as such, not hidden.
func build(g store.Segment, state, who string) (moment, error) {
	m := moment{Ref: g.Ref(), State: state, At: g.At, Who: who, HasClip: g.ClipKey != "", Mark: g.Reason == wire.ReasonMark}
	var s wire.Segment
	if err := json.Unmarshal(g.JSON, &s); err != nil {
		return m, fmt.Errorf("console: segment %s: %w", g.ID, err)
	}
	m.Practice = s.IsPractice()
	text := []rune(s.Transcript.Text)
	marked := make([]bool, len(text))
	for _, f := range s.Findings {
		for i := max(f.Start, 0); i < min(f.End, len(text)); i++ {
			marked[i] = true
		}
		fv := finding{Said: f.Match, What: f.CategoryName, Explain: f.Explain, Law: f.Law, Suggest: f.Suggest, Times: 1}
		if i := slices.IndexFunc(m.Findings, func(o finding) bool { o.Times = 1; return o == fv }); i >= 0 {
			m.Findings[i].Times++
			continue
		}
		m.Findings = append(m.Findings, fv)
	}
	var clipStart time.Time
	if s.Clip != nil {
		clipStart = s.Clip.Start
	}
	caps := s.Transcript.Captions
	if len(caps) == 0 && len(text) > 0 {
		caps = []wire.Caption{{Text: s.Transcript.Text, Start: 0, End: -1}}
	}
	first := -1.0
	for _, cp := range caps {
		n := utf8.RuneCountInString(cp.Text)
		if cp.Offset < 0 || cp.Offset+n > len(text) {
			return m, errors.New("console: caption outside the transcript")
		}
		l := line{From: -1, To: -1}
		if !clipStart.IsZero() {
			at := s.At.Add(time.Duration(cp.Start * float64(time.Second)))
			l.From = max(at.Sub(clipStart).Seconds(), 0)
			l.To = max(s.At.Add(time.Duration(cp.End*float64(time.Second))).Sub(clipStart).Seconds(), l.From)
		}
		for i := cp.Offset; i < cp.Offset+n; {
			j := i
			for j < cp.Offset+n && marked[j] == marked[i] {
				j++
			}
			l.Spans = append(l.Spans, span{Text: string(text[i:j]), Mark: marked[i]})
			l.Flagged = l.Flagged || marked[i]
			i = j
		}
		if l.Flagged && first < 0 {
			first = l.From
			m.Said = l.Spans
		}
		m.Lines = append(m.Lines, l)
	}
	if m.Said == nil && len(m.Lines) > 0 {
		m.Said = m.Lines[len(m.Lines)/2].Spans
	}
	if first < 0 && !clipStart.IsZero() {
		first = s.At.Sub(clipStart).Seconds()
	}
	m.StartAt = max(first-lead, 0)
	return m, nil
}

// short keeps a queue line to a glance.
func short(spans []span, max int) []span {
	var out []span
	n := 0
	for _, s := range spans {
		r := []rune(s.Text)
		if n+len(r) > max {
			out = append(out, span{Text: string(r[:max-n]) + "…", Mark: s.Mark})
			return out
		}
		n += len(r)
		out = append(out, s)
	}
	return out
}

// button is a decision button's data.
type button struct {
	Page                     page
	Ref                      store.SegmentRef
	State, Label, Key, Class string
}

func args(p page, ref store.SegmentRef, state, label, key, class string) button {
	return button{Page: p, Ref: ref, State: state, Label: label, Key: key, Class: class}
}
