package console

// A woman's practices (练习) as the console shows them: the checks her box
// computed, a social worker's assessment against the practice lab's
// rubric, and the "ready for a real live" mark. Practices are kept apart
// from her real lives everywhere, so they never count as hours live.

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/review/wire"
	"github.com/cunbo/cunbo/segment"
)

// maxAssessComment is the longest comment on an assessment, in characters.
const maxAssessComment = 300

// practicesShown bounds her practices listed on her page, and the
// scorings read for them: a window of their own beside her lives'.
const practicesShown = sessionsLimit

// rubricStep is one step of the practice lab the rubric scores.
type rubricStep struct {
	Field, Name, Icon string
}

// rubric is the practice lab's steps, in the order she learns them.
var rubric = []rubricStep{
	{"present", "介绍商品", "🛍️"},
	{"answer", "回答问题", "💬"},
	{"orders", "处理订单", "📦"},
	{"rules", "守规矩（不说违规的话）", "⚖️"},
}

// scoreNames are the rubric's levels in plain words, best last.
var scoreNames = map[int]string{store.ScoreNotYet: "未做到", store.ScoreBasic: "基本做到", store.ScoreGood: "做得好"}

// checkNames are the checks in her words, for "could not run".
var checkNames = map[string]string{
	segment.CheckAnswered: "有没有按时回答",
	segment.CheckCard:     "卡片对不对",
	segment.CheckWarnings: "提醒次数",
	segment.CheckDeadAir:  "冷场",
	segment.CheckPace:     "说话快慢",
	segment.CheckProducts: "每个商品讲了多久",
}

// practiceRow is one practice's checks in short.
type practiceRow struct {
	ID       string
	Start    time.Time
	Minutes  float64
	Bad      bool // the record did not parse
	Scenario string
	NoChecks bool // the box sent no checks at all
	// Answered of ToAnswer questions asked that wanted an answer;
	// RightCard of CardAsked questions about a product.
	Answered, ToAnswer   int
	RightCard, CardAsked int
	Broke                int // tempting questions she answered against the rules
	// NotCame counts the questions wanting an answer that never came
	// (not asked: never answered either); NotShown names the cards she
	// never showed that they waited for.
	NotCame      int
	NotShown     []string
	WarnPerMin   float64
	Warnings     int
	DeadAir      int
	DeadAirSecs  float64
	Pace         float64
	Products     []productView
	Skipped      map[string]bool
	SkippedNames []string
	Score        *scoreView // current scoring; nil when not scored
}

type productView struct {
	ID      string
	Name    string // the catalogue's name; the id in older records
	Seconds float64
	Clock   string // m:ss
}

// scoreView is a scoring as the pages show it.
type scoreView struct {
	store.Assessment
	Steps []stepScore
	Total int // out of 4×ScoreGood
	// A bar of her page's score chart (scoreBars).
	X, Y, H, Mid float64
	Day          string
}

type stepScore struct {
	rubricStep
	Score int
	Word  string
}

func viewScore(a store.Assessment) scoreView {
	v := scoreView{Assessment: a}
	for i, s := range []int{a.Present, a.Answer, a.Orders, a.Rules} {
		v.Steps = append(v.Steps, stepScore{rubricStep: rubric[i], Score: s, Word: scoreNames[s]})
		v.Total += s
	}
	return v
}

// summarise reads a practice's checks into a row.
func summarise(s *wire.Session) practiceRow {
	p := practiceRow{ID: s.ID, Start: s.Start, Minutes: s.End.Sub(s.Start).Minutes(), Skipped: map[string]bool{}}
	c := s.Checks
	if c == nil {
		p.NoChecks = true
		return p
	}
	p.Scenario = c.Scenario
	for _, k := range c.Skipped {
		p.Skipped[k] = true
		p.SkippedNames = append(p.SkippedNames, checkNames[k])
	}
	for _, q := range c.Questions {
		if !q.Asked {
			if q.Within > 0 {
				p.NotCame++
			}
			if n := c.Name(q.AfterCard); q.NoCard && !slices.Contains(p.NotShown, n) {
				p.NotShown = append(p.NotShown, n)
			}
			continue
		}
		if q.Within > 0 {
			p.ToAnswer++
			if q.Answered {
				p.Answered++
			}
		}
		if q.Product != "" {
			p.CardAsked++
			if q.RightCard {
				p.RightCard++
			}
		}
		if q.Broke {
			p.Broke++
		}
	}
	p.Warnings, p.WarnPerMin, p.Pace = c.Warnings, c.WarningsPerMinute, c.CharsPerMinute
	p.DeadAir = len(c.DeadAir)
	for _, g := range c.DeadAir {
		p.DeadAirSecs += g.To - g.From
	}
	for _, x := range c.Products {
		p.Products = append(p.Products, productView{ID: x.ID, Name: c.Name(x.ID), Seconds: x.Seconds, Clock: clock(x.Seconds)})
	}
	return p
}

// practiceData is what her page adds about her practices.
type practiceData struct {
	Practices []practiceRow // newest first
	Scores    []scoreView   // current scorings, oldest first: how she grows
	ScoreW    float64       // the score chart's width
	Ready     store.ReadyMark
}

// The score chart: bars of scoreBarW with gaps, up to scoreBarTop for a
// full score, on a base line at scoreBase.
const (
	scoreBarW   = 36.0
	scoreBarGap = 14.0
	scoreBase   = 110.0
	scoreBarTop = 90.0
	scoreMax    = 4 * store.ScoreGood
)

// scoreBars places the bars of scores in place and returns the width.
func scoreBars(scores []scoreView) float64 {
	for i := range scores {
		s := &scores[i]
		s.X = scoreBarGap + float64(i)*(scoreBarW+scoreBarGap)
		s.Mid = s.X + scoreBarW/2
		s.H = scoreBarTop * float64(s.Total) / scoreMax
		s.Y = scoreBase - s.H
		s.Day = s.At.In(china).Format("1/2")
	}
	return max(360, scoreBarGap+float64(len(scores))*(scoreBarW+scoreBarGap))
}

// womanPractices gathers her practices from recs (her session records),
// their scores and her mark, and returns the other records: her lives,
// and any record that does not parse (shown with the lives as such).
func (c *Console) womanPractices(ctx context.Context, box string) (practiceData, error) {
	var d practiceData
	recs, err := c.st.BoxSessionsOfKind(ctx, box, true, practicesShown)
	if err != nil {
		return practiceData{}, err
	}
	for _, x := range recs {
		s, err := wire.ParseSession(x.Record)
		if err != nil || s.Kind != segment.KindPractice {
			// The store matched its kind; a record that is not a
			// practice after all is a bug to see, not a practice.
			c.log.Error("console: woman page: not a practice", "box", box, "session", x.ID, "err", err)
			continue
		}
		d.Practices = append(d.Practices, summarise(s))
	}
	scores, err := c.st.BoxAssessments(ctx, box, practicesShown)
	if err != nil {
		return practiceData{}, err
	}
	for i := len(scores) - 1; i >= 0; i-- {
		d.Scores = append(d.Scores, viewScore(scores[i]))
	}
	d.ScoreW = scoreBars(d.Scores)
	for i := range d.Practices {
		for j := range d.Scores {
			if d.Scores[j].SessionID == d.Practices[i].ID {
				d.Practices[i].Score = &d.Scores[j]
			}
		}
	}
	if d.Ready, err = c.st.Ready(ctx, box); err != nil {
		return practiceData{}, err
	}
	return d, nil
}

// ownPractice finds a practice of user's caseload by its path values;
// ok is false for anything else (malformed, unknown, a live, not hers).
func (c *Console) ownPractice(ctx context.Context, user, box, id string) (*wire.Session, bool, error) {
	if !wire.ValidSessionID(id) {
		return nil, false, nil
	}
	ok, err := c.ownBox(ctx, user, box)
	if err != nil || !ok {
		return nil, false, err
	}
	x, err := c.st.Session(ctx, box, id)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	s, err := wire.ParseSession(x.Record)
	if err != nil || s.Kind != segment.KindPractice {
		return nil, false, nil
	}
	return s, true, nil
}

// questionView is one simulated customer's question on the practice page.
type questionView struct {
	segment.QuestionCheck
	AtText, AnswerText string
	// TemptsName is the rule the question tempts her to break, in plain
	// words (绝对化用语, not the scenario's code ABS).
	TemptsName string
	// The products' names (ids in older records): asked about, on
	// screen, and the card it waited for.
	ProductName, CardName, AfterCardName string
}

type practicePage struct {
	Box, Name string
	practiceRow
	Questions []questionView
	Gaps      []gapView // the dead air, m:ss
	History   []scoreView
	Rubric    []rubricStep
	Levels    []level
	Current   map[string]int // the current scores, to preselect the form
	MaxNote   int
	Msg       string
}

type gapView struct{ From, To string }

// level is one choice of a rubric step.
type level struct {
	V    int
	Name string
}

// clock shows seconds into the practice as m:ss.
func clock(s float64) string {
	n := int(s + 0.5)
	return fmt.Sprintf("%d:%02d", n/60, n%60)
}

func practiceURL(box, id string) string { return Prefix + "p/" + box + "/" + id }

var practiceMessages = map[string]string{"assessed": "✅ 评分已经保存。"}

func (c *Console) practice(w http.ResponseWriter, r *http.Request, u who) {
	box, id := r.PathValue("box"), r.PathValue("id")
	s, ok, err := c.ownPractice(r.Context(), u.user.Name, box, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "找不到这次练习。它可能已经被删除，或者不归您管。")
		return
	}
	b, err := c.st.Box(r.Context(), box)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	hist, err := c.st.PracticeAssessments(r.Context(), box, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	d := practicePage{Box: box, Name: boxName(b), practiceRow: summarise(s), Rubric: rubric,
		MaxNote: maxAssessComment,
		Msg:     practiceMessages[r.URL.Query().Get("msg")]}
	for _, v := range []int{store.ScoreNotYet, store.ScoreBasic, store.ScoreGood} {
		d.Levels = append(d.Levels, level{V: v, Name: scoreNames[v]})
	}
	if s.Checks != nil {
		for _, g := range s.Checks.DeadAir {
			d.Gaps = append(d.Gaps, gapView{From: clock(g.From), To: clock(g.To)})
		}
		for _, q := range s.Checks.Questions {
			d.Questions = append(d.Questions, questionView{QuestionCheck: q, AtText: clock(q.At), AnswerText: clock(q.AnswerAt),
				TemptsName:  cmp.Or(lint.CategoryName(q.Tempts), q.Tempts),
				ProductName: s.Checks.Name(q.Product), CardName: s.Checks.Name(q.Card), AfterCardName: s.Checks.Name(q.AfterCard)})
		}
	}
	for _, a := range hist {
		d.History = append(d.History, viewScore(a))
	}
	if len(hist) > 0 {
		a := hist[0]
		d.Current = map[string]int{"present": a.Present, "answer": a.Answer, "orders": a.Orders, "rules": a.Rules}
	}
	c.audit(r.Context(), u, r, "practice.view", box+"/"+id, "")
	c.render(w, http.StatusOK, "practice.html", page{Title: d.Name + " 的练习", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

// cleanComment trims an assessment's comment, which may be empty, and
// refuses control characters other than line breaks.
func cleanComment(s string) (string, bool) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxAssessComment {
		return "", false
	}
	for _, r := range s {
		if r != '\n' && unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}

// readAssessment reads the rubric's scores and the comment from a form;
// msg says in her social worker's words what to fix when they are not
// usable.
func readAssessment(value func(string) string) (scores [4]int, comment, msg string) {
	for i, st := range rubric {
		v, err := strconv.Atoi(value(st.Field))
		if err != nil || scoreNames[v] == "" {
			return [4]int{}, "", "每一项都要选：未做到、基本做到 或 做得好。请回到上一页选好再保存（写的评语还在上一页）。"
		}
		scores[i] = v
	}
	comment, ok := cleanComment(value("comment"))
	if !ok {
		return [4]int{}, "", fmt.Sprintf("评语最多写 %d 个字，不能有特殊符号。请回到上一页改一改（刚才写的字还在上一页）。", maxAssessComment)
	}
	return scores, comment, ""
}

func (c *Console) assess(w http.ResponseWriter, r *http.Request, u who) {
	box, id := r.PostFormValue("box"), r.PostFormValue("id")
	_, ok, err := c.ownPractice(r.Context(), u.user.Name, box, id)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "找不到这次练习。它可能已经被删除，或者不归您管。")
		return
	}
	scores, comment, msg := readAssessment(r.PostFormValue)
	if msg != "" {
		c.fail(w, r, http.StatusBadRequest, msg)
		return
	}
	now := c.now()
	a := store.Assessment{BoxID: box, SessionID: id, Present: scores[0], Answer: scores[1], Orders: scores[2], Rules: scores[3],
		Comment: comment, Author: u.user.Name, At: now}
	e := store.AuditEntry{At: now, Actor: u.actor(), Action: "practice.assess", Subject: box + "/" + id,
		Detail: fmt.Sprintf("scores=%d,%d,%d,%d chars=%d from=%s", scores[0], scores[1], scores[2], scores[3], utf8.RuneCountInString(comment), from(r))}
	if _, err := c.st.Assess(r.Context(), a, e); err != nil {
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, practiceURL(box, id)+"?msg=assessed#assess", http.StatusSeeOther)
}

func (c *Console) setReady(w http.ResponseWriter, r *http.Request, u who) {
	box := r.PostFormValue("box")
	ok, err := c.ownBox(r.Context(), u.user.Name, box)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "找不到这位姐妹。她可能不归您管。")
		return
	}
	var ready bool
	switch r.PostFormValue("ready") {
	case "1":
		ready = true
	case "0":
	default:
		c.fail(w, r, http.StatusBadRequest, "没有说清是“可以”还是“还不行”。请回到上一页再按一次。")
		return
	}
	now := c.now()
	e := store.AuditEntry{At: now, Actor: u.actor(), Action: "practice.ready", Subject: box,
		Detail: "ready=" + strconv.FormatBool(ready) + " from=" + from(r)}
	if err := c.st.SetReady(r.Context(), store.ReadyMark{BoxID: box, Ready: ready, Author: u.user.Name, At: now}, e); err != nil {
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"w/"+box+"#ready", http.StatusSeeOther)
}

// practiceRoutes adds the practice pages to the console's mux.
func (c *Console) practiceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"p/{box}/{id}", c.social(c.practice))
	mux.HandleFunc("POST "+Prefix+"p/assess", c.social(c.assess))
	mux.HandleFunc("POST "+Prefix+"ready", c.social(c.setReady))
}
