package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/lint"
	"github.com/cunbo/cunbo/practice"
	"github.com/cunbo/cunbo/segment"
	"github.com/cunbo/cunbo/speech"
)

// Practice starts a rehearsal like GoLive (a fresh transcript, the
// microphone heard) but publishes to no destination.
func (p markToLoop) Practice(ctx context.Context) error {
	p.caps.Loop().NewSession()
	p.caps.Listen(compliance.ListenPractice)
	err := p.Pipeline.Practice(ctx)
	if err != nil {
		p.caps.Listen(compliance.ListenOff)
	}
	return err
}

// cardPoll is how often a practice notes the card on screen: its checks
// place answers and time per product to within this.
const cardPoll = 100 * time.Millisecond

// practiceLab records a practice as it happens (captions, warnings, card
// changes) and, when it ends, computes its checks and her report. It
// serves the phone page's simulated customers and report.
type practiceLab struct {
	log  *slog.Logger
	pl   *pipeline.Pipeline
	caps *compliance.Captions // nil: no speech, caption checks skipped
	// set is the scenarios practised in turn, one a practice: the
	// published set when the applied bundle has one, else the built-in
	// set; empty: no customers (neither fits the catalogue).
	set  []*practice.Scenario
	ids  []string // set's ids for her list (scenarioID), by index
	next int      // index into set of the next practice's scenario
	// scenario is the current or last practice's (nil before the first).
	scenario *practice.Scenario
	// flagged are sample answers the linter flags, by scenario and line:
	// never spoken as her captions.
	flagged  map[*practice.Scenario]map[int]bool
	problems []string // for the simulator's terminal at start
	words    map[string][]string
	names    map[string]string // the catalogue's product names, by id
	now      func() time.Time
	script   bool // Options.PracticeScript

	mu   sync.Mutex
	run  *practiceRun // nil while not practising
	last *practiceResult
	// chosen is the scenario she picked on her phone for the practice
	// about to begin, at chosenAt; nil: the next in turn.
	chosen   *practice.Scenario
	chosenAt time.Time
}

// choiceTTL is how long her choice waits for the practice it was made
// for: the box takes the start within milliseconds, but if it never does
// (she pressed 开播 at the same moment), a later practice started from the
// box's buttons must come in turn, not from a forgotten choice.
const choiceTTL = 15 * time.Second

type practiceRun struct {
	start    time.Time
	speech   bool
	captions []practice.Utterance
	findings []practice.Finding
	cards    []practice.CardChange
	spoken   map[int]bool // scripted answers given, by scenario line
}

type practiceResult struct {
	start, end time.Time
	checks     *segment.Checks
	report     practice.Report
}

func newPracticeLab(opts Options, log *slog.Logger) *practiceLab {
	l := &practiceLab{log: log, pl: opts.Pipeline, caps: opts.Compliance, now: time.Now, words: map[string][]string{},
		names: map[string]string{}, script: opts.PracticeScript}
	var ids []string
	cat := opts.Pipeline.Catalog()
	if cat != nil {
		for _, p := range cat.Products {
			ids = append(ids, p.ID)
			l.words[p.ID] = []string{p.Name, p.Tagline}
			l.names[p.ID] = p.Name
		}
	}
	if opts.Provision != nil {
		if v, ok := opts.Provision.Store.Current(); ok {
			l.set = publishedScenarios(v.ScenariosDir(), ids, cat != nil, log)
		}
	}
	if len(l.set) == 0 {
		set, err := practice.Default(ids)
		if err != nil {
			// A catalogue without the demo products: she still
			// practises, without customers, until a scenario for her
			// products arrives.
			log.Info("practice: no scenario for this catalogue", "err", err)
		}
		l.set = set
	}
	for _, s := range l.set {
		l.ids = append(l.ids, scenarioID(s))
	}
	if l.script {
		l.lintSamples(opts.Compliance)
	}
	return l
}

// scenarioID names a scenario in her list by its content (as this box
// fits it to its catalogue): a list she loaded before a new bundle
// changed the lesson names nothing, rather than the lesson now in its
// place.
func scenarioID(s *practice.Scenario) string {
	b, err := json.Marshal(s)
	if err != nil { // plain strings, numbers and slices: cannot fail
		b = []byte(s.Name)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// publishedScenarios reads the scenarios a setup bundle installed in dir.
// A bundle's scenarios were checked when it was built, but a box must not
// trust that: one file that does not parse (an older builder, a damaged
// card) drops the whole published set, so she never practises half a
// lesson, and the box says so in the journal and keeps the built-in set.
// Questions about products this box's catalogue lacks are left out.
func publishedScenarios(dir string, ids []string, haveCatalogue bool, log *slog.Logger) []*practice.Scenario {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		log.Error("practice: published scenarios unreadable; using the built-in set", "dir", dir, "err", err)
		return nil
	}
	var set []*practice.Scenario
	for _, de := range des { // sorted by name: the trainer numbers the lessons
		if !de.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err == nil && len(data) > practice.MaxScenarioBytes {
			err = fmt.Errorf("%d bytes, over %d", len(data), practice.MaxScenarioBytes)
		}
		var s *practice.Scenario
		if err == nil {
			s, err = practice.ParseScenario(data, nil)
		}
		if err != nil {
			log.Error("practice: a published scenario is unusable; using the built-in set", "file", de.Name(), "err", err)
			return nil
		}
		if haveCatalogue {
			var dropped []int
			if s, dropped = s.Fit(ids); len(dropped) > 0 {
				log.Warn("practice: questions about products not in the catalogue left out", "file", de.Name(), "lines", dropped)
			}
		}
		if len(s.Questions) == 0 {
			log.Warn("practice: a published scenario has no question for this catalogue", "file", de.Name())
			continue
		}
		set = append(set, s)
	}
	if len(set) == 0 {
		log.Error("practice: no published scenario fits this box; using the built-in set", "dir", dir)
		return nil
	}
	log.Info("practice: published scenarios", "count", len(set), "first", set[0].Name)
	return set
}

// lintSamples checks the sample answers the simulator will speak with the
// box's own rules: a flagged one would set off a warning in the middle of
// a model answer. It is left unspoken and said at start.
func (l *practiceLab) lintSamples(caps *compliance.Captions) {
	var lt *lint.Linter
	if caps != nil {
		lt = caps.Loop().Linter()
	}
	if lt == nil {
		var err error
		if lt, err = lint.NewDefault(); err != nil {
			l.log.Error("practice: sample answers not checked", "err", err)
			return
		}
	}
	l.flagged = map[*practice.Scenario]map[int]bool{}
	for _, s := range l.set {
		for _, p := range practice.CheckSamples(s, lt) {
			if l.flagged[s] == nil {
				l.flagged[s] = map[int]bool{}
			}
			l.flagged[s][p.Line] = true
			l.problems = append(l.problems, s.Name+" "+p.Error())
			l.log.Warn("practice: sample answer not spoken", "scenario", s.Name, "problem", p.Error())
		}
	}
}

// PracticeProblems are the practice's setup problems the simulator prints
// when it starts one: sample answers the linter flags (left unspoken).
func (a *App) PracticeProblems() []string { return slices.Clone(a.practice.problems) }

// cardID is the product whose card is on screen, "" for none.
func (l *practiceLab) cardID() string {
	c := l.pl.Card()
	cat := l.pl.Catalog()
	if !c.Visible || cat == nil || c.Index < 0 || c.Index >= len(cat.Products) {
		return ""
	}
	return cat.Products[c.Index].ID
}

// speechOn: the recogniser runs (whether or not she is heard right now:
// the practice's end shuts the microphone before its checks are made).
func (l *practiceLab) speechOn() bool {
	return l.caps != nil && l.caps.Speech().State == speech.StateOn
}

func (l *practiceLab) begin(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run != nil {
		return
	}
	l.run = &practiceRun{start: now, speech: l.speechOn(), spoken: map[int]bool{},
		cards: []practice.CardChange{{At: now, ID: l.cardID()}}}
	chosen := l.chosen
	if chosen != nil && now.Sub(l.chosenAt) > choiceTTL {
		l.log.Warn("practice: a choice not taken in time; the next in turn instead", "scenario", chosen.Name)
		chosen = nil
	}
	l.chosen = nil
	switch {
	case chosen != nil:
		// Her pick does not move the turn: 随便来一个 still gives the
		// lesson that was next.
		l.scenario = chosen
	case len(l.set) > 0:
		l.scenario = l.set[l.next%len(l.set)]
		l.next++
	}
	if l.scenario != nil {
		l.log.Info("practice: began", "scenario", l.scenario.Name, "chosen", chosen != nil)
	}
}

// ChoosePractice makes the next practice take the scenario she picked on
// her phone (web.PracticeSource); "" takes the next in turn.
func (l *practiceLab) ChoosePractice(id string) error {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if id == "" {
		l.chosen = nil
		return nil
	}
	i := slices.Index(l.ids, id)
	if i < 0 {
		return fmt.Errorf("practice: scenario %q: %w", id, web.ErrUnknownScenario)
	}
	l.chosen, l.chosenAt = l.set[i], now
	return nil
}

// noteCard records a card change, if any.
func (l *practiceLab) noteCard(now time.Time) {
	id := l.cardID()
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.run; r != nil && r.cards[len(r.cards)-1].ID != id {
		r.cards = append(r.cards, practice.CardChange{At: now, ID: id})
	}
}

// Script timing: she starts answering scriptDelay after a question comes
// up and says scriptRate characters a second (240 a minute, an easy pace).
const (
	scriptDelay = 3 * time.Second
	scriptRate  = 4
)

// speakScript gives the scenario's sample answers as captions, when the
// simulator asks for it and no speech model makes real ones.
func (l *practiceLab) speakScript(now time.Time) {
	if !l.script || l.speechOn() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.run
	if r == nil || l.scenario == nil {
		return
	}
	for _, q := range l.scenario.Questions {
		if q.Sample == "" || q.Within == 0 || r.spoken[q.Line] || l.flagged[l.scenario][q.Line] {
			continue
		}
		at, ok := practice.Asked(q, r.start, r.cards)
		if !ok {
			continue
		}
		from := at.Add(scriptDelay)
		to := from.Add(time.Duration(len([]rune(q.Sample))) * time.Second / scriptRate)
		if now.Before(to) {
			continue
		}
		r.spoken[q.Line] = true
		r.speech = true
		r.captions = append(r.captions, practice.Utterance{At: from, End: to, Text: q.Sample})
	}
}

// noteSpeech notes that the recogniser ran during the practice (it may
// start after the practice began, the model loading).
func (l *practiceLab) noteSpeech() {
	on := l.speechOn()
	l.mu.Lock()
	defer l.mu.Unlock()
	if on && l.run != nil {
		l.run.speech = true
	}
}

// heard takes the compliance loop's final captions.
func (l *practiceLab) heard(h compliance.Heard) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run != nil {
		l.run.speech = true
		l.run.captions = append(l.run.captions, practice.Utterance{At: h.At, End: h.End, Text: h.Text})
	}
}

func (l *practiceLab) warn(w compliance.Warning) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run != nil {
		l.run.speech = true // a warning comes from captions
		l.run.findings = append(l.run.findings, practice.Finding{At: w.At, Category: w.Category})
	}
}

// finish ends the practice under way and returns its checks; with none
// under way, the last practice's if it ended after began (the upload
// driver and the phone page's driver both call it as the practice ends,
// in either order; an older practice's checks are never returned).
func (l *practiceLab) finish(now, began time.Time) *segment.Checks {
	l.noteCard(now)
	on := l.speechOn()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.run
	if r == nil {
		if l.last == nil || l.last.end.Before(began) {
			return nil
		}
		return l.last.checks
	}
	l.run = nil
	c := practice.Check(practice.Input{Scenario: l.scenario, Start: r.start, End: now, Speech: r.speech || on,
		Captions: r.captions, Findings: r.findings, Cards: r.cards, Words: l.words, Names: l.names})
	l.last = &practiceResult{start: r.start, end: now, checks: c, report: practice.PlainReport(c)}
	l.log.Info("practice: ended", "seconds", c.Seconds, "warnings", c.Warnings, "skipped", c.Skipped)
	return c
}

// drive follows the box: a practice begins when the box enters the
// practice state and ends when it leaves it; meanwhile the card on screen
// is noted.
func (l *practiceLab) drive(box *firmware.Box) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ch, stop := box.Subscribe()
		defer stop()
		tick := time.NewTicker(cardPoll)
		defer tick.Stop()
		practising := false
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
				if practising {
					now := l.now()
					l.noteCard(now)
					l.noteSpeech()
					l.speakScript(now)
				}
			case st, ok := <-ch:
				if !ok {
					return nil
				}
				switch now := l.now(); {
				case st.State == state.Practice && !practising:
					practising = true
					l.begin(now)
				case st.State != state.Practice && practising:
					practising = false
					l.finish(now, time.Time{})
				}
			}
		}
	}
}

// PracticeView is the phone page's view (web.PracticeSource).
func (l *practiceLab) PracticeView() web.PracticeView {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var v web.PracticeView
	switch {
	case l.run != nil && l.scenario != nil:
		v.Scenario = l.scenario.Name
	case len(l.set) > 0: // the one the next practice takes
		v.Scenario = l.set[l.next%len(l.set)].Name
	}
	if len(l.set) > 0 {
		v.Next = l.ids[l.next%len(l.set)]
	}
	v.Scenarios = make([]web.PracticeScenario, 0, len(l.set))
	for i, s := range l.set {
		v.Scenarios = append(v.Scenarios, l.listed(i, s))
	}
	if r := l.run; r != nil {
		v.Active = true
		v.Elapsed = now.Sub(r.start).Seconds()
		v.Comments = []web.PracticeComment{}
		if l.scenario != nil {
			for _, q := range l.scenario.Questions {
				at, ok := practice.Asked(q, r.start, r.cards)
				if !ok || at.After(now) {
					continue
				}
				v.Comments = append(v.Comments, web.PracticeComment{From: q.From, Text: q.Text,
					At: at.Sub(r.start).Seconds(), Within: q.Within.Seconds()})
			}
		}
		slices.SortStableFunc(v.Comments, func(a, b web.PracticeComment) int {
			return int((a.At - b.At) * 1000)
		})
	}
	if p := l.last; p != nil {
		v.Report = &web.PracticeReport{Start: p.start, End: p.end, Good: points(p.report.Good),
			Next: points(p.report.Next), Missing: p.report.Missing}
	}
	return v
}

// listed is scenario s, the i-th, as her list shows it: the icon the
// trainer began its name with (🍯 卖蜂蜜), else its number in the list,
// so that each button looks different to a reader of few characters.
func (l *practiceLab) listed(i int, s *practice.Scenario) web.PracticeScenario {
	icon, name := splitIcon(s.Name)
	if icon == "" {
		icon = "🎓"
		if i < len(keycaps) {
			icon = keycaps[i]
		}
	}
	ps := web.PracticeScenario{ID: l.ids[i], Icon: icon, Name: name, Products: []string{}}
	seen := map[string]bool{}
	for _, q := range s.Questions {
		if q.Within > 0 {
			ps.Questions++
		}
		if q.Product == "" || seen[q.Product] {
			continue
		}
		seen[q.Product] = true
		n := q.Product
		if w := l.words[q.Product]; len(w) > 0 && w[0] != "" {
			n = w[0]
		}
		ps.Products = append(ps.Products, n)
	}
	return ps
}

var keycaps = []string{"1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣"}

// splitIcon takes the emoji a name begins with ("🍯 卖蜂蜜" → "🍯",
// "卖蜂蜜"); a name without one, or that is only one, is left whole.
func splitIcon(name string) (icon, rest string) {
	end := 0
	for end < len(name) {
		r, n := utf8.DecodeRuneInString(name[end:])
		emoji := r != utf8.RuneError && (unicode.Is(unicode.So, r) || r == '\u200d' ||
			(r >= 0xfe00 && r <= 0xfe0f) || (r >= 0x1f3fb && r <= 0x1f3ff))
		if !emoji {
			break
		}
		end += n
	}
	rest = strings.TrimSpace(name[end:])
	if end == 0 || rest == "" {
		return "", name
	}
	return name[:end], rest
}

func points(ps []practice.Point) []web.PracticePoint {
	out := make([]web.PracticePoint, 0, len(ps))
	for _, p := range ps {
		out = append(out, web.PracticePoint{Icon: p.Icon, Text: strings.TrimSpace(p.Text)})
	}
	return out
}
