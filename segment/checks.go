package segment

import (
	"fmt"
	"math"
	"slices"
)

// Session kinds. A record without a kind (older boxes) is a live.
const (
	KindLive     = "live"
	KindPractice = "practice"
)

// Check names, as listed in Checks.Skipped when one could not run.
const (
	CheckAnswered = "answered" // each question answered in time
	CheckCard     = "card"     // the card on screen matches the question
	CheckWarnings = "warnings" // warnings per minute
	CheckDeadAir  = "dead_air" // silences over DeadAirAfter
	CheckPace     = "pace"     // characters per minute
	CheckProducts = "products" // time per product card
)

// DeadAirAfter is the silence that counts as dead air.
const DeadAirAfter = 10 // seconds

// Limits of a Checks record.
const (
	maxCheckItems = 500
	maxCheckText  = 400 // bytes of a name or a text
)

// Checks are a practice's results, computed on the box from captions,
// findings, card changes and times (practice.Check). Times are seconds
// from the practice's start.
type Checks struct {
	Scenario string  `json:"scenario"`
	Seconds  float64 `json:"seconds"`
	// Skipped lists the checks that could not run (no speech model: no
	// captions to judge answers, pace, dead air or warnings by).
	Skipped   []string        `json:"skipped,omitempty"`
	Questions []QuestionCheck `json:"questions"`
	Warnings  int             `json:"warnings"`
	// WarningsPerMinute is Warnings over the practice's length.
	WarningsPerMinute float64 `json:"warnings_per_minute"`
	DeadAir           []Gap   `json:"dead_air"`
	// CharsPerMinute is the characters of her captions per minute of
	// speaking (the captions' own durations).
	CharsPerMinute float64       `json:"chars_per_minute"`
	Products       []ProductTime `json:"products"`
	// Names are the products' names in the box's catalogue, by catalogue
	// id, so that her social worker reads 榕江古法辣椒酱, not lajiao.
	// Records of older boxes have none: the id is shown.
	Names map[string]string `json:"names,omitempty"`
}

// Name is the product's name, or its id when the record has none.
func (c *Checks) Name(id string) string {
	if n := c.Names[id]; n != "" {
		return n
	}
	return id
}

// QuestionCheck is one simulated customer's question and how it went.
type QuestionCheck struct {
	Line    int     `json:"line"` // in the scenario file
	From    string  `json:"from"`
	Text    string  `json:"text"`
	Product string  `json:"product,omitempty"`
	Tempts  string  `json:"tempts,omitempty"`
	Asked   bool    `json:"asked"` // it came up before the practice ended
	At      float64 `json:"at"`
	Within  float64 `json:"within"` // 0: a comment, nothing to answer
	// Answered, and when (AnswerAt); Card is the card on screen at the
	// answer or, unanswered, when her time ran out; RightCard whether it
	// was the product asked about (true when it is about none).
	Answered  bool    `json:"answered"`
	AnswerAt  float64 `json:"answer_at,omitempty"`
	Card      string  `json:"card,omitempty"`
	RightCard bool    `json:"right_card"`
	// Broke: a warning of the category it tempts came in her time.
	Broke bool `json:"broke,omitempty"`
	// AfterCard is the card it waits for (card lajiao+5); NoCard says it
	// never came because she never showed that card (not because the
	// practice ended first). Older boxes send neither.
	AfterCard string `json:"after_card,omitempty"`
	NoCard    bool   `json:"no_card,omitempty"`
}

// Gap is a span of a practice, in seconds from its start.
type Gap struct {
	From float64 `json:"from"`
	To   float64 `json:"to"`
}

// ProductTime is how long a product's card was on screen.
type ProductTime struct {
	ID      string  `json:"id"`
	Seconds float64 `json:"seconds"`
}

func checkNames() []string {
	return []string{CheckAnswered, CheckCard, CheckWarnings, CheckDeadAir, CheckPace, CheckProducts}
}

// validate checks a Checks record's ranges; length is the session's.
func (c *Checks) validate(length float64) error {
	okNum := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }
	okTime := func(v float64) bool { return okNum(v) && v <= c.Seconds+1 }
	switch {
	case len(c.Scenario) > maxCheckText:
		return fmt.Errorf("scenario name of %d bytes", len(c.Scenario))
	case !okNum(c.Seconds) || c.Seconds > length+60:
		return fmt.Errorf("length %v s for a session of %v s", c.Seconds, length)
	case c.Warnings < 0 || !okNum(c.WarningsPerMinute) || !okNum(c.CharsPerMinute):
		return fmt.Errorf("bad warnings or pace")
	case len(c.Questions) > maxCheckItems || len(c.DeadAir) > maxCheckItems ||
		len(c.Products) > maxCheckItems || len(c.Names) > maxCheckItems || len(c.Skipped) > len(checkNames()):
		return fmt.Errorf("too many items")
	}
	for _, s := range c.Skipped {
		if !slices.Contains(checkNames(), s) {
			return fmt.Errorf("unknown skipped check %q", s)
		}
	}
	for i, q := range c.Questions {
		if q.Line < 0 || len(q.From) > maxCheckText || len(q.Text) > maxCheckText ||
			len(q.Product) > maxCheckText || len(q.Tempts) > maxCheckText || len(q.Card) > maxCheckText ||
			len(q.AfterCard) > maxCheckText || !okNum(q.At) || !okNum(q.Within) || !okNum(q.AnswerAt) ||
			(q.Answered && (!q.Asked || q.AnswerAt < q.At)) || (q.NoCard && (q.Asked || q.AfterCard == "")) {
			return fmt.Errorf("question %d out of range", i)
		}
	}
	for i, g := range c.DeadAir {
		if !okTime(g.From) || !okTime(g.To) || g.To < g.From {
			return fmt.Errorf("dead air %d: %v..%v", i, g.From, g.To)
		}
	}
	for id, n := range c.Names {
		if id == "" || len(id) > maxCheckText || len(n) > maxCheckText {
			return fmt.Errorf("product name of %q out of range", id)
		}
	}
	for i, p := range c.Products {
		if p.ID == "" || len(p.ID) > maxCheckText || !okTime(p.Seconds) {
			return fmt.Errorf("product %d out of range", i)
		}
	}
	return nil
}
