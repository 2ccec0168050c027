package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
)

// Bounds of a woman's page. A woman streams a few times a week; 60
// sessions are a few months, and the chart shows the newest of them.
const (
	sessionsLimit = 60
	// chartSessions: bars that stay readable on a 360 px phone.
	chartSessions = 12
	// momentsLimit bounds the moments read to count warnings per session:
	// far more than 60 sessions produce.
	momentsLimit = 5000
	decidedShown = 100
	notesShown   = 50
	// minHours: a session shorter than this (a test, a crash at start)
	// gets no rate, which would be huge and mean nothing.
	minHours = 0.05
)

// catCount is one category's warnings in a session.
type catCount struct {
	Code, Name, Color string
	N                 int
	PerHour           float64
}

// sessionRow is one live of hers as the page shows it.
type sessionRow struct {
	ID       string
	Start    time.Time
	Hours    float64
	Rated    bool // long enough for a rate
	Warnings int  // the box's own count of warnings shown
	PerHour  float64
	Cats     []catCount
	Marks    int // her own "我说错了" presses
	Stalls   int
	Bad      bool // the record did not parse
}

// momentInfo is what counting needs of a segment: its JSON read once,
// without the transcript's captions.
type momentInfo struct {
	Reason   string `json:"reason"`
	Kind     string `json:"kind"`
	Findings []struct {
		Category     string `json:"category"`
		CategoryName string `json:"category_name"`
		Rule         string `json:"rule"`
	} `json:"findings"`
}

type womanData struct {
	Box, Name      string
	Sessions       []sessionRow // newest first
	Chart          chart
	Hours          float64
	Warnings       int
	Marks          int
	Decided        []queueRow
	DecidedCounts  map[string]int
	Notes          []noteView
	NewCount       int
	SessionsCapped bool
	// Moments of her practices, which no viewer heard: apart from the
	// counts above (her lives'), decided or not.
	PracticeMoments, PracticeWarnings, PracticeNew int

	// Her practices, apart from her lives (practice.go).
	practiceData
}

// PracticeDecided is how many of her practices' moments were decided.
func (d womanData) PracticeDecided() int { return d.PracticeMoments - d.PracticeNew }

// ownBox reports whether box (a path value) is of user's caseload; any
// other box, malformed or unknown, is "not found" as for segments.
func (c *Console) ownBox(ctx context.Context, user, box string) (bool, error) {
	if !boxIDRe.MatchString(box) {
		return false, nil
	}
	worker, err := c.st.Worker(ctx, box)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return worker == user, nil
}

func (c *Console) woman(w http.ResponseWriter, r *http.Request, u who) {
	box := r.PathValue("box")
	ok, err := c.ownBox(r.Context(), u.user.Name, box)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "找不到这位姐妹。她可能不归您管。")
		return
	}
	d, err := c.womanPage(r.Context(), box)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	c.audit(r.Context(), u, r, "woman.view", box, "")
	c.render(w, http.StatusOK, "woman.html", page{Title: d.Name + " 的进步", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

func boxName(b store.Box) string {
	if b.Name == "" {
		return "盒子 " + b.ID[:6]
	}
	return b.Name
}

// womanPage gathers a woman's sessions, the warnings in each, her decided
// moments and the notes written to her.
func (c *Console) womanPage(ctx context.Context, box string) (womanData, error) {
	b, err := c.st.Box(ctx, box)
	if err != nil {
		return womanData{}, err
	}
	d := womanData{Box: box, Name: boxName(b), DecidedCounts: map[string]int{}}
	// Practices are not lives: they are listed and scored on their own
	// (practice.go) and never count as hours live or warnings per hour.
	// Each kind is read in its own window, so a month of daily practices
	// never pushes her lives off the page, nor lives her practices.
	recs, err := c.st.BoxSessionsOfKind(ctx, box, false, sessionsLimit)
	if err != nil {
		return womanData{}, err
	}
	d.SessionsCapped = len(recs) == sessionsLimit
	if d.practiceData, err = c.womanPractices(ctx, box); err != nil {
		return womanData{}, err
	}
	var parsed []*wire.Session
	since := time.Time{}
	for _, x := range recs {
		s, err := wire.ParseSession(x.Record)
		if err != nil {
			// Validated at upload; a row that still does not parse is
			// shown as such, not hidden.
			c.log.Error("console: woman page: session", "box", box, "session", x.ID, "err", err)
			d.Sessions = append(d.Sessions, sessionRow{ID: x.ID, Start: x.Received, Bad: true})
			parsed = append(parsed, nil)
			continue
		}
		parsed = append(parsed, s)
		d.Sessions = append(d.Sessions, sessionRow{ID: s.ID, Start: s.Start, Hours: s.End.Sub(s.Start).Hours(), Warnings: s.Findings, Stalls: s.Stalls})
		if since.IsZero() || s.Start.Before(since) {
			since = s.Start
		}
	}
	if !d.SessionsCapped {
		// Every session is shown, so every moment may be listed as
		// decided; with the sessions capped, moments older than the
		// oldest shown would only cost time.
		since = time.Time{}
	}
	items, err := c.st.BoxMoments(ctx, box, since, momentsLimit)
	if err != nil {
		return womanData{}, err
	}
	// A moment belongs to the session that lists it, or else to the one
	// whose time it falls in (an older box lists none).
	listed := map[string]int{}
	for i, s := range parsed {
		if s != nil {
			for _, id := range s.Segments {
				listed[id] = i
			}
		}
	}
	cats := make([]map[string]*catCount, len(d.Sessions))
	for _, it := range items {
		var mi momentInfo
		err := json.Unmarshal(it.JSON, &mi)
		if err != nil {
			c.log.Error("console: woman page", "box", box, "segment", it.ID, "err", err)
		}
		practice := mi.Kind == store.KindPractice
		switch {
		case practice:
			// Counted on their own: what she says while practising is
			// what practice is for, not a problem viewers heard.
			d.PracticeMoments++
			d.PracticeWarnings += len(mi.Findings)
			if it.State == store.StateNew {
				d.PracticeNew++
			}
		case it.State == store.StateNew:
			d.NewCount++
		default:
			d.DecidedCounts[it.State]++
		}
		if it.State != store.StateNew {
			if len(d.Decided) < decidedShown {
				m, err := build(it.Segment, it.State, d.Name)
				if err != nil {
					c.log.Error("console: woman page", "box", box, "segment", it.ID, "err", err)
				}
				d.Decided = append(d.Decided, queueRow{moment: m, Said: short(m.Said, 40)})
			}
		}
		if practice || err != nil {
			continue
		}
		i, ok := listed[it.ID]
		if !ok {
			i = slices.IndexFunc(parsed, func(s *wire.Session) bool {
				return s != nil && !it.At.Before(s.Start) && !it.At.After(s.End)
			})
			if i < 0 {
				continue
			}
		}
		if mi.Reason == wire.ReasonMark {
			d.Sessions[i].Marks++
			continue
		}
		if cats[i] == nil {
			cats[i] = map[string]*catCount{}
		}
		for _, f := range mi.Findings {
			cc := cats[i][f.Category]
			if cc == nil {
				cc = &catCount{Code: f.Category, Name: f.CategoryName, Color: categoryColor(f.Category)}
				cats[i][f.Category] = cc
			}
			cc.N++
		}
	}
	for i := range d.Sessions {
		s := &d.Sessions[i]
		s.Rated = s.Hours >= minHours
		for _, cc := range cats[i] {
			if s.Rated {
				cc.PerHour = float64(cc.N) / s.Hours
			}
			s.Cats = append(s.Cats, *cc)
		}
		slices.SortFunc(s.Cats, func(a, b catCount) int { return categoryOrder(a.Code) - categoryOrder(b.Code) })
		if s.Rated {
			s.PerHour = float64(s.Warnings) / s.Hours
		}
		d.Hours += s.Hours
		d.Warnings += s.Warnings
		d.Marks += s.Marks
	}
	d.Chart = sessionChart(d.Sessions)
	notes, err := c.st.RecentNotes(ctx, box, notesShown)
	if err != nil {
		return womanData{}, err
	}
	for _, n := range notes {
		d.Notes = append(d.Notes, noteView{Note: n})
	}
	return d, nil
}

// categoryOrder is a category's place in COMPLIANCE.md's order; codes
// a newer box may send come last.
func categoryOrder(code string) int {
	if i := slices.Index(lint.Categories(), code); i >= 0 {
		return i
	}
	return len(lint.Categories())
}

// categoryColors tells categories apart in the chart; the same colour
// always means the same kind of words.
var categoryColors = [...]string{"#b3261e", "#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f",
	"#ad1457", "#4e342e", "#9e9d24", "#283593", "#5d4037"}

func categoryColor(code string) string {
	return categoryColors[categoryOrder(code)%len(categoryColors)]
}

// chart is a stacked bar chart of warnings per hour, one bar per session,
// oldest on the left, drawn as inline SVG (no script, no library).
type chart struct {
	W, H   int
	Bars   []bar
	Max    float64 // the top of the scale, per hour
	Legend []catCount
	Base   int // y of the baseline
}

type bar struct {
	X, W   float64
	Mid    float64 // the bar's centre, where its words go
	Rects  []rect
	Label  string // the date, or "" when it would crowd its neighbours
	Marks  int
	MarkY  float64
	NoRate bool
}

type rect struct {
	Y, H  float64
	Fill  string
	Title string
}

// Chart geometry in SVG units; the SVG scales to the page's width.
const (
	chartH     = 180
	chartTop   = 30
	chartFoot  = 26
	barSlot    = 30
	chartMinW  = 300
	chartLeftM = 8
)

func sessionChart(rows []sessionRow) chart {
	var shown []sessionRow
	for i := min(len(rows), chartSessions) - 1; i >= 0; i-- { // oldest first
		if !rows[i].Bad {
			shown = append(shown, rows[i])
		}
	}
	ch := chart{H: chartH, Base: chartH - chartFoot}
	ch.W = max(chartMinW, chartLeftM*2+len(shown)*barSlot)
	seen := map[string]bool{}
	for _, s := range shown {
		total := 0.0
		for _, cc := range s.Cats {
			total += cc.PerHour
			if !seen[cc.Code] {
				seen[cc.Code] = true
				ch.Legend = append(ch.Legend, catCount{Code: cc.Code, Name: cc.Name, Color: categoryColor(cc.Code)})
			}
		}
		ch.Max = max(ch.Max, total)
	}
	slices.SortFunc(ch.Legend, func(a, b catCount) int { return categoryOrder(a.Code) - categoryOrder(b.Code) })
	scale := 0.0
	if ch.Max > 0 {
		scale = float64(ch.Base-chartTop) / ch.Max
	}
	every := 1 + len(shown)/6 // about six dates fit under the bars
	for i, s := range shown {
		b := bar{X: float64(chartLeftM + i*barSlot + 4), W: barSlot - 8, NoRate: !s.Rated, Marks: s.Marks}
		b.Mid = b.X + b.W/2
		if i%every == 0 || i == len(shown)-1 {
			b.Label = s.Start.In(china).Format("1/2")
		}
		y := float64(ch.Base)
		for _, cc := range s.Cats {
			h := cc.PerHour * scale
			y -= h
			b.Rects = append(b.Rects, rect{Y: y, H: h, Fill: categoryColor(cc.Code),
				Title: fmt.Sprintf("%s：每小时 %.1f 次", cc.Name, cc.PerHour)})
		}
		b.MarkY = max(y-6, 14)
		ch.Bars = append(ch.Bars, b)
	}
	return ch
}
