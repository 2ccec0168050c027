package practice

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cunbo/cunbo/lint"
)

// CheckSamples lints every sample answer of s with lt (the built-in rules
// or the pack a bundle carries). A sample the linter flags is a problem of
// the scenario: the simulator speaks the samples as her captions, so a
// flagged one would make the box warn her in the middle of a model answer,
// teaching the opposite of the lesson. One LineError per outermost phrase,
// in line order.
func CheckSamples(s *Scenario, lt *lint.Linter) []*LineError {
	var out []*LineError
	for _, q := range s.Questions {
		if q.Sample == "" {
			continue
		}
		for _, f := range lint.Outermost(lt.CheckFinal(q.Sample)) {
			out = append(out, &LineError{Line: q.Line,
				Zh: fmt.Sprintf("示范回答里有「%s」，盒子会提醒，请换个说法", f.Match),
				En: fmt.Sprintf("sample answer says %q, which the linter flags (%s %s): say it another way", f.Match, f.Category, f.Rule)})
		}
	}
	return out
}

// Validate is the whole check a scenario file gets before it is published
// (the trainer's page, `cunbo-review provision bundle`) or spoken by the
// simulator: it parses with any well-formed product id (the catalogue is
// compared apart, see Scenario.Products) and lints the sample answers.
// The scenario is nil when the file does not parse; the problems are
// every one found (a file that does not parse has exactly one).
func Validate(data []byte, lt *lint.Linter) (*Scenario, []*LineError) {
	s, err := ParseScenario(data, nil)
	if err != nil {
		le, ok := err.(*LineError)
		if !ok {
			le = &LineError{Zh: "读不出来：" + err.Error(), En: err.Error()}
		}
		return nil, []*LineError{le}
	}
	return s, CheckSamples(s, lt)
}

// Products is every catalogue id the scenario names (a question's product
// or the card it waits for), sorted, each once.
func (s *Scenario) Products() []string {
	var ids []string
	for _, q := range s.Questions {
		for _, id := range []string{q.Product, q.AfterCard} {
			if id != "" && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// Fit returns s with only the questions a box with these products can
// ask: a question about a product, or after a card, that the catalogue
// lacks could never be answered on the right card (or never comes), so it
// is left out rather than counted against her. dropped are the lines left
// out. The result has no questions when none fits.
func (s *Scenario) Fit(products []string) (fit *Scenario, dropped []int) {
	out := &Scenario{Name: s.Name}
	for _, q := range s.Questions {
		if (q.Product != "" && !slices.Contains(products, q.Product)) ||
			(q.AfterCard != "" && !slices.Contains(products, q.AfterCard)) {
			dropped = append(dropped, q.Line)
			continue
		}
		out.Questions = append(out.Questions, q)
	}
	return out, dropped
}

// Missing is the products s names that are not among products, for the
// trainer's warning.
func (s *Scenario) Missing(products []string) []string {
	return slices.DeleteFunc(s.Products(), func(id string) bool { return slices.Contains(products, id) })
}

// JoinLines writes problems one a line, as the trainer reads them.
func JoinLines(problems []*LineError) string {
	var b strings.Builder
	for i, p := range problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	return b.String()
}
