package app

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cunbo/cunbo/firmware"
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/firmware/web"
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
	log      *slog.Logger
	pl       *pipeline.Pipeline
	caps     *compliance.Captions // nil: no speech, caption checks skipped
	scenario *practice.Scenario   // nil: no customers (the set did not load)
	words    map[string][]string
	now      func() time.Time
	script   bool // Options.PracticeScript

	mu   sync.Mutex
	run  *practiceRun // nil while not practising
	last *practiceResult
}

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
		script: opts.PracticeScript}
	var ids []string
	if cat := opts.Pipeline.Catalog(); cat != nil {
		for _, p := range cat.Products {
			ids = append(ids, p.ID)
			l.words[p.ID] = []string{p.Name, p.Tagline}
		}
	}
	set, err := practice.Default(ids)
	switch {
	case err != nil:
		// A catalogue without the demo products: she still practises,
		// without customers, until a scenario for her products arrives.
		log.Info("practice: no scenario for this catalogue", "err", err)
	case len(set) > 0:
		l.scenario = set[0]
	}
	return l
}

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
		if q.Sample == "" || q.Within == 0 || r.spoken[q.Line] {
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
		Captions: r.captions, Findings: r.findings, Cards: r.cards, Words: l.words})
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
	if l.scenario != nil {
		v.Scenario = l.scenario.Name
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

func points(ps []practice.Point) []web.PracticePoint {
	out := make([]web.PracticePoint, 0, len(ps))
	for _, p := range ps {
		out = append(out, web.PracticePoint{Icon: p.Icon, Text: strings.TrimSpace(p.Text)})
	}
	return out
}
