package practice

import (
	"math"
	"slices"
	"sort"
	"time"
	"unicode"

	"github.com/cunbo/cunbo/segment"
)

// Utterance is one caption: what she said and when.
type Utterance struct {
	At   time.Time
	End  time.Time
	Text string
}

// Finding is one warning she was shown.
type Finding struct {
	At       time.Time
	Category string
}

// CardChange is the card on screen from At on; ID "" is no card.
type CardChange struct {
	At time.Time
	ID string
}

// Input is what a practice recorded.
type Input struct {
	Scenario *Scenario
	Start    time.Time
	End      time.Time
	// Speech says captions were being made (a speech model ran); without
	// it the checks built on captions are skipped, not guessed.
	Speech   bool
	Captions []Utterance
	Findings []Finding
	// Cards are the card changes; the card on screen at Start is the last
	// change at or before it.
	Cards []CardChange
	// Words are each product's words (name, selling points) for the
	// answer rule.
	Words map[string][]string
	// Names are the catalogue's product names by id; the checks carry
	// those of the products they mention, for the people who read them.
	Names map[string]string
}

// Asked is when a question comes up in a practice: Start+At, or At after
// its card is first shown at or after Start. ok is false when it never
// comes (its card never shown).
func Asked(q Question, start time.Time, cards []CardChange) (at time.Time, ok bool) {
	if q.AfterCard == "" {
		return start.Add(q.At), true
	}
	for _, c := range cards {
		if c.ID == q.AfterCard {
			return later(c.At, start).Add(q.At), true
		}
	}
	return time.Time{}, false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// cardAt is the card on screen at t.
func cardAt(cards []CardChange, t time.Time) string {
	id := ""
	for _, c := range cards {
		if c.At.After(t) {
			break
		}
		id = c.ID
	}
	return id
}

// Check computes a practice's results. The rules:
//
//   - A question is answered by the first caption that starts after it
//     comes up and before its time is up, that, when it is about a
//     product, starts while that product's card is on screen and shares a
//     two-character piece (two letters, digits or Han characters next to
//     each other) with the question or the product's words. A question
//     about no product is answered by any caption in its time.
//   - Its card is right when the card on screen at the answer (unanswered:
//     when its time ran out, or the practice ended) is its product.
//   - It was broken when a warning of the category it tempts came in its
//     time.
//   - Dead air is every silence over segment.DeadAirAfter seconds between
//     the start, the captions and the end.
//   - Pace is the letters, digits and Han characters of all captions per
//     minute of the captions' own durations.
//   - Time per product is how long each card was on screen, in the order
//     first shown.
//
// Without speech, answers, warnings, dead air and pace are skipped.
func Check(in Input) *segment.Checks {
	cards := slices.Clone(in.Cards)
	sort.SliceStable(cards, func(i, j int) bool { return cards[i].At.Before(cards[j].At) })
	caps := slices.Clone(in.Captions)
	sort.SliceStable(caps, func(i, j int) bool { return caps[i].At.Before(caps[j].At) })
	secs := func(t time.Time) float64 { return round(t.Sub(in.Start).Seconds()) }
	length := in.End.Sub(in.Start)
	c := &segment.Checks{Seconds: round(length.Seconds()), Questions: []segment.QuestionCheck{},
		DeadAir: []segment.Gap{}, Products: []segment.ProductTime{}}
	if in.Scenario != nil {
		c.Scenario = in.Scenario.Name
	}
	if !in.Speech {
		c.Skipped = []string{segment.CheckAnswered, segment.CheckWarnings, segment.CheckDeadAir, segment.CheckPace}
	}

	if in.Scenario != nil {
		for _, q := range in.Scenario.Questions {
			qc := segment.QuestionCheck{Line: q.Line, From: q.From, Text: q.Text, Product: q.Product,
				Tempts: q.Tempts, Within: q.Within.Seconds(), RightCard: true, AfterCard: q.AfterCard}
			at, ok := Asked(q, in.Start, cards)
			if !ok || at.After(in.End) {
				qc.NoCard = !ok
				c.Questions = append(c.Questions, qc)
				continue
			}
			qc.Asked, qc.At = true, secs(at)
			if q.Within == 0 {
				c.Questions = append(c.Questions, qc)
				continue
			}
			due := at.Add(q.Within)
			if due.After(in.End) {
				due = in.End
			}
			judgeAt := due
			if in.Speech {
				for _, u := range caps {
					if u.At.Before(at) || u.At.After(due) {
						continue
					}
					if q.Product != "" && (cardAt(cards, u.At) != q.Product ||
						!sharesPiece(u.Text, append([]string{q.Text}, in.Words[q.Product]...))) {
						continue
					}
					qc.Answered, qc.AnswerAt, judgeAt = true, secs(u.At), u.At
					break
				}
				for _, f := range in.Findings {
					if q.Tempts != "" && f.Category == q.Tempts && !f.At.Before(at) && !f.At.After(due) {
						qc.Broke = true
					}
				}
			}
			qc.Card = cardAt(cards, judgeAt)
			qc.RightCard = q.Product == "" || qc.Card == q.Product
			c.Questions = append(c.Questions, qc)
		}
	}

	if in.Speech {
		for _, f := range in.Findings {
			if !f.At.Before(in.Start) && !f.At.After(in.End) {
				c.Warnings++
			}
		}
		if length > 0 {
			c.WarningsPerMinute = round(float64(c.Warnings) / length.Minutes())
		}
		quiet := in.Start
		var chars int
		var spoken time.Duration
		for _, u := range append(caps, Utterance{At: in.End, End: in.End}) {
			if gap := u.At.Sub(quiet); gap > segment.DeadAirAfter*time.Second {
				c.DeadAir = append(c.DeadAir, segment.Gap{From: secs(quiet), To: secs(u.At)})
			}
			quiet = later(quiet, u.End)
			if u.Text != "" {
				chars += countChars(u.Text)
				spoken += u.End.Sub(u.At)
			}
		}
		if spoken > 0 {
			c.CharsPerMinute = round(float64(chars) / spoken.Minutes())
		}
	}

	order := []string{}
	on := map[string]time.Duration{}
	for i, ch := range cards {
		from := later(ch.At, in.Start)
		to := in.End
		if i+1 < len(cards) && cards[i+1].At.Before(to) {
			to = cards[i+1].At
		}
		if ch.ID == "" || !to.After(from) {
			continue
		}
		if _, seen := on[ch.ID]; !seen {
			order = append(order, ch.ID)
		}
		on[ch.ID] += to.Sub(from)
	}
	for _, id := range order {
		c.Products = append(c.Products, segment.ProductTime{ID: id, Seconds: round(on[id].Seconds())})
	}
	c.Names = names(c, in.Names)
	return c
}

// names are the names of the products c mentions; nil when none is known.
func names(c *segment.Checks, all map[string]string) map[string]string {
	var out map[string]string
	add := func(id string) {
		if n := all[id]; id != "" && n != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[id] = n
		}
	}
	for _, q := range c.Questions {
		add(q.Product)
		add(q.AfterCard)
		add(q.Card)
	}
	for _, p := range c.Products {
		add(p.ID)
	}
	return out
}

// round keeps two decimals: the record says what was measured, not float
// noise.
func round(v float64) float64 { return math.Round(v*100) / 100 }

func isWordRune(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func countChars(s string) int {
	n := 0
	for _, r := range s {
		if isWordRune(r) {
			n++
		}
	}
	return n
}

// pieces are the two-character pieces of s: adjacent letters, digits or
// Han characters.
func pieces(s string) map[string]bool {
	out := map[string]bool{}
	var prev rune
	for _, r := range s {
		r = unicode.ToLower(r)
		if !isWordRune(r) {
			prev = 0
			continue
		}
		if prev != 0 {
			out[string([]rune{prev, r})] = true
		}
		prev = r
	}
	return out
}

func sharesPiece(said string, against []string) bool {
	p := pieces(said)
	for _, a := range against {
		for k := range pieces(a) {
			if p[k] {
				return true
			}
		}
	}
	return false
}
